"""The protection audit (issue 4, item 5): ``build_report``, ``manage.py preconditions_audit``
and the admin page, on the small project of tests/support/audit_urls.py."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import RequestFactory, override_settings
from django.urls import path

from django_preconditions.audit import ANY, PROTECTIONS, AuditRow, audit_admin_view, build_report
from django_preconditions.management.commands import preconditions_audit
from django_preconditions.middleware import PreconditionMiddleware
from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rules import RuleSnapshot
from tests.support import audit_urls

pytestmark = pytest.mark.django_db

URLCONF = "tests.support.audit_urls"
MIDDLEWARE = "django_preconditions.middleware.PreconditionMiddleware"
WITH_MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]
BOTH_HEADERS = ("If-Match", "If-Unmodified-Since")

# A project where everything that accepts unsafe methods is protected (--urlconf tests.test_audit).
urlpatterns = [
    path("docs/<int:pk>/", audit_urls.protected_document, name="document-detail"),
    path("cbv/docs/<int:pk>/", audit_urls.DocumentJsonView.as_view(), name="cbv-document"),
    path("safe/docs/<int:pk>/", audit_urls.safe_document, name="document-safe"),
]


def report(**options: Any) -> dict[str, AuditRow]:
    return {row.name or row.route: row for row in build_report(URLCONF, **options)}


def run(*args: str) -> str:
    out = StringIO()
    call_command("preconditions_audit", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- What protects each pattern ------------------------------------------------------------


def test_each_kind_of_protection_in_code_is_reported() -> None:
    rows = report()

    assert rows["document-detail"].protection == "decorator"
    assert rows["cbv-document"].protection == "class-based mixin"
    assert rows["api:document-detail"].protection == "DRF mixin"
    assert rows["api-generic-detail"].protection == "DRF mixin"
    assert rows["document-plain"].protection == "none"
    assert rows["cbv-plain-update"].protection == "none"
    assert rows["api:plain-document-detail"].protection == "none"
    assert rows["api-function"].protection == "none"
    assert all(row.protection in PROTECTIONS for row in rows.values())


def test_a_row_names_the_route_and_view_of_its_pattern() -> None:
    row = report()["api:document-detail"]

    assert row.route.startswith("api/")
    assert row.view == "tests.support.audit_urls.ProtectedDocumentViewSet"
    assert report()["document-detail"].route == "docs/<int:pk>/"
    assert report()["document-detail"].view == "tests.support.audit_urls.protected_document"


def test_the_protected_methods_and_headers_come_from_the_effective_policy() -> None:
    rows = report()

    assert rows["document-detail"].protected_methods == ("PUT", "PATCH", "DELETE")
    assert rows["document-detail"].required_headers == BOTH_HEADERS
    # require_preconditions(methods=["PUT", "DELETE"], required_headers=["If-Match"])
    assert rows["document-custom"].protected_methods == ("PUT", "DELETE")
    assert rows["document-custom"].required_headers == ("If-Match",)
    # precondition_methods = ["POST", "PUT"] on an UpdateView
    assert rows["cbv-update"].protected_methods == ("POST", "PUT")


def test_a_settings_views_entry_changes_the_policy_of_a_view_protected_in_code() -> None:
    views = {"document-detail": {"methods": ["DELETE"], "required_headers": ["If-Match"]}}
    with override_settings(PRECONDITIONS={"VIEWS": views}):
        row = report()["document-detail"]

    assert row.protection == "decorator"
    assert (row.protected_methods, row.required_headers) == (("DELETE",), ("If-Match",))


def test_drf_viewsets_are_audited_per_action() -> None:
    rows = report()

    detail = rows["api:document-detail"]
    assert detail.methods == ("PUT", "PATCH", "DELETE")
    # precondition_actions = {"partial_update": {"methods": ["PUT", "DELETE"]}}: PATCH is free.
    assert detail.protected_methods == ("PUT", "DELETE")
    assert detail.required_headers == ("If-Match",)
    # @action(methods=["post"], precondition_methods=["POST"])
    assert rows["api:document-publish"].protected_methods == ("POST",)
    # A create on the collection requires nothing (rule 27), yet the view is protected.
    assert rows["api:document-list"].methods == ("POST",)
    assert rows["api:document-list"].protection == "DRF mixin"
    assert rows["api:document-list"].protected_methods == ()
    assert rows["api-generic-detail"].protected_methods == ("PUT", "PATCH", "DELETE")


@override_settings(PRECONDITIONS={"METHODS": ["DELETE"], "REQUIRED_HEADERS": ["If-Match"]})
def test_views_marked_protected_by_other_code_are_trusted_with_the_settings_policy() -> None:
    rows = report()

    kinds = {"self-protected": "decorator", "cbv-self-protected": "class-based mixin"}
    kinds["api-self-protected"] = "DRF mixin"
    for name, kind in kinds.items():
        assert rows[name].protection == kind
        assert rows[name].protected_methods == ("DELETE",)
        assert rows[name].required_headers == ("If-Match",)


def test_the_drop_in_condition_decorators_do_not_count_as_protection() -> None:
    rows = report()

    for name in ("condition-only", "django-etag"):
        assert rows[name].protection == "none"
        assert "never require them" in rows[name].note
        assert rows[name].unprotected


# --- Which methods each pattern accepts ----------------------------------------------------


def test_function_views_accept_any_method_unless_require_http_methods_says_otherwise() -> None:
    rows = report()

    assert rows["document-plain"].methods == (ANY,)
    assert rows["post-only"].methods == ("POST",)
    # @require_http_methods(["GET", "HEAD", "PUT"]) outside @require_preconditions
    assert rows["get-put"].methods == ("PUT",)
    assert rows["get-put"].protected_methods == ("PUT",)


def test_class_based_views_accept_the_methods_they_have_handlers_for() -> None:
    rows = report()

    assert rows["cbv-document"].methods == ("PUT", "DELETE")
    assert rows["cbv-put-only"].methods == ("PUT",)  # as_view(http_method_names=[...])
    assert rows["cbv-update"].methods == ("POST", "PUT")
    assert rows["cbv-plain-update"].methods == ("POST", "PUT")


def test_safe_only_patterns_are_left_out_unless_asked_for() -> None:
    names = {"document-safe", "cbv-template", "api:readonly-document-list", "audit"}

    assert not names & set(report())
    rows = report(include_safe=True)
    assert names <= set(rows)
    assert all(rows[name].methods == () and not rows[name].unprotected for name in names)


def test_the_admin_sites_own_patterns_are_left_out_unless_asked_for() -> None:
    assert not any(row.route.startswith("admin/") for row in report().values())

    rows = report(include_admin=True)
    assert rows["admin:login"].methods == (ANY,)
    assert rows["admin:auth_user_change"].protection == "none"


# --- Settings and admin rules --------------------------------------------------------------


@override_settings(
    MIDDLEWARE=WITH_MIDDLEWARE,
    PRECONDITIONS={
        "VIEWS": {"settings-counter": {"methods": ["PUT"], "required_headers": ["If-Match"]}}
    },
)
def test_a_settings_views_entry_is_reported_as_settings() -> None:
    row = report()["settings-counter"]

    assert row.protection == "settings"
    assert (row.protected_methods, row.required_headers) == (("PUT",), ("If-Match",))
    assert not row.unprotected


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_an_admin_rule_is_reported_as_admin_rule() -> None:
    ProtectedEndpoint.objects.create(view="rule/docs/<int:pk>/", methods="PATCH,DELETE")

    row = report()["rule-document"]

    assert row.protection == "admin rule"
    assert (row.protected_methods, row.required_headers) == (("PATCH", "DELETE"), BOTH_HEADERS)


@override_settings(
    MIDDLEWARE=WITH_MIDDLEWARE,
    PRECONDITIONS={"VIEWS": {"settings-counter": {"methods": ["PUT"]}}},
)
def test_settings_and_an_admin_rule_together_protect_the_union_of_their_methods() -> None:
    ProtectedEndpoint.objects.create(
        view="tests.support.audit_urls.settings_counter", methods="DELETE"
    )

    row = report()["settings-counter"]

    assert row.protection == "settings+admin"
    assert row.protected_methods == ("PUT", "DELETE")


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_disabled_admin_rules_protect_nothing() -> None:
    ProtectedEndpoint.objects.create(view="rule-document", enabled=False)

    assert report()["rule-document"].protection == "none"


@override_settings(MIDDLEWARE=WITH_MIDDLEWARE)
def test_an_admin_rule_does_not_change_what_code_protects() -> None:
    ProtectedEndpoint.objects.create(view="document-detail", methods="POST")

    row = report()["document-detail"]

    assert row.protection == "decorator"
    assert row.protected_methods == ("PUT", "PATCH", "DELETE")


@override_settings(PRECONDITIONS={"VIEWS": {"settings-counter": {"methods": ["PUT"]}}})
def test_rules_are_no_protection_without_the_middleware() -> None:
    ProtectedEndpoint.objects.create(view="rule-document")

    rows = report()

    for name in ("settings-counter", "rule-document"):
        assert rows[name].protection == "none"
        assert "not in MIDDLEWARE" in rows[name].note


class CustomMiddleware(PreconditionMiddleware):
    """A project's subclass counts as the middleware."""


