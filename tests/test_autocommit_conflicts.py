"""Rules 47 and 52: what a database refusal leaves behind decides the answer.

In autocommit every statement of the view commits at once. When a later statement meets a
lock (SQLite "database is locked", MariaDB 1205, PostgreSQL 55P03 under ``lock_timeout``):

- before the row was written, the view's earlier writes stand, so the request is not run again
  (that would repeat them) and the 503 does not claim that everything was rolled back;
- after the row was written, the client's change stands: never 412 ("re-read, re-apply"),
  but a 503 telling the client to re-read.

Under ``ATOMIC_REQUESTS`` (or the middleware's own transaction) everything was rolled back,
and the request is run again.

Each test takes a real lock with a second connection (``tests.support.concurrency``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from rest_framework import viewsets

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.concurrency import lock_the_row, lock_waits_cut_short
from tests.support.middleware import MIDDLEWARE
from tests.testapp.models import Document, PlainCounter
from tests.testapp.serializers import DocumentSerializer

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]

#: Called by the views at the point where the test takes its lock.
HOOKS: list[Callable[[], None]] = []


def _run_hooks() -> None:
    for hook in HOOKS:
        hook()


def audited_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Writes an audit row, then the document (a common shape)."""
    document = Document.objects.get(pk=pk)
    PlainCounter.objects.create(counter=pk)
    _run_hooks()
    document.title = json.loads(request.body)["title"]
    document.save()
    return JsonResponse({"title": document.title})


class AuditedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """The DRF shape of ``audited_document``."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        PlainCounter.objects.create(counter=serializer.instance.pk)
        _run_hooks()
        serializer.save()


def save_then_count(request: HttpRequest, pk: int) -> HttpResponse:
    """Saves the document, then updates a counter row of its own."""
    document = Document.objects.get(pk=pk)
    document.title = json.loads(request.body)["title"]
    document.save()
    _run_hooks()
    PlainCounter.objects.filter(counter=pk).update(counter=pk)
    return JsonResponse({"title": document.title})


def only_the_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The commonest protected view: it writes the row and nothing else."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    _run_hooks()
    document.title = json.loads(request.body)["title"]
    document.save()
    return JsonResponse({"title": document.title})


class OnlyTheRowViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        _run_hooks()
        serializer.save()


class CountingDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """The DRF shape of ``save_then_count``."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        serializer.save()
        _run_hooks()
        pk = serializer.instance.pk
        PlainCounter.objects.filter(counter=pk).update(counter=pk)


urlpatterns = [
    path("audited/<int:pk>/", require_preconditions(Document)(audited_document)),
    path("mw/audited/<int:pk>/", audited_document, name="autocommit-mw-audited"),
    path("api/audited/<int:pk>/", AuditedDocumentViewSet.as_view({"put": "update"})),
    path("count/<int:pk>/", require_preconditions(Document)(save_then_count)),
    path("mw/count/<int:pk>/", save_then_count, name="autocommit-mw-count"),
    path("api/count/<int:pk>/", CountingDocumentViewSet.as_view({"put": "update"})),
    path("only-row/<int:pk>/", require_preconditions(Document)(only_the_row)),
    path("api/only-row/<int:pk>/", OnlyTheRowViewSet.as_view({"put": "update"})),
]


@pytest.fixture
def hooks() -> Iterator[list[Callable[[], None]]]:
    HOOKS.clear()
    yield HOOKS
    HOOKS.clear()


@pytest.fixture
def short_lock_waits() -> Iterator[float]:
    """Lock waits of this connection end in an error quickly; yields how long the test's
    lock must be held for the view to meet it."""
    with lock_waits_cut_short():
        yield {"sqlite": 0.5, "mysql": 1.5, "postgresql": 0.5}[connection.vendor]


def _put(url: str, document: Document) -> Any:
    return Client(raise_request_exception=False).put(
        url,
        {"title": "mine"},
        content_type="application/json",
        headers={"If-Match": document.etag},
    )


