"""System checks: one test per check id, plus ``manage.py check`` passing and failing.

Every message must say what is wrong and, in its hint, how to fix it (STYLE habit 3 and 7).
"""

from __future__ import annotations

import gc
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps, override_settings

from django_preconditions.checks import check_settings_block, check_versioned_models
from django_preconditions.models import VersionedManager, VersionedModel


def settings_messages(block: Any) -> list[Any]:
    with override_settings(PRECONDITIONS=block):
        return check_settings_block()


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


# --- Valid settings ---------------------------------------------------------------------------


def test_no_preconditions_block_is_valid() -> None:
    with override_settings():
        del settings.PRECONDITIONS
        assert check_settings_block() == []


def test_a_complete_valid_block_produces_no_messages() -> None:
    block = {
        "METHODS": ["put", "PATCH", "DELETE", "POST"],
        "REQUIRED_HEADERS": ["if-match", "If-Unmodified-Since"],
        "ALLOW_WILDCARD": False,
        "WEAK_IF_MATCH": True,
        "ERROR_FORMAT": "tests.support.error_formats.envelope_error",
        "INCLUDE_CURRENT_ETAG": False,
        "DOCUMENTATION_URL": "https://example.com/api/errors/",
        "JSON_DETAILED_HEADERS": True,
        "VIEWS": {
            "document-detail": {
                "methods": ["DELETE"],
                "required_headers": ["If-Match"],
                "allow_wildcard": True,
                "weak_if_match": False,
                "error_format": "drf",
                "include_current_etag": True,
                "model": "testapp.Document",
                "lookup_url_kwarg": "pk",
                "lookup_field": "pk",
            },
            "tests.testapp.views.document_detail": {"error_format": "json"},
            "docs/<int:pk>/": {},
        },
    }
    assert settings_messages(block) == []


@pytest.mark.parametrize("error_format", ["problem", "json", "drf"])
def test_each_builtin_error_format_is_valid(error_format: str) -> None:
    assert settings_messages({"ERROR_FORMAT": error_format}) == []


def test_a_callable_error_format_is_valid() -> None:
    from tests.support.error_formats import envelope_error

    assert settings_messages({"ERROR_FORMAT": envelope_error}) == []


def test_documentation_url_none_is_valid() -> None:
    assert settings_messages({"DOCUMENTATION_URL": None}) == []


# --- E001 to E009: the block and its top-level keys -------------------------------------------


def test_e001_block_that_is_not_a_dict() -> None:
    messages = settings_messages(["PUT", "DELETE"])
    assert ids(messages) == ["preconditions.E001"]
    assert isinstance(messages[0], Error)
    assert "must be a dict, not list" in messages[0].msg
    assert 'PRECONDITIONS = {"METHODS"' in messages[0].hint


def test_e002_unknown_top_level_key() -> None:
    messages = settings_messages({"METHOD": ["PUT"]})
    assert ids(messages) == ["preconditions.E002"]
    assert "'METHOD'" in messages[0].msg
    assert "METHODS" in messages[0].hint
    assert "REQUIRED_HEADERS" in messages[0].hint


@pytest.mark.parametrize("methods", [["GET", "PUT"], "PUT", ["HEAD"], ["OPTIONS"], [1]])
def test_e003_methods_not_a_list_of_protectable_methods(methods: Any) -> None:
    # Rule 32: GET, HEAD and OPTIONS never require preconditions.
    messages = settings_messages({"METHODS": methods})
    assert ids(messages) == ["preconditions.E003"]
    assert "PRECONDITIONS['METHODS']" in messages[0].msg
    assert "PUT, PATCH, DELETE" in messages[0].hint
    assert "GET, HEAD and OPTIONS never require preconditions" in messages[0].hint


@pytest.mark.parametrize("headers", [[], ["If-None-Match"], "If-Match", ["If-Match", 3]])
def test_e004_required_headers_not_a_non_empty_list_of_accepted_headers(headers: Any) -> None:
    messages = settings_messages({"REQUIRED_HEADERS": headers})
    assert ids(messages) == ["preconditions.E004"]
    assert '"If-Match"' in messages[0].hint
    assert '"If-Unmodified-Since"' in messages[0].hint


def test_e005_allow_wildcard_not_a_bool() -> None:
    messages = settings_messages({"ALLOW_WILDCARD": "yes"})
    assert ids(messages) == ["preconditions.E005"]
    assert "'yes'" in messages[0].msg
    assert messages[0].hint == "Set it to True or False."


def test_e006_weak_if_match_not_a_bool() -> None:
    messages = settings_messages({"WEAK_IF_MATCH": 1})
    assert ids(messages) == ["preconditions.E006"]
    assert messages[0].hint == "Set it to True or False."


