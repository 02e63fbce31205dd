"""DRF and middleware write paths beyond a plain update (rules 19, 41, 44, 51, 52):

- a soft delete (``perform_destroy`` that saves instead of deleting): the 204 carries an
  ETag (rule 41);
- a write that deletes the row and creates it again under the same key (a "replace"): the
  re-insert is compared against the deleted version, so the request is answered 412 *after*
  its delete was applied (rules 51, 52); re-created with ``objects.create()`` instead, the
  200 carries no ETag (rule 41);
- a save in ``transaction.on_commit()`` under ``ATOMIC_REQUESTS`` in a DRF view: the ETag
  was set before the commit, so the 2xx names a version the row no longer has (rule 52; the
  decorator passes the same test in tests/test_write_paths.py);
- the middleware with a rule on a ``CharField`` primary key, when the view finds the row by a
  key in another case (``pk__iexact``, or MariaDB's case-insensitive collation): the correct
  ETag is answered 412 (rule 19), and on MariaDB the view's save is no compare-and-swap at all
  (rule 44: a lost update).

The model with a ``CharField`` primary key lives in an isolated app registry, with its table
created for this module only (as in tests/test_write_paths.py); ``apps.get_model`` is taught
its label so that a ``PRECONDITIONS["VIEWS"]`` rule can name it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.test.utils import isolate_apps
from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient

from django_preconditions.decorators import require_preconditions
from django_preconditions.models import VersionedModel
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.isolated import tables_of
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

TEST_APP = "tests.testapp"
MIDDLEWARE = [*settings.MIDDLEWARE, "django_preconditions.middleware.PreconditionMiddleware"]

#: The isolated models, by name (filled by the ``keyed_models`` fixture).
M: dict[str, Any] = {}


def _define() -> list[type[models.Model]]:
    class KeyedCode(VersionedModel):
        """A row named by a client-chosen text key."""

        code = models.CharField(max_length=50, primary_key=True)
        title = models.CharField(max_length=50, default="")

        class Meta:
            app_label = "testapp"

    defined = [KeyedCode]
    M.update({model.__name__: model for model in defined})
    return defined


@pytest.fixture(scope="module")
def keyed_models(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    real_get_model = apps.get_model

    def get_model(label: str, *args: Any, **kwargs: Any) -> Any:
        if label == "testapp.KeyedCode" and "KeyedCode" in M:
            return M["KeyedCode"]
        return real_get_model(label, *args, **kwargs)

    with (
        isolate_apps(TEST_APP),
        mock.patch.object(apps, "get_model", get_model),
        tables_of(_define(), django_db_blocker),
    ):
        try:
            yield M
        finally:
            M.clear()


# --- views -----------------------------------------------------------------------------------


class SoftDeleteViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """DELETE archives the document (a soft delete) instead of deleting the row."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_destroy(self, instance: Document) -> None:
        instance.counter = -1  # "archived"
        instance.save()


@require_preconditions(Document)
def soft_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "DELETE":
        document.counter = -1
        document.save()
        return HttpResponse(status=204)
    return JsonResponse({"title": document.title})


class ReplaceViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """PUT replaces the document: the old row is deleted and a new one is saved under the
    same key (a common way to implement "replace", and plain Django's save() of an instance
    with a given key does the UPDATE-or-INSERT it needs)."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        old = serializer.instance
        pk = old.pk
        old.delete()
        replacement = Document(pk=pk, title=serializer.validated_data["title"])
        replacement.save()
        serializer.instance = replacement


class ReplaceByCreateViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """The same, re-creating the row with ``objects.create()``."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        old = serializer.instance
        pk = old.pk
        old.delete()
        serializer.instance = Document.objects.create(
            pk=pk, title=serializer.validated_data["title"]
        )


def replace_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain view (protected by a middleware rule) that replaces the row the same way."""
    document = get_object_or_404(Document, pk=pk)
    if request.method == "PUT":
        title = json.loads(request.body)["title"]
        document.delete()
        document = Document(pk=pk, title=title)
        document.save()
    return JsonResponse({"title": document.title})


def _count_on_commit(document: Document) -> None:
    """Once the request's transaction commits, count the write (a second save of the row in
    the same request, rule 52)."""

    def processed() -> None:
        document.counter += 1
        document.save(update_fields=["counter"])

    transaction.on_commit(processed)


class OnCommitViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        _count_on_commit(serializer.save())

    def perform_create(self, serializer: Any) -> None:
        _count_on_commit(serializer.save())


def code_iexact_view(request: HttpRequest, code: str) -> HttpResponse:
    """Keys are matched case-insensitively (``/codes/ABC/`` is the row ``abc``)."""
    row = M["KeyedCode"].objects.get(pk__iexact=code)
    if request.method == "PUT":
        row.title = json.loads(request.body)["title"]
        row.save()
    return JsonResponse({"code": row.code, "title": row.title})


def code_view(request: HttpRequest, code: str) -> HttpResponse:
    """A plain lookup; MariaDB's default collation matches ``ABC`` to the row ``abc``."""
    row = M["KeyedCode"].objects.get(pk=code)
    if request.method == "PUT":
        row.title = json.loads(request.body)["title"]
        row.save()
    return JsonResponse({"code": row.code, "title": row.title})


class CodeSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        fields = ["code", "title", "version_token"]


class CodeViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """A plain viewset over rows with a client-chosen key (writable, as ModelSerializer makes
    a non-auto primary key)."""

    def get_queryset(self) -> Any:
        return M["KeyedCode"].objects.all()

    def get_serializer_class(self) -> Any:
        CodeSerializer.Meta.model = M["KeyedCode"]  # type: ignore[attr-defined]
        return CodeSerializer


router = SimpleRouter()
router.register("codes", CodeViewSet, basename="wp-codes")
router.register("soft", SoftDeleteViewSet, basename="wp-soft")
router.register("replace", ReplaceViewSet, basename="wp-replace")
router.register("replace-create", ReplaceByCreateViewSet, basename="wp-replace-create")
router.register("on-commit", OnCommitViewSet, basename="wp-on-commit")

urlpatterns = [
    path("fn/soft/<int:pk>/", soft_delete_view),
    path("mw/replace/<int:pk>/", replace_view, name="wp-mw-replace"),
    path("mw/codes-iexact/<str:code>/", code_iexact_view, name="wp-code-iexact"),
    path("mw/codes/<str:code>/", code_view, name="wp-code"),
    path("", include(router.urls)),
]

DOCUMENT_RULE = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
CODE_RULE = {"model": "testapp.KeyedCode", "lookup_url_kwarg": "code"}


def _mysql() -> bool:
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("mysql")


# --- rule 41: a soft delete's 204 ------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/soft/{pk}/", "/fn/soft/{pk}/"], ids=["drf", "decorator"])
def test_rule_41_a_soft_delete_answers_204_without_an_etag(route: str) -> None:
    """The row is archived by a save, not deleted; the 204 of the DELETE still carries no
    ETag (rule 41, docs/rest_framework.md: "Success carries the new ETag/Last-Modified (not
    after DELETE)"). Before the fix: the archived row's new ETag and Last-Modified."""
    document = Document.objects.create(title="t")
    response = APIClient().delete(route.format(pk=document.pk), headers={"If-Match": document.etag})
    assert response.status_code == 204
    assert Document.objects.get(pk=document.pk).counter == -1
    assert "ETag" not in response.headers
    assert "Last-Modified" not in response.headers


# --- rules 51, 52: delete then re-create in one request ----------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic_requests"])
@pytest.mark.parametrize("adapter", ["drf", "middleware"])
def test_rules_51_52_a_replace_that_deletes_and_saves_again_is_not_412_after_its_delete(
    request: pytest.FixtureRequest, atomic: bool, adapter: str
) -> None:
    """The request's own delete is followed (rule 52); the save of a new instance under the
    same key that comes next is compared against the *deleted* version: UPDATE … WHERE
    version_token = <old>, zero rows, VersionConflict, 412 — a write that was applied (the
    delete) answered 412 (rule 52). In autocommit the delete stays: the 412 says "was not
    applied" while the document is gone (rule 51: a refused write leaves no trace)."""
    if atomic:
        request.getfixturevalue("atomic_requests")
    document = Document.objects.create(title="old")
    if adapter == "drf":
        target, rules = f"/replace/{document.pk}/", {}
    else:
        target, rules = f"/mw/replace/{document.pk}/", {"wp-mw-replace": DOCUMENT_RULE}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": rules}):
        response = APIClient().put(
            target, {"title": "new"}, format="json", headers={"If-Match": document.etag}
        )
    stored = Document.objects.filter(pk=document.pk).first()
    assert stored is not None, f"answered {response.status_code}, and the document is gone"
    assert response.status_code == 200, response.content
    assert stored.title == "new"
    assert response.headers["ETag"] == stored.etag


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_rule_41_a_replace_by_delete_and_create_answers_with_the_new_rows_etag() -> None:
    """Re-created with ``objects.create()`` (an INSERT the expectation lets through), the 200
    carries the new representation but no ETag: the expectation says "deleted" (rule 41)."""
    document = Document.objects.create(title="old")
    response = APIClient().put(
        f"/replace-create/{document.pk}/",
        {"title": "new"},
        format="json",
        headers={"If-Match": document.etag},
    )
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "new"
    assert response.headers.get("ETag") == Document.objects.get(pk=document.pk).etag


