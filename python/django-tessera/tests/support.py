"""What the tests share: the database router and the databases and Redis the test classes
run on, service checks, concurrent writers."""

from __future__ import annotations

import os
import sys
import threading
import unittest
from typing import Any, Callable

from django.conf import settings
from django.core.management import call_command
from django.db import connections


def in_ci() -> bool:
    """CI is set to something truthy: a missing service fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def unavailable(service: str, why: Any) -> unittest.SkipTest:
    """Say loudly that ``service`` is missing; the caller raises what this returns.

    In CI a missing service is an error, never a skip.
    """
    message = f"{service} is not available: {why}"
    if in_ci():
        raise RuntimeError(f"{message} (CI is set, so this fails instead of skipping)")
    print(f"\n!!!! {message}\n!!!! its tests are SKIPPED\n", file=sys.stderr)
    return unittest.SkipTest(message)


class Router:
    """Sends the session model to the database alias the running test class chose."""

    alias = "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return Router.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return Router.alias

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


def run_concurrently(count: int, work: Callable[[int, threading.Barrier], None]) -> list:
    """Run ``work(i, barrier)`` in ``count`` threads at once; return their exceptions.

    Each thread has its own database connection (Django's are per thread) and closes it.
    """
    barrier = threading.Barrier(count, timeout=60)
    errors: list = []

    def run(i: int) -> None:
        try:
            work(i, barrier)
        except BaseException as e:  # reported to the test, which fails on it
            errors.append((i, e))
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


class OnDatabase:
    """A test class mixin: the session model on database ``alias``, migrated once for the
    class and routed there during each test. A class with a ``server`` makes a database of
    the run's own there first, and drops it after."""

    alias = "default"
    #: The server, as named when it is missing; None: nothing to make.
    server: str | None = None

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls.server is not None:
            try:
                cls.create_database()
            except unittest.SkipTest:
                raise
            except Exception as e:
                raise unavailable(cls.server, e) from None
            cls.addClassCleanup(cls.drop_database)
        Router.alias = cls.alias
        call_command("migrate", "sessions", database=cls.alias, verbosity=0)

    @classmethod
    def create_database(cls) -> None:
        raise NotImplementedError

    @classmethod
    def drop_database(cls) -> None:
        raise NotImplementedError

    def setUp(self) -> None:
        super().setUp()
        Router.alias = self.alias


class OnSqlite(OnDatabase):
    """In the run's temporary SQLite file."""

    alias = "default"


class OnMysql(OnDatabase):
    """On MySQL/MariaDB, in a database of this run's own. Optional: only when the venv has
    mysqlclient, which run_tests.sh does not install (it needs a C compiler and the client
    library's headers)."""

    alias = "mysql"
    server = f"MySQL at {settings.MYSQL_URL}"

    @classmethod
    def create_database(cls) -> None:
        try:
            import MySQLdb  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("mysqlclient is not installed (optional)") from None
        cls.mysql("CREATE DATABASE `{}` CHARACTER SET utf8mb4", connect_timeout=5)

    @classmethod
    def drop_database(cls) -> None:
        connections[cls.alias].close()
        cls.mysql("DROP DATABASE `{}`")

    @classmethod
    def mysql(cls, statement: str, **options: Any) -> None:
        """Run ``statement``, formatted with the database's name, on the server."""
        import MySQLdb

        db = settings.DATABASES[cls.alias]
        conn = MySQLdb.connect(
            host=db["HOST"], port=int(db["PORT"]), user=db["USER"],
            password=db["PASSWORD"], **options,
        )
        try:
            conn.cursor().execute(statement.format(db["NAME"]))
        finally:
            conn.close()


class OnPostgres(OnDatabase):
    """On PostgreSQL, in a schema of this run's own (first on the search path)."""

    alias = "postgres"
    server = f"PostgreSQL at {settings.POSTGRES_URL}"

    @classmethod
    def create_database(cls) -> None:
        cls.postgres(f'CREATE SCHEMA "{settings.POSTGRES_SCHEMA}"', connect_timeout=5)

    @classmethod
    def drop_database(cls) -> None:
        connections[cls.alias].close()
        cls.postgres(f'DROP SCHEMA "{settings.POSTGRES_SCHEMA}" CASCADE')

    @staticmethod
    def postgres(statement: str, **options: Any) -> None:
        import psycopg

        with psycopg.connect(settings.POSTGRES_URL, autocommit=True, **options) as c:
            c.execute(statement)


def redis_client() -> Any:
    """A client of the test Redis (``settings.REDIS_URL``); raises ``unavailable`` if none
    answers."""
    try:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        client.ping()
    except Exception as e:
        raise unavailable(f"Redis at {settings.REDIS_URL}", e) from None
    return client
