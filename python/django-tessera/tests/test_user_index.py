"""tessera's per-user index (``tessera_session_user``) kept by the db and cached_db engines:
a logged-in session is indexed in the same transaction as its row, moved or removed when its
user changes, and removed on delete, flush and cycle_key; nothing is written while the table
is missing."""

from __future__ import annotations

import unittest

from django.db import connections

from django_tessera.backends import user_index
from django_tessera.backends.cached_db import SessionStore as CachedDbStore
from django_tessera.backends.db import SessionStore as DbStore

from .support import OnMysql, OnPostgres, OnSqlite


def create_index_table(alias: str) -> None:
    """The table as tessera's migrate creates it (its DDL, per backend)."""
    connection = connections[alias]
    double, datetime = {
        "mysql": ("double", "datetime(6)"),
        "postgresql": ("double precision", "timestamp with time zone"),
        "sqlite": ("double precision", "datetime"),
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE tessera_session_user (session_key varchar(40) NOT NULL PRIMARY KEY, "
            f"user_id varchar(255) NOT NULL, created_at {double} NOT NULL, "
            f"last_seen {double} NOT NULL, expire_date {datetime} NOT NULL)"
        )


def drop_index_table(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS tessera_session_user")
    user_index._seen.clear()


def indexed(alias: str) -> dict[str, tuple[str, float, float]]:
    """session_key -> (user_id, created_at, last_seen)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT session_key, user_id, created_at, last_seen FROM tessera_session_user")
        return {k: (u, c, s) for k, u, c, s in cursor.fetchall()}


class UserIndexTests:
    store_class: type = DbStore

    def setUp(self) -> None:
        super().setUp()
        drop_index_table(self.alias)
        create_index_table(self.alias)
        self.addCleanup(drop_index_table, self.alias)

    def login(self, user_id: str, data: dict | None = None) -> str:
        s = self.store_class()
        s.update(data or {})
        s["_auth_user_id"] = user_id
        s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        s.save()
        return s.session_key

    def test_a_login_is_indexed_and_a_delete_unindexes_it(self) -> None:
        key = self.login("42")
        self.assertEqual(indexed(self.alias)[key][0], "42")
        anonymous = self.store_class()
        anonymous["cart"] = [1]
        anonymous.save()
        self.assertNotIn(anonymous.session_key, indexed(self.alias))
        self.store_class(key).delete()
        self.assertNotIn(key, indexed(self.alias))

    def test_saves_move_and_remove_the_entry_and_keep_created_at(self) -> None:
        key = self.login("42")
        _, created, _ = indexed(self.alias)[key]
        s = self.store_class(key)
        s["seen"] = 1
        s.save()
        user, created_again, last_seen = indexed(self.alias)[key]
        self.assertEqual((user, created_again), ("42", created))
        self.assertGreaterEqual(last_seen, created)
        s = self.store_class(key)
        s["_auth_user_id"] = "7"
        s.save()
        self.assertEqual(indexed(self.alias)[key][0], "7")
        s = self.store_class(key)
        del s["_auth_user_id"]
        s.save()
        self.assertNotIn(key, indexed(self.alias))

    def test_flush_and_cycle_key_follow(self) -> None:
        key = self.login("42")
        s = self.store_class(key)
        s.cycle_key()
        self.assertNotIn(key, indexed(self.alias))
        self.assertEqual(indexed(self.alias)[s.session_key][0], "42")
        cycled = s.session_key
        s.flush()
        self.assertNotIn(cycled, indexed(self.alias))

    def test_an_int_user_id_is_indexed_as_its_digits(self) -> None:
        key = self.login("1")
        s = self.store_class(key)
        s["_auth_user_id"] = 99
        s.save()
        self.assertEqual(indexed(self.alias)[key][0], "99")

    def test_without_the_table_nothing_is_written_and_saves_work(self) -> None:
        drop_index_table(self.alias)
        key = self.login("42")
        s = self.store_class(key)
        s["more"] = 1
        s.save()
        self.assertEqual(self.store_class(key)["more"], 1)
        # Created later (tessera started): found again after the re-check delay.
        create_index_table(self.alias)
        user_index._seen.clear()
        s = self.store_class(key)
        s["again"] = 1
        s.save()
        self.assertEqual(indexed(self.alias)[key][0], "42")


class SqliteTests(OnSqlite, UserIndexTests, unittest.TestCase):
    pass


class SqliteCachedDbTests(OnSqlite, UserIndexTests, unittest.TestCase):
    store_class = CachedDbStore


class MysqlTests(OnMysql, UserIndexTests, unittest.TestCase):
    pass


class PostgresTests(OnPostgres, UserIndexTests, unittest.TestCase):
    pass
