"""Hostile tests of the row receivers of many-to-many versioning (relations.py, models.py's
``delete()``): deletes of rows a relation points to, rows of a custom ``through`` model
written directly or through the relation's manager, and protected deletes whose collector
writes the row again (rules 46, 51, 52)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path

from django_preconditions.admin import VERSION_FIELD_NAME
from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from tests import test_relations_through
from tests.support.admin_pages import changelist_url, messages_of
from tests.test_relations import _labels, _stored
from tests.test_relations_through import _linked, _version
from tests.testapp.models import (
    Label,
    LabelledDocument,
    NamedDocument,
    SluggedLabelled,
    Tagging,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

# The fixtures of the first round: two documents (slugs one, two) and two labels (a, b).
documents = test_relations_through.documents
labels = test_relations_through.labels


# -- a link moved without its old row being versioned ------------------------------------------


def _move_by_new_instance(link: Tagging, two: SluggedLabelled) -> None:
    """``Tagging(pk=<stored>, …).save()`` is Django's UPDATE of the stored link (no default
    on the key): it moves the link from ``one`` to ``two``; ``one`` lost a label."""
    Tagging(pk=link.pk, document=two, label=link.label).save()


def _move_by_attname(link: Tagging, two: SluggedLabelled) -> None:
    """Django accepts attnames in ``update_fields`` (``document_id``)."""
    link.document_id = two.slug
    link.save(update_fields=["document_id"])


def _move_by_name(link: Tagging, two: SluggedLabelled) -> None:
    link.document = two
    link.save(update_fields=["document"])


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(_move_by_new_instance, id="new-instance-with-the-stored-key"),
        pytest.param(_move_by_attname, id="update-fields-by-attname"),
        pytest.param(_move_by_name, id="update-fields-by-name"),
    ],
)
def test_rule_46_a_link_moved_versions_both_rows(
    documents: tuple[SluggedLabelled, SluggedLabelled],
    labels: tuple[Label, Label],
    move: Any,
) -> None:
    one, two = documents
    link = Tagging.objects.create(document=one, label=labels[0])
    before = {doc.pk: _version(doc) for doc in documents}
    move(link, two)
    assert (_linked(one), _linked(two)) == ([], ["a"])
    assert _version(two) != before[two.pk]
    assert _version(one) != before[one.pk]  # its representation changed: no stale ETag


# -- rule 52: the instance in memory follows a change through its own manager -----------------


def test_rule_52_remove_through_a_custom_through_keeps_the_instance_in_step(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """As for an auto-created table (``_bump_instance``): the instance whose manager changed
    the relation has the row's new version."""
    one, _ = documents
    one.labels.add(labels[0], labels[1])
    assert one.version_token == _version(one)  # add(): in step
    one.labels.remove(labels[0])
    assert one.version_token == _version(one)
    one.labels.clear()
    assert one.version_token == _version(one)


def test_rule_52_an_auto_created_remove_keeps_the_instance_in_step(
    labels: tuple[Label, Label],
) -> None:
    document = LabelledDocument.objects.create(title="d")
    document.labels.add(*labels)
    document.labels.remove(labels[0])
    assert document.version_token == _stored(document).version_token
    document.labels.clear()
    assert document.version_token == _stored(document).version_token


