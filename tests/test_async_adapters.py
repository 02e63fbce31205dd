"""Async function views and async class-based views: what the sync adapters do in a worker
thread must not run on the event loop (Django refuses ORM calls there with
``SynchronousOnlyOperation``). Loading the row, deciding — report mode reads the lazy
``request.user``, which loads the session's user — and answering a refusal, whose signals'
receivers may use the ORM, all run in a thread; and a create-by-PUT keeps the key sequence
ahead of the created key (creation.py), as the sync decorator does."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import View
from django.views.generic.detail import SingleObjectMixin
from rest_framework.test import APIClient

from django_preconditions import reporting, signals
from django_preconditions.decorators import require_preconditions
from django_preconditions.reporting import ReportedRequest
from django_preconditions.views import PreconditionRequiredMixin
from tests.support.json_requests import asend
from tests.testapp import views
from tests.testapp.models import Document

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_async_adapters")]


async def _edit(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.title = "async"
    await document.asave()
    return JsonResponse(views.representation(document))


async def _create(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance or Document(pk=pk)  # type: ignore[attr-defined]
    created = document._state.adding
    document.title = "created"
    await document.asave()
    return JsonResponse({"id": document.pk}, status=201 if created else 200)


async def _count_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A GET that saves the row it serves (a view counter)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.counter += 1
    await document.asave()
    return JsonResponse(views.representation(document))


class _CountingView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = Document

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        document.counter += 1
        await document.asave()
        return JsonResponse(views.representation(document))


class _HookFailed(Exception):
    pass


def _fail() -> None:
    raise _HookFailed


def _save_after_a_failing_hook(document: Document) -> None:
    """The save commits; an on_commit callback registered before it raises, so Django runs
    none of the later ones (the write's mark among them); the view carries on."""
    try:
        with transaction.atomic():
            transaction.on_commit(_fail)
            document.title = "hooked"
            document.save()
    except _HookFailed:
        pass


async def _edit_after_a_failing_hook(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    await sync_to_async(_save_after_a_failing_hook)(document)
    return JsonResponse(views.representation(document))


urlpatterns = [
    path("async-count/<int:pk>/", require_preconditions(Document)(_count_view)),
    path("async-cbv-count/<int:pk>/", _CountingView.as_view()),
    path("async-hook/<int:pk>/", require_preconditions(Document)(_edit_after_a_failing_hook)),
    path(
        "async-report/<int:pk>/",
        require_preconditions(Document, mode="report")(_edit),
        name="async-report-edit",
    ),
    path("async-create/<int:pk>/", require_preconditions(Document, allow_create=True)(_create)),
    path("", include("tests.support.urls")),
]


@pytest.fixture(autouse=True)
def _fresh_reports() -> Any:
    reporting.reset_reports()
    yield
    reporting.reset_reports()


@pytest.fixture
def logged_in(async_client: Any, alice: User) -> Any:
    """A session login: ``request.user`` is lazy and loads the user on first access."""
    async_to_sync(async_client.aforce_login)(alice)
    return async_client


@pytest.mark.parametrize("url", ["/async-report/{}/", "/cbv/async/docs/{}/"], ids=["fn", "cbv"])
def test_report_mode_with_a_session_user_proceeds_and_is_reported(
    document: Document, logged_in: Any, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views.AsyncDocumentJsonView, "precondition_mode", "report", raising=False)
    # The test client closes async responses in another thread (another connection, which
    # cannot see this test's transaction): the counts are written here instead.
    write = reporting.flush_reports
    monkeypatch.setattr(reporting, "flush_reports", lambda **kwargs: 0)
    response = asend(logged_in, "PUT", url.format(document.pk), {"title": "async"})
    assert response.status_code == 200, response.content[:300]
    assert Document.objects.get(pk=document.pk).title == "async"
    assert write(force=True) == 1
    (row,) = ReportedRequest.objects.all()
    assert (row.user, row.count) == ("alice", 1)


@pytest.mark.parametrize(
    ("signal", "headers", "status"),
    [
        (signals.precondition_failed, {"If-Match": '"stale"'}, 412),
        (signals.precondition_required, {}, 428),
    ],
    ids=["412", "428"],
)
@pytest.mark.parametrize("url", ["/async/docs/{}/", "/cbv/async/docs/{}/"], ids=["fn", "cbv"])
def test_a_refusal_signal_receiver_may_use_the_orm_in_an_async_view(
    document: Document,
    async_client: Any,
    signal: Any,
    headers: dict[str, str],
    status: int,
    url: str,
) -> None:
    seen: list[int] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(Document.objects.count())

    signal.connect(receiver, weak=False)
    try:
        response = asend(async_client, "PUT", url.format(document.pk), {"title": "x"}, headers)
    finally:
        signal.disconnect(receiver)
    assert response.status_code == status, response.content[:300]
    assert seen == [1]
    assert Document.objects.get(pk=document.pk).title == document.title


@pytest.mark.parametrize(
    "headers",
    [{"If-Match": '"stale"'}, {"If-None-Match": '"b4246ffc4f62314ca13147c9d4f76974"'}],
    ids=["if-match", "if-none-match"],
)
def test_a_refusal_signal_receiver_may_use_the_orm_under_the_async_condition_decorator(
    async_client: Any, headers: dict[str, str]
) -> None:
    """The drop-in ``condition`` over an async view (the ETag is the view's own): a PUT it
    refuses sends precondition_failed from a worker thread, as the other adapters do, so a
    receiver may use the ORM — on the event loop it raised SynchronousOnlyOperation (500)."""
    Document.objects.create(title="x")
    seen: list[int] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(Document.objects.count())

    signals.precondition_failed.connect(receiver, weak=False)
    try:
        response = asend(async_client, "PUT", "/condition/async/", {"title": "x"}, headers)
    finally:
        signals.precondition_failed.disconnect(receiver)
    assert response.status_code == 412, response.content[:300]
    assert seen == [1]


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_an_async_create_by_put_ahead_of_the_sequence_keeps_posts_working(
    async_client: Any, alice: User
) -> None:
    first = Document.objects.create(title="first").pk
    response = asend(
        async_client, "PUT", f"/async-create/{first + 3}/", {"title": "c"}, {"If-None-Match": "*"}
    )
    assert response.status_code == 201, response.content
    api = APIClient()
    api.force_authenticate(alice)
    for _ in range(4):  # through the created key: PostgreSQL's sequence must be past it
        posted = api.post("/api/docs/", {"title": "post"}, format="json")
        assert posted.status_code == 201, posted.content[:200]
    assert Document.objects.count() == 6


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("url", ["/async-count/{}/", "/async-cbv-count/{}/"], ids=["fn", "cbv"])
def test_an_async_read_that_saves_its_row_names_the_version_it_left(
    async_client: Any, document: Document, url: str, method: str
) -> None:
    """Rule 39 (docs/views.md, step 6): the version a view counter's save left, read in a
    thread after the view; on the event loop that read was a 500."""
    response = asend(async_client, method, url.format(document.pk))
    assert response.status_code == 200, response.content[:300]
    document.refresh_from_db()
    assert document.counter == 1
    assert response["ETag"] == document.etag


@pytest.mark.django_db(transaction=True)
def test_an_async_write_committed_after_a_failing_hook_names_its_version(
    async_client: Any,
) -> None:
    """Rules 41, 52: the write committed although its on_commit mark never ran (an earlier
    callback raised); telling that from a rollback takes a read of the stored token, which
    the async adapters make in a thread. On the event loop the read could not run, and the
    response named the version before the write."""
    document = Document.objects.create(title="draft")
    response = asend(
        async_client, "PUT", f"/async-hook/{document.pk}/", {}, {"If-Match": document.etag}
    )
    assert response.status_code == 200, response.content[:300]
    document.refresh_from_db()
    assert document.title == "hooked"
    assert response["ETag"] == document.etag
