"""Django's ``db`` session engine with a save that never drops another request's keys.

``SESSION_ENGINE = "django_tessera.backends.db"``. Same model, same table and the same
encoded ``session_data`` as ``django.contrib.sessions.backends.db`` (the class is also named
``SessionStore``, so the signing salt is the same): rows written by either engine, or by
tessera, are read by the others.

What differs is ``save()``. Django's stock save writes the whole dict the request loaded,
so when two requests overlap the one that saves last erases the keys the other wrote. Here
each change the request makes is recorded (set a key, delete a key, clear), and the save is
a compare-and-swap: ``UPDATE ... WHERE session_key = k AND session_data = <text loaded>``.
When another writer (a Django request, or tessera, which saves the same way) got there
first, the row is read again, this request's changes are replayed on top of it in order,
and the swap is tried again, at most ``MAX_SAVE_RETRIES`` times. A row that was deleted
(logout) or expired meanwhile is never brought back: the save raises ``UpdateError`` as
Django's does, which ``SessionMiddleware`` answers with ``SessionInterrupted`` (400).

A row whose ``session_data`` does not decode (bad signature, another app's format) is not
loaded as ``{}`` and later overwritten, as Django would: it is treated as no session, the
request gets a new key, and the row is left as it is.

Every write also keeps tessera's per-user index (``tessera_session_user``) in the same
transaction when that table exists (see ``user_index``), so tessera lists and revokes the
sessions Django's ``login()`` creates.

Supported databases: PostgreSQL, SQLite, MySQL/MariaDB (compared byte for byte there).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.db import SessionStore as DjangoDBStore
from django.db import connections, router, transaction
from django.db.models import Func, QuerySet, TextField
from django.utils import timezone

from . import decode_strict, log_left_alone, user_index

#: How many times a save that lost a race re-reads the row and tries again (tessera's
#: default too); one more failure raises ``UpdateError``.
MAX_SAVE_RETRIES = 64

# One recorded change: (_SET, key, value), (_DEL, key) or (_CLEAR,).
_SET, _DEL, _CLEAR = "set", "del", "clear"
Op = tuple[Any, ...]


class _Bytes(Func):
    """``CAST(x AS BINARY)``: on MySQL/MariaDB the default collations compare text without
    case and trailing spaces, and the swap must only match the exact text it loaded."""

    template = "CAST(%(expressions)s AS BINARY)"
    output_field = TextField()


class SessionStore(DjangoDBStore):
    """The ``db`` session store, saving by compare-and-swap plus replay (see the module)."""

    #: The engine's name in log lines.
    engine_name = "db"

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # The exact session_data this object read (or last wrote); None: nothing read.
        self._loaded_text: str | None = None
        # The changes made since then, in order.
        self._ops: list[Op] = []
        # Set by load() when the row existed but did not decode.
        self._unreadable = False
        # What create_model_instance() encoded last (the text an INSERT writes).
        self._encoded: str | None = None

    # -- recording the request's changes ---------------------------------------------------
    # Every write path of SessionBase funnels into these (setdefault and set_expiry go
    # through __setitem__/__delitem__); reads record nothing.

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._ops.append((_SET, key, value))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._ops.append((_DEL, key))

    def pop(self, key: str, *default: Any) -> Any:
        present = key in self._session
        value = super().pop(key, *default)
        if present:
            self._ops.append((_DEL, key))
        return value

    def update(self, dict_: Any) -> None:
        items = dict(dict_)
        super().update(items)
        self._ops.extend((_SET, k, v) for k, v in items.items())

    def clear(self) -> None:
        super().clear()
        self._ops.append((_CLEAR,))

    # The async API of Django >= 5.0 writes to the dict directly, not through the above.

    async def aset(self, key: str, value: Any) -> None:
        await super().aset(key, value)
        self._ops.append((_SET, key, value))

    async def apop(self, key: str, *default: Any) -> Any:
        present = key in (await self._aget_session())
        value = await super().apop(key, *default)
        if present:
            self._ops.append((_DEL, key))
        return value

    async def aupdate(self, dict_: Any) -> None:
        items = dict(dict_)
        await super().aupdate(items)
        self._ops.extend((_SET, k, v) for k, v in items.items())

    async def adelete_test_cookie(self) -> None:
        await self.apop(self.TEST_COOKIE_NAME)

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> dict:
        """Load the row, remembering its exact text; an undecodable row is no session."""
        return self._session_from_row(self._get_session_from_db())

    def _session_from_row(self, row: Any) -> dict:
        """The dict a row (or None: no row) holds, remembering its exact text as the base of
        the next swap; an undecodable row is no session, and the key is dropped."""
        self._loaded_text = None
        self._unreadable = False
        if row is None:
            return {}
        data = decode_strict(self, row.session_data)
        if data is None:
            log_left_alone(self.engine_name)
            self._unreadable = True
            self._session_key = None
            return {}
        self._loaded_text = row.session_data
        return data

    async def aload(self) -> dict:
        return await sync_to_async(self.load)()

    # -- saving ------------------------------------------------------------------------------

    def create_model_instance(self, data: dict) -> Any:
        obj = super().create_model_instance(data)
        self._encoded = obj.session_data
        return obj

    def save(self, must_create: bool = False) -> None:
        """Save the session; an update is a compare-and-swap with replay (see the module)."""
        if self.session_key is None:
            return self.create()
        if must_create:
            # Django's INSERT, unchanged, and its index row; what it wrote is the base of the
            # next update.
            using = router.db_for_write(self.model)
            with transaction.atomic(using=using):
                super().save(must_create=True)
                self._index(using, self._get_session(no_load=True), self.get_expiry_date())
            self._loaded_text = self._encoded
            self._ops = []
            self._unreadable = False
            return None
        current = self._get_session()
        if self.session_key is None:
            # The load just now found no usable row.
            if self._unreadable:
                return self.create()
            raise UpdateError
        self._swap(current)
        return None

    async def asave(self, must_create: bool = False) -> None:
        return await sync_to_async(self.save)(must_create)

    def _swap(self, current: dict) -> None:
        using = router.db_for_write(self.model)
        base = self._loaded_text
        snapshot: dict | None = None
        expected = base  # None: read the row first (e.g. clear() before any read)
        merged = current
        for _ in range(MAX_SAVE_RETRIES + 1):
            if expected is None:
                fresh_text = self._read_row(using)
                if fresh_text is None:
                    # Logged out or expired meanwhile: never re-create it.
                    raise UpdateError
                fresh = decode_strict(self, fresh_text)
                if fresh is None:
                    log_left_alone(self.engine_name, saving=True)
                    raise UpdateError
                if base is not None and snapshot is None:
                    snapshot = decode_strict(self, base)
                merged = self._replay(fresh, current, snapshot)
                expected = fresh_text
            text = self.encode(merged)
            expire_date = self.get_expiry_date(expiry=merged.get("_session_expiry"))
            with transaction.atomic(using=using):
                updated = self._rows_holding(using, expected).update(
                    session_data=text, expire_date=expire_date
                )
                if updated:
                    self._index(using, merged, expire_date)
            if updated:
                self._session_cache = merged
                self._loaded_text = text
                self._ops = []
                return
            expected = None
        raise UpdateError

    def _index(self, using: str, data: dict, expire_date: Any) -> None:
        """tessera's index row for this session, in the caller's transaction."""
        user_index.write(using, self.model._meta.db_table, self.session_key, data, expire_date)

    def delete(self, session_key: str | None = None) -> None:
        """Django's delete, then the session's index row. Not one transaction: on SQLite a
        transaction that reads (Django's delete looks the row up first) and then writes fails
        at once when another writer holds the lock. An entry left by a failure in between
        names a session that is gone, which tessera's listing prunes."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        super().delete(session_key)
        user_index.remove(router.db_for_write(self.model), self.model._meta.db_table, session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        # This class's delete: a subclass's adelete adds its own steps around this one.
        await sync_to_async(SessionStore.delete)(self, session_key)

    def _rows_holding(self, using: str, text: str) -> QuerySet:
        """This session's row if, and only if, it still holds exactly ``text``."""
        rows = self.model.objects.using(using).filter(
            session_key=self.session_key, session_data=text
        )
        if connections[using].vendor == "mysql":
            rows = rows.alias(_tessera_bytes=_Bytes("session_data")).filter(
                _tessera_bytes=text
            )
        return rows

    def _read_row(self, using: str) -> str | None:
        """The row's current text, or None if it is gone or expired."""
        row = self._current_row(using, self.session_key)
        return None if row is None else row[0]

    def _current_row(self, using: str, session_key: str) -> tuple[str, Any] | None:
        """A row's current ``(session_data, expire_date)``, or None if gone or expired."""
        return (
            self.model.objects.using(using)
            .filter(session_key=session_key, expire_date__gt=timezone.now())
            .values_list("session_data", "expire_date")
            .first()
        )

    def _replay(self, fresh: dict, current: dict, snapshot: dict | None) -> dict:
        """``fresh`` with this request's changes applied in order.

        Changes made in place (``session["cart"].append(x)`` then ``modified = True``) pass
        through no method and so are not recorded; comparing the dict with what was loaded
        (``snapshot``) finds them, and they are applied last, key by key.
        """
        merged = dict(fresh)
        for op in self._ops:
            if op[0] == _SET:
                merged[op[1]] = op[2]
            elif op[0] == _DEL:
                merged.pop(op[1], None)
            else:
                merged.clear()
        if snapshot is not None:
            for key, value in current.items():
                if key not in snapshot or not self._same(snapshot[key], value):
                    merged[key] = value
            for key in snapshot:
                if key not in current:
                    merged.pop(key, None)
        return merged

    def _same(self, a: Any, b: Any) -> bool:
        """Equal as stored (``1``, ``1.0`` and ``True`` differ there)."""
        try:
            dumps = self.serializer().dumps
            return bool(dumps({"": a}) == dumps({"": b}))
        except Exception:
            return False
