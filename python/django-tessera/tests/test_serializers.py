"""``TextSerializer`` on its own: what it hands to Redis and reads back (no server needed)."""

from __future__ import annotations

import pickle
import unittest

from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer

from django_tessera.serializers import TextSerializer


class TextSerializerTests(unittest.TestCase):
    def test_text_is_stored_as_utf8(self) -> None:
        text = ".eJxTyk0tLk5MT1WyUlJKLSrKL1LSUUovzs8pzSvJzE0tSgUAbP4KPw:1t:abc"
        self.assertEqual(TextSerializer().dumps(text), text.encode())
        self.assertEqual(TextSerializer().dumps("é🎉"), "é🎉".encode())
        self.assertEqual(TextSerializer().loads(text.encode()), text)

    def test_other_values_are_stored_as_djangos_serializer_stores_them(self) -> None:
        ours, django = TextSerializer(), RedisSerializer()
        for value in [7, -1, 2**70, {"a": 1}, [1], b"raw", 1.5, True, None]:
            with self.subTest(value=value):
                self.assertEqual(ours.dumps(value), django.dumps(value))
                # Redis hands back bytes; an int is stored as its digits.
                stored = ours.dumps(value)
                stored = str(stored).encode() if type(stored) is int else stored
                self.assertEqual(ours.loads(stored), value)
                self.assertEqual(ours.loads(stored), django.loads(stored))

    def test_text_that_looks_like_an_int_stays_text(self) -> None:
        for text in ["42", " 7\n", "-3", "1_000"]:
            with self.subTest(text=text):
                self.assertEqual(TextSerializer().loads(TextSerializer().dumps(text)), text)

    def test_values_pickled_before_the_switch_are_read(self) -> None:
        old = pickle.dumps({"user": "1"}, pickle.HIGHEST_PROTOCOL)
        self.assertEqual(TextSerializer().loads(old), {"user": "1"})
        self.assertEqual(TextSerializer().loads(pickle.dumps("s", 2)), "s")

    def test_old_pickle_protocols_are_refused(self) -> None:
        with self.assertRaises(ValueError):
            TextSerializer(protocol=1)

    def test_djangos_redis_cache_takes_it_by_dotted_path_or_class(self) -> None:
        for given in ("django_tessera.serializers.TextSerializer", TextSerializer):
            client = RedisCacheClient(["redis://127.0.0.1:1"], serializer=given)
            self.assertIsInstance(client._serializer, TextSerializer)
