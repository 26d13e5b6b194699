"""``django_tessera.backends.cache`` with ``TextSerializer`` on a real Redis.

The sessions live under Django's default key names (``:1:django.contrib.sessions.cache``
then the session key, random to this run); each test deletes the keys it made. The
``scratch`` cache uses a key prefix unique to the run, deleted at the end.
"""

from __future__ import annotations

import pickle
import unittest

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.cache import SessionStore as StockCacheStore
from django.contrib.sessions.backends.db import SessionStore as DbStore
from django.core.cache import caches

from django_tessera.backends.cache import SessionStore

from .support import redis_client

PREFIX = ":1:django.contrib.sessions.cache"
SAMPLE = {"user": "42", "name": "Zoë 🎉", "big": 2**70, "nested": {"l": [1.5, None]}}


class CacheEngineOnRedisTests(unittest.TestCase):
    redis = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.redis = redis_client()

    @classmethod
    def tearDownClass(cls) -> None:
        for name in cls.redis.scan_iter(match=f"{settings.SCRATCH_PREFIX}:*", count=1000):
            cls.redis.delete(name)
        cls.redis.close()
        super().tearDownClass()

    def setUp(self) -> None:
        self.names: list[str] = []

    def tearDown(self) -> None:
        if self.names:
            self.redis.delete(*self.names)

    def name(self, session_key: str) -> str:
        """The Redis key of a session, remembered for deletion."""
        self.names.append(PREFIX + session_key)
        return PREFIX + session_key

    def test_redis_holds_the_signed_text_with_a_ttl(self) -> None:
        s = SessionStore()
        s.update(SAMPLE)
        s.set_expiry(600)
        s.save()
        name = self.name(s.session_key)
        raw = self.redis.get(name)
        text = raw.decode("utf-8")
        self.assertTrue(text.startswith((".", "eyJ")), raw[:20])
        # The very text the db engine (and tessera) reads.
        self.assertEqual(DbStore().decode(text), dict(SAMPLE, _session_expiry=600))
        ttl = self.redis.ttl(name)
        self.assertTrue(590 <= ttl <= 600, ttl)
        self.assertEqual(SessionStore(s.session_key).load(), dict(SAMPLE, _session_expiry=600))

    def test_text_written_by_another_app_is_loaded_and_updated(self) -> None:
        # What tessera writes: the signed text, raw, with the TTL as the expiry.
        key = "tesserawrote" + "x" * 20
        name = self.name(key)
        self.redis.set(name, DbStore().encode({"from": "tessera"}).encode(), ex=300)
        s = SessionStore(key)
        self.assertEqual(s["from"], "tessera")
        s["django"] = True
        s.save()
        self.assertEqual(s.session_key, key)
        text = self.redis.get(name).decode()
        self.assertEqual(DbStore().decode(text), {"from": "tessera", "django": True})

    def test_a_pickled_session_is_no_session_and_is_left_alone(self) -> None:
        # What Django's stock cache engine with the stock RedisSerializer leaves in Redis.
        key = "pickled" + "y" * 25
        name = self.name(key)
        pickled = pickle.dumps({"user": "1"}, pickle.HIGHEST_PROTOCOL)
        self.redis.set(name, pickled, ex=300)
        s = SessionStore(key)
        with self.assertLogs("django_tessera", "WARNING") as logs:
            self.assertIsNone(s.get("user"))
        s["x"] = 1
        s.save()
        self.name(s.session_key)
        self.assertNotEqual(s.session_key, key)
        self.assertEqual(self.redis.get(name), pickled)
        self.assertGreater(self.redis.ttl(name), 0)
        self.assertNotIn(key, logs.output[0])

    def test_a_value_that_stops_decoding_before_the_save_is_not_overwritten(self) -> None:
        s = SessionStore()
        s["a"] = 1
        s.save()
        name = self.name(s.session_key)
        self.redis.set(name, b"foreign format", ex=300)
        s["b"] = 2
        with self.assertLogs("django_tessera", "WARNING"):
            with self.assertRaises(UpdateError):
                s.save()
        self.assertEqual(self.redis.get(name), b"foreign format")

    def test_djangos_stock_engine_pickles_where_this_one_writes_text(self) -> None:
        # The difference this engine makes, shown on the same cache and serializer.
        stock = StockCacheStore()
        stock["a"] = 1
        stock.save()
        raw = self.redis.get(self.name(stock.session_key))
        self.assertTrue(raw.startswith(b"\x80"), raw[:10])

    def test_serializer_round_trips_through_redis(self) -> None:
        cache = caches["scratch"]
        values = ["", "text é 🎉", "42", " 7 ", "1_000", b"bytes", 0, -5, 2**70, 1.5, True,
                  None, [1, "a"], {"k": "v"}]
        for i, value in enumerate(values):
            with self.subTest(value=value):
                cache.set(f"v{i}", value, 60)
                got = cache.get(f"v{i}", "missing")
                self.assertEqual(got, value)
                self.assertIs(type(got), type(value))
        cache.set("counter", 10, 60)
        self.assertEqual(cache.incr("counter", 5), 15)
        self.assertEqual(cache.get("counter"), 15)
        cache.set("s", "plain text é", 60)
        raw = self.redis.get(f"{settings.SCRATCH_PREFIX}:1:s")
        self.assertEqual(raw, "plain text é".encode())
