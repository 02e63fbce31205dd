"""What adopters rely on to know they are protected: a mixin listed after the view base is
reported unprotected (audit, middleware, schema) and by check E022; check W007 warns when
``VIEWS`` rules exist without the middleware; check W002 does not take ``*`` for a wildcard
with credentials; ``assert_protected`` sends form bodies as forms."""

from __future__ import annotations

import functools
import json as _json
from typing import Any

import pytest
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.views.generic import UpdateView
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient

from django_preconditions.audit import build_report
from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db
URLCONF = "tests.test_adoption_checks"


class DocSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Document
        fields = ["id", "title", "body"]


class MixinLastViewSet(viewsets.ModelViewSet, PreconditionMixin):  # type: ignore[type-arg]
    """PreconditionMixin AFTER ModelViewSet (docs/rest_framework.md: 'Put the mixin first')."""

    queryset = Document.objects.all()
    serializer_class = DocSerializer


class MixinLastUpdate(UpdateView, PreconditionRequiredMixin):  # type: ignore[type-arg]
    model = Document
    fields = ["title"]
    success_url = "/done/"


router = SimpleRouter()
router.register("late", MixinLastViewSet, basename="late")


def plain_doc(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    if request.method == "PUT":
        document.title = request.body.decode() or document.title
        document.save()
    return HttpResponse(document.title)


urlpatterns = [
    path("plain/<int:pk>/", plain_doc, name="plain-doc"),
    path("api/", include(router.urls)),
    path("cbv-late/<int:pk>/", MixinLastUpdate.as_view(), name="cbv-late"),
]


def rows(urlconf: str = URLCONF) -> dict[str, Any]:
    return {row.name or row.route: row for row in build_report(urlconf)}


# --- Mixin in the wrong MRO position: the audit says protected, nothing enforces -------------


@override_settings(ROOT_URLCONF=URLCONF)
def test_drf_mixin_after_modelviewset_is_not_reported_as_protected() -> None:
    document = Document.objects.create(title="draft")
    response = APIClient().put(
        f"/api/late/{document.pk}/", {"title": "overwritten", "body": ""}, format="json"
    )
    # The view is unprotected in fact (no If-Match needed) ...
    assert response.status_code == 200
    # ... so the audit must not say "DRF mixin" (docs/audit.md: only 'none' fails CI).
    assert rows()["late-detail"].protection == "none"


@override_settings(ROOT_URLCONF=URLCONF)
def test_class_mixin_after_updateview_is_not_reported_as_protected() -> None:
    document = Document.objects.create(title="draft")
    response = Client().post(f"/cbv-late/{document.pk}/", {"title": "overwritten"})
    assert response.status_code == 302  # saved without any precondition
    assert rows()["cbv-late"].protection == "none"


def test_a_check_reports_a_mixin_placed_after_the_view_base() -> None:
    from django.core import checks

    with override_settings(ROOT_URLCONF=URLCONF):
        messages = checks.run_checks()
    assert any("MixinLast" in (m.msg + str(m.obj)) for m in messages), [m.id for m in messages]


# --- W002: wildcards do not work for credentialed CORS requests ------------------------------


def test_w002_warns_on_wildcards_when_credentials_are_allowed(monkeypatch: Any) -> None:
    # Fetch standard (Access-Control-Expose-Headers / -Allow-Headers): "*" is a wildcard only
    # for requests without credentials; with credentials it names a header literally "*".
    from django.conf import settings

    from django_preconditions.interop_checks import check_cors_headers

    monkeypatch.setattr(settings, "INSTALLED_APPS", [*settings.INSTALLED_APPS, "corsheaders"])
    monkeypatch.setattr(settings, "CORS_EXPOSE_HEADERS", ["*"], raising=False)
    monkeypatch.setattr(settings, "CORS_ALLOW_HEADERS", ["*"], raising=False)
    monkeypatch.setattr(settings, "CORS_ALLOW_CREDENTIALS", True, raising=False)
    assert [m.id for m in check_cors_headers()] == ["preconditions.W002"]


# --- VIEWS rules with no PreconditionMiddleware: manage.py check is silent -------------------


@override_settings(
    ROOT_URLCONF=URLCONF,
    PRECONDITIONS={"VIEWS": {"plain-doc": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}},
)
def test_a_check_warns_when_views_rules_exist_but_the_middleware_is_missing() -> None:
    from django.conf import settings
    from django.core import checks

    assert "django_preconditions.middleware.PreconditionMiddleware" not in settings.MIDDLEWARE
    document = Document.objects.create(title="draft")
    assert Client().put(f"/plain/{document.pk}/", "x").status_code == 200  # unprotected
    messages = checks.run_checks()
    assert any("PreconditionMiddleware" in m.msg for m in messages), [m.id for m in messages]


@pytest.mark.parametrize(
    ("key", "warned"), [("plain-doc", True), ("form-doc", False)], ids=["plain", "in-code"]
)
def test_w007_a_headers_only_entry_for_a_view_not_protected_in_code_needs_the_middleware(
    key: str, warned: bool
) -> None:
    """A ``VIEWS`` entry without a model protects a plain view through the middleware only
    (it protects nothing without it: W007); for a view protected in code it only tunes the
    policy (no warning)."""
    from django_preconditions.checks import check_rules_need_the_middleware

    with override_settings(
        ROOT_URLCONF=URLCONF, PRECONDITIONS={"VIEWS": {key: {"methods": ["PUT"]}}}
    ):
        ids = [message.id for message in check_rules_need_the_middleware()]
    assert ids == (["preconditions.W007"] if warned else [])


# --- assert_protected on a form endpoint -----------------------------------------------------

from django.http import JsonResponse  # noqa: E402

from django_preconditions.enforcement import set_validators  # noqa: E402
from django_preconditions.testing import assert_protected  # noqa: E402


@require_preconditions(Document, methods=["POST"])
def form_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "POST":
        document.title = request.POST["title"]  # a classic HTML-form endpoint
        document.save()
    return set_validators(JsonResponse({"title": document.title}), document)


urlpatterns += [path("form/<int:pk>/", form_document, name="form-doc")]


@override_settings(ROOT_URLCONF=URLCONF)
def test_assert_protected_sends_form_data_with_a_form_content_type() -> None:
    # docs/testing.md: "It works with any Django or DRF test client"; content_type= is a
    # parameter, so a dict with a form content type must be form-encoded, not str(dict).
    document = Document.objects.create(title="draft")
    assert_protected(
        Client(),
        f"/form/{document.pk}/",
        "POST",
        data={"title": "Final"},
        content_type="application/x-www-form-urlencoded",
    )
    document.refresh_from_db()
    assert document.title == "Final"


@override_settings(
    ROOT_URLCONF=URLCONF,
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_preconditions.middleware.PreconditionMiddleware",
    ],
    PRECONDITIONS={
        "VIEWS": {"late-detail": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}
    },
)
def test_a_settings_rule_still_protects_a_viewset_whose_mixin_is_misplaced() -> None:
    document = Document.objects.create(title="draft")
    response = APIClient().put(
        f"/api/late/{document.pk}/", {"title": "overwritten", "body": ""}, format="json"
    )
    assert response.status_code == 428  # the middleware does not take the mixin's word for it
    assert Document.objects.get(pk=document.pk).title == "draft"


