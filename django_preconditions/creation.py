"""Create-by-PUT with a key the client chose: which keys may be created, and keeping the
database's own key generator ahead of them (issue 9, item 12).

A ``PUT /items/<id>/`` with ``If-None-Match: *`` inserts a row with the id from the URL. Two
things can go wrong that a POST never meets:

- the id does not fit the column (``2**63`` in a ``BigAutoField``): the INSERT fails with an
  integer overflow — it must be a 404, not a 500;
- the id is ahead of the key generator. SQLite and MariaDB continue after the largest id, so
  creating the largest possible id leaves no id for the next POST; PostgreSQL's sequence is
  not advanced by an explicit id at all, so a later POST reaches the id and fails on the
  primary key.

So, for an auto-incremented primary key, an id is only created by PUT when it is at least 1
and at most :func:`highest_creatable_id` — the smaller of 2**53 - 1 (the largest integer every
JSON client reads exactly) and half the column's range (the other half stays for POSTs) — and
on PostgreSQL the sequence is then moved past it (:func:`advance_sequence`). Other keys
(UUIDs, slugs, plain integer fields) are only checked against the field's own validators.
"""

from __future__ import annotations

from typing import Any, Final

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connections, models

__all__ = [
    "JSON_SAFE_INTEGER",
    "advance_sequence",
    "creatable_key",
    "highest_creatable_id",
    "is_primary_key",
]

JSON_SAFE_INTEGER: Final = 2**53 - 1


def _is_auto(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.AutoField | models.BigAutoField | models.SmallAutoField)


def highest_creatable_id(field: models.Field[Any, Any], alias: str) -> int:
    """The largest id a create-by-PUT may use for the auto-incremented key ``field``."""
    _, maximum = connections[alias].ops.integer_field_range(field.get_internal_type())
    return min(JSON_SAFE_INTEGER, (maximum or JSON_SAFE_INTEGER) // 2)


def creatable_key(model: type[models.Model], field_name: str, value: Any, alias: str) -> Any:
    """``value`` converted for ``model``'s field, if a create-by-PUT may use it; ``None``
    when the column cannot hold it or it would exhaust the key generator (answer 404)."""
    try:
        field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
    except FieldDoesNotExist:  # a lookup path ("slug__iexact"): no one value to create with
        return None
    if not isinstance(field, models.Field):  # a reverse relation
        return None
    try:
        converted = field.to_python(value)
        field.run_validators(converted)
    except (ValidationError, TypeError, ValueError, OverflowError):
        return None
    auto_key = field.primary_key and _is_auto(field)
    if auto_key and not (
        isinstance(converted, int) and 1 <= converted <= highest_creatable_id(field, alias)
    ):
        return None
    return converted


def is_primary_key(model: type[models.Model], field_name: str) -> bool:
    """Whether a lookup by ``field_name`` is a lookup by ``model``'s primary key."""
    return field_name == "pk" or field_name == model._meta.pk.name


def advance_sequence(model: type[models.Model], created_id: Any, alias: str) -> None:
    """On PostgreSQL, move the sequence of ``model``'s auto-incremented key past an id that
    was inserted explicitly, so later POSTs do not reach it; elsewhere nothing to do (SQLite
    and MariaDB continue after the largest id). Never moves the sequence backwards."""
    field = model._meta.pk
    connection = connections[alias]
    if connection.vendor != "postgresql" or not _is_auto(field):
        return
    if not isinstance(created_id, int):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(seq, %s) FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
            "AS s WHERE COALESCE(pg_sequence_last_value(seq), 0) < %s",
            [created_id, model._meta.db_table, field.column, created_id],
        )
