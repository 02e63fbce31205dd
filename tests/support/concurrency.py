"""Real parallelism for the concurrency tests: threads released together at a barrier, and a
raw driver connection to the test database outside Django."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from django.db import connection, connections


def run_in_threads(
    count: int, work: Callable[[int, threading.Barrier], None]
) -> list[BaseException]:
    """Run ``work(index, barrier)`` in ``count`` threads, each with its own database connection
    (closed when it ends); the exceptions they raised. An exception aborts the barrier, so
    the others do not wait for a thread that will never arrive."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            work(index, barrier)
        except BaseException as exc:  # reported by the test, never swallowed
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer did not finish"
    return errors


def other_connection():  # type: ignore[no-untyped-def]
    """A raw driver connection to the same test database, outside Django."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return sqlite3.connect(settings["NAME"], timeout=0, isolation_level=None)
    if connection.vendor == "postgresql":
        import psycopg

        return psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"],
            dbname=settings["NAME"],
            autocommit=False,
        )
    import MySQLdb

    return MySQLdb.connect(
        host=settings["HOST"],
        port=int(settings["PORT"] or 3306),
        user=settings["USER"],
        passwd=settings["PASSWORD"] or "",
        db=settings["NAME"],
    )