@override_settings(
    MIDDLEWARE=[*settings.MIDDLEWARE, "tests.test_audit.CustomMiddleware"],
    PRECONDITIONS={"VIEWS": {"settings-counter": {}}},
)
def test_a_subclass_of_the_middleware_enforces_rules_too() -> None:
    assert report()["settings-counter"].protection == "settings"


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_report_defaults_to_the_projects_urlconf() -> None:
    assert [row.route for row in build_report()] == [row.route for row in build_report(URLCONF)]


def test_the_audit_runs_on_the_whole_test_project() -> None:
    rows = build_report("tests.support.urls")

    assert rows
    assert all(row.protection in PROTECTIONS for row in rows)
    assert {row.name: row for row in rows}["document-detail"].protection == "decorator"


# --- The management command ----------------------------------------------------------------


def test_the_command_prints_a_table() -> None:
    output = run("--urlconf", URLCONF)
    lines = output.splitlines()

    assert lines[0].split() == [
        *("ROUTE", "NAME", "METHODS", "PROTECTION", "PROTECTED", "HEADERS", "MODE")
    ]
    decorated = next(line for line in lines if line.startswith("docs/<int:pk>/"))
    assert decorated.split()[:4] == ["docs/<int:pk>/", "document-detail", "any", "decorator"]
    assert "If-Match, If-Unmodified-Since" in decorated
    assert "[1] condition/: condition/etag/last_modified" in output
    unsafe = len(build_report(URLCONF))
    unprotected = sum(row.unprotected for row in build_report(URLCONF))
    assert (
        f"{unsafe} URL pattern(s) accept unsafe methods: {unsafe - unprotected} protected, "
        f"{unprotected} unprotected." in output
    )


