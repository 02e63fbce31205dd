"""Report-only mode (issue 14): only the requirement (rule 29) is relaxed; what a client sends
is still evaluated (rules 19-24) and the compare-and-swap still protects the write (rule 44).
Unconditional requests are announced (signal, log) and counted per endpoint and client, with
at most one database write per endpoint and client per interval."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils.http import http_date
from rest_framework.test import APIClient

from django_preconditions import reporting, signals
from django_preconditions.checks import check_settings_block
from django_preconditions.decorators import require_preconditions
from django_preconditions.models import ProtectedEndpoint
from django_preconditions.reporting import ReportedRequest, flush_reports
from tests.support.middleware import MIDDLEWARE
from tests.testapp import views
from tests.testapp.models import Document

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_report_mode")]

AGENT = "legacy-sync/1.0"


def _edit(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    if request.method == "GET":
        return JsonResponse(views.representation(document))
    if request.method == "DELETE":
        document.delete()
        return HttpResponse(status=204)
    invalid = views._apply_body(request, document)
    if invalid is not None:
        return invalid
    document.save()
    return JsonResponse(views.representation(document))


async def _async_edit(request: HttpRequest, pk: int) -> HttpResponse:
    document = await Document.objects.aget(pk=pk)
    document.title = "async"
    await document.asave()
    return JsonResponse(views.representation(document))


_REPORTED_UNNAMED = require_preconditions(Document, mode="report")(_edit)

urlpatterns = [
    path("report/<int:pk>/", require_preconditions(Document, mode="report")(_edit), name="report"),
    path("enforce/<int:pk>/", require_preconditions(Document)(_edit), name="enforce"),
    path(
        "async-report/<int:pk>/",
        require_preconditions(Document, mode="report")(_async_edit),
        name="async-report",
    ),
    path("plain/<int:pk>/", _edit, name="plain"),
    path("unnamed-a/<int:pk>/", _REPORTED_UNNAMED),
    path("unnamed-b/<int:pk>/", _REPORTED_UNNAMED),
    path("", include("tests.support.urls")),
]


@pytest.fixture(autouse=True)
def _fresh_reports() -> Any:
    reporting.reset_reports()
    yield
    reporting.reset_reports()


def put(client: Any, url: str, title: str = "changed", **headers: str) -> Any:
    return client.put(
        url,
        {"title": title},
        content_type="application/json",
        headers={"User-Agent": AGENT, **headers},
    )


# --- Only the requirement is relaxed ---------------------------------------------------------


def test_an_unconditional_write_proceeds_in_report_mode(document: Document) -> None:
    response = put(Client(), f"/report/{document.pk}/")

    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == "changed"
    assert response.headers["ETag"] == document.etag  # rule 41: the new validators


def test_the_same_write_gets_428_in_enforce_mode(document: Document) -> None:
    response = put(Client(), f"/enforce/{document.pk}/")

    assert response.status_code == 428  # rule 29
    assert Document.objects.get(pk=document.pk).title == "draft"
    assert not ReportedRequest.objects.exists()


def test_a_stale_if_match_still_gets_412_in_report_mode(document: Document) -> None:
    """Rule 19: a precondition the client sent is evaluated whatever the mode."""
    response = put(Client(), f"/report/{document.pk}/", **{"If-Match": '"stale"'})

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "draft"
    assert not ReportedRequest.objects.exists()  # it sent a precondition: nothing to report


def test_a_stale_if_unmodified_since_still_gets_412_in_report_mode(document: Document) -> None:
    """Rule 23."""
    stale = http_date(document.last_modified.timestamp() - 3600)
    response = put(Client(), f"/report/{document.pk}/", **{"If-Unmodified-Since": stale})

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "draft"


def test_the_current_if_match_succeeds_and_is_not_reported(document: Document) -> None:
    response = put(Client(), f"/report/{document.pk}/", **{"If-Match": document.etag})

    assert response.status_code == 200
    assert response.headers["ETag"] != document.etag
    assert not ReportedRequest.objects.exists()


def test_a_malformed_if_match_is_still_400_in_report_mode(document: Document) -> None:
    response = put(Client(), f"/report/{document.pk}/", **{"If-Match": "not-a-tag"})

    assert response.status_code == 400
    assert Document.objects.get(pk=document.pk).title == "draft"


@override_settings(PRECONDITIONS={"MODE": "report"})
@pytest.mark.parametrize("conditional", [True, False], ids=["if-match", "unconditional"])
def test_the_write_is_still_a_compare_and_swap_in_report_mode(
    document: Document, conditional: bool
) -> None:
    """Rule 44: a rival write between the check and the save turns the write into a 412,
    whether the request carried If-Match or report mode let it through without one (the
    view's write is checked against the version loaded: no silent overwrite)."""
    response = APIClient().patch(
        f"/api/racing/docs/{document.pk}/",
        {"title": "mine"},
        format="json",
        headers={"If-Match": document.etag} if conditional else {},
    )

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "the rival's change"


# --- Where the mode is set ---------------------------------------------------------------------


@override_settings(PRECONDITIONS={"MODE": "report"})
def test_the_global_mode_applies_to_the_drf_mixin(document: Document, alice: User) -> None:
    client = APIClient()
    client.force_authenticate(alice)

    response = client.put(
        f"/api/docs/{document.pk}/",
        {"title": "changed", "body": ""},
        format="json",
        headers={"User-Agent": AGENT},
    )

    assert response.status_code == 200
    row = ReportedRequest.objects.get()
    assert (row.endpoint, row.method, row.user, row.user_agent, row.count) == (
        "api:document-detail",
        "PUT",
        "alice",
        AGENT,
        1,
    )
    assert row.last_path == f"/api/docs/{document.pk}/"


def test_a_views_entry_sets_the_mode_of_one_view(document: Document) -> None:
    with override_settings(PRECONDITIONS={"VIEWS": {"api:document-detail": {"mode": "report"}}}):
        assert put(APIClient(), f"/api/docs/{document.pk}/").status_code == 200
        assert put(APIClient(), f"/api/strict/docs/{document.pk}/").status_code == 428


def test_the_class_attribute_sets_the_mode_of_a_drf_view(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.testapp.drf_views import DocumentViewSet

    monkeypatch.setattr(DocumentViewSet, "precondition_mode", "report")
    assert put(APIClient(), f"/api/docs/{document.pk}/").status_code == 200
    assert put(APIClient(), f"/api/strict/docs/{document.pk}/").status_code == 428


def test_the_class_attribute_sets_the_mode_of_a_class_based_view(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.testapp.views import DocumentJsonView

    assert put(Client(), f"/cbv/docs/{document.pk}/").status_code == 428
    monkeypatch.setattr(DocumentJsonView, "precondition_mode", "report")
    assert put(Client(), f"/cbv/docs/{document.pk}/").status_code == 200


def test_a_settings_rule_for_the_middleware_can_be_in_report_mode(document: Document) -> None:
    rule = {"model": "testapp.Document", "lookup_url_kwarg": "pk", "mode": "report"}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"plain": rule}}):
        assert put(Client(), f"/plain/{document.pk}/").status_code == 200
        stale = put(Client(), f"/plain/{document.pk}/", **{"If-Match": '"stale"'})
        assert stale.status_code == 412
    assert ReportedRequest.objects.get().endpoint == "plain"