@pytest.mark.parametrize(
    "error_format",
    ["xml", "tests.support.error_formats.missing_function", "tests.no_such_module.render", 42],
)
def test_e007_error_format_neither_builtin_nor_importable_callable(error_format: Any) -> None:
    messages = settings_messages({"ERROR_FORMAT": error_format})
    assert ids(messages) == ["preconditions.E007"]
    assert '"problem", "json", "drf"' in messages[0].hint
    assert "dotted path of a callable" in messages[0].hint


def test_e008_include_current_etag_not_a_bool() -> None:
    messages = settings_messages({"INCLUDE_CURRENT_ETAG": "false"})
    assert ids(messages) == ["preconditions.E008"]
    assert messages[0].hint == "Set it to True or False."


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_e019_json_detailed_headers_not_a_bool(value: Any) -> None:
    messages = settings_messages({"JSON_DETAILED_HEADERS": value})
    assert ids(messages) == ["preconditions.E019"]
    assert messages[0].msg == f"PRECONDITIONS['JSON_DETAILED_HEADERS'] is {value!r}."
    assert messages[0].hint == "Set it to True or False."


def test_json_detailed_headers_per_view_is_checked_like_the_other_keys() -> None:
    messages = settings_messages({"VIEWS": {"notes:detail": {"json_detailed_headers": "yes"}}})
    assert ids(messages) == ["preconditions.E012"]


@pytest.mark.parametrize(
    "url", ["/api/errors/", "example.com/errors", "ftp://example.com/errors", 5]
)
def test_e009_documentation_url_not_an_absolute_http_url(url: Any) -> None:
    messages = settings_messages({"DOCUMENTATION_URL": url})
    assert ids(messages) == ["preconditions.E009"]
    assert "absolute http(s) URL" in messages[0].hint
    assert "https://example.com/api/errors/" in messages[0].hint


def test_several_bad_keys_are_all_reported() -> None:
    messages = settings_messages({"TYPO": 1, "ALLOW_WILDCARD": "no", "METHODS": ["GET"]})
    assert sorted(ids(messages)) == [
        "preconditions.E002",
        "preconditions.E003",
        "preconditions.E005",
    ]


# --- E010 to E015: the VIEWS entries ----------------------------------------------------------


@pytest.mark.parametrize(
    "views", [["document-detail"], {"document-detail": ["PUT"]}, {1: {"methods": ["PUT"]}}]
)
def test_e010_views_not_a_mapping_of_names_to_dicts(views: Any) -> None:
    messages = settings_messages({"VIEWS": views})
    assert ids(messages) == ["preconditions.E010"]
    assert "URL name, view dotted path or route" in messages[0].msg
    assert '"methods": ["PUT", "DELETE"]' in messages[0].hint


def test_e011_unknown_key_in_a_views_entry() -> None:
    messages = settings_messages({"VIEWS": {"document-detail": {"method": ["PUT"]}}})
    assert ids(messages) == ["preconditions.E011"]
    assert "['document-detail']" in messages[0].msg
    assert "'method'" in messages[0].msg
    assert "methods" in messages[0].hint
    assert "lookup_url_kwarg" in messages[0].hint


@pytest.mark.parametrize(
    "entry",
    [
        {"methods": ["GET"]},
        {"required_headers": ["If-None-Match"]},
        {"allow_wildcard": "yes"},
        {"weak_if_match": None},
        {"error_format": "yaml"},
        {"include_current_etag": 0},
    ],
)
def test_e012_invalid_value_in_a_views_entry(entry: dict[str, Any]) -> None:
    messages = settings_messages({"VIEWS": {"document-detail": entry}})
    assert ids(messages) == ["preconditions.E012"]
    (key,) = entry
    assert f"['document-detail'][{key!r}]" in messages[0].msg
    assert messages[0].hint.startswith("Set it to ")


@pytest.mark.parametrize("label", ["testapp.Missing", "nodot", "missingapp.Document", 7])
def test_e013_views_model_that_is_not_installed(label: Any) -> None:
    entry = {"model": label, "lookup_url_kwarg": "pk"}
    messages = settings_messages({"VIEWS": {"document-detail": entry}})
    assert ids(messages) == ["preconditions.E013"]
    assert "not an installed model" in messages[0].msg
    assert '"app_label.ModelName"' in messages[0].hint


def test_e014_views_model_that_is_not_versioned() -> None:
    entry = {"model": "testapp.PlainCounter", "lookup_url_kwarg": "pk"}
    messages = settings_messages({"VIEWS": {"plain-counter": entry}})
    assert ids(messages) == ["preconditions.E014"]
    assert "not a VersionedModel" in messages[0].msg
    assert "Inherit from django_preconditions.models.VersionedModel" in messages[0].hint