def test_the_command_prints_json() -> None:
    data = json.loads(run("--urlconf", URLCONF, "--format", "json"))

    assert data == [row.as_dict() for row in build_report(URLCONF)]
    first = data[0]
    assert first == {
        "route": "docs/<int:pk>/",
        "name": "document-detail",
        "view": "tests.support.audit_urls.protected_document",
        "methods": ["any"],
        "protection": "decorator",
        "protected_methods": ["PUT", "PATCH", "DELETE"],
        "required_headers": ["If-Match", "If-Unmodified-Since"],
        "note": "",
        "mode": "enforce",
    }


def test_the_command_lists_safe_only_and_admin_patterns_on_request() -> None:
    output = run("--urlconf", URLCONF, "--all", "--include-admin")

    assert "(safe only)" in output
    assert "admin:login" in output


@override_settings(ROOT_URLCONF=URLCONF)
def test_fail_on_unprotected_names_the_unprotected_patterns() -> None:
    with pytest.raises(CommandError) as raised:
        run("--fail-on-unprotected")

    unprotected = (
        "document-plain, post-only, condition-only, django-etag, settings-counter, "
        "rule-document, cbv-plain-update, api:plain-document-list, api:plain-document-detail, "
        "api-function"
    )
    assert str(raised.value).startswith(
        "10 URL pattern(s) accept unsafe methods without requiring preconditions: "
        f"{unprotected}. Protect each with require_preconditions"
    )