def test_an_async_view_in_report_mode_is_reported(
    document: Document, async_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test client closes async responses in another thread (another connection, which
    # cannot see this test's transaction); ASGIHandler closes them thread-sensitively.
    write = reporting.flush_reports
    monkeypatch.setattr(reporting, "flush_reports", lambda **kwargs: 0)

    async def request() -> Any:
        return await async_client.put(
            f"/async-report/{document.pk}/", headers={"User-Agent": AGENT}
        )

    response = async_to_sync(request)()

    assert response.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "async"
    assert write() == 1
    row = ReportedRequest.objects.get()
    assert (row.endpoint, row.user_agent, row.count) == ("async-report", AGENT, 1)


def test_unnamed_routes_are_counted_by_route_as_the_audit_shows_them(document: Document) -> None:
    from django_preconditions.audit import build_report

    put(Client(), f"/unnamed-a/{document.pk}/")
    put(Client(), f"/unnamed-a/{document.pk}/")
    put(Client(), f"/unnamed-b/{document.pk}/")
    flush_reports(force=True)

    counts = reporting.reported_counts()
    rows = {row.route: row for row in build_report() if row.route.startswith("unnamed-")}
    # What the audit page shows for each endpoint (audit_admin_view: name, else route).
    shown = {route: counts.get(row.name or row.route, 0) for route, row in rows.items()}
    assert shown == {"unnamed-a/<int:pk>/": 2, "unnamed-b/<int:pk>/": 1}


def test_a_long_username_and_a_nul_in_user_agent_are_still_counted(
    document: Document, django_user_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Email addresses as usernames may exceed the column's 150 characters; PostgreSQL refuses
    # NUL in text. Neither may lose the count.
    user = django_user_model.objects.create_user("long", password="pw")
    long_name = "x" * 200 + "@example.com"
    monkeypatch.setattr(django_user_model, "get_username", lambda self: long_name)
    client = Client()
    client.force_login(user)
    response = client.put(
        f"/report/{document.pk}/",
        {"title": "x"},
        content_type="application/json",
        headers={"User-Agent": "agent\x00/1"},
    )
    assert response.status_code == 200

    flush_reports(force=True)
    row = ReportedRequest.objects.get()
    assert (row.user, row.user_agent, row.count) == (long_name[:150], "agent/1", 1)


# --- Admin rules may tighten, never relax -----------------------------------------------------


def test_an_admin_rule_switches_a_report_mode_view_to_enforce(document: Document) -> None:
    ProtectedEndpoint.objects.create(view="report", mode="enforce")

    assert put(Client(), f"/report/{document.pk}/").status_code == 428


def test_an_admin_rule_cannot_switch_a_view_enforced_in_code_to_report(document: Document) -> None:
    ProtectedEndpoint.objects.create(view="enforce", mode="report")

    assert put(Client(), f"/enforce/{document.pk}/").status_code == 428


def test_an_admin_rule_cannot_switch_a_settings_rule_to_report(document: Document) -> None:
    ProtectedEndpoint.objects.create(view="plain", mode="report")
    rule = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"plain": rule}}):
        assert put(Client(), f"/plain/{document.pk}/").status_code == 428


