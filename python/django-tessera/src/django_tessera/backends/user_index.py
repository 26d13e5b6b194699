"""tessera's per-user session index, kept by the ``db`` and ``cached_db`` engines.

tessera keeps a side table beside the session table, ``tessera_session_user``
(``<table>_tessera_user`` beside a custom one): one row per logged-in session, ``(session_key,
user_id, created_at, last_seen, expire_date)``, so it can list a user's sessions and end them
all ("log out everywhere") without scanning every session. tessera creates the table; Django
and its migrations never read it. When the table exists, these engines write the row in the
same transaction as the session row, exactly as tessera does: a session holding
``_auth_user_id`` (what ``login()`` stores) is indexed under it, one without it is not, and a
deleted session (``logout()``, ``flush()``, ``cycle_key()``) loses its row. Sessions Django
creates through these engines are then listed and revoked by tessera like its own.

Without the table (tessera has not run against this database yet), nothing is written. Where
Django writes sessions without these engines, tessera's ``reindex_users`` backfills the index.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import connections

#: tessera's name for the index beside Django's table.
DEFAULT_INDEX_TABLE = "tessera_session_user"
#: The longest user id tessera indexes (the column is varchar(255)).
MAX_USER_ID = 255
#: How long "the table is missing" is believed before looking again, in seconds: tessera may
#: create it while Django runs.
RECHECK_MISSING = 30.0

# (alias, table) -> True, or the time it was found missing.
_seen: dict[tuple[str, str], float | bool] = {}


def index_table(session_table: str) -> str:
    """The index table beside ``session_table``, named as tessera names it (names too long
    for PostgreSQL take a digest, as tessera does)."""
    if session_table == "django_session":
        return DEFAULT_INDEX_TABLE
    name = f"{session_table}_tessera_user"
    if len(name) <= 63:
        return name
    import hashlib

    return "tessera_user_" + hashlib.md5(session_table.encode()).hexdigest()


def _present(using: str, table: str) -> bool:
    known = _seen.get((using, table))
    if known is True:
        return True
    if isinstance(known, float) and time.monotonic() - known < RECHECK_MISSING:
        return False
    connection = connections[using]
    with connection.cursor() as cursor:
        found = table in connection.introspection.table_names(cursor)
    _seen[(using, table)] = True if found else time.monotonic()
    return found


def user_id_of(data: dict) -> str | None:
    """The id tessera indexes a session under: ``_auth_user_id`` as text (an int as its
    digits), or None (not logged in, or an id tessera would not index)."""
    value = data.get("_auth_user_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_USER_ID:
        return value
    return None


def write(using: str, session_table: str, session_key: str, data: dict, expire_date: Any) -> None:
    """Index (or unindex) one session after its row was written; call inside the same
    transaction."""
    table = index_table(session_table)
    if not _present(using, table):
        return
    connection = connections[using]
    user_id = user_id_of(data)
    if user_id is None:
        remove(using, session_table, session_key)
        return
    q = connection.ops.quote_name
    i, key, user, created, seen, expire = (
        q(table),
        q("session_key"),
        q("user_id"),
        q("created_at"),
        q("last_seen"),
        q("expire_date"),
    )
    now = time.time()
    values = (
        f"INSERT INTO {i} ({key}, {user}, {created}, {seen}, {expire}) "
        "VALUES (%s, %s, %s, %s, %s)"
    )
    if connection.vendor == "mysql":
        # Assignments run left to right: created_at reads the old user_id.
        sql = (
            f"{values} ON DUPLICATE KEY UPDATE {created} = IF({user} = VALUES({user}), "
            f"{created}, VALUES({created})), {user} = VALUES({user}), "
            f"{seen} = VALUES({seen}), {expire} = VALUES({expire})"
        )
    else:
        sql = (
            f"{values} ON CONFLICT ({key}) DO UPDATE SET {created} = CASE WHEN "
            f"{i}.{user} = excluded.{user} THEN {i}.{created} ELSE excluded.{created} END, "
            f"{user} = excluded.{user}, {seen} = excluded.{seen}, {expire} = excluded.{expire}"
        )
    stored_expiry = connection.ops.adapt_datetimefield_value(expire_date)
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_key, user_id, now, now, stored_expiry])


def remove(using: str, session_table: str, session_key: str) -> None:
    """Unindex one session (deleted, or no longer logged in)."""
    table = index_table(session_table)
    if not _present(using, table):
        return
    connection = connections[using]
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {q(table)} WHERE {q('session_key')} = %s", [session_key])
