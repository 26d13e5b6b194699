#!/usr/bin/env python3
"""Prints the tessera-vs-Django table of docs/performance.md.

Reads criterion's medians from target/criterion/<group>/<bench>/new/estimates.json (written by
`cargo bench`) and Django's figures from the JSON of `scripts/django_timeit.py --json`:

    /tmp/tessera-django-venv/bin/python scripts/django_timeit.py --json > /tmp/django.json
    python3 scripts/bench_table.py /tmp/django.json
"""

import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, tessera bench, Django op); None where one side has no counterpart.
ROWS = [
    ("Signer.sign", "signer_sign", "signer_sign"),
    ("Signer.unsign, valid", "signer_unsign_valid", "signer_unsign_valid"),
    ("Signer.unsign, tampered", "signer_unsign_tampered", "signer_unsign_tampered"),
    ("TimestampSigner.unsign(max_age=3600)", "timestamp_unsign_max_age", "timestamp_unsign_max_age"),
    ("dumps, small object", "dumps_small", "dumps_small"),
    ("loads, small object", "loads_small", "loads_small"),
    ("dumps, 4 KiB object, compress=True", "dumps_4k_compressed", "dumps_4k_compressed"),
    ("loads, 4 KiB object, compressed", "loads_4k_compressed", "loads_4k_compressed"),
    ("**get_signed_cookie** (30-byte value, v2 salt, max_age)", "signed_cookie_get", "signed_cookie_get"),
    ("  same, TimestampSigner held directly (no cache lookup)", "signed_cookie_unsign_prebuilt", None),
    ("HMAC-SHA256 of the same 37 bytes, keyed per call", "hmac_sha256_raw", "hmac_sha256_raw"),
    ("HMAC-SHA256 of the same 37 bytes, pre-keyed state", "hmac_sha256_prekeyed", None),
    ("parse_cookie, 10 cookies", "parse_cookie_10", "parse_cookie_10"),
    ("Set-Cookie of a session cookie", "set_cookie_session", "set_cookie_session"),
    ("session encode, small", "session_encode_small", "session_encode_small"),
    ("session decode, small", "session_decode_small", "session_decode_small"),
    ("session encode, 4 KiB", "session_encode_4k", "session_encode_4k"),
    ("session decode, 4 KiB", "session_decode_4k", "session_decode_4k"),
    ("new session key (32 chars)", "session_key_generate", "session_key_generate"),
    ("Router, no layer (10-cookie request)", "router_without_layer", None),
    ("Router + SessionLayer, session untouched", "router_session_layer_untouched", None),
    ("Router + SessionLayer, no cookie", "router_session_layer_no_cookie", None),
]


def criterion_medians():
    out = {}
    pattern = os.path.join(ROOT, "target", "criterion", "*", "*", "new", "estimates.json")
    for path in glob.glob(pattern):
        name = path.split(os.sep)[-3]
        with open(path) as f:
            out[name] = json.load(f)["median"]["point_estimate"]
    return out


def fmt(ns):
    if ns is None:
        return "—"
    if ns >= 10_000:
        return "%.1f µs" % (ns / 1000)
    if ns >= 1000:
        return "%.2f µs" % (ns / 1000)
    return "%.0f ns" % ns


def main():
    django = {}
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            django = json.load(f)["ns_per_op"]
    ours = criterion_medians()
    print("| operation | tessera | Django | Django ÷ tessera |")
    print("|---|---:|---:|---:|")
    for label, t, d in ROWS:
        tn = ours.get(t)
        dn = django.get(d) if d else None
        ratio = "%.0f×" % (dn / tn) if tn and dn and dn / tn >= 10 else (
            "%.1f×" % (dn / tn) if tn and dn else "—"
        )
        print("| %s | %s | %s | %s |" % (label, fmt(tn), fmt(dn), ratio))
    get, raw, pre = (ours.get(k) for k in ("signed_cookie_get", "hmac_sha256_raw", "hmac_sha256_prekeyed"))
    if get and raw and pre:
        print()
        print("get_signed_cookie ÷ HMAC keyed per call: %.2f×; ÷ pre-keyed HMAC: %.2f×" % (get / raw, get / pre))
        if "signed_cookie_get" in django:
            print("Django get_signed_cookie ÷ tessera: %.1f×" % (django["signed_cookie_get"] / get))


if __name__ == "__main__":
    main()
