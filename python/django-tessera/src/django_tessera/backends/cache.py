"""Django's ``cache`` session engine, storing the signed session text tessera reads.

``SESSION_ENGINE = "django_tessera.backends.cache"``. Django's own cache engine hands the
session dict to the cache, which pickles it: nothing but Python can read that. This engine
stores ``self.encode(dict)`` instead, the same signed text the ``db`` engine keeps in
``session_data``, under Django's usual key (``django.contrib.sessions.cache<key>``, which the
cache framework turns into ``:1:django.contrib.sessions.cache<key>`` with the default
``KEY_PREFIX`` and ``VERSION``) and with the session's age as the cache timeout.

On Redis, pair it with ``django_tessera.serializers.TextSerializer`` so the text reaches
Redis as raw UTF-8: that is exactly what tessera's Redis store reads and writes.

A value that is not such text (an old pickled dict, a bad signature) is treated as no
session: the request gets a new key and the value is never overwritten. Saves are Django's
(last writer wins); only the ``db`` engine saves by compare-and-swap.
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.cache import SessionStore as DjangoCacheStore

from . import decode_strict, log_left_alone


class SessionStore(DjangoCacheStore):
    """The ``cache`` session store with the session kept as its signed text."""

    def load(self) -> dict:
        try:
            stored = self._cache.get(self.cache_key)
        except Exception:
            # As Django: some caches raise on odd keys, and a serializer may refuse a
            # value it cannot read. Either way there is no session to load.
            stored = None
        return self._session_from(stored)

    def _session_from(self, stored: object) -> dict:
        """The dict a cached value holds; no session (and a new key on save) when there is
        none or it cannot be read, which is then left as it is."""
        if stored is None:
            self._session_key = None
            return {}
        data = decode_strict(self, stored)
        if data is None:
            log_left_alone("cache")
            self._session_key = None
            return {}
        return data

    def save(self, must_create: bool = False) -> None:
        """Django's save, with the encoded text as the cached value."""
        if self.session_key is None:
            return self.create()
        if must_create:
            func = self._cache.add
        else:
            self._check_overwritable(self._cache.get(self.cache_key))
            func = self._cache.set
        result = func(
            self.cache_key,
            self.encode(self._get_session(no_load=must_create)),
            self.get_expiry_age(),
        )
        if must_create and not result:
            raise CreateError
        return None

    def _check_overwritable(self, stored: object) -> None:
        """Refuse an update of a session that is gone (as Django does) or that now holds
        something this engine cannot read (written by someone else since the load)."""
        if stored is None:
            raise UpdateError
        if decode_strict(self, stored) is None:
            log_left_alone("cache", saving=True)
            raise UpdateError

    async def aload(self) -> dict:
        try:
            stored = await self._cache.aget(await self.acache_key())
        except Exception:
            stored = None
        return self._session_from(stored)

    async def asave(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return await self.acreate()
        if must_create:
            func = self._cache.aadd
        else:
            self._check_overwritable(await self._cache.aget(await self.acache_key()))
            func = self._cache.aset
        result = await func(
            await self.acache_key(),
            self.encode(await self._aget_session(no_load=must_create)),
            await self.aget_expiry_age(),
        )
        if must_create and not result:
            raise CreateError
        return None
