#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/seed-*) with the real Django, so the seeds that
carry signatures are Django's own. Run from the repository root with Django installed:

    /tmp/tessera-django-venv/bin/python fuzz/make_seeds.py

The keys and salts match the fuzz targets: "fuzz-secret" (fallback "fuzz-old-secret").
"""

import json
import os
import struct
import zlib

from django.conf import settings

settings.configure(SECRET_KEY="fuzz-secret", SECRET_KEY_FALLBACKS=["fuzz-old-secret"])

from django.core import signing  # noqa: E402

NOW = 1_700_000_000
KEY, OLD = "fuzz-secret", "fuzz-old-secret"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def ts_sign(value, key=KEY, salt="django.core.signing.TimestampSigner", now=NOW):
    # TimestampSigner.sign at a fixed time: Signer.sign(value:b62(now)).
    return signing.Signer(key=key, salt=salt).sign(
        "%s:%s" % (value, signing.b62_encode(now))
    )


def dumps(obj, compress=False, salt="django.core.signing", now=NOW):
    data = json.dumps(obj, separators=(",", ":")).encode("latin-1")
    is_compressed = False
    if compress:
        c = zlib.compress(data)
        if len(c) < len(data) - 1:
            data, is_compressed = c, True
    b = signing.b64_encode(data).decode()
    if is_compressed:
        b = "." + b
    return ts_sign(b, salt=salt, now=now)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    header = (
        "csrftoken=9SEO8Ht3Qjv2ucC2C6yuuuLHEuvUOVHU; sessionid=8uled5e9is94foa9gd2207wnyxf5an5j; "
        'theme=dark; tz="Europe/Berlin"; consent="yes\\073analytics"; cart=3'
    )
    write("parse_cookie", "browser", header)
    write("parse_cookie", "quirks", ' a=1 ;;b ; =c; "d"=e=f; a="\\"\\400\\\\"; \x1cg\x1c=h\xa0')
    write("parse_cookie", "latin1", b"a=\xe9\xff; b=\xc3\xa9; c=\"\\351\"")
    write("parse_cookie", "empty", b"")

    params = struct.pack("<dd", 60.0, float(NOW + 10))
    write("unsign", "signer", params + signing.Signer(key=KEY).sign("hello").encode())
    write("unsign", "fallback", params + signing.Signer(key=OLD).sign("hello:x").encode())
    write("unsign", "timestamp", params + ts_sign("hello").encode())
    write("unsign", "expired", struct.pack("<dd", 5.0, float(NOW + 60)) + ts_sign("a:b").encode())
    write("unsign", "tampered", params + (ts_sign("hello")[:-1] + "A").encode())

    small = {"user_id": 42, "scope": ["read", "write"], "next": "/account/", "f": 1e16}
    big = {"item%02d" % i: {"sku": "SKU-%05d" % i, "title": "title %d" % i} for i in range(20)}
    write("loads", "plain", b"\x00" + dumps(small).encode())
    write("loads", "compressed", b"\x00" + dumps(big, compress=True).encode())
    write("loads", "payload", b"\x01" + signing.b64_encode(b'{"a":[1,2.5,"\\u00e9"]}'))
    write("loads", "json", b"\x02" + json.dumps({"a": [1, 2.5, "\u00e9", None, True]}).encode())
    write("loads", "zlib", b"\x03" + zlib.compress(json.dumps(big).encode()))

    salt = "django.contrib.sessions.SessionStore"
    session = {"_auth_user_id": "42", "_auth_user_backend": "x.Backend", "cart": 3}
    write("session_decode", "stored", b"\x00" + dumps(session, compress=True, salt=salt).encode())
    write("session_decode", "json", b"\x01" + json.dumps(session).encode())
    write("session_decode", "zlib", b"\x02" + zlib.compress(json.dumps(session).encode()))
    write("session_decode", "not_a_dict", b"\x01[1,2,3]")

    write("json_from_slice", "object", json.dumps(small, separators=(",", ":")))
    write("json_from_slice", "floats", b"[1.0,1e+16,1e-05,-0.0,NaN,Infinity,-Infinity,123456789012345678901234567890]")
    write("json_from_slice", "strings", b'["\\ud83d\\ude00","\\ud800","caf\xe9","\\"\\\\\\/\\b\\f\\n\\r\\t"]')
    write("json_from_slice", "nested", b'{"a":{"b":[[[{}]]]},"a":2}')


if __name__ == "__main__":
    main()