def test_an_admin_rule_switches_a_settings_rule_from_report_to_enforce(document: Document) -> None:
    ProtectedEndpoint.objects.create(view="plain", mode="enforce")
    rule = {"model": "testapp.Document", "lookup_url_kwarg": "pk", "mode": "report"}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"plain": rule}}):
        assert put(Client(), f"/plain/{document.pk}/").status_code == 428


def test_an_admin_only_rule_may_protect_in_report_mode(document: Document) -> None:
    """Nothing protected the view before the rule: report mode weakens nothing."""
    ProtectedEndpoint.objects.create(
        view="plain", model_label="testapp.Document", lookup_url_kwarg="pk", mode="report"
    )
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        assert put(Client(), f"/plain/{document.pk}/").status_code == 200
        assert put(Client(), f"/plain/{document.pk}/", **{"If-Match": '"x"'}).status_code == 412


def test_an_admin_switch_to_enforce_is_kept_when_another_rule_names_the_view_by_another_key(
    document: Document,
) -> None:
    """Rules for one view under several keys add up: a rule that says nothing about the mode
    (on the URL name) does not undo the switch another makes (on the route)."""
    ProtectedEndpoint.objects.create(view="report/<int:pk>/", mode="enforce")
    ProtectedEndpoint.objects.create(view="report", methods="POST")

    assert put(Client(), f"/report/{document.pk}/").status_code == 428
    assert Document.objects.get(pk=document.pk).title == "draft"


def _async_put(async_client: Any, document: Document) -> Any:
    async def request() -> Any:
        return await async_client.put(f"/async-report/{document.pk}/")

    return async_to_sync(request)()


