"""Rule 54 for rows that live on another database than the router's default for the model.

Without ``DATABASE_ROUTERS`` (or with a router that decides by instance, as sharding routers
do), a view whose queryset is ``using("replica")`` loads the row there and its ``save()``
writes it there (Django saves an instance where it was loaded from).
The expected version must follow the row to that database: an expectation bound to the
default database would match no write, and the view's save would be a plain UPDATE, a lost
update. Each adapter is probed with a write that slips in between the load and the save
(it must be refused: 412), a current write (200 with the new ETag), and the row on the
default database untouched. Run on SQLite, and on PostgreSQL and MariaDB by `.ci/run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib import admin
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path, reverse
from rest_framework import routers, viewsets

from django_preconditions.admin import VersionedModelAdmin
from django_preconditions.decorators import require_preconditions
from django_preconditions.enforcement import current_row
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.admin_pages import bound_data, form_of
from tests.support.middleware import settings_rule
from tests.testapp.models import Document, PlainCounter
from tests.testapp.serializers import DocumentSerializer
from tests.testapp.views import serve_document

pytestmark = [
    pytest.mark.django_db(databases=["default", "replica"], transaction=True),
    pytest.mark.urls("tests.test_other_database"),
]

OTHER = "replica"


class OtherDatabaseViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.using(OTHER)
    serializer_class = DocumentSerializer


@require_preconditions(Document.objects.using(OTHER))
def decorated(request: HttpRequest, pk: int) -> HttpResponse:
    return serve_document(request, request.preconditions.instance)  # type: ignore[attr-defined]


def middleware_protected(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain view protected by a settings rule: the middleware cannot know beforehand
    which database the view reads and writes."""
    return serve_document(request, Document.objects.using(OTHER).get(pk=pk))


def audited_middleware_protected(request: HttpRequest, pk: int) -> HttpResponse:
    """Loads the row from the other database, writes an audit row on the default one, then
    saves the row: the guard's first watched write is not the row's."""
    document = Document.objects.using(OTHER).get(pk=pk)
    if request.method == "PUT":
        PlainCounter.objects.using("default").create(counter=document.pk)
    return serve_document(request, document)


class OtherDatabaseAdmin(VersionedModelAdmin):
    """Django's documented admin for a model on another database ("Exposing multiple
    databases in Django's admin interface")."""

    using = OTHER

    def save_model(self, request: Any, obj: Any, form: Any, change: Any) -> None:
        obj.save(using=self.using)

    def delete_model(self, request: Any, obj: Any) -> None:
        obj.delete(using=self.using)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).using(self.using)


other_site = admin.AdminSite(name="other_admin")
other_site.register(Document, OtherDatabaseAdmin)

_router = routers.SimpleRouter()
_router.register("api/docs", OtherDatabaseViewSet, basename="other-document")
urlpatterns = [
    path("", include(_router.urls)),
    path("decorated/<int:pk>/", decorated, name="other-decorated"),
    path("middleware/<int:pk>/", middleware_protected, name="other-middleware"),
    path("audited/<int:pk>/", audited_middleware_protected, name="other-audited"),
    path("other-admin/", other_site.urls),
]

PATHS = ["/api/docs/{pk}/", "/decorated/{pk}/", "/middleware/{pk}/", "/audited/{pk}/"]


@pytest.fixture
def document() -> Document:
    """A row only on the other database."""
    return Document.objects.using(OTHER).create(title="original")


class InstanceRouter:
    """A router that decides by instance (as sharding routers do): an instance is read and
    written where it lives; without an instance it has no opinion (Django's default)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        instance = hints.get("instance")
        return instance._state.db if instance is not None else None

    db_for_write = db_for_read

    def allow_relation(self, *args: Any, **hints: Any) -> bool:
        return True


@pytest.fixture(autouse=True, params=["no router", "instance router"])
def middleware_rule(request: pytest.FixtureRequest) -> Iterator[None]:
    routers = [InstanceRouter()] if request.param == "instance router" else []
    rule = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}
    with (
        settings_rule("other-middleware", **rule),
        override_settings(
            DATABASE_ROUTERS=routers,
            PRECONDITIONS={"VIEWS": {"other-middleware": rule, "other-audited": rule}},
        ),
    ):
        yield


def put(path: str, pk: int, etag: str) -> Any:
    return Client().put(
        path.format(pk=pk),
        {"title": "mine"},
        content_type="application/json",
        headers={"If-Match": etag},
    )


@contextmanager
def rival_write_before_the_save() -> Iterator[list[str]]:
    """Another write of the row between the view's load and its save (inside ``save()``,
    before the UPDATE): the save's compare-and-swap must then fail."""
    rivals: list[str] = []

    def rival(sender: Any, instance: Document, using: str, **kwargs: Any) -> None:
        if instance.title == "mine" and not rivals:
            rivals.append(using)
            Document.objects.using(using).filter(pk=instance.pk).update(title="theirs")

    pre_save.connect(rival, sender=Document)
    try:
        yield rivals
    finally:
        pre_save.disconnect(rival, sender=Document)


