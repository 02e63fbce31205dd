"""Several databases and async views (rules 44, 47, 52, 54, 55): a conflict at COMMIT judged
on the row's own database, no second run of a request whose writes to another database
stand, ``non_atomic_requests`` applied above the decorator, a refusal decided after an async
view under the middleware, the key sequence of a create-by-PUT on another database.

The second database is the "replica" test database of tests/settings.py, used here as a
second primary (a row lives on it; no router, or a router sending the model there).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from django.views import View
from django.views.generic.detail import SingleObjectMixin
from rest_framework import routers, viewsets

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.support.isolated import atomic_requests_on
from tests.testapp.models import Document, PlainCounter
from tests.testapp.serializers import DocumentSerializer

pytestmark = [
    pytest.mark.django_db(databases=["default", "replica"], transaction=True),
    pytest.mark.urls("tests.test_several_databases"),
]

OTHER = "replica"


@require_preconditions(Document.objects.using(OTHER))
def edit_on_other(request: HttpRequest, pk: int) -> HttpResponse:
    """A row that lives on the other database: loaded there, saved there."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title})


@require_preconditions(Document)
def edit_with_audit_on_other(request: HttpRequest, pk: int) -> HttpResponse:
    """The row on the default database, an audit row on the other one (autocommit there)."""
    PlainCounter.objects.using(OTHER).create(counter=pk)
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title})


def plain_with_audit_on_other(request: HttpRequest, pk: int) -> HttpResponse:
    """Unprotected in code (the middleware's settings rule protects it): loads the row on the
    default database, writes an audit row on the other one, saves the row."""
    document = Document.objects.get(pk=pk)
    PlainCounter.objects.using(OTHER).create(counter=pk)
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title})


def plain_edit_on_other(request: HttpRequest, pk: int) -> HttpResponse:
    """Unprotected in code (the middleware's settings rule protects it): a row that lives on
    the other database, loaded and saved there."""
    document = Document.objects.using(OTHER).get(pk=pk)
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title})


@transaction.non_atomic_requests
@require_preconditions(Document)
def durable_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Opted out of ATOMIC_REQUESTS with Django's decorator, outermost as usual: its own
    durable block must not be nested in a transaction."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    with transaction.atomic(durable=True):
        document.title = "mine"
        document.save()
    return JsonResponse({"title": document.title})


@require_preconditions(Document.objects.using(OTHER), allow_create=True)
def create_on_other(request: HttpRequest, pk: int) -> HttpResponse:
    """Create-by-PUT of a row that lives on the other database."""
    document = request.preconditions.instance or Document(pk=pk)  # type: ignore[attr-defined]
    created = document._state.adding
    document.title = "created"
    document.save(using=OTHER)
    return JsonResponse({"id": document.pk}, status=201 if created else 200)


class OtherDatabaseView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    """The class-based mixin over the other database's rows."""

    queryset = Document.objects.using(OTHER)

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        document.title = "mine"
        document.save()
        return JsonResponse({"title": document.title})


class OtherDatabaseViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.using(OTHER)
    serializer_class = DocumentSerializer


class AuditedView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    """The row on the default database, an audit row on the other one."""

    model = Document

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        PlainCounter.objects.using(OTHER).create(counter=document.pk)
        document.title = "mine"
        document.save()
        return JsonResponse({"title": document.title})


class AuditedViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        PlainCounter.objects.using(OTHER).create(counter=serializer.instance.pk)
        serializer.save()


_router = routers.SimpleRouter()
_router.register("api/audited", AuditedViewSet, basename="hunt-audited")
_router.register("api/other", OtherDatabaseViewSet, basename="hunt-other")

