"""Tests of django-tessera against a real Django, real databases and a real Redis.

Run from the package folder: ``python -m unittest discover -s tests -t .`` (``run_tests.sh``
makes the venv and runs this). Importing this package configures Django with
``tests.settings``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()
