"""Rule 47: the database's own concurrency errors become VersionConflict (412), not 500.

Each test provokes the real error on the backend it runs on, with a second connection: SQLite
"database is locked", PostgreSQL serialization failure (40001) and lock timeout (55P03),
MariaDB lock wait timeout (1205). `.ci/run` runs this file on all three.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from django_preconditions.dbconflicts import is_database_conflict
from django_preconditions.exceptions import VersionConflict
from tests.support.concurrency import other_connection
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db(transaction=True)


def test_rule_47_sqlite_database_locked_becomes_a_version_conflict() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's locking; PostgreSQL and MariaDB have their own tests")
    document = Document.objects.create(title="a")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")
    locker = other_connection()
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(VersionConflict) as raised:
            document.save(expected_version=document.version_token)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert raised.value.reason == "database"
    assert is_database_conflict(raised.value.__cause__)  # type: ignore[arg-type]


def test_rule_47_postgresql_serialization_failure_becomes_a_version_conflict() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    document = Document.objects.create(title="a")
    token = document.version_token
    other = other_connection()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            Document.objects.get(pk=document.pk)  # takes the snapshot
            with other.cursor() as cursor:  # a concurrent write commits after the snapshot
                cursor.execute(
                    "UPDATE testapp_document SET title = 'theirs' WHERE id = %s", [document.pk]
                )
            other.commit()
            with pytest.raises(VersionConflict) as raised:
                document.save(expected_version=token)
    finally:
        other.close()
    assert raised.value.reason == "database"
    assert raised.value.__cause__ is not None
    assert getattr(raised.value.__cause__.__cause__, "sqlstate", None) == "40001"
    assert Document.objects.get(pk=document.pk).title == "theirs"


def test_rule_47_postgresql_lock_timeout_becomes_a_version_conflict() -> None:
    """PostgreSQL's counterpart of MariaDB's 1205: a lock wait cut short by ``lock_timeout``
    (or ``NOWAIT``) while another transaction holds the row, SQLSTATE 55P03."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    document = Document.objects.create(title="a")
    other = other_connection()
    try:
        with other.cursor() as cursor:  # holds the row's lock until the rollback below
            cursor.execute(
                "SELECT id FROM testapp_document WHERE id = %s FOR UPDATE", [document.pk]
            )
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        try:
            with pytest.raises(VersionConflict) as raised:
                document.save(expected_version=document.version_token)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        other.rollback()
        other.close()
    assert raised.value.reason == "database"
    assert raised.value.__cause__ is not None
    assert getattr(raised.value.__cause__.__cause__, "sqlstate", None) == "55P03"
    assert Document.objects.get(pk=document.pk).title == "a"


def test_rule_47_mariadb_lock_wait_timeout_becomes_a_version_conflict() -> None:
    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only")
    document = Document.objects.create(title="a")
    other = other_connection()
    try:
        cursor = other.cursor()
        cursor.execute("START TRANSACTION")
        cursor.execute("SELECT id FROM testapp_document WHERE id = %s FOR UPDATE", [document.pk])
        with connection.cursor() as own:
            own.execute("SET SESSION innodb_lock_wait_timeout = 1")
        with pytest.raises(VersionConflict) as raised:
            document.save(expected_version=document.version_token)
        other.rollback()
    finally:
        other.close()
    assert raised.value.reason == "database"
    assert Document.objects.get(pk=document.pk).title == "a"


def test_rule_47_conflict_during_a_request_is_503_not_500(client) -> None:  # type: ignore[no-untyped-def]
    """End to end on SQLite: a write blocked by another connection's lock, the row unchanged,
    is run again and then answered 503 with Retry-After (nothing applied), never 500."""
    if connection.vendor != "sqlite":
        pytest.skip("uses SQLite's lock as the conflict")
    document = Document.objects.create(title="a")
    etag = client.get(f"/reuse/docs/{document.pk}/")["ETag"]
    locker = other_connection()
    locker.execute("BEGIN IMMEDIATE")  # readers may read; no one else may write
    outcome: dict[str, int] = {}

    def put() -> None:
        from django.db import connections
        from django.test import Client

        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 50")
            response = Client().put(
                f"/reuse/docs/{document.pk}/",
                {"title": "b"},
                content_type="application/json",
                headers={"If-Match": etag},
            )
            outcome["status"] = response.status_code
            outcome["retry_after"] = int(response["Retry-After"])
        finally:
            connections.close_all()

    try:
        thread = threading.Thread(target=put)
        thread.start()
        thread.join(timeout=30)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert outcome["status"] == 503
    assert outcome["retry_after"] >= 1
    assert Document.objects.get(pk=document.pk).title == "a"
