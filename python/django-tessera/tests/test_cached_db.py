"""``django_tessera.backends.cached_db`` on SQLite and PostgreSQL with the ``sessions`` cache
on a real Redis (``TextSerializer``).

The cache entries live under Django's default names (``:1:django.contrib.sessions.cached_db``
then the session key, random to this run); each test deletes the ones it looked at.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
import time
import unittest
from contextlib import nullcontext
from typing import Any, Callable

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as StockDbStore
from django.contrib.sessions.models import Session
from django.core import signing

from django_tessera.backends.cached_db import SessionStore

from .support import OnMysql, OnPostgres, OnSqlite, redis_client, run_concurrently
from .test_db import WRITERS, check_unreadable_row_left_alone, row_text

PREFIX = ":1:django.contrib.sessions.cached_db"
SAMPLE = {"user": "42", "name": "Zoë 🎉", "big": 2**70, "nested": {"l": [1.5, None]}}


def new_session(data: dict) -> str:
    s = SessionStore()
    s.update(data)
    s.save()
    return s.session_key


def decode(text: str) -> dict:
    return StockDbStore().decode(text)


class HookedCacheWrites(SessionStore):
    """The engine, calling ``before_write()`` before each of its cache writes: a write
    that is late, as a busy network can make it, while others go on."""

    __qualname__ = "SessionStore"  # the signing salt is made from it

    def __init__(self, session_key: str, before_write: Callable[[], None]) -> None:
        super().__init__(session_key)
        self._cache = copy.copy(self._cache)  # the same client, a ``set`` of its own
        write = self._cache.set

        def hooked(*args: Any, **kwargs: Any) -> Any:
            before_write()
            return write(*args, **kwargs)

        self._cache.set = hooked


class CachedDbEngineTests:
    """The cases, run once per database (the subclasses below)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.redis = redis_client()
        cls.addClassCleanup(cls.redis.close)
        super().setUpClass()

    def setUp(self) -> None:
        super().setUp()
        self.names: set[str] = set()

    def tearDown(self) -> None:
        if self.names:
            self.redis.delete(*self.names)
        super().tearDown()

    def name(self, key: str) -> str:
        """The Redis name of a session's cache entry, remembered for deletion."""
        self.names.add(PREFIX + key)
        return PREFIX + key

    def cached(self, key: str) -> str | None:
        """The cache entry's raw value as text, or None."""
        raw = self.redis.get(self.name(key))
        return None if raw is None else raw.decode("utf-8")

    def assert_cache_holds_the_row(self, key: str) -> dict:
        """The entry is the row's exact text (and has a TTL); returns what it holds."""
        text = row_text(key)
        self.assertIsNotNone(text)
        self.assertEqual(self.cached(key), text, "the cache entry is not the row's text")
        self.assertGreater(self.redis.ttl(self.name(key)), 0)
        return decode(text)

    # -- round trip -----------------------------------------------------------------------------

    def test_round_trip_the_cache_and_the_row_hold_the_same_signed_text(self) -> None:
        s = SessionStore()
        s.update(SAMPLE)
        s.set_expiry(600)
        s.save()
        key = s.session_key
        expected = dict(SAMPLE, _session_expiry=600)
        self.assertTrue(self.cached(key).startswith((".", "eyJ")), self.cached(key)[:20])
        self.assertEqual(self.assert_cache_holds_the_row(key), expected)
        ttl = self.redis.ttl(self.name(key))
        self.assertTrue(590 <= ttl <= 600, ttl)
        self.assertEqual(SessionStore(key).load(), expected)
        self.assertEqual(StockDbStore(key).load(), expected)
        # An update keeps them the same.
        s = SessionStore(key)
        s["more"] = "é"
        s.save()
        self.assertEqual(self.assert_cache_holds_the_row(key), dict(expected, more="é"))

    def test_a_cached_text_is_read_without_the_database(self) -> None:
        # What tessera's cached+redis:// store writes: the raw text, with a TTL. Here it
        # differs from the row, to show which one a load reads.
        key = new_session({"from": "row"})
        self.redis.set(self.name(key), SessionStore().encode({"from": "cache"}), ex=300)
        self.assertEqual(SessionStore(key)["from"], "cache")

    # -- concurrent writers ---------------------------------------------------------------------

    def test_concurrent_writers_all_land_in_the_row_and_the_cache(self) -> None:
        key = new_session({"base": True})
        # The first cache write of the race (a writer that saved first) lands only after
        # every other writer is done: the text it brings is the oldest of all.
        first = threading.Lock()
        others_done = threading.Event()
        finished: list = []

        def before_write() -> None:
            if first.acquire(blocking=False):
                others_done.wait(30)

        def work(i: int, barrier: threading.Barrier) -> None:
            s = HookedCacheWrites(key, before_write)
            barrier.wait()
            s[f"w{i}"] = i  # loads the session first
            try:
                s.save()
            finally:
                finished.append(i)
                if len(finished) == WRITERS - 1:
                    others_done.set()

        self.assertEqual(run_concurrently(WRITERS, work), [])
        data = self.assert_cache_holds_the_row(key)
        missing = [f"w{i}" for i in range(WRITERS) if f"w{i}" not in data]
        self.assertEqual(missing, [], f"keys lost by concurrent saves: {missing}")
        self.assertIs(data["base"], True)

    def test_a_refill_racing_a_save_leaves_the_saved_text_cached(self) -> None:
        key = new_session({"a": 1})
        self.redis.delete(self.name(key))

        def another_request_saves() -> None:
            if not saved:
                saved.append(True)
                other = SessionStore(key)
                other["b"] = 2
                other.save()

        saved: list = []
        # This load reads the row, then the other request saves before it fills the cache.
        self.assertEqual(HookedCacheWrites(key, another_request_saves).load(), {"a": 1})
        self.assertEqual(self.assert_cache_holds_the_row(key), {"a": 1, "b": 2})

    def test_a_stale_cache_entry_does_not_make_a_save_drop_keys(self) -> None:
        key = new_session({"a": 1})
        old = self.cached(key)
        other = SessionStore(key)
        other["b"] = 2
        other.save()
        self.redis.set(self.name(key), old, ex=300)  # an entry that missed that save
        mine = SessionStore(key)
        self.assertIsNone(mine.get("b"))  # it is read from the stale entry ...
        mine["c"] = 3
        mine.save()
        # ... but the swap is on the row: b is kept, and the cache has it again.
        self.assertEqual(self.assert_cache_holds_the_row(key), {"a": 1, "b": 2, "c": 3})

    # -- records that do not decode ---------------------------------------------------------------

    def test_an_unreadable_cache_value_falls_through_to_the_row_and_is_replaced(self) -> None:
        unreadable = {
            "foreign": b"foreign format",
            # What Django's stock cached_db leaves with Django's RedisSerializer.
            "pickle": pickle.dumps({"a": "from the pickle"}, pickle.HIGHEST_PROTOCOL),
            "other_secret": signing.dumps(
                {"a": 2}, key="another secret", salt=SessionStore().key_salt, compress=True
            ).encode(),
        }
        for case, value in unreadable.items():
            with self.subTest(case):
                key = new_session({"a": 1})
                self.redis.set(self.name(key), value, ex=300)
                s = SessionStore(key)
                self.assertEqual(s["a"], 1)
                self.assertEqual(self.assert_cache_holds_the_row(key), {"a": 1})
                s["b"] = 2
                s.save()
                self.assertEqual(s.session_key, key)
                self.assertEqual(self.assert_cache_holds_the_row(key), {"a": 1, "b": 2})

    def test_an_unreadable_row_is_never_overwritten(self) -> None:
        leftover = pickle.dumps({"a": "stock"}, pickle.HIGHEST_PROTOCOL)
        for case, cached in (("no cache entry", None), ("a pickle cached", leftover)):
            with self.subTest(case):
                key = f"foreignrow{time.time_ns()}"
                if cached is not None:
                    self.redis.set(self.name(key), cached, ex=300)
                new_key = check_unreadable_row_left_alone(self, SessionStore, key, "foreign")
                self.assertEqual(self.redis.get(self.name(key)), cached)
                self.assertEqual(self.assert_cache_holds_the_row(new_key), {"x": 1})

    # -- interrupted saves, delete, flush, cycle_key ---------------------------------------------

    def test_an_interrupted_save_drops_the_cache_entry(self) -> None:
        def logged_out(key: str) -> None:
            StockDbStore(key).delete()  # the row only, as a plain db engine does

        def row_turned_foreign(key: str) -> None:
            Session.objects.filter(session_key=key).update(session_data="foreign format")

        for change, row_after in ((logged_out, None), (row_turned_foreign, "foreign format")):
            with self.subTest(change.__name__):
                key = new_session({"a": 1})
                s = SessionStore(key)
                self.assertEqual(s["a"], 1)
                change(key)
                self.assertIsNotNone(self.cached(key))
                s["b"] = 2
                # Only a row that no longer decodes is logged.
                logs = self.assertLogs("django_tessera", "WARNING") if row_after else nullcontext()
                with self.assertRaises(UpdateError), logs:
                    s.save()
                self.assertIsNone(self.cached(key))
                self.assertEqual(row_text(key), row_after)

    def test_delete_flush_and_cycle_key_drop_the_old_cache_entry(self) -> None:
        key = new_session({"a": 1})
        s = SessionStore(key)
        s["b"] = 2
        s.cycle_key()
        cycled = s.session_key
        self.assertNotEqual(cycled, key)
        self.assertIsNone(self.cached(key))
        self.assertIsNone(row_text(key))
        self.assertEqual(self.assert_cache_holds_the_row(cycled), {"a": 1, "b": 2})
        s.flush()
        self.assertIsNone(s.session_key)
        self.assertIsNone(self.cached(cycled))
        self.assertIsNone(row_text(cycled))
        other = new_session({"c": 3})
        SessionStore().delete(other)
        self.assertIsNone(self.cached(other))
        self.assertIsNone(row_text(other))
        self.assertFalse(SessionStore().exists(other))

    def test_async_api(self) -> None:
        async def view() -> tuple:
            s = SessionStore()
            await s.aset("a", 1)
            await s.asave()
            key = s.session_key
            other = SessionStore(key)
            self.assertEqual(await other.aget("a"), 1)
            await other.aset("b", 2)
            await other.asave()
            self.assertTrue(await SessionStore().aexists(key))
            await other.acycle_key()
            cycled = other.session_key
            return key, cycled, other

        key, cycled, other = asyncio.run(view())
        self.assertIsNone(self.cached(key))
        self.assertEqual(self.assert_cache_holds_the_row(cycled), {"a": 1, "b": 2})
        asyncio.run(other.aflush())
        self.assertIsNone(self.cached(cycled))
        self.assertIsNone(row_text(cycled))


class SqliteTests(OnSqlite, CachedDbEngineTests, unittest.TestCase):
    pass


class MysqlTests(OnMysql, CachedDbEngineTests, unittest.TestCase):
    pass


class PostgresTests(OnPostgres, CachedDbEngineTests, unittest.TestCase):
    pass