def test_rule_52_set_on_a_custom_through_under_an_expectation_then_save(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, _ = documents
    a, b = labels
    Tagging.objects.create(document=one, label=a)
    read = _version(one)
    one.refresh_from_db()
    with expect_version(SluggedLabelled, one.pk, read) as expected:
        one.labels.set([b], through_defaults={"note": "x"})
        one.labels.set([a, b])
        one.save()
    assert _version(one) == expected.token == one.version_token
    assert _linked(one) == ["a", "b"]


# -- rule 51: a refused protected delete leaves no trace in the caller's transaction -----------


def test_rule_51_a_delete_refused_by_a_linked_rows_conflict_leaves_the_row_unchanged() -> None:
    """``first`` is deleted under its expected version; its link to ``second``, which the
    request also expects but a rival changed, refuses the delete. In the caller's
    transaction (which the refusal leaves usable) ``first`` must keep its version."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    t1, t2 = _stored(first).version_token, _stored(second).version_token
    LabelledDocument.objects.filter(pk=second.pk).update(title="rival")
    with transaction.atomic():
        with (
            expect_version(LabelledDocument, first.pk, t1),
            expect_version(LabelledDocument, second.pk, t2),
            pytest.raises(VersionConflict),
        ):
            _stored(first).delete()
        LabelledDocument.objects.count()  # the transaction is usable: it goes on and commits
    assert _stored(first).version_token == t1  # rule 51: no trace of the refused delete
    assert sorted(d.pk for d in _stored(first).related.all()) == [second.pk]


# -- query counts: independent of how many rows and links a write touches ---------------------


def _count(work: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        work()
    return len(queries.captured_queries)


def _labels_named(prefix: str, size: int) -> list[Label]:
    return Label.objects.bulk_create([Label(name=f"{prefix}{n}") for n in range(size)])


def _documents_slugged(prefix: str, size: int) -> list[SluggedLabelled]:
    return SluggedLabelled.objects.bulk_create(
        [SluggedLabelled(slug=f"{prefix}{n}") for n in range(size)]
    )


def _clear_custom(size: int) -> int:
    document = SluggedLabelled.objects.create(slug=f"many{size}")
    document.labels.add(*_labels_named(f"c{size}-", size))
    cleared = _count(document.labels.clear)
    assert _linked(document) == []
    return cleared


def _clear_auto(size: int) -> int:
    document = LabelledDocument.objects.create(title=f"many{size}")
    document.labels.add(*_labels_named(f"a{size}-", size))
    return _count(document.labels.clear)


def _delete_labels(size: int) -> int:
    documents = [LabelledDocument.objects.create(title=f"d{size}-{n}") for n in range(5)]
    labels = _labels_named(f"l{size}-", size)
    for document in documents:
        document.labels.add(*labels)
    return _count(Label.objects.filter(name__startswith=f"l{size}-").delete)


def _delete_popular_label(size: int) -> int:
    label = Label.objects.create(name=f"popular{size}")
    documents = _documents_slugged(f"p{size}-", size)
    Tagging.objects.bulk_create([Tagging(document=d, label=label) for d in documents])
    return _count(label.delete)


def _delete_linked_documents(size: int) -> int:
    label = Label.objects.create(name=f"shared{size}")
    documents = _documents_slugged(f"q{size}-", size)
    Tagging.objects.bulk_create([Tagging(document=d, label=label) for d in documents])
    return _count(SluggedLabelled.objects.filter(slug__startswith=f"q{size}-").delete)


@pytest.mark.parametrize(
    "write",
    [_clear_custom, _clear_auto, _delete_labels, _delete_popular_label, _delete_linked_documents],
)
def test_the_statements_of_a_write_do_not_grow_with_its_links(write: Any) -> None:
    """``clear()`` of a custom ``through``, a queryset delete of labels linked to several
    documents, a label with many custom links, documents with custom links: each row is
    versioned once per delete, so 5 or 50 links cost the same statements."""
    assert write(5) == write(50) <= 12


def test_named_document_follows_a_deleted_tag() -> None:
    document = NamedDocument.objects.create(name="n", title="t")
    label = Label.objects.create(name="x")
    document.tags.add(label)
    stored = NamedDocument.objects.get(pk=document.pk)
    with expect_version(NamedDocument, document.pk, stored.version_token) as expected:
        label.delete()
        stored.title = "after"
        stored.save()
    assert NamedDocument.objects.get(pk=document.pk).version_token == expected.token
    assert list(document.tags.all()) == []


def test_rule_52_removing_through_a_custom_through_then_saving_with_the_instances_version(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """A form-style save naming the version the instance has: the remove was this code's
    own write, so it must not be refused (it is not, for an auto-created table)."""
    one, _ = documents
    one.labels.add(labels[0], labels[1])
    one.labels.remove(labels[0])
    one.save(expected_version=one.version_token)
    assert _version(one) == one.version_token


def test_rule_51_a_link_moved_from_a_changed_row_leaves_the_new_row_unchanged(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """The request expects both rows; a rival changed ``one``: moving the link from ``one``
    to ``two`` is refused, and ``two`` keeps the version its clients hold (autocommit)."""
    one, two = documents
    link = Tagging.objects.create(document=one, label=labels[0])
    before = {doc.pk: _version(doc) for doc in documents}
    SluggedLabelled.objects.filter(pk=one.pk).update(slug="one")  # a rival's write
    link.document = two
    with (
        expect_version(SluggedLabelled, one.pk, before[one.pk]),
        expect_version(SluggedLabelled, two.pk, before[two.pk]),
        pytest.raises(VersionConflict),
    ):
        link.save()
    assert Tagging.objects.get().document_id == "one"
    assert _version(two) == before[two.pk]  # rule 51


def _rolled_back(work: Any) -> None:
    """``work`` in a savepoint (or transaction) that an exception then rolls back."""
    try:
        with transaction.atomic():
            work()
            raise _RolledBack
    except _RolledBack:
        pass


class _RolledBack(Exception):
    pass


def _link_then_unlink(one: SluggedLabelled, a: Label, b: Label) -> None:
    Tagging.objects.create(document=one, label=a)
    one.labels.remove(b)
    one.labels.clear()


@pytest.mark.parametrize("outer", [False, True], ids=["autocommit", "in-transaction"])
def test_rule_52_link_writes_in_a_rolled_back_savepoint_then_save(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label], outer: bool
) -> None:
    one, _ = documents
    a, b = labels
    Tagging.objects.create(document=one, label=b)
    read = _version(one)
    with (
        transaction.atomic() if outer else contextlib.nullcontext(),
        expect_version(SluggedLabelled, one.pk, read) as expected,
    ):
        _rolled_back(lambda: _link_then_unlink(one, a, b))
        one.save()
    assert _version(one) == expected.token
    assert _linked(one) == ["b"]


@pytest.mark.parametrize("outer", [False, True], ids=["autocommit", "in-transaction"])
def test_rule_52_a_protected_delete_rolled_back_then_save(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label], outer: bool
) -> None:
    one, _ = documents
    Tagging.objects.create(document=one, label=labels[0])
    stored = SluggedLabelled.objects.get(pk=one.pk)
    with (
        transaction.atomic() if outer else contextlib.nullcontext(),
        expect_version(SluggedLabelled, one.pk, stored.version_token) as expected,
    ):
        _rolled_back(lambda: SluggedLabelled.objects.get(pk=one.pk).delete())
        stored.save()
    assert _version(one) == expected.token == stored.version_token
    assert _linked(one) == ["a"]


def test_rule_52_deleting_a_custom_linked_label_is_followed(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, two = documents
    for document in documents:
        Tagging.objects.create(document=document, label=labels[0])
    stored = SluggedLabelled.objects.get(pk=one.pk)
    before_two = _version(two)
    with expect_version(SluggedLabelled, one.pk, stored.version_token) as expected:
        Label.objects.filter(pk=labels[0].pk).delete()
        stored.save()
    assert _version(one) == expected.token
    assert _version(two) != before_two


def test_rule_52_deleting_the_other_side_of_a_symmetrical_link_is_followed() -> None:
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    stored = _stored(first)
    with expect_version(LabelledDocument, first.pk, stored.version_token) as expected:
        LabelledDocument.objects.get(pk=second.pk).delete()
        stored.title = "after"
        stored.save()
    assert _stored(first).version_token == expected.token
    assert list(_stored(first).related.all()) == []


def test_rule_52_a_protected_delete_of_a_row_linked_both_ways() -> None:
    """Deleted under its expected version while the request also expects the row it is
    related to and labelled with: both follow, nothing is refused."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    label = Label.objects.create(name="l")
    first.related.add(second, first)
    first.labels.add(label)
    second.labels.add(label)
    one, two = _stored(first), _stored(second)
    with (
        expect_version(LabelledDocument, first.pk, one.version_token) as e1,
        expect_version(LabelledDocument, second.pk, two.version_token) as e2,
    ):
        one.delete()
        two.title = "kept"
        two.save()
    assert e1.deleted
    assert _stored(second).version_token == e2.token
    assert _labels(second) == ["l"]


# -- the admin's bulk delete of rows related to each other ----------------------------------


@pytest.mark.urls("tests.support.urls")
def test_admin_bulk_delete_of_two_related_rows_deletes_both(admin_client: Client) -> None:
    """The confirmation page showed both rows' versions; deleting the first unlinks the
    second, which is the admin's own write of it: the second must be deleted too, not
    reported as changed by someone else."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    survivor = LabelledDocument.objects.create(title="survivor")
    first.related.add(second, survivor)
    before = _stored(survivor).version_token
    url = changelist_url(LabelledDocument)
    selected = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}
    versions = admin_client.post(url, selected).context["preconditions_versions"]
    response = admin_client.post(
        url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions}, follow=True
    )
    assert response.status_code == 200
    remaining = set(LabelledDocument.objects.values_list("title", flat=True))
    assert remaining == {"survivor"}, messages_of(response)
    assert _stored(survivor).version_token != before


@pytest.mark.urls("tests.support.urls")
def test_admin_bulk_delete_keeps_a_related_row_another_user_changed(admin_client: Client) -> None:
    """Deleting ``first`` versions ``second``, which another user changed after the
    confirmation: ``second`` is no longer expected, ``first`` is deleted all the same, and
    ``second`` is kept and reported."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    url = changelist_url(LabelledDocument)
    selected = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}
    versions = admin_client.post(url, selected).context["preconditions_versions"]
    LabelledDocument.objects.filter(pk=second.pk).update(title="changed")
    response = admin_client.post(
        url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions}, follow=True
    )
    assert set(LabelledDocument.objects.values_list("title", flat=True)) == {"changed"}
    assert any("Not deleted" in message for message in messages_of(response))