# --- A per-action VIEWS key of a routed DRF viewset is not a typo (W004) ---------------------


class ActionsViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocSerializer


actions_router = SimpleRouter()
actions_router.register("actions", ActionsViewSet, basename="actions")
urlpatterns += [path("api/", include(actions_router.urls))]

ACTION_KEY = f"{__name__}.ActionsViewSet.destroy"


@override_settings(
    ROOT_URLCONF=URLCONF, PRECONDITIONS={"VIEWS": {ACTION_KEY: {"required_headers": ["If-Match"]}}}
)
def test_a_per_action_views_key_is_not_reported_as_matching_no_url() -> None:
    from django.core import checks

    document = Document.objects.create(title="draft")
    old_enough = {"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    response = APIClient().delete(f"/api/actions/{document.pk}/", headers=old_enough)
    assert response.status_code == 428  # the key applies: only If-Match is accepted
    warnings = [m for m in checks.run_checks(tags=["urls"]) if m.id == "preconditions.W004"]
    assert warnings == []  # (E022 reports this URLconf's deliberately misplaced mixins)


@override_settings(
    ROOT_URLCONF=URLCONF,
    PRECONDITIONS={"VIEWS": {f"{__name__}.ActionsViewSet.destroyy": {"methods": ["DELETE"]}}},
)
def test_a_misspelt_action_key_is_still_reported() -> None:
    from django.core import checks

    ids = [m.id for m in checks.run_checks(tags=["urls"])]
    assert ids.count("preconditions.W004") == 1


# --- The schema documents 428 where the policy of the operation's route requires it ----------


class NamedViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocSerializer


named_router = SimpleRouter()
named_router.register("named", NamedViewSet, basename="named")
urlpatterns += [path("api/", include((named_router.urls, "api"), namespace="api"))]

# docs/rest_framework.md: a VIEWS entry by URL name applies to a DRF view (settings, then VIEWS,
# then attributes); here only DELETE requires a precondition.
ONLY_DELETE = {"VIEWS": {"api:named-detail": {"methods": ["DELETE"]}}}


def _schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    with override_settings(
        REST_FRAMEWORK={"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    ):
        generator = SchemaGenerator(urlconf=URLCONF)
        generated = generator.get_schema(request=None, public=True)
    return _json.loads(OpenApiJsonRenderer().render(generated))


@override_settings(ROOT_URLCONF=URLCONF, PRECONDITIONS=ONLY_DELETE)
def test_schema_follows_a_views_entry_keyed_by_url_name() -> None:
    document = Document.objects.create(title="draft")
    # At run time PUT without a precondition is accepted (the entry leaves PUT free) ...
    put = APIClient().put(f"/api/named/{document.pk}/", {"title": "x", "body": ""}, format="json")
    assert put.status_code == 200
    # ... so the schema must not promise a 428 for PUT.
    op = _schema()["paths"]["/api/named/{id}/"]["put"]
    assert "428" not in op["responses"]
    assert op["x-preconditions"]["required"] is False


@override_settings(ROOT_URLCONF=URLCONF, PRECONDITIONS={"MODE": "report"})
def test_schema_does_not_promise_428_in_report_mode() -> None:
    document = Document.objects.create(title="draft")
    put = APIClient().put(f"/api/named/{document.pk}/", {"title": "x", "body": ""}, format="json")
    assert put.status_code == 200  # docs/rollout.md: report mode lets it through
    op = _schema()["paths"]["/api/named/{id}/"]["put"]
    assert "428" not in op["responses"]


# --- require_preconditions outside login_required: the audit notes it ------------------------


@require_preconditions(Document)
@login_required
def access_checked_inside(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse("ok")


@login_required
@require_preconditions(Document)
def access_checked_outside(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns += [
    path("inside/<int:pk>/", access_checked_inside, name="access-inside"),
    path("outside/<int:pk>/", access_checked_outside, name="access-outside"),
]


@override_settings(ROOT_URLCONF=URLCONF)
def test_the_audit_notes_an_access_check_inside_require_preconditions() -> None:
    document = Document.objects.create(title="secret")
    anonymous = Client().put(f"/inside/{document.pk}/", headers={"If-Match": '"stale"'})
    assert anonymous.status_code == 412  # what the note warns about (rule 13)
    assert Client().put(f"/outside/{document.pk}/").status_code == 302  # to the login page

    found = rows()
    assert "login_required" in found["access-inside"].note
    assert found["access-inside"].protection == "decorator"
    assert found["access-outside"].note == ""


# --- partial views and callable instances are named as Django names them ---------------------


def _partial_target(request: HttpRequest, pk: int, greeting: str) -> HttpResponse:
    return HttpResponse(greeting)


class CallableView:
    def __call__(self, request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse("called")


protected_partial = functools.partial(
    require_preconditions(Document)(_partial_target), greeting="hi"
)
urlpatterns += [
    path("partial/<int:pk>/", protected_partial, name="partial-view"),
    path("callable/<int:pk>/", CallableView(), name="callable-view"),
]


@override_settings(ROOT_URLCONF=URLCONF)
def test_partial_and_callable_views_get_their_own_dotted_paths() -> None:
    from django_preconditions.policy import dotted_path

    assert dotted_path(protected_partial) == f"{__name__}._partial_target"
    assert dotted_path(CallableView()) == f"{__name__}.CallableView"
    found = rows()
    assert found["partial-view"].view == f"{__name__}._partial_target"
    assert found["partial-view"].protection == "decorator"  # the mark is on the partial's func
    assert found["callable-view"].view == f"{__name__}.CallableView"
