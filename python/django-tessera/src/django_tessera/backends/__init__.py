"""Session engines for Django that share their records with tessera.

Use ``SESSION_ENGINE = "django_tessera.backends.db"``, ``"django_tessera.backends.cache"`` or
``"django_tessera.backends.cached_db"``. This module holds what they share: decoding that
tells "no usable record" apart from "an empty session".
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import signing

logger = logging.getLogger("django_tessera")


def decode_strict(store: Any, text: Any) -> dict | None:
    """Decode a stored session record the way ``SessionBase.decode`` does, or return None.

    Django's ``decode`` returns ``{}`` for a record it cannot read, and the next save then
    overwrites that record: a session another app wrote (a pickle, a record signed with
    another key, a foreign format) is destroyed. Callers use None to leave such a record
    alone and start a new session under a new key instead.

    A bad signature is logged on ``django.security.SuspiciousSession`` exactly as Django
    logs it. Anything that is not a ``str`` holding a signed dict is None.
    """
    if not isinstance(text, str):
        return None
    try:
        data = signing.loads(text, salt=store.key_salt, serializer=store.serializer)
    except signing.BadSignature:
        logging.getLogger("django.security.SuspiciousSession").warning(
            "Session data corrupted"
        )
        return None
    except Exception:
        # Malformed base64, zlib or JSON: not a session either.
        return None
    return data if isinstance(data, dict) else None


def log_left_alone(engine: str, saving: bool = False) -> None:
    """Say, once per record and without its key, that an unreadable record was kept.

    ``saving``: found by a save (the record changed since the load), which is refused.
    """
    if saving:
        outcome = "this save was refused (the session is interrupted)"
    else:
        outcome = "it is treated as no session and a new session gets a new key"
    logger.warning(
        "%s session engine: a stored session record could not be decoded (bad "
        "signature or foreign format); %s; the record is left as is",
        engine,
        outcome,
    )
