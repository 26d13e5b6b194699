"""Django settings for tests/django_live.rs: the real Django's session app alone, on the
database the test names, with the secret key the test shares with tessera.

Environment (set by the test):

- TESSERA_DJANGO_SECRET_KEY: SECRET_KEY, the same one tessera signs with;
- TESSERA_DJANGO_DB: "sqlite", "postgresql" or "mysql";
- TESSERA_DJANGO_AUTH: "1" adds django.contrib.auth (and contenttypes);
- mysql: TESSERA_DJANGO_MY_NAME (a database of the test's own), _HOST, _PORT, _USER, _PASSWORD;
- sqlite: TESSERA_DJANGO_SQLITE_PATH, the database file;
- postgresql: TESSERA_DJANGO_PG_NAME, _HOST, _PORT, _USER, _PASSWORD, and
  TESSERA_DJANGO_PG_SCHEMA, a schema of the test's own, put first on the search_path so
  Django's fixed table name `django_session` (and `django_migrations`) meet nobody's.
"""

import os

SECRET_KEY = os.environ["TESSERA_DJANGO_SECRET_KEY"]
# USE_TZ=True stores instants (UTC); a TIME_ZONE far from UTC shows that it never leaks in.
USE_TZ = True
TIME_ZONE = "Asia/Kolkata"
INSTALLED_APPS = ["django.contrib.sessions"]
# tests/stores/auth_users.rs: Django's auth_user (with the content types auth's migrations
# need), for `createuser` and `authenticate`. PASSWORD_HASHERS stays Django's default.
if os.environ.get("TESSERA_DJANGO_AUTH") == "1":
    INSTALLED_APPS += ["django.contrib.auth", "django.contrib.contenttypes"]
SESSION_ENGINE = os.environ.get("TESSERA_DJANGO_ENGINE", "django.contrib.sessions.backends.db")
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

_db = os.environ["TESSERA_DJANGO_DB"]
if _db == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["TESSERA_DJANGO_SQLITE_PATH"],
            # Threads of `hammer` and tessera's writer take turns on the file.
            "OPTIONS": {"timeout": 30},
        }
    }
elif _db == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["TESSERA_DJANGO_PG_NAME"],
            "HOST": os.environ["TESSERA_DJANGO_PG_HOST"],
            "PORT": os.environ["TESSERA_DJANGO_PG_PORT"],
            "USER": os.environ["TESSERA_DJANGO_PG_USER"],
            "PASSWORD": os.environ.get("TESSERA_DJANGO_PG_PASSWORD", ""),
            "OPTIONS": {
                "options": "-c search_path=" + os.environ["TESSERA_DJANGO_PG_SCHEMA"],
            },
        }
    }
elif _db == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ["TESSERA_DJANGO_MY_NAME"],
            "HOST": os.environ["TESSERA_DJANGO_MY_HOST"],
            "PORT": os.environ["TESSERA_DJANGO_MY_PORT"],
            "USER": os.environ["TESSERA_DJANGO_MY_USER"],
            "PASSWORD": os.environ.get("TESSERA_DJANGO_MY_PASSWORD", ""),
        }
    }
else:
    raise SystemExit(f"unknown TESSERA_DJANGO_DB={_db!r}")

# The cache session engine on Redis, as the companion package's README sets it up: a cache
# alias of its own whose serializer stores the session's signed text as is.
if os.environ.get("TESSERA_DJANGO_REDIS_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["TESSERA_DJANGO_REDIS_URL"],
            "KEY_PREFIX": os.environ.get("TESSERA_DJANGO_CACHE_KEY_PREFIX", ""),
            "OPTIONS": {"serializer": "django_tessera.serializers.TextSerializer"},
        },
    }
    SESSION_CACHE_ALIAS = "sessions"

# Django 5.2.15+ and 6.0.6+ read legacy-salt signed cookies by default, 6.1 only when asked.
if os.environ.get("TESSERA_DJANGO_LEGACY_FALLBACK") in ("0", "1"):
    SIGNED_COOKIE_LEGACY_SALT_FALLBACK = os.environ["TESSERA_DJANGO_LEGACY_FALLBACK"] == "1"
