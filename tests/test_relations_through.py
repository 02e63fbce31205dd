"""Rows of a custom ``through`` model are links, however they are written (rule 46): created,
saved again, moved to another row or deleted directly, and removed or cleared by the
relation's manager. ``SluggedLabelled.labels`` goes through ``Tagging``, whose key to the
document is its unique slug (a ``to_field``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import serializers
from django.db.models.signals import pre_delete

from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from tests.testapp.models import Label, SluggedLabelled, Tagging

pytestmark = pytest.mark.django_db(transaction=True)


def _version(document: SluggedLabelled) -> str:
    return SluggedLabelled.objects.get(pk=document.pk).version_token


@pytest.fixture
def documents() -> tuple[SluggedLabelled, SluggedLabelled]:
    return SluggedLabelled.objects.create(slug="one"), SluggedLabelled.objects.create(slug="two")


@pytest.fixture
def labels() -> tuple[Label, Label]:
    return Label.objects.create(name="a"), Label.objects.create(name="b")


def _linked(document: SluggedLabelled) -> list[str]:
    return sorted(document.labels.values_list("name", flat=True))


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(
            lambda one, a, link: Tagging.objects.create(document=one, label=a), id="create"
        ),
        pytest.param(lambda one, a, link: Tagging(document=one, label=a).save(), id="save-new"),
        pytest.param(lambda one, a, link: link.save(), id="save-again"),
        pytest.param(lambda one, a, link: link.save(update_fields=["note"]), id="update-fields"),
        pytest.param(lambda one, a, link: link.delete(), id="delete"),
        pytest.param(lambda one, a, link: Tagging.objects.filter(pk=link.pk).delete(), id="qs"),
        pytest.param(lambda one, a, link: one.labels.remove(link.label), id="remove"),
        pytest.param(lambda one, a, link: one.labels.clear(), id="clear"),
        pytest.param(lambda one, a, link: link.label.slugged.clear(), id="reverse-clear"),
        pytest.param(lambda one, a, link: link.label.slugged.remove(one), id="reverse-remove"),
        pytest.param(lambda one, a, link: one.labels.set([a]), id="set"),
        pytest.param(lambda one, a, link: link.label.delete(), id="label-deleted"),
    ],
)
def test_rule_46_every_write_of_a_link_gives_the_document_a_new_version(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label], write: Any
) -> None:
    one, two = documents
    a, b = labels
    link = Tagging.objects.create(document=one, label=b, note="n")
    Tagging.objects.create(document=two, label=a)
    before = {doc.pk: _version(doc) for doc in documents}
    write(one, a, link)
    assert _version(one) != before[one.pk]
    assert _version(two) == before[two.pk]  # its link was not written


def test_rule_46_a_link_moved_to_another_document_versions_both(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, two = documents
    link = Tagging.objects.create(document=one, label=labels[0])
    before = {doc.pk: _version(doc) for doc in documents}
    link.document = two
    link.save()
    assert (_linked(one), _linked(two)) == ([], ["a"])
    assert all(_version(doc) != before[doc.pk] for doc in documents)


def test_rule_46_a_deleted_label_versions_each_document_it_linked(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    a, b = labels
    for document in documents:
        Tagging.objects.create(document=document, label=a)
    third = SluggedLabelled.objects.create(slug="three")
    Tagging.objects.create(document=third, label=b)
    before = {doc.pk: _version(doc) for doc in (*documents, third)}
    a.delete()
    assert all(_version(doc) != before[doc.pk] for doc in documents)
    assert _version(third) == before[third.pk]


def test_loaddata_restores_links_without_writing_versions(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """Fixtures (``raw`` saves) restore rows as they were: no version is written."""
    one, _ = documents
    dumped = serializers.serialize("json", [Tagging(pk=99, document=one, label=labels[0])])
    before = _version(one)
    for restored in serializers.deserialize("json", dumped):
        restored.save()
    assert _linked(one) == ["a"]
    assert _version(one) == before


def test_rule_52_links_written_under_an_expected_version_are_followed(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """A request that links, unlinks and then saves its own row: each step compares and
    swaps against the version the previous one wrote."""
    one, _ = documents
    a, b = labels
    with expect_version(SluggedLabelled, one.pk, one.version_token) as expected:
        Tagging.objects.create(document=one, label=a)
        one.labels.remove(a)
        Tagging.objects.create(document=one, label=b, note="kept")
        one.save()
    assert _version(one) == expected.token == one.version_token
    assert _linked(one) == ["b"]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda one, a: Tagging.objects.create(document=one, label=a), id="create"),
        pytest.param(lambda one, a: Tagging.objects.get(label=a).save(), id="save-again"),
        pytest.param(lambda one, a: Tagging.objects.get(label=a).delete(), id="delete"),
        pytest.param(lambda one, a: one.labels.remove(a), id="remove"),
    ],
)
def test_rule_51_a_link_refused_under_an_expected_version_is_not_written(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label], write: Any
) -> None:
    """A rival wrote the row after the request read it: the link's write is refused before
    it is made, also without a transaction around it."""
    one, _ = documents
    a, _ = labels
    Tagging.objects.create(document=one, label=a, note="n")
    read = _version(one)
    SluggedLabelled.objects.filter(pk=one.pk).update(slug="one")  # a rival's write
    with expect_version(SluggedLabelled, one.pk, read), pytest.raises(VersionConflict):
        write(one, a)
    assert list(Tagging.objects.values_list("label__name", "note")) == [("a", "n")]


def test_rule_52_a_protected_delete_of_a_linked_document_is_not_its_own_conflict(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """The delete claims the row, then Django's collector deletes its links, whose receivers
    write the row again: they follow the claim, not the version read before it."""
    one, two = documents
    Tagging.objects.create(document=one, label=labels[0])
    Tagging.objects.create(document=two, label=labels[0])
    stored = SluggedLabelled.objects.get(pk=one.pk)
    with expect_version(SluggedLabelled, one.pk, stored.version_token) as expected:
        stored.delete()
    assert expected.deleted
    assert not SluggedLabelled.objects.filter(pk=one.pk).exists()
    assert list(Tagging.objects.values_list("document__slug", flat=True)) == ["two"]


def test_rule_46_a_queryset_deleted_again_versions_again(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """A delete versions each row once: the same queryset deleted again (after a link was
    added, or after a delete that a receiver's error rolled back) is another delete."""
    one, _ = documents
    links = Tagging.objects.filter(document=one)
    Tagging.objects.create(document=one, label=labels[0])
    links.delete()
    Tagging.objects.create(document=one, label=labels[1])
    before = _version(one)
    links.delete()
    assert _version(one) != before
    Tagging.objects.create(document=one, label=labels[0])
    before = _version(one)

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("a receiver's error")

    pre_delete.connect(refuse, sender=Tagging, dispatch_uid="refuse-once")
    try:
        with pytest.raises(RuntimeError):
            links.delete()
    finally:
        pre_delete.disconnect(sender=Tagging, dispatch_uid="refuse-once")
    assert _version(one) == before  # rolled back with the delete
    links.delete()
    assert _version(one) != before
    assert _linked(one) == []
