"""The less common write paths (rules 46, 51-53): foreign keys Django's collector rewrites on
delete (SET_DEFAULT, SET(callable)), a new instance of a plain parent class carrying the row's
key, a delete refused by PROTECT inside the caller's transaction, a save in an on_commit
callback.

The models the test app lacks (``on_delete=SET_DEFAULT``/``SET(callable)``,
``on_delete=PROTECT``) live in an isolated app registry, with tables created for this module
only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import models, transaction
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.test.utils import isolate_apps
from django.urls import path

from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import VersionedModel, expect_version
from tests.support.isolated import tables_of
from tests.testapp.models import Document, Named, NamedDocument

TEST_APP = "tests.testapp"

#: The isolated models, by name (filled by the ``hunt_models`` fixture).
M: dict[str, Any] = {}


def _fallback() -> None:
    return None


def _define() -> list[type[models.Model]]:
    class HuntTarget(models.Model):
        name = models.CharField(max_length=50, default="")

        class Meta:
            app_label = "testapp"

    class HuntHolder(VersionedModel):
        """Versioned rows whose foreign keys Django's collector rewrites on delete."""

        title = models.CharField(max_length=50, default="")
        by_null = models.ForeignKey(
            HuntTarget, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        by_default = models.ForeignKey(
            HuntTarget, null=True, default=None, on_delete=models.SET_DEFAULT, related_name="+"
        )
        by_callable = models.ForeignKey(
            HuntTarget, null=True, on_delete=models.SET(_fallback), related_name="+"
        )

        class Meta:
            app_label = "testapp"

    class HuntShelf(VersionedModel):
        """Referenced through PROTECT: deleting it while it holds books raises ProtectedError."""

        name = models.CharField(max_length=50, default="")

        class Meta:
            app_label = "testapp"

    class HuntBook(models.Model):
        shelf = models.ForeignKey(HuntShelf, on_delete=models.PROTECT, related_name="books")

        class Meta:
            app_label = "testapp"

    defined = [HuntTarget, HuntHolder, HuntShelf, HuntBook]
    M.update({model.__name__: model for model in defined})
    return defined


@pytest.fixture(scope="module")
def hunt_models(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with isolate_apps(TEST_APP), tables_of(_define(), django_db_blocker):
        try:
            yield M
        finally:
            M.clear()


# --- views -----------------------------------------------------------------------------------


def _shelf_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """DELETE of a shelf that still holds books archives it instead: a common fallback, which
    works with Django's own delete() (PROTECT raises before anything is written)."""
    shelf = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "DELETE":
        try:
            shelf.delete()
        except ProtectedError:
            shelf.name = "archived"
            shelf.save()
    return JsonResponse({"name": shelf.name})


def shelf_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return require_preconditions(M["HuntShelf"])(_shelf_detail)(request, pk=pk)


@require_preconditions(Document)
def document_processed_on_commit(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT edits the title; once the request's transaction commits, the document is marked
    processed (a second save of the row in the same request, rule 52)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        document.title = "edited"
        document.save()

        def processed() -> None:
            document.counter += 1
            document.save(update_fields=["counter"])

        transaction.on_commit(processed)
    return JsonResponse({"title": document.title, "counter": document.counter})


urlpatterns = [
    path("hunt/shelves/<int:pk>/", shelf_detail),
    path("hunt/on-commit/<int:pk>/", document_processed_on_commit),
]


# --- rule 46: Django's own bulk writes of versioned rows ---------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["by_default", "by_callable"])
def test_rule_46_on_delete_set_default_and_set_callable_change_the_version(
    hunt_models: dict[str, Any], field: str
) -> None:
    """docs/models.md (bulk writes): "when deleting a row sets a foreign key of versioned rows
    to NULL or a default (on_delete=SET_NULL, SET_DEFAULT, SET(…)), those rows get a new
    version too". SET_NULL does; SET_DEFAULT and SET(callable) do not: Django's collector
    evaluates their querysets and writes them with a bare UpdateQuery."""
    target = hunt_models["HuntTarget"].objects.create(name="t")
    holder = hunt_models["HuntHolder"].objects.create(title="h", **{field: target})
    target.delete()
    stored = hunt_models["HuntHolder"].objects.get(pk=holder.pk)
    assert getattr(stored, f"{field}_id") is None  # the row changed...
    assert stored.version_token != holder.version_token  # ...so its version must
    with pytest.raises(VersionConflict):  # a client holding the old version is refused
        stored.save(expected_version=holder.version_token)


# --- rule 53: a write through the plain parent class ---------------------------------------


@pytest.mark.django_db
def test_rule_53_a_new_plain_parent_instance_carrying_the_rows_key_is_compared_and_swapped() -> (
    None
):
    """As test_integrity's test_rule_53_a_new_instance_carrying_the_rows_key_is_compared_and_swapped,
    through the plain parent Named: Django's save() of it UPDATEs the existing row, but the
    parent guard skips instances in the "adding" state, so the stale write is applied."""
    document = NamedDocument.objects.create(name="original", title="t")
    with expect_version(NamedDocument, document.pk, "stale"), pytest.raises(VersionConflict):
        Named(pk=document.pk, name="replacement").save()
    assert Named.objects.get(pk=document.pk).name == "original"


# --- rule 51: a delete refused by PROTECT leaves the enclosing transaction usable ------------


@pytest.mark.django_db
def test_rule_51_a_protected_delete_with_an_expected_version_keeps_the_transaction_usable(
    hunt_models: dict[str, Any],
) -> None:
    """Django's delete() raises ProtectedError before writing, and the caller's transaction
    stays usable. With an expected version the claiming UPDATE runs first inside
    atomic(savepoint=False), and the ProtectedError raised in it marks the caller's
    transaction for rollback: every later query fails."""
    shelf = hunt_models["HuntShelf"].objects.create(name="s")
    hunt_models["HuntBook"].objects.create(shelf=shelf)
    with transaction.atomic():
        with pytest.raises(ProtectedError):
            shelf.delete()  # Django's behaviour: the transaction stays usable
        Document.objects.create(title="after a plain delete")
        with pytest.raises(ProtectedError):
            shelf.delete(expected_version=shelf.version_token)
        Document.objects.create(title="after a compare-and-swap delete")
    assert Document.objects.filter(title__startswith="after").count() == 2


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_rule_51_a_view_falling_back_from_a_protected_delete_is_not_a_500(
    hunt_models: dict[str, Any],
) -> None:
    """Under ATOMIC_REQUESTS the same view answers 200 without the decorator; with it, the
    fallback save after the ProtectedError raises TransactionManagementError: 500."""
    shelf = hunt_models["HuntShelf"].objects.create(name="s")
    hunt_models["HuntBook"].objects.create(shelf=shelf)
    client = Client(raise_request_exception=False)
    response = client.delete(f"/hunt/shelves/{shelf.pk}/", headers={"If-Match": shelf.etag})
    assert response.status_code == 200, response.content
    assert hunt_models["HuntShelf"].objects.get(pk=shelf.pk).name == "archived"


# --- rule 52: the response carries the final version ------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic_requests"])
def test_rule_52_a_save_in_on_commit_is_in_the_responses_etag(
    request: pytest.FixtureRequest, atomic: bool
) -> None:
    """In autocommit the on_commit callback runs at once and the ETag is the final version;
    under ATOMIC_REQUESTS it runs when the decorator's transaction commits, after the ETag
    was set: the 200 carries a version the row no longer has, and the client's next
    If-Match write gets 412 although nobody else wrote."""
    if atomic:
        request.getfixturevalue("atomic_requests")
    document = Document.objects.create(title="t")
    url = f"/hunt/on-commit/{document.pk}/"
    client = Client(raise_request_exception=False)
    response = client.put(
        url, "{}", content_type="application/json", headers={"If-Match": document.etag}
    )
    assert response.status_code == 200, response.content
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.counter) == ("edited", 1)
    assert response.headers["ETag"] == stored.etag


def test_the_wrapped_on_delete_handlers_leave_migrations_unchanged(
    hunt_models: dict[str, Any],
) -> None:
    """The handlers of rule 46's fix are wrapped on the model's fields; makemigrations must
    see the handler the project wrote (no AlterField) and write it as such."""
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.state import ProjectState
    from django.db.migrations.writer import MigrationWriter

    from django_preconditions._compat import VersionBumpingOnDelete

    holder = hunt_models["HuntHolder"]
    by_default = holder._meta.get_field("by_default")
    by_callable = holder._meta.get_field("by_callable")
    assert isinstance(by_default.remote_field.on_delete, VersionBumpingOnDelete)
    assert isinstance(by_callable.remote_field.on_delete, VersionBumpingOnDelete)
    assert holder._meta.get_field("by_null").remote_field.on_delete is models.SET_NULL

    written = MigrationWriter.serialize(by_default.remote_field.on_delete)
    assert written == MigrationWriter.serialize(models.SET_DEFAULT)
    assert written[0] == "django.db.models.deletion.SET_DEFAULT"
    assert MigrationWriter.serialize(by_callable.remote_field.on_delete) == (
        MigrationWriter.serialize(models.SET(_fallback))
    )

    # What the autodetector compares: the field as written in a migration (the plain
    # handler) against the field of the model (the wrapped one).
    detector = MigrationAutodetector(ProjectState(), ProjectState())
    for field, handler in ((by_default, models.SET_DEFAULT), (by_callable, models.SET(_fallback))):
        kwargs = field.deconstruct()[3]
        as_migrated = {**kwargs, "on_delete": handler}
        assert detector.deep_deconstruct(kwargs) == detector.deep_deconstruct(as_migrated)
    assert not holder.check()  # fields.E321 (SET_DEFAULT without a default) still applies


def test_only_handlers_whose_rows_the_collector_writes_itself_are_wrapped() -> None:
    """Pins the Django behaviour the rule 46 fix relies on: ``SET_NULL`` and ``SET(value)``
    are given a queryset already (``lazy_sub_objs``); the database's own handlers of Django
    6.1 (``DB_SET_NULL``…) are objects Django tells by their class, never wrapped."""
    from django_preconditions._compat import _writes_loaded_rows

    assert _writes_loaded_rows(models.SET_DEFAULT)
    assert _writes_loaded_rows(models.SET(_fallback))
    assert not _writes_loaded_rows(models.SET_NULL)
    assert not _writes_loaded_rows(models.SET(None))
    for handler in (models.CASCADE, models.PROTECT, models.RESTRICT, models.DO_NOTHING):
        assert not _writes_loaded_rows(handler)
    for name in ("DB_CASCADE", "DB_SET_NULL", "DB_SET_DEFAULT"):
        if hasattr(models, name):  # Django 6.1
            assert not _writes_loaded_rows(getattr(models, name))
