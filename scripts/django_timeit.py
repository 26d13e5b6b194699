#!/usr/bin/env python3
"""Times Django's versions of the operations in tessera's criterion benches (benches/*.rs).

Usage (see docs/performance.md):

    python3 -m venv /tmp/tessera-django-venv
    /tmp/tessera-django-venv/bin/pip install 'django>=5.2,<6'
    /tmp/tessera-django-venv/bin/python scripts/django_timeit.py [--repeat 5] [--json]

Every fixture (secret key, values, header, objects, sessions) is built exactly as in
benches/common/mod.rs, so both sides do the same work on the same bytes. For each operation the
best of `--repeat` timeit runs is reported, in nanoseconds per call.
"""

import argparse
import hashlib
import hmac
import json
import platform
import sys
import time
import timeit

import django
from django.conf import settings

# --- fixtures: keep in sync with benches/common/mod.rs ---------------------------------------

SECRET_KEY = "django-insecure-tessera-bench-0123456789abcdefghijklmnopqrstuv"
# A ~30-byte value: what a signed preference cookie carries.
VALUE = "theme=dark|lang=en-us|tz=UTC+1"
COOKIE_NAME = "prefs"
COOKIE_SALT = "ui"
MAX_AGE = 3600
SESSION_KEY = "8uled5e9is94foa9gd2207wnyxf5an5j"
COOKIE_HEADER = (
    "csrftoken=9SEO8Ht3Qjv2ucC2C6yuuuLHEuvUOVHU; sessionid=8uled5e9is94foa9gd2207wnyxf5an5j; "
    "theme=dark; lang=en-us; _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; "
    'tz="Europe/Berlin"; consent="yes\\073analytics"; cart=3; last_seen=1700000000'
)
AUTH_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def small_obj():
    return {"user_id": 42, "scope": ["read", "write"], "next": "/account/"}


def items(n):
    d = {}
    for i in range(n):
        d["item%03d" % i] = {
            "sku": "SKU-%05d" % i,
            "qty": i % 7,
            "title": "Product title number %d with some descriptive text" % i,
        }
    return d


# 40 items serialize to 4,0xx bytes of JSON (a "4 KiB" object / session).
BIG_ITEMS = 40


def big_obj():
    return items(BIG_ITEMS)


def small_session():
    return {
        "_auth_user_id": "42",
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": AUTH_HASH,
        "cart": 3,
    }


def big_session():
    d = small_session()
    d.update(items(BIG_ITEMS - 1))
    return d


# --- timing ------------------------------------------------------------------------------------