@pytest.mark.django_db(transaction=True)
def test_an_async_views_switch_to_enforce_applies_on_the_processs_first_request(
    document: Document, async_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rules cached yet (the conftest forgets them before each test): the event loop must
    not answer with "no rules" (fail open)."""
    monkeypatch.setattr(reporting, "flush_reports", lambda **kwargs: 0)
    ProtectedEndpoint.objects.create(view="async-report", mode="enforce")

    assert _async_put(async_client, document).status_code == 428
    assert Document.objects.get(pk=document.pk).title == "draft"


@pytest.mark.django_db(transaction=True)
def test_an_async_views_switch_to_enforce_survives_saving_an_unrelated_rule(
    document: Document, async_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporting, "flush_reports", lambda **kwargs: 0)
    ProtectedEndpoint.objects.create(view="async-report", mode="enforce")
    assert _async_put(async_client, document).status_code == 428  # the rules are cached

    ProtectedEndpoint.objects.create(view="plain", note="unrelated")  # forgets the cache

    assert _async_put(async_client, document).status_code == 428
    assert Document.objects.get(pk=document.pk).title == "draft"


# --- Reporting ---------------------------------------------------------------------------------


def test_the_signal_says_report_only(document: Document) -> None:
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.precondition_required.connect(receiver)
    try:
        put(Client(), f"/report/{document.pk}/")
        put(Client(), f"/enforce/{document.pk}/")
    finally:
        signals.precondition_required.disconnect(receiver)

    assert [kwargs.get("report_only", False) for kwargs in received] == [True, False]
    assert str(received[0]["reason"]) == "precondition_missing"
    assert received[0]["decision"].status == 428


def test_the_log_line_says_report_only(
    document: Document, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        put(Client(), f"/report/{document.pk}/")

    assert [record.getMessage() for record in caplog.records] == [
        f"Precondition Required (report-only): /report/{document.pk}/"
    ]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0 + self.now


def test_at_most_one_database_write_per_endpoint_and_client_per_interval(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr(reporting, "time", clock)
    client = Client()
    url = f"/report/{document.pk}/"

    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            assert put(client, url).status_code == 200
    writes = [q["sql"] for q in queries if "django_preconditions_reportedrequest" in q["sql"]]
    assert len(writes) == 2  # the first request: UPDATE (no row yet), then INSERT
    assert ReportedRequest.objects.get().count == 1

    clock.now += reporting.WRITE_INTERVAL - 1
    with CaptureQueriesContext(connection) as queries:
        put(client, url)
    assert not [q for q in queries if "reportedrequest" in q["sql"]]

    clock.now += 1
    cache.clear()  # the cross-process throttle key expires with the interval, in real time
    with CaptureQueriesContext(connection) as queries:
        put(client, url)
    writes = [q["sql"] for q in queries if "django_preconditions_reportedrequest" in q["sql"]]
    assert len(writes) == 1
    assert writes[0].startswith("UPDATE")
    row = ReportedRequest.objects.get()
    assert row.count == 52
    assert row.first_seen < row.last_seen


def test_each_client_and_endpoint_has_its_own_row(document: Document) -> None:
    put(Client(), f"/report/{document.pk}/")
    put(Client(), f"/report/{document.pk}/", **{"User-Agent": "other/2"})
    Client().delete(f"/report/{document.pk}/", headers={"User-Agent": AGENT})

    rows = sorted(ReportedRequest.objects.values_list("method", "user_agent", "count"))
    assert rows == [("DELETE", AGENT, 1), ("PUT", AGENT, 1), ("PUT", "other/2", 1)]


def test_another_process_writing_first_defers_the_write(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a cache shared between processes, the interval holds across them: a key another
    process wrote within the interval waits (its count is kept, not lost)."""
    monkeypatch.setattr(reporting, "time", _Clock())
    key_prefix = reporting._CACHE_PREFIX
    monkeypatch.setattr(cache, "add", lambda key, *args, **kwargs: not key.startswith(key_prefix))

    put(Client(), f"/report/{document.pk}/")
    put(Client(), f"/report/{document.pk}/")

    assert not ReportedRequest.objects.exists()
    assert flush_reports(force=True) == 1
    assert ReportedRequest.objects.get().count == 2


def test_flush_reports_writes_what_is_pending(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporting, "time", _Clock())
    for _ in range(3):
        put(Client(), f"/report/{document.pk}/")
    assert ReportedRequest.objects.get().count == 1

    assert flush_reports(force=True) == 1
    assert ReportedRequest.objects.get().count == 3


def test_a_missing_table_is_logged_not_raised(
    document: Document, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ReportedRequest._meta, "db_table", "no_such_table")
    with caplog.at_level(logging.ERROR, logger="django_preconditions"):
        assert put(Client(), f"/report/{document.pk}/").status_code == 200
    assert "could not store the report-only counts" in caplog.text


def test_the_admin_lists_the_report_read_only(document: Document) -> None:
    admin_user = User.objects.create_superuser("admin", password="pw")
    put(Client(), f"/report/{document.pk}/")
    client = Client()
    client.force_login(admin_user)

    listing = client.get("/admin/django_preconditions/reportedrequest/")
    assert listing.status_code == 200
    assert AGENT in listing.content.decode()
    assert client.get("/admin/django_preconditions/reportedrequest/add/").status_code == 403


# --- Checks ------------------------------------------------------------------------------------


def test_an_invalid_mode_is_check_e018() -> None:
    with override_settings(PRECONDITIONS={"MODE": "warn"}):
        errors = check_settings_block()
    assert [error.id for error in errors] == ["preconditions.E021"]
    assert "enforce" in errors[0].hint
    assert "report" in errors[0].hint


def test_an_invalid_mode_in_a_views_entry_is_check_e012() -> None:
    with override_settings(PRECONDITIONS={"VIEWS": {"x": {"mode": "off"}}}):
        assert [error.id for error in check_settings_block()] == ["preconditions.E012"]


def test_the_check_command_passes_with_report_mode() -> None:
    with override_settings(PRECONDITIONS={"MODE": "report"}):
        call_command("check")


def test_an_admin_rule_with_an_invalid_mode_does_not_validate() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        ProtectedEndpoint(view="plain", mode="off").full_clean()
    assert "mode" in error.value.message_dict


# --- The audit ---------------------------------------------------------------------------------


def test_the_audit_shows_each_endpoints_mode() -> None:
    from django_preconditions.audit import build_report

    rows = {row.name: row for row in build_report("tests.test_report_mode")}

    assert rows["report"].mode == "report"
    assert rows["enforce"].mode == "enforce"
    assert rows["plain"].mode == ""
    assert rows["report"].as_dict()["mode"] == "report"
    assert rows["plain"].as_dict()["mode"] is None


def test_the_audit_shows_an_admin_rule_switching_to_enforce() -> None:
    from django_preconditions.audit import build_report

    ProtectedEndpoint.objects.create(view="report", mode="enforce")

    rows = {row.name: row for row in build_report("tests.test_report_mode")}
    assert rows["report"].mode == "enforce"


@override_settings(PRECONDITIONS={"VIEWS": {"api:document-detail": {"mode": "report"}}})
def test_the_audit_command_prints_the_mode_in_json_and_table() -> None:
    import io
    import json

    out = io.StringIO()
    call_command("preconditions_audit", "--format", "json", stdout=out)
    modes = {row["name"]: row["mode"] for row in json.loads(out.getvalue())}
    assert modes["api:document-detail"] == "report"
    assert modes["api:strict-document-detail"] == "enforce"

    out = io.StringIO()
    call_command("preconditions_audit", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "api:document-detail" in line)
    assert line.split()[-1] == "report"


# --- Admin rule validation ---------------------------------------------------------------------


def test_a_report_mode_rule_for_a_view_enforced_in_code_does_not_validate() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        ProtectedEndpoint(view="enforce", mode="report").full_clean()
    assert "never from enforce to report" in error.value.message_dict["mode"][0]
    assert "decorator" in error.value.message_dict["mode"][0]


def test_a_report_mode_rule_for_a_view_enforced_by_settings_does_not_validate() -> None:
    from django.core.exceptions import ValidationError

    with (
        override_settings(PRECONDITIONS={"VIEWS": {"plain": {}}}),
        pytest.raises(ValidationError) as error,
    ):
        ProtectedEndpoint(view="plain", mode="report").full_clean()
    assert "PRECONDITIONS['VIEWS']['plain']" in error.value.message_dict["mode"][0]


def test_a_report_mode_rule_is_refused_when_settings_enforce_the_view_under_another_key() -> None:
    from django.core.exceptions import ValidationError

    with (
        override_settings(PRECONDITIONS={"VIEWS": {"plain/<int:pk>/": {}}}),
        pytest.raises(ValidationError) as error,
    ):
        ProtectedEndpoint(view="plain", mode="report").full_clean()
    assert "PRECONDITIONS['VIEWS']['plain/<int:pk>/']" in error.value.message_dict["mode"][0]


def test_report_and_enforce_rules_validate_where_nothing_enforces() -> None:
    ProtectedEndpoint(view="plain", mode="report").full_clean()
    ProtectedEndpoint(view="report", mode="report").full_clean()
    ProtectedEndpoint(view="enforce", mode="enforce").full_clean()


def test_the_rule_form_offers_the_mode_and_refuses_relaxing_an_enforced_view() -> None:
    from django_preconditions.admin import ProtectedEndpointForm

    data = {
        "view": "enforce",
        "methods": ["PUT", "PATCH", "DELETE"],
        "required_headers": ["If-Match", "If-Unmodified-Since"],
        "lookup_field": "pk",
        "enabled": "on",
        "mode": "report",
    }
    form = ProtectedEndpointForm(data=data)
    assert not form.is_valid()
    assert "never from enforce to report" in form.errors["mode"][0]

    form = ProtectedEndpointForm(data={**data, "view": "report", "mode": "enforce"})
    assert form.is_valid(), form.errors
    form.save()
    assert put(Client(), f"/report/{Document.objects.create(title='x').pk}/").status_code == 428


def test_the_admin_audit_page_shows_the_mode_and_the_reported_requests(document: Document) -> None:
    put(Client(), f"/report/{document.pk}/")
    put(Client(), f"/report/{document.pk}/", **{"User-Agent": "other/2"})
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password="pw"))

    page = client.get("/admin/django_preconditions/protectedendpoint/audit/")

    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index("<code>report/&lt;int:pk&gt;/</code>") :]
    row = row[: row.index("</tr>")]
    assert "<td>report</td>" in row
    assert 'href="/admin/django_preconditions/reportedrequest/?endpoint=report">2</a>' in row
    listing = client.get("/admin/django_preconditions/reportedrequest/?endpoint=report")
    assert listing.status_code == 200
    assert AGENT in listing.content.decode()
    assert "other/2" in listing.content.decode()


