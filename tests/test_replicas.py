"""Rule 54: with a database router sending reads to a replica, the precondition is checked,
and the current version of a 412 read, on the database the write goes to.

The "replica" is a second test database on the same server (tests/settings.py), holding an
older copy of the row — a replica that lags behind. Run on SQLite, and on PostgreSQL and
MariaDB by `.ci/run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client, override_settings

from django_preconditions.enforcement import current_row
from django_preconditions.exceptions import VersionConflict
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db(databases=["default", "replica"], transaction=True)

PATHS = ["/docs/{pk}/", "/reuse/docs/{pk}/", "/cbv/docs/{pk}/", "/api/docs/{pk}/"]


class ReplicaRouter:
    """Reads from the replica, writes to the primary: the usual read-replica router."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "replica"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, *args: Any, **hints: Any) -> bool:
        return True


@pytest.fixture
def lagging_replica() -> Iterator[Document]:
    """A document on the primary whose replica copy still has an older version."""
    document = Document.objects.using("default").create(title="primary")
    Document.objects.using("replica").create(pk=document.pk, title="replica")
    with connections["replica"].cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_document SET version_token = %s WHERE id = %s",
            ["old-on-replica", document.pk],
        )
    with override_settings(DATABASE_ROUTERS=[ReplicaRouter()]):
        yield document


def put(path: str, document: Document, etag: str) -> Any:
    return Client().put(
        path.format(pk=document.pk),
        {"title": "edited"},
        content_type="application/json",
        headers={"If-Match": etag},
    )


@pytest.mark.parametrize("path", PATHS)
def test_rule_54_the_current_version_on_the_primary_passes_though_the_replica_lags(
    path: str, lagging_replica: Document
) -> None:
    response = put(path, lagging_replica, lagging_replica.etag)
    assert response.status_code == 200, response.content
    assert Document.objects.using("default").get(pk=lagging_replica.pk).title == "edited"


@pytest.mark.parametrize("path", PATHS)
def test_rule_54_the_replicas_version_is_stale_and_the_412_carries_the_primarys_etag(
    path: str, lagging_replica: Document
) -> None:
    response = put(path, lagging_replica, '"old-on-replica"')
    assert response.status_code == 412
    assert response["ETag"] == lagging_replica.etag
    assert Document.objects.using("default").get(pk=lagging_replica.pk).title == "primary"


def test_rule_54_the_version_reported_after_a_lost_race_is_read_on_the_primary(
    lagging_replica: Document,
) -> None:
    conflict = VersionConflict("lost", model=Document, pk=lagging_replica.pk)
    current = current_row(conflict)
    assert current is not None
    assert current.etag == lagging_replica.etag


def test_rule_54_without_routers_a_view_on_another_database_checks_and_writes_there() -> None:
    """Without DATABASE_ROUTERS there is no replica to avoid: a protected view whose queryset
    names a database (``using()``) is checked against the row on that database, the one its
    save writes to, not moved to the default database."""
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from django_preconditions.decorators import require_preconditions

    @require_preconditions(Document.objects.using("replica"))
    def edit(request: HttpRequest, pk: int) -> HttpResponse:
        document = request.preconditions.instance  # type: ignore[attr-defined]
        document.title = "edited on the other database"
        document.save()
        return HttpResponse("ok")

    elsewhere = Document.objects.using("replica").create(title="only on the other database")
    factory = RequestFactory()
    stale = factory.put("/", headers={"If-Match": '"not-the-version"'})
    assert edit(stale, pk=elsewhere.pk).status_code == 412
    current = factory.put("/", headers={"If-Match": elsewhere.etag})
    response = edit(current, pk=elsewhere.pk)
    assert response.status_code == 200, response.content
    assert Document.objects.using("replica").get(pk=elsewhere.pk).title == (
        "edited on the other database"
    )
    assert not Document.objects.using("default").filter(pk=elsewhere.pk).exists()


@pytest.mark.parametrize(
    ("etag_of", "status", "title"),
    [("primary", 412, "primary"), ("replica", 412, "primary")],
)
def test_rule_54_the_middleware_judges_a_view_reading_the_replica_by_the_primary(
    lagging_replica: Document, etag_of: str, status: int, title: str
) -> None:
    """A plain view protected by the middleware loads the row through the router (from the
    lagging replica) and saves it to the primary: the precondition is checked against the
    primary's version (rule 54) — the replica's ETag is stale — and the compare-and-swap
    expects the version the view's copy was read at: saved over the newer primary row, the
    copy's other fields would revert it (rule 44), so the write is refused too."""
    from tests.support.middleware import PLAIN_RULE, settings_rule

    etag = lagging_replica.etag if etag_of == "primary" else '"old-on-replica"'
    with settings_rule("document-plain", **PLAIN_RULE):
        response = put("/plain/docs/{pk}/", lagging_replica, etag)
    assert response.status_code == status, response.content
    assert Document.objects.using("default").get(pk=lagging_replica.pk).title == title
    if status == 412:
        assert response["ETag"] == lagging_replica.etag


@pytest.mark.urls("tests.support.owner_check_urls")
def test_rule_54_a_get_object_override_reading_the_replica_is_checked_on_the_primary(
    lagging_replica: Document,
) -> None:
    """The class-based mixin loads the object through the view's own get_object(); one that
    ignores the queryset the mixin would give reads the lagging replica: the version is then
    read again on the primary, where the row is written."""
    path = "/no-argument/{pk}/"
    assert put(path, lagging_replica, '"old-on-replica"').status_code == 412
    response = put(path, lagging_replica, lagging_replica.etag)
    assert response.status_code == 200, response.content
    assert Document.objects.using("default").get(pk=lagging_replica.pk).title == "edited"