def per_call_ns(stmt, repeat, min_time=0.2):
    """Best of `repeat` runs, each long enough (autorange, at least `min_time` s)."""
    t = timeit.Timer(stmt)
    number, elapsed = t.autorange()
    if elapsed < min_time:
        number = max(1, int(number * min_time / max(elapsed, 1e-9)))
    best = min(t.repeat(repeat=repeat, number=number))
    return best / number * 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()

    settings.configure(
        SECRET_KEY=SECRET_KEY,
        INSTALLED_APPS=["django.contrib.sessions"],
        USE_TZ=True,
    )
    django.setup()

    from django.core import signing
    from django.contrib.sessions.backends.base import SessionBase, VALID_KEY_CHARS
    from django.http import HttpRequest, HttpResponse
    from django.http.cookie import parse_cookie
    from django.utils.crypto import get_random_string

    signer = signing.Signer()
    ts_signer = signing.TimestampSigner()
    signed = signer.sign(VALUE)
    tampered = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    ts_signed = ts_signer.sign(VALUE)

    small, big = small_obj(), big_obj()
    assert 3900 <= len(json.dumps(big, separators=(",", ":"))) <= 4300
    dumped_small = signing.dumps(small)
    dumped_big = signing.dumps(big, compress=True)
    assert dumped_big.startswith(".")

    # A request as Django's handler would build it, holding the signed cookie.
    resp = HttpResponse()
    resp.set_signed_cookie(COOKIE_NAME, VALUE, salt=COOKIE_SALT)
    cookie_value = resp.cookies[COOKIE_NAME].value
    request = HttpRequest()
    request.COOKIES = {COOKIE_NAME: cookie_value}
    assert (
        request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT, max_age=MAX_AGE) == VALUE
    )

    # The bytes HMAC'd when verifying that cookie: value ‖ ":" ‖ timestamp.
    hmac_msg = cookie_value.rsplit(":", 1)[0].encode()
    hmac_key = hashlib.sha256(b"x" * 32).digest()

    sessions = SessionBase()
    sess_small, sess_big = small_session(), big_session()
    assert 3900 <= len(json.dumps(sess_big, separators=(",", ":"))) <= 4300
    enc_small = sessions.encode(sess_small)
    enc_big = sessions.encode(sess_big)
    assert sessions.decode(enc_big) == sess_big

    parsed = parse_cookie(COOKIE_HEADER)
    assert len(parsed) == 10 and parsed["consent"] == "yes;analytics", parsed

    set_cookie_resp = HttpResponse()

    def set_cookie():
        set_cookie_resp.set_cookie(
            "sessionid",
            SESSION_KEY,
            max_age=1209600,
            path="/",
            domain=None,
            secure=False,
            httponly=True,
            samesite="Lax",
        )
        return set_cookie_resp.cookies["sessionid"].OutputString()

    def unsign_tampered():
        try:
            signer.unsign(tampered)
        except signing.BadSignature:
            return None
        raise AssertionError("tampered value verified")

    ops = [
        ("signer_sign", lambda: signer.sign(VALUE)),
        ("signer_unsign_valid", lambda: signer.unsign(signed)),
        ("signer_unsign_tampered", unsign_tampered),
        ("timestamp_unsign_max_age", lambda: ts_signer.unsign(ts_signed, max_age=MAX_AGE)),
        ("dumps_small", lambda: signing.dumps(small)),
        ("loads_small", lambda: signing.loads(dumped_small)),
        ("dumps_4k_compressed", lambda: signing.dumps(big, compress=True)),
        ("loads_4k_compressed", lambda: signing.loads(dumped_big)),
        (
            "signed_cookie_get",
            lambda: request.get_signed_cookie(
                COOKIE_NAME, salt=COOKIE_SALT, max_age=MAX_AGE
            ),
        ),
        ("hmac_sha256_raw", lambda: hmac.new(hmac_key, hmac_msg, hashlib.sha256).digest()),
        ("hmac_sha256_digest", lambda: hmac.digest(hmac_key, hmac_msg, "sha256")),
        ("parse_cookie_10", lambda: parse_cookie(COOKIE_HEADER)),
        ("session_encode_small", lambda: sessions.encode(sess_small)),
        ("session_decode_small", lambda: sessions.decode(enc_small)),
        ("session_encode_4k", lambda: sessions.encode(sess_big)),
        ("session_decode_4k", lambda: sessions.decode(enc_big)),
        ("session_key_generate", lambda: get_random_string(32, VALID_KEY_CHARS)),
        ("set_cookie_session", set_cookie),
    ]

    results = {}
    for name, fn in ops:
        results[name] = per_call_ns(fn, args.repeat)

    env = {
        "django": django.get_version(),
        "python": platform.python_version(),
        "zlib_runtime": __import__("zlib").ZLIB_RUNTIME_VERSION,
        "cookie_value_len": len(cookie_value),
        "hmac_msg_len": len(hmac_msg),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.json:
        json.dump({"env": env, "ns_per_op": results}, sys.stdout, indent=2)
        print()
        return
    print(
        "# Django %(django)s, Python %(python)s, zlib %(zlib_runtime)s; "
        "signed cookie %(cookie_value_len)d bytes, HMAC input %(hmac_msg_len)d bytes" % env
    )
    for name, ns in results.items():
        print("%-28s %12.0f ns" % (name, ns))


if __name__ == "__main__":
    main()