@pytest.mark.parametrize(
    ("entry", "given", "missing"),
    [
        ({"model": "testapp.Document"}, "model", "lookup_url_kwarg"),
        ({"lookup_url_kwarg": "pk"}, "lookup_url_kwarg", "model"),
    ],
)
def test_e015_views_model_and_lookup_url_kwarg_given_alone(
    entry: dict[str, Any], given: str, missing: str
) -> None:
    messages = settings_messages({"VIEWS": {"document-detail": entry}})
    assert ids(messages) == ["preconditions.E015"]
    assert f"gives {given} without {missing}" in messages[0].msg
    assert '"model": "notes.Note", "lookup_url_kwarg": "pk"' in messages[0].hint


# --- E020 and W001: versioned models --------------------------------------------------------
#
# The throwaway models live in an isolated app registry (isolate_apps), so they never reach the
# project's registry. Django's check framework passes the app configs to inspect to each check
# (``manage.py check testapp``); model checks must look only at those, as Django's own
# ``check_all_models`` does. Passing the isolated registry's app configs is therefore how a
# model check is tested without mocks (Django's test suite does the same).


@isolate_apps("tests.testapp")
def test_e020_versioned_model_with_a_base_manager_that_cannot_compare_and_swap() -> None:
    from django.apps import apps as project_apps

    class ThrowawayPlainBase(VersionedModel):
        objects = VersionedManager()
        plain = models.Manager()

        class Meta:
            app_label = "testapp"
            base_manager_name = "plain"

    isolated = ThrowawayPlainBase._meta.apps
    assert isolated is not project_apps
    messages = check_versioned_models(app_configs=isolated.get_app_configs())
    assert ids(messages) == ["preconditions.E020"]
    assert isinstance(messages[0], Error)
    assert messages[0].obj is ThrowawayPlainBase
    assert "testapp.ThrowawayPlainBase uses base manager Manager" in messages[0].msg
    assert "Remove Meta.base_manager_name" in messages[0].hint
    assert "'versioned_base_objects'" in messages[0].hint
    assert "VersionedBaseManager" in messages[0].hint


@isolate_apps("tests.testapp")
def test_w001_versioned_model_whose_default_manager_does_not_bump_versions() -> None:
    class ThrowawayPlainObjects(VersionedModel):
        objects = models.Manager()

        class Meta:
            app_label = "testapp"

    messages = check_versioned_models(
        app_configs=ThrowawayPlainObjects._meta.apps.get_app_configs()
    )
    assert ids(messages) == ["preconditions.W001"]
    assert isinstance(messages[0], Warning)
    assert messages[0].obj is ThrowawayPlainObjects
    assert "does not return a VersionedQuerySet" in messages[0].msg
    assert "VersionedQuerySet" in messages[0].hint
    assert ".bump_versions()" in messages[0].hint


@isolate_apps("tests.testapp")
def test_versioned_models_with_their_own_meta_and_a_versioned_queryset_pass() -> None:
    from django_preconditions.models import VersionedQuerySet

    class ThrowawayQuerySet(VersionedQuerySet[Any]):
        pass

    class ThrowawayOwnMeta(VersionedModel):
        # A Meta that does not inherit VersionedModel.Meta still gets the versioned base
        # manager, so there is nothing to report.
        objects = ThrowawayQuerySet.as_manager()

        class Meta:
            app_label = "testapp"
            ordering = ["id"]

    assert check_versioned_models(app_configs=ThrowawayOwnMeta._meta.apps.get_app_configs()) == []


def test_project_versioned_models_pass() -> None:
    assert check_versioned_models() == []


# --- manage.py check --------------------------------------------------------------------------


def test_check_command_passes_with_the_test_settings() -> None:
    stdout, stderr = StringIO(), StringIO()
    call_command("check", stdout=stdout, stderr=stderr)
    assert "System check identified no issues" in stdout.getvalue()
    assert "preconditions." not in stderr.getvalue()


@override_settings(
    PRECONDITIONS={"METHODS": ["GET"], "VIEWS": {"document-detail": {"model": "testapp.Nope"}}}
)
def test_check_command_fails_with_a_bad_preconditions_block() -> None:
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    report = str(excinfo.value)
    assert "preconditions.E003" in report
    assert "preconditions.E015" in report
    assert "HINT: Set it to a list of HTTP methods" in report


# --- URL patterns and admin rules (issue 10, item 7) ----------------------------------------


def view_key_messages(views: dict[str, Any]) -> list[Any]:
    from django_preconditions.checks import check_view_keys

    with override_settings(PRECONDITIONS={"VIEWS": views}):
        return check_view_keys()


def test_w004_views_key_that_matches_no_url_names_the_closest() -> None:
    messages = view_key_messages({"document-plian": {"methods": ["PUT"]}})
    assert ids(messages) == ["preconditions.W004"]
    assert isinstance(messages[0], Warning)
    assert "'document-plain'" in messages[0].hint


