"""Deleting a row a many-to-many relation points to (rule 46, rule 28): Django's collector
deletes its links without ``m2m_changed``, so the declaring rows that were linked to it must
get a new version, or a conditional GET answers 304 for a relation that changed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.db.models.signals import pre_delete
from django.test import Client

from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from tests.test_relations import _labels, _stored
from tests.test_relations_hostile import _in_other_connection
from tests.testapp.models import (
    Label,
    LabelledDocument,
    LabelProxy,
    NamedDocument,
    SluggedLabelled,
    Tagging,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.test_relations")]


@pytest.fixture
def labels() -> dict[str, Label]:
    Label.objects.bulk_create([Label(name=name) for name in ("a", "b")])
    return {label.name: label for label in Label.objects.all()}


@pytest.mark.parametrize(
    "delete",
    [
        pytest.param(lambda label: label.delete(), id="instance"),
        pytest.param(lambda label: Label.objects.filter(pk=label.pk).delete(), id="queryset"),
        pytest.param(lambda label: LabelProxy.objects.get(pk=label.pk).delete(), id="proxy"),
        pytest.param(
            lambda label: LabelProxy.objects.filter(pk=label.pk).delete(), id="proxy-queryset"
        ),
    ],
)
def test_rule_46_deleting_a_label_is_a_write_of_the_documents_it_labelled(
    labels: dict[str, Label], delete: Any
) -> None:
    labelled = LabelledDocument.objects.create(title="labelled")
    labelled.labels.add(labels["a"], labels["b"])
    other = LabelledDocument.objects.create(title="other")
    other.labels.add(labels["b"])
    before = {doc.pk: _stored(doc).version_token for doc in (labelled, other)}
    delete(labels["a"])
    assert _labels(labelled) == ["b"]
    assert _stored(labelled).version_token != before[labelled.pk]
    assert _stored(other).version_token == before[other.pk]  # not linked: unchanged


def test_rule_28_no_304_for_a_document_whose_label_was_deleted(labels: dict[str, Label]) -> None:
    document = LabelledDocument.objects.create(title="doc")
    document.labels.add(labels["a"])
    client = Client()
    read = client.get(f"/api/labelled/{document.pk}/")
    assert read.json()["labels"] == ["a"]
    assert (
        client.get(
            f"/api/labelled/{document.pk}/", headers={"If-None-Match": read["ETag"]}
        ).status_code
        == 304
    )  # unchanged so far
    labels["a"].delete()
    again = client.get(f"/api/labelled/{document.pk}/", headers={"If-None-Match": read["ETag"]})
    assert again.status_code == 200
    assert again.json()["labels"] == []
    assert again["ETag"] != read["ETag"]


def test_rule_46_deleting_one_side_of_a_symmetrical_relation_versions_the_other() -> None:
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    unrelated = LabelledDocument.objects.create(title="unrelated")
    first.related.add(second)
    before = {doc.pk: _stored(doc).version_token for doc in (first, unrelated)}
    second.delete()
    assert list(_stored(first).related.all()) == []
    assert _stored(first).version_token != before[first.pk]
    assert _stored(unrelated).version_token == before[unrelated.pk]


def test_rule_52_a_protected_delete_of_a_row_related_to_itself_is_not_its_own_conflict() -> None:
    """The deleted row is on both sides of its own link: its delete claims it first, and the
    versioning of the linked rows leaves it to that delete (no 412 for the request's own
    write)."""
    first = LabelledDocument.objects.create(title="first")
    selfish = LabelledDocument.objects.create(title="selfish")
    selfish.related.add(selfish, first)
    stored = _stored(selfish)
    before = _stored(first).version_token
    with expect_version(LabelledDocument, selfish.pk, stored.version_token):
        stored.delete()
    assert not LabelledDocument.objects.filter(pk=selfish.pk).exists()
    assert _stored(first).version_token != before


def test_rule_51_a_refused_delete_versions_no_related_row() -> None:
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    before = _stored(first).version_token
    stale = _stored(second)
    LabelledDocument.objects.filter(pk=second.pk).update(title="rival")
    with pytest.raises(VersionConflict):
        stale.delete(expected_version=stale.version_token)
    assert _stored(first).version_token == before
    assert list(_stored(first).related.all()) == [second]


def test_rule_46_deleting_a_tag_of_a_plain_parent_versions_the_versioned_child(
    labels: dict[str, Label],
) -> None:
    document = NamedDocument.objects.create(name="n", title="t")
    document.tags.add(labels["a"])
    before = NamedDocument.objects.get(pk=document.pk).version_token
    labels["a"].delete()
    assert NamedDocument.objects.get(pk=document.pk).version_token != before
    assert list(document.tags.all()) == []


def test_rule_46_deleting_a_label_of_a_to_field_through_versions_the_document(
    labels: dict[str, Label],
) -> None:
    document = SluggedLabelled.objects.create(slug="s1")
    document.labels.add(labels["a"], through_defaults={"note": "n"})
    before = SluggedLabelled.objects.get(pk=document.pk).version_token
    labels["a"].delete()
    assert SluggedLabelled.objects.get(pk=document.pk).version_token != before
    assert not Tagging.objects.exists()


def test_deleting_a_label_linked_to_nothing_writes_no_version(labels: dict[str, Label]) -> None:
    """Only the lock and the read of the linked rows: no UPDATE when nothing is linked."""
    document = LabelledDocument.objects.create(title="doc")
    before = _stored(document).version_token
    with connection.execute_wrapper(_refuse_updates):
        labels["a"].delete()
    assert _stored(document).version_token == before


def _refuse_updates(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    assert not sql.lstrip().upper().startswith("UPDATE"), sql
    return execute(sql, params, many, context)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs a second writer meanwhile")
def test_a_link_added_while_its_label_is_deleted_is_never_lost_silently(
    labels: dict[str, Label],
) -> None:
    """The delete reads the linked documents, then its collector deletes the links. Another
    connection links a document to the label in between and reads the document (body and
    ETag). Whatever the database does with that link (waits for the delete's lock and fails
    or, with MySQL's ``INSERT IGNORE``, drops it), an ETag never names two representations:
    either the one the rival read is still current and the body is the same, or sending it
    back is refused."""
    rival_doc = LabelledDocument.objects.create(title="rival")
    seen: dict[str, Any] = {}
    started: list[threading.Thread] = []

    def rival_links_during_delete(sender: Any, **kwargs: Any) -> None:
        if started:
            return

        def work() -> None:
            labels["a"].documents.add(rival_doc)  # autocommit, on its own connection
            read = Client().get(f"/api/labelled/{rival_doc.pk}/")
            seen.update(etag=read["ETag"], labels=read.json()["labels"])

        started.append(_in_other_connection(work))
        time.sleep(0.5)  # the add runs now, or waits for the delete's lock

    # Connected after the app's receiver: it runs once the linked rows were read.
    pre_delete.connect(rival_links_during_delete, sender=Label, dispatch_uid="delete-race")
    try:
        labels["a"].delete()
    finally:
        pre_delete.disconnect(sender=Label, dispatch_uid="delete-race")
    started[0].join(30)
    assert not started[0].is_alive()
    assert not Label.objects.filter(name="a").exists()
    assert _labels(rival_doc) == []
    errors = started[0].errors  # type: ignore[attr-defined]
    if errors:  # the add waited for the delete, then found no label to link
        assert isinstance(errors[0], IntegrityError), errors
        return
    current = Client().get(f"/api/labelled/{rival_doc.pk}/")
    if current["ETag"] == seen["etag"]:
        assert current.json()["labels"] == seen["labels"]
        return
    response = Client().put(
        f"/api/labelled/{rival_doc.pk}/",
        {"title": "rival", "labels": ["b"]},
        content_type="application/json",
        headers={"If-Match": seen["etag"]},
    )
    assert response.status_code == 412, response.content