def test_fail_on_unprotected_passes_when_everything_is_protected() -> None:
    output = run("--urlconf", "tests.test_audit", "--fail-on-unprotected")

    assert "2 URL pattern(s) accept unsafe methods: 2 protected, 0 unprotected." in output


def test_the_command_warns_when_admin_rules_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        preconditions_audit, "current_rules", lambda: RuleSnapshot(error="no such table")
    )
    err = StringIO()

    call_command("preconditions_audit", "--urlconf", URLCONF, stdout=StringIO(), stderr=err)

    assert err.getvalue() == (
        "Admin rules could not be read, so only settings rules are shown: no such table. "
        "Run `manage.py migrate django_preconditions`.\n"
    )


def test_without_the_flag_unprotected_patterns_do_not_fail() -> None:
    assert "unprotected" in run("--urlconf", URLCONF)


@pytest.mark.django_db(transaction=True)
def test_on_the_command_line_fail_on_unprotected_exits_with_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = load_command_class("django_preconditions", "preconditions_audit")

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(
            ["manage.py", "preconditions_audit", "--urlconf", URLCONF, "--fail-on-unprotected"]
        )

    assert exited.value.code == 1
    assert "CommandError: 10 URL pattern(s)" in capsys.readouterr().err


# --- The admin page ------------------------------------------------------------------------


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_admin_page_shows_the_report_to_staff(admin_client: Any) -> None:
    response = admin_client.get("/audit/")

    assert response.status_code == 200
    assert "admin/django_preconditions/audit.html" in [t.name for t in response.templates]
    assert [row.route for row in response.context["rows"]] == [row.route for row in build_report()]
    content = response.content.decode()
    assert "<code>docs/&lt;int:pk&gt;/</code>" in content
    assert "class-based mixin" in content
    assert "DRF mixin" in content
    assert "10 of 23 URL patterns" in content
    assert "Protection audit" in content


@override_settings(ROOT_URLCONF=URLCONF)
def test_staff_with_the_view_permission_on_rules_may_see_the_admin_page(
    client: Any, django_user_model: Any
) -> None:
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/audit/").status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_protectedendpoint"))
    assert client.get("/audit/").status_code == 200


@override_settings(ROOT_URLCONF=URLCONF)
def test_report_only_counts_need_the_view_permission_on_them(
    client: Any, django_user_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_preconditions import audit

    monkeypatch.setattr(audit, "reported_counts", lambda: {"document-detail": 7})
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_protectedendpoint"))
    client.force_login(user)

    def shown() -> set[int]:
        rows = client.get("/audit/").context["rows_reported"]
        return {count for _, count in rows if count}

    assert shown() == set()
    user.user_permissions.add(Permission.objects.get(codename="view_reportedrequest"))
    user = django_user_model.objects.get(pk=user.pk)  # permissions are cached per instance
    client.force_login(user)
    assert shown() == {7}


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_admin_page_sends_anonymous_users_to_the_login(client: Any) -> None:
    response = client.get("/audit/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_admin_page_is_read_only(admin_client: Any) -> None:
    assert admin_client.post("/audit/").status_code == 405


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_admin_page_uses_the_admin_site_it_is_given(admin_user: Any) -> None:
    site = AdminSite(name="custom")
    site.site_header = "Custom header"
    request = RequestFactory().get("/audit/")
    request.user = admin_user

    response = audit_admin_view(request, admin_site=site)

    assert response.status_code == 200
    assert "Custom header" in response.content.decode()


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_unwrapped_view_refuses_users_who_are_not_staff(django_user_model: Any) -> None:
    request = RequestFactory().get("/audit/")
    request.user = django_user_model.objects.create_user("someone", password="x")

    with pytest.raises(PermissionDenied):
        audit_admin_view(request)