def test_views_keys_of_every_kind_that_match_a_url_pass() -> None:
    entry = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
    views = dict.fromkeys(
        ("document-plain", "tests.testapp.views.plain_document_detail", "plain/docs/<int:pk>/"),
        entry,
    )
    assert view_key_messages(views) == []


def test_e017_views_lookup_field_that_is_not_a_unique_field() -> None:
    entry = {"model": "testapp.Document", "lookup_url_kwarg": "pk", "lookup_field": "title"}
    messages = view_key_messages({"document-plain": entry})
    assert ids(messages) == ["preconditions.E017"]
    assert "not a unique field" in messages[0].msg


def test_e018_views_lookup_url_kwarg_that_the_route_does_not_pass() -> None:
    entry = {"model": "testapp.Document", "lookup_url_kwarg": "slug"}
    messages = view_key_messages({"document-plain": entry})
    assert ids(messages) == ["preconditions.E018"]
    assert "Use one of: pk" in messages[0].msg


@pytest.mark.django_db
def test_w005_admin_rule_that_matches_no_url_or_cannot_be_applied() -> None:
    from django_preconditions.checks import check_admin_rules
    from django_preconditions.models import ProtectedEndpoint

    ProtectedEndpoint.objects.create(view="document-plian")
    ProtectedEndpoint.objects.create(
        view="document-plain", error_format="tests.support.error_formats.x"
    )
    ProtectedEndpoint.objects.create(view="mw-read-only")
    ProtectedEndpoint.objects.create(view="document-detail", enabled=False, lookup_field="x")
    messages = check_admin_rules(databases=["default"])
    assert ids(messages) == ["preconditions.W005", "preconditions.W005"]
    by_view = {message.obj.view: message.msg for message in messages}
    assert "Did you mean 'document-plain'" in by_view["document-plian"]
    assert "error_format" in by_view["document-plain"]


def _legacy_view(request: Any, pk: int) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"id": pk})


def _conditional_urls() -> Any:
    """A URLconf with a view under Django's own ``etag`` and one under ours (drop-in)."""
    from django.urls import path
    from django.views.decorators.http import etag as django_etag

    from django_preconditions.decorators import etag as our_etag

    return [
        path("legacy/<int:pk>/", django_etag(lambda r, pk: '"own"')(_legacy_view), name="legacy"),
        path("dropin/<int:pk>/", our_etag(lambda r, pk: '"own"')(_legacy_view), name="dropin"),
        path("plain/<int:pk>/", _legacy_view, name="plain"),
    ]


urlpatterns = _conditional_urls()


@override_settings(ROOT_URLCONF="tests.test_checks")
def test_w008_a_rule_for_a_view_that_answers_conditional_requests_itself() -> None:
    """The middleware serves the row's ETag, the view's own decorator refuses it: no client
    could write. Django's decorators and our drop-ins alike; not a view without them."""
    entry = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
    messages = view_key_messages({"legacy": entry, "dropin": entry, "plain": entry})
    assert ids(messages) == ["preconditions.W008", "preconditions.W008"]
    assert all(isinstance(message, Warning) for message in messages)
    assert "PRECONDITIONS['VIEWS']['legacy'] protects tests.test_checks._legacy_view" in (
        messages[0].msg
    )
    assert "require_preconditions" in messages[0].hint


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.test_checks")
def test_w008_for_an_admin_rule() -> None:
    from django_preconditions.checks import check_admin_rules
    from django_preconditions.models import ProtectedEndpoint

    for view in ("legacy", "plain"):
        ProtectedEndpoint.objects.create(
            view=view, model_label="testapp.Document", lookup_url_kwarg="pk"
        )
    messages = check_admin_rules(databases=["default"])
    assert ids(messages) == ["preconditions.W008"]
    assert messages[0].obj.view == "legacy"
    assert messages[0].msg.startswith("The admin rule for 'legacy' protects")


def test_w006_an_admin_inline_of_a_versioned_model_is_reported() -> None:
    """Inline rows are plain saves: a stale one would overwrite (a lost update)."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    from django_preconditions.checks import check_versioned_inlines
    from tests.testapp.models import Document

    class DocumentInline(admin.TabularInline):  # type: ignore[type-arg]
        model = Document

    class UserAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
        inlines = [DocumentInline]

    assert not [m for m in check_versioned_inlines() if m.id == "preconditions.W006"]
    site = admin.AdminSite(name="w006")
    site.register(get_user_model(), UserAdmin)
    messages = [m for m in check_versioned_inlines() if m.id == "preconditions.W006"]
    assert [m.obj for m in messages] == [DocumentInline]
    assert "testapp.Document" in messages[0].msg
    assert "VersionedModelAdmin" in (messages[0].hint or "")
    del site
    gc.collect()  # the site leaves Django's weak set of admin sites
    assert not [m for m in check_versioned_inlines() if m.id == "preconditions.W006"]
