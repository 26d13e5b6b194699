"""What the tests share: the database router, service checks, concurrent writers."""

from __future__ import annotations

import os
import sys
import threading
import unittest
from typing import Any, Callable

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
