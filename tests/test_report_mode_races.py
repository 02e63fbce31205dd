"""Report mode and admin rules around the newest write paths: an unconditional write that
report mode lets through is still a compare-and-swap (a lost race is 412, for a plain write, a
create-by-PUT, a replace and a soft delete); a request run again after a database refusal
is reported once; admin rules switch at once and outrank a report-mode ``VIEWS`` entry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path

from django_preconditions import reporting
from django_preconditions.decorators import require_preconditions
from django_preconditions.models import ProtectedEndpoint
from django_preconditions.reporting import ReportedRequest, flush_reports
from tests.support.concurrency import other_connection
from tests.support.middleware import MIDDLEWARE
from tests.test_request_transactions import commit_rival_version, repeatable_read  # noqa: F401
from tests.testapp import transaction_views
from tests.testapp.models import Document

PATHS = ["/tx/docs/{pk}/", "/tx/cbv/docs/{pk}/", "/tx/api/docs/{pk}/", "/tx/mw/docs/{pk}/"]
REPORT_RULE = {"tx-mw": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}
MW_RULE = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
BOTH_MODES = pytest.mark.parametrize(
    "atomic_requests", [False, True], ids=["autocommit", "atomic_requests"], indirect=True
)


def _sql(text: str) -> str:
    return text.replace("%s", "?") if connection.vendor == "sqlite" else text


def rival_insert(pk: int) -> None:
    other = other_connection()
    try:
        cursor = other.cursor()
        cursor.execute(
            _sql(
                "INSERT INTO testapp_document (id, title, body, counter, version_token, "
                "last_modified) VALUES (%s, 'theirs', '', 0, 'theirs', %s)"
            ),
            [pk, "2025-07-01 12:00:00"],
        )
        other.commit()
    finally:
        other.close()


# --- views ---------------------------------------------------------------------------------


def _create_or_update(request: HttpRequest, pk: int) -> HttpResponse:
    document = getattr(request, "preconditions", None)
    document = document.instance if document is not None else Document.objects.filter(pk=pk).first()
    created = document is None
    if created:
        rival_insert(pk)
        document = Document(pk=pk)
    else:
        commit_rival_version(pk)
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title}, status=201 if created else 200)


def _replace(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    commit_rival_version(pk)
    document.delete()
    Document(pk=pk, title="mine").save()
    return JsonResponse({"title": "mine"})


def _soft_delete(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    commit_rival_version(pk)
    document.title = "archived"
    document.save()
    return HttpResponse(status=204)


CALLS: list[int] = []


def _locked(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    if sql.lstrip().upper().startswith("UPDATE"):
        error = OperationalError("database is locked")
        error.__cause__ = sqlite3.OperationalError("database is locked")
        raise error
    return execute(sql, params, many, context)


def _db_conflict(request: HttpRequest, pk: int) -> HttpResponse:
    CALLS.append(pk)
    document = Document.objects.get(pk=pk)
    document.title = "mine"
    with connection.execute_wrapper(_locked):
        document.save()
    return JsonResponse({})


def _plain(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    document.title = "mine"
    document.save()
    return JsonResponse({"title": document.title})


from django.views import View  # noqa: E402
from rest_framework import viewsets  # noqa: E402

from django_preconditions.rest_framework import PreconditionMixin  # noqa: E402
from django_preconditions.views import PreconditionRequiredMixin  # noqa: E402
from tests.testapp.serializers import DocumentSerializer  # noqa: E402


class _LockedViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_mode = "report"

    def perform_update(self, serializer):  # type: ignore[no-untyped-def]
        CALLS.append(1)
        with connection.execute_wrapper(_locked):
            serializer.save()


class _LockedView(PreconditionRequiredMixin, View):
    precondition_mode = "report"

    def get_precondition_object(self) -> Document:
        return Document.objects.get(pk=self.kwargs["pk"])

    def put(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _db_conflict(request, pk)


urlpatterns = [
    path(
        "drf-conflict/<int:pk>/", _LockedViewSet.as_view({"put": "update"}), name="h-drf-conflict"
    ),
    path("cbv-conflict/<int:pk>/", _LockedView.as_view(), name="h-cbv-conflict"),
    path("plain/<int:pk>/", _plain, name="h-plain"),
    path(
        "create/<int:pk>/",
        require_preconditions(Document, mode="report", allow_create=True)(_create_or_update),
        name="h-create",
    ),
    path("mw-create/<int:pk>/", _create_or_update, name="h-mw-create"),
    path(
        "replace/<int:pk>/",
        require_preconditions(Document, mode="report")(_replace),
        name="h-replace",
    ),
    path("mw-replace/<int:pk>/", _replace, name="h-mw-replace"),
    path(
        "soft/<int:pk>/",
        require_preconditions(Document, mode="report")(_soft_delete),
        name="h-soft",
    ),
    path("mw-soft/<int:pk>/", _soft_delete, name="h-mw-soft"),
    path(
        "conflict/<int:pk>/",
        require_preconditions(Document, mode="report")(_db_conflict),
        name="h-conflict",
    ),
    path("mw-conflict/<int:pk>/", _db_conflict, name="h-mw-conflict"),
    path("", include("tests.support.urls")),
]


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    reporting.reset_reports()
    yield
    reporting.reset_reports()


@pytest.fixture
def rival() -> Iterator[None]:
    transaction_views.RIVAL[:] = [commit_rival_version]
    yield
    transaction_views.RIVAL.clear()


def _mw(**views: dict) -> override_settings:
    return override_settings(
        MIDDLEWARE=MIDDLEWARE,
        PRECONDITIONS={"MODE": "report", "VIEWS": dict.fromkeys(views, MW_RULE) | REPORT_RULE},
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", PATHS)
@BOTH_MODES
@pytest.mark.usefixtures("repeatable_read", "rival")
def test_report_mode_unconditional_write_losing_a_race_is_412_not_a_lost_update(
    path: str, atomic_requests: bool
) -> None:
    """docs/rollout.md: 'the view's write is still the compare-and-swap'."""
    if connection.vendor == "sqlite" and atomic_requests:
        pytest.skip("SQLite: lock blocks the rival")
    document = Document.objects.create(title="a")
    with _mw():
        response = Client().put(
            path.format(pk=document.pk), {"title": "mine"}, content_type="application/json"
        )
    assert response.status_code == 412, (response.status_code, response.content)
    assert Document.objects.get(pk=document.pk).title == "theirs"