urlpatterns = [
    path("", include(_router.urls)),
    path("cbv/other/<int:pk>/", OtherDatabaseView.as_view()),
    path("cbv/audited/<int:pk>/", AuditedView.as_view()),
    path("durable/<int:pk>/", durable_edit),
    path("create-other/<int:pk>/", create_on_other),
    path("", include("tests.support.urls")),
    path("plain-audited/<int:pk>/", plain_with_audit_on_other, name="hunt-plain-audited"),
    path("other/<int:pk>/", edit_on_other),
    path("plain-other/<int:pk>/", plain_edit_on_other, name="hunt-plain-other"),
    path("audited/<int:pk>/", edit_with_audit_on_other),
]


@pytest.fixture
def atomic_on(request: pytest.FixtureRequest) -> Iterator[str]:
    """``ATOMIC_REQUESTS`` on exactly one database (the indirect parameter)."""
    alias: str = request.param
    with atomic_requests_on(alias):
        yield alias


def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's file locks make the database conflict deterministic")


def put(url: str, etag: str) -> Any:
    return Client().put(
        url, {"title": "mine"}, content_type="application/json", headers={"If-Match": etag}
    )


@pytest.mark.parametrize(
    "url", ["/other/{}/", "/cbv/other/{}/", "/api/other/{}/", "/plain-other/{}/"]
)
@pytest.mark.parametrize("atomic_on", [OTHER], indirect=True)
def test_rules_47_54_a_commit_conflict_on_the_rows_database_is_judged_there(
    atomic_on: str, url: str
) -> None:
    """ATOMIC_REQUESTS on the database the row lives on; its COMMIT fails with "database is
    locked" (a reader holds a SHARED lock). The row did not change: 503 (rule 47), judged
    by the row's version on its own database — not by a row of the same pk on the default
    database (rule 54). The last URL is a plain view the middleware protects (a settings
    rule): its guard follows the row to the other database when the view loads it there."""
    sqlite_only()
    from tests.support.middleware import PLAIN_RULE, settings_rule

    if url.startswith("/plain-"):
        with settings_rule("hunt-plain-other", **PLAIN_RULE):
            _check_commit_conflict_judged_on_the_rows_database(url)
    else:
        _check_commit_conflict_judged_on_the_rows_database(url)


def _check_commit_conflict_judged_on_the_rows_database(url: str) -> None:
    row = Document.objects.using(OTHER).create(title="original")
    # The same key on the default database: another row, another version.
    Document.objects.using("default").create(pk=row.pk, title="default's row")
    with connections[OTHER].cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 20")
    reader = sqlite3.connect(connections[OTHER].settings_dict["NAME"], timeout=0)
    reader.isolation_level = None
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM testapp_document").fetchall()  # a SHARED lock
    try:
        response = put(url.format(row.pk), row.etag)
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    stored = Document.objects.using(OTHER).get(pk=row.pk)
    assert stored.version_token == row.version_token  # nothing was applied
    elsewhere = Document.objects.using("default").get(pk=row.pk)
    assert response.get("ETag") != elsewhere.etag  # never another database's row (rule 54)
    assert response.status_code == 503, (response.status_code, response.content)
    assert response["Retry-After"]


@contextmanager
def locked_default(pk: int) -> Iterator[None]:
    """Another connection holds a write lock on the document ``pk`` of the default database
    (SQLite: the file's RESERVED lock; PostgreSQL and MariaDB: the row, SELECT … FOR UPDATE)
    and the request's wait for it is cut short: its UPDATE fails with a database conflict
    ("database is locked", 55P03, 1205), the row unchanged (rule 47)."""
    vendor = connection.vendor
    with connections["default"].cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout = 20")
        elif vendor == "postgresql":
            cursor.execute("SET lock_timeout = '50ms'")
        else:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    if vendor == "sqlite":
        writer = sqlite3.connect(connections["default"].settings_dict["NAME"], timeout=0)
        writer.isolation_level = None
        writer.execute("BEGIN IMMEDIATE")
    else:
        from tests.support.concurrency import other_connection

        writer = other_connection()
        locker = writer.cursor()
        if vendor == "postgresql":
            locker.execute("SELECT id FROM testapp_document WHERE id = %s FOR UPDATE", [pk])
        else:
            locker.execute("BEGIN")
            locker.execute("SELECT id FROM testapp_document WHERE id = %s FOR UPDATE", [pk])
    try:
        yield
    finally:
        writer.rollback() if vendor != "sqlite" else writer.execute("ROLLBACK")
        writer.close()
        with connections["default"].cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute("SET lock_timeout = 0")
            elif vendor == "mysql":
                cursor.execute("SET SESSION innodb_lock_wait_timeout = 50")


