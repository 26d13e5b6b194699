"""Django settings for the tests.

``default`` is a SQLite file in a temporary folder (removed at exit). ``postgres`` is the
database at ``TESSERA_TEST_POSTGRES_URL`` with a schema of this run's own first on the
search path (the tests create it and drop it); ``mysql``, used only when mysqlclient is
installed, a database of this run's own on the server at ``TESSERA_TEST_MYSQL_URL``. The ``sessions`` cache is the Redis at
``TESSERA_TEST_REDIS_URL`` with Django's default key names; ``scratch`` is the same Redis
under a key prefix unique to this run. Nothing connects until a test asks.
"""

import atexit
import os
import secrets
import shutil
import tempfile
from urllib.parse import unquote, urlsplit

RUN_ID = f"{os.getpid()}_{secrets.token_hex(4)}"

POSTGRES_URL = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("TESSERA_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_SCHEMA = f"tessera_py_{RUN_ID}"
MYSQL_DATABASE = f"tessera_py_{RUN_ID}"
SCRATCH_PREFIX = f"tessera-py-test-{RUN_ID}"

_tmp = tempfile.mkdtemp(prefix="tessera-py-")
atexit.register(shutil.rmtree, _tmp, True)

_pg = urlsplit(POSTGRES_URL)
_my = urlsplit(MYSQL_URL)

SECRET_KEY = "django-tessera tests: not a secret"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.sessions"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(_tmp, "db.sqlite3"),
        # 50 writers on one file: wait for the lock rather than fail.
        "OPTIONS": {"timeout": 60},
    },
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(_pg.path.lstrip("/")) or "postgres",
        "USER": unquote(_pg.username or "postgres"),
        "PASSWORD": unquote(_pg.password or ""),
        "HOST": _pg.hostname or "127.0.0.1",
        "PORT": str(_pg.port or 5432),
        "OPTIONS": {"options": f"-c search_path={POSTGRES_SCHEMA}"},
    },
    # Only when the venv has mysqlclient (run_tests.sh does not install it).
    "mysql": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": MYSQL_DATABASE,
        "USER": unquote(_my.username or "root"),
        "PASSWORD": unquote(_my.password or ""),
        "HOST": _my.hostname or "127.0.0.1",
        "PORT": str(_my.port or 3306),
        "OPTIONS": {"charset": "utf8mb4"},
    },
}
DATABASE_ROUTERS = ["tests.support.Router"]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "sessions": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"serializer": "django_tessera.serializers.TextSerializer"},
    },
    "scratch": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": SCRATCH_PREFIX,
        "OPTIONS": {"serializer": "django_tessera.serializers.TextSerializer"},
    },
}
SESSION_CACHE_ALIAS = "sessions"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
