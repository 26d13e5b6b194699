"""A serializer for Django's ``RedisCache`` that stores text as plain UTF-8.

Django's ``RedisSerializer`` pickles every value but integers, so a session cached in Redis
is a pickle that only Python reads. ``TextSerializer`` writes a ``str`` as its UTF-8 bytes
instead; with ``django_tessera.backends.cache`` or ``cached_db`` (which cache the session's
signed text), Redis holds exactly the text tessera's Redis stores read and write::

    CACHES = {
        "default": {...},
        "sessions": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379",
            "OPTIONS": {"serializer": "django_tessera.serializers.TextSerializer"},
        },
    }
    SESSION_ENGINE = "django_tessera.backends.cache"
    SESSION_CACHE_ALIAS = "sessions"

Everything else is stored as ``RedisSerializer`` stores it (integers raw, so ``incr`` works;
other values pickled), so the alias stays usable as a general cache, and values pickled by
``RedisSerializer`` before the switch are still read.
"""

from __future__ import annotations

import pickle
from typing import Any

from django.core.cache.backends.redis import RedisSerializer

# Every pickle of protocol 2 or later starts with the PROTO opcode; UTF-8 text never starts
# with this byte (it only continues a character).
_PICKLE_MARK = b"\x80"


class TextSerializer(RedisSerializer):
    """``RedisSerializer`` that keeps ``str`` values readable outside Python.

    ``dumps``: a ``str`` becomes its UTF-8 bytes, an ``int`` stays raw, anything else is
    pickled. ``loads``: digits are an ``int``, bytes starting with ``\\x80`` are unpickled,
    anything else is UTF-8 text.

    A ``str`` that Redis would hand back looking like an integer (``"42"``) is pickled, so
    every ``str`` comes back as the same ``str``.
    """

    def __init__(self, protocol: int | None = None) -> None:
        super().__init__(protocol)
        if self.protocol < 2:
            # Older protocols do not start with the mark that loads() looks for.
            raise ValueError("TextSerializer needs pickle protocol 2 or later")

    def dumps(self, obj: Any) -> Any:
        if type(obj) is str:
            data = obj.encode("utf-8")
            if not _looks_like_int(data):
                return data
            return pickle.dumps(obj, self.protocol)
        return super().dumps(obj)

    def loads(self, data: Any) -> Any:
        if isinstance(data, int):
            return data
        try:
            return int(data)
        except ValueError:
            pass
        if bytes(data[:1]) == _PICKLE_MARK:
            return pickle.loads(data)
        if isinstance(data, str):
            return data
        return bytes(data).decode("utf-8")


def _looks_like_int(data: bytes) -> bool:
    """Whether ``RedisSerializer.loads`` would take these bytes for an integer."""
    try:
        int(data)
    except ValueError:
        return False
    return True
