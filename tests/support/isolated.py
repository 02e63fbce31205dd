"""Models defined by a test module (in ``isolate_apps``) whose tables exist only while that
module runs, and ``ATOMIC_REQUESTS`` switched for one database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection, connections, models


@contextlib.contextmanager
def tables_of(defined: Sequence[type[models.Model]], django_db_blocker: Any) -> Iterator[None]:
    """Create the tables of ``defined`` on the default test database, drop them afterwards."""
    with django_db_blocker.unblock():
        with connection.schema_editor() as editor:
            for model in defined:
                editor.create_model(model)
        try:
            yield
        finally:
            with connection.schema_editor() as editor:
                for model in reversed(defined):
                    editor.delete_model(model)


@contextlib.contextmanager
def atomic_requests_on(alias: str, value: bool = True) -> Iterator[bool]:
    """``ATOMIC_REQUESTS`` of the database ``alias`` (seen by every thread's connection)."""
    settings_dict = connections[alias].settings_dict
    previous = settings_dict["ATOMIC_REQUESTS"]
    settings_dict["ATOMIC_REQUESTS"] = value
    try:
        yield value
    finally:
        settings_dict["ATOMIC_REQUESTS"] = previous