def test_if_match_star_is_reported_as_not_accepted_and_evaluated(document: Document) -> None:
    """Rule 21: ``*`` does not satisfy the requirement (reported), but it is evaluated."""
    from django_preconditions.conditions import (
        Outcome,
        Reason,
        Requirement,
        ResourceState,
        evaluate,
    )

    received: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.precondition_required.connect(receiver)
    try:
        response = put(Client(), f"/report/{document.pk}/", **{"If-Match": "*"})
    finally:
        signals.precondition_required.disconnect(receiver)
    assert response.status_code == 200
    assert [str(kwargs["reason"]) for kwargs in received] == ["wildcard_not_accepted"]

    requirement = Requirement(methods=frozenset({"PUT"}), report_only=True)
    refused = evaluate("PUT", {"If-Match": "*"}, ResourceState.absent(), requirement)
    assert refused.outcome is Outcome.PRECONDITION_FAILED
    assert refused.reason is Reason.IF_MATCH_NO_CURRENT_REPRESENTATION
    assert refused.unmet is None  # refused, so not reported as let through


def test_write_times_of_quiet_clients_are_forgotten(
    document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded by the clients of about one interval, however many user agents
    a long-running process sees."""
    clock = _Clock()
    monkeypatch.setattr(reporting, "time", clock)
    for index in range(20):
        put(Client(), f"/report/{document.pk}/", **{"User-Agent": f"agent/{index}"})
    assert len(reporting._written_at) == 20

    clock.now += reporting.WRITE_INTERVAL
    put(Client(), f"/report/{document.pk}/", **{"User-Agent": "agent/new"})

    assert list(reporting._written_at) == [("report", "PUT", "", "agent/new")]


def test_the_middleware_reports_a_let_through_request_once(document: Document) -> None:
    """A settings-protected view in report mode: one unconditional PUT is one report (one
    signal, one count), not one per step of the middleware's decision."""
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    rule = {"model": "testapp.Document", "lookup_url_kwarg": "pk", "mode": "report"}
    signals.precondition_required.connect(receiver)
    try:
        with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"plain": rule}}):
            assert put(Client(), f"/plain/{document.pk}/").status_code == 200
    finally:
        signals.precondition_required.disconnect(receiver)
    assert [kwargs.get("report_only") for kwargs in received] == [True]