@pytest.mark.parametrize("url", ["/audited/{pk}/", "/api/audited/{pk}/"])
def test_rule_47_in_autocommit_a_refused_write_is_not_run_again_over_the_views_committed_writes(
    url: str, hooks: list[Callable[[], None]], short_lock_waits: float
) -> None:
    """The audit row commits at once; the row's save meets the lock. Running the request
    again would write a second audit row: the answer is a 503 at once, which says what may
    remain."""
    document = Document.objects.create(title="a")
    hook = lock_the_row("testapp_document", "id", document.pk, short_lock_waits)
    hooks.append(hook)

    response = _put(url.format(pk=document.pk), document)
    for thread in hook.threads:  # type: ignore[attr-defined]
        thread.join(10)

    assert response.status_code == 503, response.content
    assert PlainCounter.objects.filter(counter=document.pk).count() == 1  # run once
    assert Document.objects.get(pk=document.pk).title == "a"
    body = response.json()
    assert body["code"] == "database_conflict"
    assert "rolled back" not in body["detail"]
    assert "may have been kept" in body["detail"]
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize("url", ["/count/{pk}/", "/mw/count/{pk}/", "/api/count/{pk}/"])
def test_rule_52_a_committed_write_is_never_answered_412_after_a_later_refusal(
    url: str, hooks: list[Callable[[], None]], short_lock_waits: float
) -> None:
    """The row's compare-and-swap commits; the view's next statement meets the lock. The row
    now carries the request's own version: not a lost race (no 412 "re-read, re-apply"), but
    a 503 that says the change was applied and the client must re-read before anything else."""
    document = Document.objects.create(title="a")
    PlainCounter.objects.create(counter=document.pk)
    hook = lock_the_row("testapp_plaincounter", "counter", document.pk, short_lock_waits)
    hooks.append(hook)
    rule = {"autocommit-mw-count": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}

    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": rule}):
        response = _put(url.format(pk=document.pk), document)
    for thread in hook.threads:  # type: ignore[attr-defined]
        thread.join(10)

    assert Document.objects.get(pk=document.pk).title == "mine"  # applied and committed
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["code"] == "database_conflict"
    assert "was applied" in body["detail"]
    assert "Retry-After" not in response  # not to be sent again as it is


def test_rule_47_the_middleware_runs_again_only_what_it_rolled_back(
    hooks: list[Callable[[], None]], short_lock_waits: float
) -> None:
    """The middleware puts a write made before the row's into a transaction of its own, so
    a refusal rolls the audit row back and the request may run again: however the race
    ends, one request leaves at most one audit row, and one only with the change applied."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite: the guard's transaction holds the database's write lock")
    document = Document.objects.create(title="a")
    hook = lock_the_row("testapp_document", "id", document.pk, short_lock_waits)
    hooks.append(hook)
    rule = {"autocommit-mw-audited": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}

    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": rule}):
        response = _put(f"/mw/audited/{document.pk}/", document)
    for thread in hook.threads:  # type: ignore[attr-defined]
        thread.join(10)

    assert response.status_code in (200, 503), response.content
    applied = response.status_code == 200
    assert PlainCounter.objects.filter(counter=document.pk).count() == int(applied)
    assert Document.objects.get(pk=document.pk).title == ("mine" if applied else "a")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
@pytest.mark.parametrize("url", ["/only-row/{pk}/", "/api/only-row/{pk}/"])
def test_rule_47_a_view_whose_writes_were_rolled_back_is_run_again_or_told_so(
    url: str, hooks: list[Callable[[], None]], short_lock_waits: float
) -> None:
    """Under ATOMIC_REQUESTS the view's only write, the row's compare-and-swap, is refused by
    a short lock and rolled back: nothing stands, so the adapter runs the request again (200
    once the lock is gone), or answers 503 saying nothing was applied (rule 47). In
    autocommit it answers 503 at once (the tests above). The lock is held briefly: it is gone
    long before the adapter's runs are used up."""
    document = Document.objects.create(title="a")
    hold = {"sqlite": 0.15, "mysql": 1.2, "postgresql": 0.15}[connection.vendor]
    hook = lock_the_row("testapp_document", "id", document.pk, hold)
    hooks.append(hook)

    response = Client(raise_request_exception=False).put(
        url.format(pk=document.pk),
        {"title": "mine"},
        content_type="application/json",
        headers={"If-Match": document.etag},
    )
    for thread in hook.threads:  # type: ignore[attr-defined]
        thread.join(10)

    if response.status_code == 503:
        detail = response.json()["detail"]
        assert "may have been kept" not in detail, detail
        assert "rolled back" in detail
    else:
        assert response.status_code == 200, response.content
        assert Document.objects.get(pk=document.pk).title == "mine"