@pytest.mark.parametrize("path", PATHS)
def test_rule_54_a_current_write_on_the_other_database_passes_and_serves_the_new_version(
    path: str, document: Document
) -> None:
    response = put(path, document.pk, document.etag)
    assert response.status_code == 200, response.content
    stored = Document.objects.using(OTHER).get(pk=document.pk)
    assert stored.title == "mine"
    assert response["ETag"] == stored.etag != document.etag
    assert not Document.objects.using("default").filter(pk=document.pk).exists()
    assert PlainCounter.objects.count() == (1 if "audited" in path else 0)


@pytest.mark.parametrize("path", PATHS)
def test_rule_54_a_write_between_load_and_save_on_the_other_database_is_refused(
    path: str, document: Document
) -> None:
    with rival_write_before_the_save() as rivals:
        response = put(path, document.pk, document.etag)
    assert rivals == [OTHER]  # the race really happened, on the row's database
    assert response.status_code == 412, response.content
    stored = Document.objects.using(OTHER).get(pk=document.pk)
    assert stored.title != "mine"  # no lost update
    assert not PlainCounter.objects.exists()  # a refused request leaves no trace (rule 51)
    # The 412 names the row's current version on its own database (rule 54).
    assert response["ETag"] == stored.etag


@pytest.mark.parametrize("path", PATHS)
def test_rule_54_a_stale_etag_is_refused_on_the_other_database(
    path: str, document: Document
) -> None:
    response = put(path, document.pk, '"not-the-version"')
    assert response.status_code == 412, response.content
    assert Document.objects.using(OTHER).get(pk=document.pk).title == "original"
    assert not PlainCounter.objects.exists()


def test_an_expectation_naming_no_database_follows_the_rows_first_write() -> None:
    """``expect_version()`` without ``using``: the save of an instance loaded from another
    database is compared there, and the conflict names that database."""
    created = Document.objects.using(OTHER).create(title="original")
    loaded = Document.objects.using(OTHER).get(pk=created.pk)
    Document.objects.using(OTHER).filter(pk=created.pk).update(title="theirs")
    loaded.title = "mine"
    with (
        pytest.raises(VersionConflict) as raised,
        expect_version(Document, loaded.pk, created.version_token) as expectation,
    ):
        loaded.save()
    assert expectation.using == OTHER
    assert raised.value.using == OTHER
    assert Document.objects.using(OTHER).get(pk=created.pk).title == "theirs"
    current = current_row(raised.value)
    assert current is not None
    assert current.etag == Document.objects.using(OTHER).get(pk=created.pk).etag


def test_once_the_row_is_written_a_copy_to_another_database_is_another_row() -> None:
    """The first write binds the expectation; saving a copy of the row to an archive
    database afterwards is not compared against the request's version."""
    row = Document.objects.using("default").create(title="original")
    with expect_version(Document, row.pk, row.version_token) as expectation:
        row.title = "mine"
        row.save()
        row.save(using=OTHER, force_insert=True)  # the archive copy
    assert expectation.using == "default"
    assert expectation.written
    assert Document.objects.using(OTHER).get(pk=row.pk).title == "mine"
    assert Document.objects.using("default").get(pk=row.pk).title == "mine"


def test_an_admin_on_another_database_refuses_a_write_that_lost_the_race(
    admin_client: Client, document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = reverse("other_admin:testapp_document_change", args=[document.pk])
    data = bound_data(form_of(admin_client.get(url)))
    original = OtherDatabaseAdmin.save_model
    raced: list[int] = []

    def racing_save(self: Any, request: Any, obj: Any, form: Any, change: Any) -> None:
        raced.append(Document.objects.using(OTHER).filter(pk=obj.pk).update(title="theirs"))
        original(self, request, obj, form, change)

    monkeypatch.setattr(OtherDatabaseAdmin, "save_model", racing_save)
    response = admin_client.post(url, {**data, "title": "mine"})

    assert raced == [1]
    assert response.status_code == 200  # the form again, with the conflict
    assert form_of(response).preconditions_conflict.simultaneous
    assert Document.objects.using(OTHER).get(pk=document.pk).title == "theirs"


@pytest.mark.concurrency
@pytest.mark.parametrize("path", PATHS)
def test_rule_44_parallel_writers_on_the_other_database_lose_no_update_and_do_conflict(
    path: str, document: Document
) -> None:
    """Real parallel writers (threads, each with its own connections) editing the row on the
    other database: every success is counted, and conflicts really happened."""
    from tests.support.concurrency import run_in_threads
    from tests.test_concurrency import WRITERS, Tally, increment_loop

    tally = Tally()
    errors = run_in_threads(WRITERS, increment_loop(path.format(pk=document.pk), tally))
    assert errors == []
    final = Document.objects.using(OTHER).get(pk=document.pk).counter
    assert final == tally.successes  # no lost update
    assert tally.statuses[412] > 0  # conflicts really happened
    assert set(tally.statuses) <= {200, 412}
    assert len(set(tally.successful_etags)) == tally.successes
