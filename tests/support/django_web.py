#!/usr/bin/env python3
"""One request through the real Django's middleware stack (django_web_settings.py), for
tests/stores/django_web_live.rs, which keeps the browser's cookie jar between Django and
tessera. Each subcommand prints one line of JSON:

    migrate                          null  (sessions, auth, contenttypes)
    createuser NAME PASSWORD         the new user's pk  (User.objects.create_user)
    setpassword NAME PASSWORD        null  (set_password + save, as a password change elsewhere)
    request METHOD PATH --cookies JSON [--form JSON]
                                     {"status": N, "body": "...", "cookies": {name: value}}
                                     (a value of null: the response deleted that cookie; the
                                     request is sent with CSRF checks enforced, as a browser's)
"""

import argparse
import json
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(_here, "..", "..", "python", "django-tessera", "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_web_settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402


def migrate(_args):
    call_command("migrate", interactive=False, verbosity=0)


def createuser(args):
    return get_user_model().objects.create_user(args.name, password=args.password).pk


def setpassword(args):
    user = get_user_model().objects.get(username=args.name)
    user.set_password(args.password)
    user.save()


def request(args):
    client = Client(enforce_csrf_checks=True)
    for name, value in json.loads(args.cookies).items():
        client.cookies[name] = value
    form = json.loads(args.form) if args.form else None
    if args.method == "GET":
        response = client.get("/" + args.path.lstrip("/"))
    else:
        response = client.post("/" + args.path.lstrip("/"), data=form or {})
    cookies = {}
    for name, morsel in response.cookies.items():
        deleted = morsel["max-age"] == 0 or str(morsel["expires"]).startswith("Thu, 01 Jan 1970")
        cookies[name] = None if deleted else morsel.value
    return {
        "status": response.status_code,
        "body": response.content.decode(),
        "cookies": cookies,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate").set_defaults(run=migrate)
    p = sub.add_parser("createuser")
    p.add_argument("name")
    p.add_argument("password")
    p.set_defaults(run=createuser)
    p = sub.add_parser("setpassword")
    p.add_argument("name")
    p.add_argument("password")
    p.set_defaults(run=setpassword)
    p = sub.add_parser("request")
    p.add_argument("method")
    p.add_argument("path")
    p.add_argument("--cookies", default="{}")
    p.add_argument("--form")
    p.set_defaults(run=request)
    args = parser.parse_args()
    print(json.dumps(args.run(args)))


if __name__ == "__main__":
    main()
