"""Django's ``cached_db`` session engine in front of the compare-and-swap ``db`` engine,
caching the signed session text tessera reads.

``SESSION_ENGINE = "django_tessera.backends.cached_db"``. As Django's ``cached_db``, the
database is the record (here ``django_tessera.backends.db``: a compare-and-swap save with
replay) and a write-through cache (``SESSION_CACHE_ALIAS``) sits in front of it, under
Django's key ``django.contrib.sessions.cached_db<key>`` (``:1:django.contrib.sessions.cached_db``
then the key in Redis, with the default ``KEY_PREFIX`` and ``VERSION``). What is cached is
the row's signed text, not a pickled dict: with ``TextSerializer`` on Redis, exactly what
tessera's ``cached+redis://HOST?db=DATABASE_URL`` store writes there.

Loading: a cached text that decodes is the session, and the base of the next save's swap. A
miss, or a cached value that does not decode (a pickle, a bad signature), reads the row and
caches its text. A row that does not decode is no session (the request gets a new key) and
is left alone, as with the ``db`` engine.

Saving: the database first, by compare-and-swap on the text loaded, whether it came from the
cache or the row; a stale cached text only makes the swap miss, so the row is re-read and the
changes replayed: no key is lost. Then the text saved goes to the cache, and the row is read
again: if another writer saved meanwhile, its text is cached instead and checked the same way.
Every cache fill (after a save or a miss) ends with a read of the row that matched it, so of
racing writers and refills the last to write the cache writes what the database holds, and no
older text stays cached. A save that raises ``UpdateError`` (logged out, expired, the row now
unreadable) drops the cache entry; ``delete()``, ``flush()`` and ``cycle_key()`` drop it as
Django's do. Like Django's, a failed cache write is logged, not raised.

Every writer of the table must keep the cache in step: this engine, or tessera's ``cached+``
store. Django's stock ``cached_db`` caches a pickled dict (read here as a miss) and cannot
read the text this engine caches, so it must not share the cache with it.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.core.cache import caches
from django.db import router

from . import decode_strict
from .db import MAX_SAVE_RETRIES
from .db import SessionStore as DbStore

#: Django's ``cached_db`` key prefix (tessera's ``cached+redis://`` default too).
KEY_PREFIX = "django.contrib.sessions.cached_db"

# Django's cached_db logs cache write failures here.
logger = logging.getLogger("django.contrib.sessions")


class SessionStore(DbStore):
    """The ``cached_db`` session store over the compare-and-swap ``db`` store (see the
    module)."""

    cache_key_prefix = KEY_PREFIX
    engine_name = "cached_db"

    def __init__(self, session_key: str | None = None) -> None:
        self._cache = caches[settings.SESSION_CACHE_ALIAS]
        super().__init__(session_key)

    @property
    def cache_key(self) -> str:
        return self.cache_key_prefix + self._get_or_create_session_key()

    async def acache_key(self) -> str:
        return self.cache_key_prefix + await self._aget_or_create_session_key()

    # -- loading (aload runs this in a thread, as the db engine does) ------------------------

    def load(self) -> dict:
        """The cached text if it decodes, else the row (whose text is then cached)."""
        try:
            stored = self._cache.get(self.cache_key)
        except Exception:
            # As Django: some caches raise on odd keys, and a serializer may refuse a
            # value it cannot read. Either way the database decides.
            stored = None
        data = decode_strict(self, stored)
        if data is not None:
            self._loaded_text = stored
            self._unreadable = False
            return data
        row = self._get_session_from_db()
        data = self._session_from_row(row)
        if self._loaded_text is not None:
            self._publish(
                self.session_key, self._loaded_text, self.get_expiry_age(expiry=row.expire_date)
            )
        return data

    # -- saving (asave runs this in a thread) --------------------------------------------------

    def save(self, must_create: bool = False) -> None:
        """The db engine's save, then the text it stored goes to the cache."""
        if self.session_key is None:
            return self.create()
        key = self.session_key
        try:
            super().save(must_create)
        except UpdateError:
            self._forget(key)
            raise
        self._publish(self.session_key, self._loaded_text, self.get_expiry_age())
        return None

    def _publish(self, session_key: str, text: str, age: int) -> None:
        """Cache ``text``, then read the row: while it holds another text (a writer that
        saved meanwhile), cache that one and read again. Gone or still moving after
        ``MAX_SAVE_RETRIES`` reads: the entry is dropped."""
        name = self.cache_key_prefix + session_key
        using = router.db_for_write(self.model)
        try:
            for _ in range(MAX_SAVE_RETRIES + 1):
                self._cache.set(name, text, age)
                row = self._current_row(using, session_key)
                if row is None:
                    break
                if row[0] == text:
                    return
                text, age = row[0], self.get_expiry_age(expiry=row[1])
            self._cache.delete(name)
        except Exception:
            logger.exception("Error saving to cache (%s)", self._cache)
            with suppress(Exception):
                self._cache.delete(name)

    def _forget(self, session_key: str) -> None:
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:
            logger.exception("Error deleting from cache (%s)", self._cache)

    # -- Django's cached_db, unchanged (flush and cycle_key come through delete) ----------------

    def exists(self, session_key: str) -> bool:
        return bool(
            session_key
            and (self.cache_key_prefix + session_key) in self._cache
            or super().exists(session_key)
        )

    async def aexists(self, session_key: str) -> bool:
        return bool(
            session_key
            and await self._cache.ahas_key(self.cache_key_prefix + session_key)
            or await super().aexists(session_key)
        )

    def delete(self, session_key: str | None = None) -> None:
        super().delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache.delete(self.cache_key_prefix + session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        await super().adelete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        await self._cache.adelete(self.cache_key_prefix + session_key)
