"""Recognise the database errors that mean "a concurrent write got there first".

PostgreSQL reports serialization failures (SQLSTATE 40001), deadlocks (40P01) and lock waits
cut short by ``lock_timeout`` or ``NOWAIT`` (55P03, the counterpart of MariaDB's 1205); MariaDB and
MySQL report 1020 ("Record has changed since last read", snapshot isolation), 1213 (deadlock)
and 1205 (lock wait timeout); SQLite reports SQLITE_BUSY/SQLITE_LOCKED ("database is
locked"). Compare-and-swap writes turn these into ``VersionConflict`` (412), never a 500
(CONFORMANCE rule 47).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from django.db import DatabaseError

from .exceptions import VersionConflict

_POSTGRES_SQLSTATES: Final = frozenset({"40001", "40P01", "55P03"})
_MYSQL_ERRNOS: Final = frozenset({1020, 1205, 1213})
_SQLITE_CODES: Final = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)


def is_database_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` (a Django ``DatabaseError``) wraps a concurrency-conflict error."""
    driver_error = exc.__cause__ if exc.__cause__ is not None else exc
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
    if sqlstate in _POSTGRES_SQLSTATES:
        return True
    if isinstance(driver_error, sqlite3.Error):
        code = getattr(driver_error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_CODES
        message = str(driver_error).lower()
        return "database is locked" in message or "database table is locked" in message
    args: tuple[object, ...] = getattr(driver_error, "args", ())
    return len(args) > 0 and isinstance(args[0], int) and args[0] in _MYSQL_ERRNOS


def conflict_from(exc: BaseException) -> VersionConflict | None:
    """``exc`` as a :class:`VersionConflict` if it is one (a lost compare-and-swap, or a
    database conflict error raised outside one), else ``None``."""
    if isinstance(exc, VersionConflict):
        return exc
    if isinstance(exc, DatabaseError) and is_database_conflict(exc):
        return VersionConflict(str(exc), reason=VersionConflict.DATABASE)
    return None
