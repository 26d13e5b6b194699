#!/usr/bin/env python3
"""The real Django's session store, driven from tests/django_live.rs.

Run with the test venv's python; settings come from django_live_settings.py beside this file
(see there for the environment variables). Each subcommand prints one line of JSON:

    migrate [--fake-initial]            {"applied": [...sessions migrations], "output": "..."}
    write --data JSON [--expiry E]      "<session key>"  (SessionStore().save(); E: set_expiry(E),
                                        where E is seconds, an ISO datetime or "none")
    read KEY                            {"data": {...}, "expire_date": <the row's, unix seconds>,
                                        "expiry_date": <get_expiry_date()>} or null (null: no live
                                        session, exactly when Django's load() finds none)
    update KEY --data JSON [--expiry E] "<session key>"  (load, update, save, as a view would;
                                        with signed_cookies, the new cookie)
    clearsessions                       {"before": N, "after": M}  (manage.py clearsessions)
    count                               N  (rows, live or expired)
    delete KEY                          null  (SessionStore(KEY).delete(): a logout)
    hammer KEY --writers N --prefix P   {"saved": n, "errors": [...]}  (N threads at once, each
                                        loading KEY, setting P<i> = i and saving, as N requests)
    cookie-sign NAME VALUE --salt S     the value set_signed_cookie stores
    cookie-get NAME SIGNED --salt S     {"value": ...} or {"error": "BadSignature"}
                                        (get_signed_cookie; TESSERA_DJANGO_LEGACY_FALLBACK=0/1
                                        sets SIGNED_COOKIE_LEGACY_SALT_FALLBACK)
    createuser NAME PASSWORD            "<pk>"  (User.objects.create_user; TESSERA_DJANGO_AUTH=1)
    authenticate NAME PASSWORD          "<pk>" or null  (django.contrib.auth.authenticate)

TESSERA_DJANGO_ENGINE picks the session engine (default Django's db backend); the companion
package in python/django-tessera is importable from here without installing it.
"""

import argparse
import datetime
import io
import json
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(_here, "..", "..", "python", "django-tessera", "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_live_settings")

import django  # noqa: E402

django.setup()

from importlib import import_module  # noqa: E402
import threading  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.recorder import MigrationRecorder  # noqa: E402


def migrate(args):
    out = io.StringIO()
    call_command(
        "migrate",
        fake_initial=args.fake_initial,
        interactive=False,
        verbosity=1,
        stdout=out,
    )
    applied = sorted(
        name
        for (app, name) in MigrationRecorder(connection).applied_migrations()
        if app == "sessions"
    )
    return {"applied": applied, "output": out.getvalue()}


def expiry(text):
    """The value set_expiry() gets: seconds, an aware ISO datetime, or None."""
    if text == "none":
        return None
    try:
        return int(text)
    except ValueError:
        return datetime.datetime.fromisoformat(text)


def write(args):
    s = SessionStore()
    s.update(json.loads(args.data))
    if args.expiry is not None:
        s.set_expiry(expiry(args.expiry))
    s.save()
    return s.session_key


def read(args):
    s = SessionStore(session_key=args.key)
    data = s.load()
    if s.session_key is None:
        return None
    s._session_cache = data
    expiry_date = s.get_expiry_date().timestamp()
    if ".cache" in settings.SESSION_ENGINE or "signed_cookies" in settings.SESSION_ENGINE:
        # The cache and cookie backends keep no expire_date: the cache's timeout, or the
        # cookie's signature time plus SESSION_COOKIE_AGE, is the expiry.
        return {"data": data, "expire_date": None, "expiry_date": expiry_date}
    row = Session.objects.get(session_key=args.key)
    return {
        "data": data,
        "expire_date": row.expire_date.timestamp(),
        "expiry_date": expiry_date,
    }


def update(args):
    # A cookie-held session "exists" nowhere but in the cookie: its key is the cookie.
    cookie = "signed_cookies" in settings.SESSION_ENGINE
    if not cookie and not SessionStore().exists(args.key):
        raise SystemExit(f"no session {args.key}")
    s = SessionStore(session_key=args.key)
    s.update(json.loads(args.data))
    if s.session_key is None:
        raise SystemExit(f"session {args.key} is not live")
    if args.expiry is not None:
        s.set_expiry(expiry(args.expiry))
    s.save()
    return s.session_key


def clearsessions(_args):
    before = Session.objects.count()
    call_command("clearsessions", verbosity=0)
    return {"before": before, "after": Session.objects.count()}


def count(_args):
    return Session.objects.count()


def delete(args):
    SessionStore(session_key=args.key).delete()


def hammer(args):
    start = threading.Barrier(args.writers)
    saved, errors = [], []

    def one(i):
        try:
            start.wait()
            s = SessionStore(session_key=args.key)
            s[f"{args.prefix}{i}"] = i
            s.save()
            saved.append(i)
        except Exception as e:  # reported, not raised: the test counts them
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"saved": len(saved), "errors": errors}


def cookie_sign(args):
    from django.http import HttpResponse

    response = HttpResponse()
    response.set_signed_cookie(args.name, args.value, salt=args.salt)
    return response.cookies[args.name].value


def cookie_get(args):
    from django.core.signing import BadSignature
    from django.http import HttpRequest

    request = HttpRequest()
    request.COOKIES[args.name] = args.signed
    try:
        return {"value": request.get_signed_cookie(args.name, salt=args.salt)}
    except BadSignature as e:
        return {"error": type(e).__name__}


def createuser(args):
    from django.contrib.auth import get_user_model

    return str(get_user_model().objects.create_user(args.name, password=args.password).pk)


def authenticate(args):
    from django.contrib.auth import authenticate as django_authenticate

    user = django_authenticate(username=args.name, password=args.password)
    return None if user is None else str(user.pk)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("migrate")
    p.add_argument("--fake-initial", action="store_true")
    p.set_defaults(run=migrate)
    p = sub.add_parser("write")
    p.add_argument("--data", required=True)
    p.add_argument("--expiry")
    p.set_defaults(run=write)
    p = sub.add_parser("read")
    p.add_argument("key")
    p.set_defaults(run=read)
    p = sub.add_parser("update")
    p.add_argument("key")
    p.add_argument("--data", required=True)
    p.add_argument("--expiry")
    p.set_defaults(run=update)
    sub.add_parser("clearsessions").set_defaults(run=clearsessions)
    p = sub.add_parser("delete")
    p.add_argument("key")
    p.set_defaults(run=delete)
    p = sub.add_parser("hammer")
    p.add_argument("key")
    p.add_argument("--writers", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.set_defaults(run=hammer)
    p = sub.add_parser("cookie-sign")
    p.add_argument("name")
    p.add_argument("value")
    p.add_argument("--salt", default="")
    p.set_defaults(run=cookie_sign)
    p = sub.add_parser("cookie-get")
    p.add_argument("name")
    p.add_argument("signed")
    p.add_argument("--salt", default="")
    p.set_defaults(run=cookie_get)
    sub.add_parser("count").set_defaults(run=count)
    for name, run in [("createuser", createuser), ("authenticate", authenticate)]:
        p = sub.add_parser(name)
        p.add_argument("name")
        p.add_argument("password")
        p.set_defaults(run=run)
    args = parser.parse_args()
    print(json.dumps(args.run(args)))


if __name__ == "__main__":
    main()
