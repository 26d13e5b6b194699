"""Django settings for tests/stores/django_web_live.rs: django_live_settings.py (the database,
the shared SECRET_KEY) plus auth, CSRF and messages behind Django's full middleware stack, with
the views of django_web_urls.py.

Environment, beyond django_live_settings.py's:

- TESSERA_DJANGO_MESSAGE_STORAGE: "cookie", "session" or "fallback" (Django's default).
"""

from django_live_settings import *  # noqa: F401,F403

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "django_web_urls"
ALLOWED_HOSTS = ["testserver"]
MESSAGE_STORAGE = {
    "cookie": "django.contrib.messages.storage.cookie.CookieStorage",
    "session": "django.contrib.messages.storage.session.SessionStorage",
    "fallback": "django.contrib.messages.storage.fallback.FallbackStorage",
}[os.environ.get("TESSERA_DJANGO_MESSAGE_STORAGE", "fallback")]