# -- a link instance older than the stored link ------------------------------------------------


def test_rule_46_deleting_a_stale_link_instance_versions_the_row_it_is_stored_with(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """Loaded while it linked ``one``; another process moved it to ``two`` (a versioned
    save); deleting the old instance deletes the stored link, which ``two`` loses."""
    one, two = documents
    link = Tagging.objects.create(document=one, label=labels[0])
    moved = Tagging.objects.get(pk=link.pk)
    moved.document = two
    moved.save()
    before = _version(two)
    link.delete()  # Django deletes by primary key: the link that names `two`
    assert _linked(two) == []
    assert _version(two) != before  # a 304 / accepted If-Match would name a lost label


def test_rule_46_saving_a_links_note_versions_the_row_it_is_stored_with(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """``update_fields=["note"]`` writes the note of the stored link, which names ``two``
    (moved by another process since this instance was loaded)."""
    one, two = documents
    link = Tagging.objects.create(document=one, label=labels[0])
    moved = Tagging.objects.get(pk=link.pk)
    moved.document = two
    moved.save()
    before = _version(two)
    link.note = "changed"
    link.save(update_fields=["note"])
    assert Tagging.objects.get().document_id == "two"
    assert _version(two) != before


# -- a protected view that removes a link of a custom through -----------------------------


@require_preconditions(SluggedLabelled)
def unlabel(request: HttpRequest, pk: int) -> HttpResponse:
    """DELETE-like PUT: removes the label named in the body from the row."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.labels.remove(Label.objects.get(name=json.loads(request.body)["label"]))
    return JsonResponse({"labels": _linked(document)})


urlpatterns = [path("unlabel/<int:pk>/", unlabel)]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_52_a_view_removing_a_custom_link_answers_the_stored_version(
    documents: tuple[SluggedLabelled, SluggedLabelled],
    labels: tuple[Label, Label],
    atomic_requests: bool,
) -> None:
    one, _ = documents
    Tagging.objects.create(document=one, label=labels[0])
    Tagging.objects.create(document=one, label=labels[1])
    etag = SluggedLabelled.objects.get(pk=one.pk).etag
    response = Client().put(
        f"/unlabel/{one.pk}/",
        {"label": "a"},
        content_type="application/json",
        headers={"If-Match": etag},
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == SluggedLabelled.objects.get(pk=one.pk).etag != etag
    again = Client().put(
        f"/unlabel/{one.pk}/",
        {"label": "b"},
        content_type="application/json",
        headers={"If-Match": response["ETag"]},
    )
    assert again.status_code == 200, again.content
    assert _linked(one) == []