pytestmark_urls = pytest.mark.urls("tests.test_report_mode_races")


@pytestmark_urls
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/create/4242/"])
def test_report_mode_unconditional_create_by_put_racing_a_create_is_412(url: str) -> None:
    """Rule 50 / views.md: a create is an INSERT that fails on conflict, never an UPDATE of a
    row another request just made. (Under the middleware, which cannot know that the view
    means to create, report mode behaves as plain Django here: not tested.)"""
    with _mw(**{"h-mw-create": 1}):
        response = Client().put(url, {"title": "mine"}, content_type="application/json")
    assert response.status_code == 412, (response.status_code, response.content)
    assert Document.objects.get(pk=4242).title == "theirs"


@pytestmark_urls
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/replace/{pk}/", "/mw-replace/{pk}/"])
def test_report_mode_unconditional_replace_racing_a_change_is_412(url: str) -> None:
    document = Document.objects.create(title="a")
    with _mw(**{"h-mw-replace": 1}):
        response = Client().put(url.format(pk=document.pk), {}, content_type="application/json")
    assert response.status_code == 412, (response.status_code, response.content)
    assert Document.objects.get(pk=document.pk).title == "theirs"


@pytestmark_urls
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/soft/{pk}/", "/mw-soft/{pk}/"])
def test_report_mode_unconditional_soft_delete_racing_a_change_is_412(url: str) -> None:
    document = Document.objects.create(title="a")
    with _mw(**{"h-mw-soft": 1}):
        response = Client().delete(url.format(pk=document.pk))
    assert response.status_code == 412, (response.status_code, response.content)
    assert Document.objects.get(pk=document.pk).title == "theirs"


@pytestmark_urls
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "url", ["/conflict/{pk}/", "/mw-conflict/{pk}/", "/drf-conflict/{pk}/", "/cbv-conflict/{pk}/"]
)
def test_report_mode_a_request_retried_after_a_database_conflict_is_counted_once(
    url: str,
) -> None:
    """rollout.md: 'Each request that report mode lets through is reported'; one request,
    one count (the retries are internal)."""
    CALLS.clear()
    document = Document.objects.create(title="a")
    with _mw(**{"h-mw-conflict": 1}):
        response = Client().put(
            url.format(pk=document.pk), {"title": "b", "body": ""}, content_type="application/json"
        )
    assert response.status_code in (412, 503), (response.status_code, response.content)
    flush_reports(force=True)
    assert sum(ReportedRequest.objects.values_list("count", flat=True)) == 1


def _rules(**extra: object) -> override_settings:
    return override_settings(
        MIDDLEWARE=MIDDLEWARE,
        PRECONDITIONS={
            "MODE": "report",
            "VIEWS": {"h-plain": MW_RULE},
            **extra,
        },
    )


@pytestmark_urls
@pytest.mark.django_db
def test_disabling_an_admin_enforce_rule_returns_the_view_to_report_mode() -> None:
    document = Document.objects.create(title="a")
    rule = ProtectedEndpoint.objects.create(view="h-plain", mode="enforce")
    with _rules():
        assert Client().put(f"/plain/{document.pk}/").status_code == 428
        rule.enabled = False
        rule.save()
        assert Client().put(f"/plain/{document.pk}/").status_code == 200
        rule.enabled = True
        rule.save()
        assert Client().put(f"/plain/{document.pk}/").status_code == 428
        rule.delete()
        assert Client().put(f"/plain/{document.pk}/").status_code == 200


@pytestmark_urls
@pytest.mark.django_db
@pytest.mark.parametrize("key", ["plain/<int:pk>/", "tests.test_report_mode_races._plain"])
def test_an_admin_enforce_rule_under_another_key_than_the_views_entry_enforces(key: str) -> None:
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(view=key, mode="enforce")
    with _rules():
        assert Client().put(f"/plain/{document.pk}/").status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


@pytestmark_urls
@pytest.mark.django_db(transaction=True)
def test_an_admin_rule_added_by_another_process_applies_with_interval_zero() -> None:
    document = Document.objects.create(title="a")
    with _rules(RULES_REFRESH_INTERVAL=0):
        assert Client().put(f"/plain/{document.pk}/").status_code == 200
        other = other_connection()
        try:
            cursor = other.cursor()
            columns = [
                f.column for f in ProtectedEndpoint._meta.concrete_fields if not f.primary_key
            ]
            values = {
                f.column: f.get_db_prep_save(f.get_default(), connection)
                for f in ProtectedEndpoint._meta.concrete_fields
                if not f.primary_key
            }
            values.update(view="h-plain", mode="enforce", enabled=True)
            cursor.execute(
                _sql(
                    f"INSERT INTO {ProtectedEndpoint._meta.db_table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))})"
                ),
                [values[c] for c in columns],
            )
            other.commit()
        finally:
            other.close()
        assert Client().put(f"/plain/{document.pk}/").status_code == 428
