"""Recognise the database error of an INSERT whose key already exists.

A create-only write (``If-None-Match: *``, CONFORMANCE rule 50) is an INSERT; when a
concurrent request created the same row first, the database refuses it with a unique
violation, which must become 412 — but only when the violated key is the row's own key
(its primary key, or the unique field the URL names). A violation of another unique field
stays the application's ``IntegrityError``. The violated key is read from the error
itself, not from a query: under REPEATABLE READ the conflicting row is invisible to the
transaction that collided with it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection
from typing import Any

from django.db import IntegrityError

__all__ = ["duplicates_key"]

_POSTGRES_UNIQUE_VIOLATION = "23505"
_MYSQL_DUPLICATE_ENTRY = 1062
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>.+)$")
_MYSQL_KEY = re.compile(r"for key '(?P<key>[^']+)'")


def duplicates_key(
    exc: IntegrityError, connection: Any, keys: Collection[tuple[str, str]]
) -> bool | None:
    """Whether ``exc`` reports a duplicate value of one of ``keys`` — ``(table, column)``
    pairs, each a single-column unique key. ``None`` when the backend's error does not say
    (the caller then looks the row up)."""
    error = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(error, sqlite3.Error):
        match = _SQLITE_UNIQUE.search(str(error))
        if match is None:
            return False
        columns = [part.strip() for part in match.group("columns").split(",")]
        return len(columns) == 1 and tuple(columns[0].rsplit(".", 1)) in set(keys)
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if connection.vendor == "postgresql":
        if sqlstate != _POSTGRES_UNIQUE_VIOLATION:
            return False
        diag = getattr(error, "diag", None)
        name = getattr(diag, "constraint_name", None)
        table = getattr(diag, "table_name", None)
        return None if name is None else _constraint_is_key(connection, table, name, keys)
    if connection.vendor == "mysql":
        args: tuple[object, ...] = getattr(error, "args", ())
        if not args or args[0] != _MYSQL_DUPLICATE_ENTRY:
            return False
        match = _MYSQL_KEY.search(str(args[1]) if len(args) > 1 else "")
        if match is None:
            return None
        # MySQL 8 writes 'table.key', MariaDB only 'key'.
        name = match.group("key").rsplit(".", 1)[-1]
        return any(
            _constraint_is_key(connection, table, name, [(table, column)]) for table, column in keys
        )
    return None


def _constraint_is_key(
    connection: Any, table: str | None, name: str, keys: Collection[tuple[str, str]]
) -> bool:
    """Whether the unique constraint (or primary key) ``name`` of ``table`` is exactly one of
    ``keys`` (an introspection query, only on this error path)."""
    for key_table, column in keys:
        if table is not None and table != key_table:
            continue
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, key_table)
        found = constraints.get(name)
        if (
            found is not None
            and (found.get("unique") or found.get("primary_key"))
            and list(found.get("columns") or ()) == [column]
        ):
            return True
    return False
