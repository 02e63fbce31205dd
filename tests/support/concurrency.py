"""Real parallelism for the concurrency tests: threads released together at a barrier, and a
raw driver connection to the test database outside Django."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

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


@contextlib.contextmanager
def lock_waits_cut_short() -> Iterator[None]:
    """Lock waits of this thread's connection end in an error quickly: SQLite's busy timeout
    20 ms, MariaDB's ``innodb_lock_wait_timeout`` 1 s, PostgreSQL's ``lock_timeout`` 100 ms."""
    short, reset = {
        "sqlite": ("PRAGMA busy_timeout = 20", "PRAGMA busy_timeout = 5000"),
        "mysql": (
            "SET SESSION innodb_lock_wait_timeout = 1",
            "SET SESSION innodb_lock_wait_timeout = DEFAULT",
        ),
        "postgresql": ("SET lock_timeout = '100ms'", "RESET lock_timeout"),
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(short)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(reset)


def lock_the_row(table: str, column: str, value: int, seconds: float) -> Callable[[], None]:
    """A hook for a view: the first time it runs, another connection locks the row (SQLite:
    the whole database) for ``seconds``; later runs (a retry) find it free again. The hook's
    ``threads`` attribute holds the locking thread, to join."""
    taken = threading.Event()
    threads: list[threading.Thread] = []

    def holder() -> None:
        other = other_connection()
        try:
            cursor = other.cursor()
            if connection.vendor == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            else:
                if connection.vendor == "mysql":
                    cursor.execute("BEGIN")
                cursor.execute(f"SELECT 1 FROM {table} WHERE {column} = %s FOR UPDATE", [value])
            taken.set()
            time.sleep(seconds)
            other.rollback()
        finally:
            other.close()

    def hook() -> None:
        if not threads:
            threads.append(threading.Thread(target=holder))
            threads[0].start()
            assert taken.wait(10)

    hook.threads = threads  # type: ignore[attr-defined]
    return hook