@pytest.mark.parametrize("url", ["/audited/{}/", "/cbv/audited/{}/", "/api/audited/{}/"])
@pytest.mark.parametrize("atomic_on", ["default"], indirect=True)
def test_rule_47_a_request_whose_other_database_kept_its_writes_is_not_run_again(
    atomic_on: str, url: str
) -> None:
    """ATOMIC_REQUESTS on the default database only. The view writes an audit row on the
    other database (autocommit: it stands), then the row's UPDATE on the default database is
    refused by the database. Its transaction was rolled back, but not everything the
    request wrote: it must not be run again (the audit row would be written again)."""
    row = Document.objects.using("default").create(title="original")
    with locked_default(row.pk):
        response = put(url.format(row.pk), row.etag)
    audit_rows = PlainCounter.objects.using(OTHER).filter(counter=row.pk).count()
    assert response.status_code == 503, response.content
    assert Document.objects.get(pk=row.pk).version_token == row.version_token
    assert audit_rows == 1, f"the request was run {audit_rows} times"


def test_rule_47_the_middleware_does_not_run_again_a_request_whose_other_database_kept_writes() -> (
    None
):
    """No ATOMIC_REQUESTS anywhere. A view protected by the middleware writes an audit row on
    the other database (autocommit), then the row's compare-and-swap on the default
    database is refused by the database (row unchanged): 503 — but the audit row stands, so
    the request must not be run again."""
    from tests.support.middleware import PLAIN_RULE, settings_rule

    row = Document.objects.using("default").create(title="original")
    with settings_rule("hunt-plain-audited", **PLAIN_RULE), locked_default(row.pk):
        response = put(f"/plain-audited/{row.pk}/", row.etag)
    audit_rows = PlainCounter.objects.using(OTHER).filter(counter=row.pk).count()
    assert response.status_code == 503, response.content
    assert Document.objects.get(pk=row.pk).version_token == row.version_token
    assert audit_rows == 1, f"the request was run {audit_rows} times"


@pytest.mark.parametrize("atomic_on", ["default"], indirect=True)
def test_a_view_marked_non_atomic_outside_the_decorator_gets_no_transaction(
    atomic_on: str,
) -> None:
    """``@transaction.non_atomic_requests`` above ``@require_preconditions`` (Django's usual
    decorator order): the view opted out of ATOMIC_REQUESTS, so its durable block is the
    outermost one — a 500 ("A durable atomic block cannot be nested") otherwise."""
    row = Document.objects.create(title="original")
    response = put(f"/durable/{row.pk}/", row.etag)
    assert response.status_code == 200, response.content[:300]
    assert Document.objects.get(pk=row.pk).title == "mine"


def test_a_refusal_signal_receiver_may_use_the_orm_in_an_async_view_under_the_middleware(
    async_client: Any,
) -> None:
    """A GET with a stale If-Match to an async view protected by the middleware: the 412 is
    decided after the view, and its precondition_failed receivers may use the ORM (as for the
    decorator and the mixin: tests/test_async_adapters.py)."""
    from django.test import override_settings

    from django_preconditions import signals
    from tests.support.json_requests import asend
    from tests.support.middleware import MIDDLEWARE, PLAIN_RULE

    document = Document.objects.create(title="shared")
    seen: list[int] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(Document.objects.count())

    signals.precondition_failed.connect(receiver, weak=False)
    try:
        with override_settings(
            MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"document-async-plain": PLAIN_RULE}}
        ):
            response = asend(
                async_client,
                "GET",
                f"/async/plain/docs/{document.pk}/",
                headers={"If-Match": '"stale"'},
            )
    finally:
        signals.precondition_failed.disconnect(receiver)
    assert response.status_code == 412, response.content[:300]
    assert seen == [1]