# --- rule 52: a save in on_commit under ATOMIC_REQUESTS (DRF) ----------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_rule_52_a_drf_save_in_on_commit_is_in_the_responses_etag() -> None:
    """The mixin runs DRF's whole dispatch — finalize_response(), which sets the ETag, and the
    pop of the expectation — inside its request transaction, so the on_commit save runs after
    the ETag was chosen (and unprotected). The 200 names a version the row no longer has; the
    client's next If-Match write gets 412 although nobody else wrote. The decorator passes the
    same scenario (tests/test_write_paths.py::test_rule_52_a_save_in_on_commit_...)."""
    document = Document.objects.create(title="t")
    client = APIClient()
    response = client.put(
        f"/on-commit/{document.pk}/",
        {"title": "edited"},
        format="json",
        headers={"If-Match": document.etag},
    )
    assert response.status_code == 200, response.content
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.counter) == ("edited", 1)
    assert response.headers["ETag"] == stored.etag
    again = client.patch(
        f"/on-commit/{document.pk}/",
        {"title": "again"},
        format="json",
        headers={"If-Match": response.headers["ETag"]},
    )
    assert again.status_code == 200, again.content


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_rule_40_a_drf_create_saved_again_in_on_commit_carries_the_final_etag() -> None:
    response = APIClient().post("/on-commit/", {"title": "created"}, format="json")
    assert response.status_code == 201, response.content
    stored = Document.objects.get(pk=response.json()["id"])
    assert stored.counter == 1
    assert response.headers["ETag"] == stored.etag


# --- rules 19, 44: the middleware, a text primary key named in another case -----------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_rule_19_a_text_key_found_case_insensitively_accepts_the_etag_the_get_served(
    keyed_models: dict[str, Any],
) -> None:
    """GET /mw/codes-iexact/ABC/ serves the ETag of the row ``abc`` (the row the view loaded);
    a PUT with that ETag must pass. Before the fix: 412 "the resource has no current
    representation" — the guard names the row by the URL's text ``ABC`` (``target_pk()``
    when the rule's lookup is the primary key) and reads ``pk='ABC'``, which is no row. The
    same lookup on a slug passes (tests/test_middleware_responses.py). On MariaDB the read
    finds the row, and the save is then no compare-and-swap (next test)."""
    model = keyed_models["KeyedCode"]
    model.objects.all().delete()
    row = model.objects.create(code="abc", title="a")
    rules = {"wp-code-iexact": CODE_RULE}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": rules}):
        client = Client()
        read = client.get("/mw/codes-iexact/ABC/")
        response = client.put(
            "/mw/codes-iexact/ABC/",
            {"title": "b"},
            content_type="application/json",
            headers={"If-Match": read["ETag"]},
        )
    assert read["ETag"] == row.etag
    assert response.status_code == 200, response.content
    assert model.objects.get(pk="abc").title == "b"


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not _mysql(), reason="MariaDB/MySQL's case-insensitive collation")
def test_rule_44_a_text_key_named_in_another_case_is_still_a_compare_and_swap(
    keyed_models: dict[str, Any],
) -> None:
    """MariaDB finds the row ``abc`` for ``/mw/codes/ABC/``. A rival write between the view's
    load and its save must make the save refuse (412). Before the fix: 200, and the rival's title is
    overwritten (a lost update): the expectation only matches an instance whose key equals the
    URL's text, so the view's save of ``abc`` is a plain UPDATE."""
    model = keyed_models["KeyedCode"]
    model.objects.all().delete()
    row = model.objects.create(code="abc", title="a")

    def rival(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.title == "mine":
            model.objects.filter(pk="abc").update(title="theirs")

    pre_save.connect(rival, sender=model)
    try:
        with override_settings(
            MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"wp-code": CODE_RULE}}
        ):
            response = Client().put(
                "/mw/codes/ABC/",
                {"title": "mine"},
                content_type="application/json",
                headers={"If-Match": row.etag},
            )
    finally:
        pre_save.disconnect(rival, sender=model)
    assert model.objects.get(pk="abc").title != "mine", "the rival's write was overwritten"
    assert response.status_code == 412, response.content


# --- rule 41: a PUT whose body changes the primary key -----------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_rule_41_a_put_that_changes_the_key_never_labels_the_url_with_another_rows_etag(
    keyed_models: dict[str, Any],
) -> None:
    """PUT /codes/abc/ with ``{"code": "xyz"}``: Django's save of the instance under its new
    key is an INSERT of another row (``xyz``); ``abc`` is left as it was. The 200 for
    /codes/abc/ then carries the ETag of ``xyz`` (finish() takes the instance's new token as
    the loaded row's), a version /codes/abc/ never had: the client's next If-Match write to
    /codes/abc/ with it gets 412, and caches label /codes/abc/ with it (rules 41, 40)."""
    model = keyed_models["KeyedCode"]
    model.objects.all().delete()
    row = model.objects.create(code="abc", title="a")
    client = APIClient()
    response = client.put(
        "/codes/abc/", {"code": "xyz", "title": "b"}, format="json", headers={"If-Match": row.etag}
    )
    current = client.get("/codes/abc/")
    assert current.status_code == 200  # the row the URL names is still there, unchanged
    if response.status_code == 200 and "ETag" in response.headers:
        assert response.headers["ETag"] == current.headers["ETag"]