@pytest.mark.django_db(databases=["default", "replica"], transaction=True, reset_sequences=True)
def test_a_create_by_put_on_the_other_database_keeps_its_key_sequence_ahead() -> None:
    """PostgreSQL: a create-by-PUT with an explicit id must move the sequence of the
    database the row was inserted into past it (creation.py), or later inserts there reach
    the id and fail on the primary key. Here the row lives on the other database."""
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's sequence ignores explicit ids")
    first = Document.objects.using(OTHER).create(title="first").pk
    response = Client().put(
        f"/create-other/{first + 3}/",
        {"title": "c"},
        content_type="application/json",
        headers={"If-None-Match": "*"},
    )
    assert response.status_code == 201, response.content
    assert Document.objects.using(OTHER).filter(pk=first + 3).exists()
    for _ in range(4):  # through the created key
        Document.objects.using(OTHER).create(title="post")
    assert Document.objects.using(OTHER).count() == 6


@contextmanager
def rival_commits_after_the_refusal(pk: int) -> Iterator[None]:
    """Another connection rewrites the document ``pk`` of the default database and holds it
    uncommitted; the request's UPDATE of the row waits, is cut short (a database conflict,
    rule 47) — and the rival commits just then, before the request reads the current
    version: the row did change."""
    from django.db import DatabaseError

    from tests.support.concurrency import lock_waits_cut_short, other_connection

    rival = other_connection()
    cursor = rival.cursor()
    if connection.vendor == "sqlite":
        cursor.execute("BEGIN IMMEDIATE")
    elif connection.vendor == "mysql":
        cursor.execute("BEGIN")
    cursor.execute(
        "UPDATE testapp_document SET version_token = 'rival', title = 'rival' WHERE id = %s"
        if connection.vendor != "sqlite"
        else "UPDATE testapp_document SET version_token = 'rival', title = 'rival' WHERE id = ?",
        [pk],
    )

    def commit_the_rival_on_failure(execute: Any, sql: str, *args: Any) -> Any:
        try:
            return execute(sql, *args)
        except DatabaseError:
            if sql.startswith("UPDATE") and "testapp_document" in sql:
                rival.commit() if connection.vendor != "sqlite" else cursor.execute("COMMIT")
            raise

    try:
        with lock_waits_cut_short(), connection.execute_wrapper(commit_the_rival_on_failure):
            yield
    finally:
        try:
            rival.rollback() if connection.vendor != "sqlite" else None
        finally:
            rival.close()


def test_rule_47_the_middleware_answers_412_when_a_refused_row_changed_meanwhile() -> None:
    """No ATOMIC_REQUESTS. A view the middleware protects writes an audit row on the other
    database (it stands, so the request is not run again), then the database refuses the
    row's compare-and-swap (a lock wait cut short) and a rival commits a new version of the
    row: 412 with the rival's version (rule 47: "412 when the row's version changed"), judged
    on the row's database — never a 503 saying nothing changed."""
    from tests.support.middleware import PLAIN_RULE, settings_rule

    row = Document.objects.using("default").create(title="original")
    with settings_rule("hunt-plain-audited", **PLAIN_RULE), rival_commits_after_the_refusal(row.pk):
        response = put(f"/plain-audited/{row.pk}/", row.etag)
    stored = Document.objects.get(pk=row.pk)
    assert stored.title == "rival"  # the rival's write, not the request's
    assert response.status_code == 412, (response.status_code, response.content[:300])
    assert response["ETag"] == '"rival"'
