"""Hostile tests of many-to-many versioning, second round (relations.py, models.py's
``delete()``, the admin's bulk delete): async related managers, the deduplication of a
collector run's deletes, errors in the middle of a relation change, refused deletes inside a
caller's transaction, protected views deleting rows a relation points to, and the admin's
bulk delete through a project's ``delete_queryset()`` (rules 46, 51, 52)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, pre_delete
from django.db.transaction import TransactionManagementError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from rest_framework import routers

from django_preconditions.admin import VERSION_FIELD_NAME
from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from tests import test_relations_through
from tests.support.admin_pages import changelist_url, messages_of
from tests.test_relations import LabelledViewSet, _labels, _stored
from tests.test_relations_through import _linked, _version
from tests.testapp.admin import LabelledDocumentAdmin
from tests.testapp.models import (
    Label,
    LabelledDocument,
    NamedDocument,
    SluggedLabelled,
    Tagging,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.test_relations_hostile_async"),
]

# Two documents (slugs one, two) and two labels (a, b), as in the custom-through tests.
documents = test_relations_through.documents
labels = test_relations_through.labels


class _Refused(Exception):
    """Raised by the test receivers below."""


# -- views -----------------------------------------------------------------------------------


@require_preconditions(SluggedLabelled)
def drop_label(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT {"label": name}: deletes that label (linked to the row, maybe to others), after
    a rival's write of the row when asked (``?rival=1``)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.GET.get("rival"):
        SluggedLabelled.objects.filter(pk=document.pk).update(slug=document.slug)
    Label.objects.filter(name=json.loads(request.body)["label"]).delete()
    return JsonResponse({"labels": _linked(document)})


@require_preconditions(SluggedLabelled)
def drop_links(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT {"label": name}: deletes the row's links to that label with a queryset's delete."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    name = json.loads(request.body)["label"]
    Tagging.objects.filter(document=document, label__name=name).delete()
    return JsonResponse({"labels": _linked(document)})


_router = routers.SimpleRouter()
_router.register("api/labelled", LabelledViewSet, basename="labelled")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include(_router.urls)),
    path("drop-label/<int:pk>/", drop_label),
    path("drop-links/<int:pk>/", drop_links),
]


def _put(url: str, body: Any, **headers: str) -> Any:
    return Client().put(url, body, content_type="application/json", headers=headers)


# -- async related managers and async link writes --------------------------------------------


@pytest.mark.asyncio
async def test_async_custom_through_aadd_aremove_aclear_follow_under_expectation(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, _ = documents
    a, b = labels
    read = await sync_to_async(_version)(one)
    with expect_version(SluggedLabelled, one.pk, read) as expected:
        await one.labels.aadd(a, b)
        await one.labels.aremove(a)
        assert one.version_token == expected.token
        await one.labels.aclear()
        await one.labels.aset([b], through_defaults={"note": "x"})
        one.slug = "one"
        await one.asave()
    assert await sync_to_async(_version)(one) == expected.token == one.version_token
    assert await sync_to_async(_linked)(one) == ["b"]


@pytest.mark.asyncio
async def test_async_link_acreate_adelete_asave_follow_and_a_rival_is_refused(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, _ = documents
    a, b = labels
    read = await sync_to_async(_version)(one)
    with expect_version(SluggedLabelled, one.pk, read) as expected:
        link = await Tagging.objects.acreate(document=one, label=a)
        link.note = "n"
        await link.asave(update_fields=["note"])
        await link.adelete()
        await one.asave()
        await SluggedLabelled.objects.filter(pk=one.pk).aupdate(slug="one")  # a rival
        with pytest.raises(VersionConflict):
            await Tagging.objects.acreate(document=one, label=b)
    assert await sync_to_async(_linked)(one) == []  # rule 51: the refused link is not there
    assert await sync_to_async(_version)(one) != expected.token


@pytest.mark.asyncio
async def test_async_aclear_and_acreate_of_an_auto_created_table() -> None:
    document = await LabelledDocument.objects.acreate(title="d")
    a = await Label.objects.acreate(name="a")
    with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
        await document.labels.acreate(name="new")
        await a.documents.aadd(document)
        await document.labels.aclear()
        await document.asave()
        await LabelledDocument.objects.filter(pk=document.pk).aupdate(title="rival")
        with pytest.raises(VersionConflict):
            await a.documents.aadd(document)
    assert await sync_to_async(_labels)(document) == []
    assert expected.written


@pytest.mark.asyncio
async def test_async_symmetrical_aset_follows_both_rows() -> None:
    first = await LabelledDocument.objects.acreate(title="first")
    second = await LabelledDocument.objects.acreate(title="second")
    with (
        expect_version(LabelledDocument, first.pk, first.version_token) as e1,
        expect_version(LabelledDocument, second.pk, second.version_token) as e2,
    ):
        await first.related.aset([second])
        await second.related.aremove(first)
        await first.asave()
        await second.asave()
    for document, expectation in ((first, e1), (second, e2)):
        stored = await LabelledDocument.objects.aget(pk=document.pk)
        assert stored.version_token == expectation.token


@pytest.mark.asyncio
async def test_async_label_adelete_is_followed_by_the_expected_rows(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, two = documents
    await Tagging.objects.acreate(document=one, label=labels[0])
    await Tagging.objects.acreate(document=two, label=labels[0])
    before_two = await sync_to_async(_version)(two)
    stored = await SluggedLabelled.objects.aget(pk=one.pk)
    with expect_version(SluggedLabelled, one.pk, stored.version_token) as expected:
        await labels[0].adelete()
        await stored.asave()
    assert await sync_to_async(_version)(one) == expected.token == stored.version_token
    assert await sync_to_async(_version)(two) != before_two


# -- the deduplication of a collector run's deletes -------------------------------------------


@pytest.fixture
def refuse_label() -> Iterator[set[str]]:
    """A project's ``pre_delete`` receiver of labels (connected after the library's) that
    refuses to delete the labels whose names are in the returned set."""
    refused: set[str] = set()

    def receiver(sender: Any, instance: Label, **kwargs: Any) -> None:
        if instance.name in refused:
            raise _Refused(instance.name)

    pre_delete.connect(receiver, sender=Label, dispatch_uid="hostile-async-refuse-label")
    try:
        yield refused
    finally:
        pre_delete.disconnect(sender=Label, dispatch_uid="hostile-async-refuse-label")


def test_rule_46_a_queryset_deleting_again_after_a_refusal_versions_its_rows(
    refuse_label: set[str],
) -> None:
    """``stale.delete()`` is refused at its first label (a project's receiver): the run of
    that delete versioned both labels' documents, then was rolled back. The same queryset,
    once the first label no longer matches it, deletes the second: its document must get a
    new version (it loses a label), not be skipped as "versioned earlier in this run"."""
    first, second = Label.objects.create(name="tmp1"), Label.objects.create(name="tmp2")
    doc = LabelledDocument.objects.create(title="d")
    doc.labels.add(second)
    stale = Label.objects.filter(name__startswith="tmp").order_by("pk")
    refuse_label.add("tmp1")
    with pytest.raises(_Refused):
        stale.delete()
    Label.objects.filter(pk=first.pk).update(name="kept")  # no longer one of them
    before = _stored(doc).version_token
    stale.delete()
    assert _labels(doc) == []
    assert _stored(doc).version_token != before  # rule 46: no 304 for the lost label


def test_rule_46_a_link_queryset_deleting_again_after_a_refusal_versions_its_rows(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """The same with a queryset of links of a custom ``through``: refused at its first
    link (a receiver), then run again once that link no longer matches."""
    one, _ = documents
    a, b = labels
    first = Tagging.objects.create(document=one, label=a, note="tmp")
    Tagging.objects.create(document=one, label=b, note="tmp")
    gone = Tagging.objects.filter(note="tmp").order_by("pk")

    def refuse(sender: Any, instance: Tagging, **kwargs: Any) -> None:
        if instance.pk == first.pk:
            raise _Refused

    pre_delete.connect(refuse, sender=Tagging, dispatch_uid="hostile-async-refuse-link")
    try:
        with pytest.raises(_Refused):
            gone.delete()
    finally:
        pre_delete.disconnect(sender=Tagging, dispatch_uid="hostile-async-refuse-link")
    Tagging.objects.filter(pk=first.pk).update(note="kept")
    before = _version(one)
    gone.delete()
    assert _linked(one) == ["a"]
    assert _version(one) != before


@pytest.fixture
def cleanup_links() -> Iterator[None]:
    """A project's ``pre_delete`` receiver of labels that deletes their custom links itself
    (one nested collector run per label) and, for label ``a``, also label ``c``."""

    def receiver(sender: Any, instance: Label, **kwargs: Any) -> None:
        Tagging.objects.filter(label=instance).delete()
        if instance.name == "a":
            Label.objects.filter(name="c").delete()

    pre_delete.connect(receiver, sender=Label, dispatch_uid="hostile-async-cleanup")
    try:
        yield
    finally:
        pre_delete.disconnect(sender=Label, dispatch_uid="hostile-async-cleanup")


def test_rule_52_nested_deletes_in_a_receiver_are_followed_and_version_every_row(
    documents: tuple[SluggedLabelled, SluggedLabelled],
    labels: tuple[Label, Label],
    cleanup_links: None,
) -> None:
    """A queryset's delete of ``a`` and ``b``, whose receiver deletes links and another
    label (``c``) in runs of their own, nested in the first run: every document that lost
    a label has a new version, and the expected ones are followed, not refused."""
    one, two = documents
    a, b = labels
    c = Label.objects.create(name="c")
    Tagging.objects.create(document=one, label=a)
    Tagging.objects.create(document=two, label=b)
    third = LabelledDocument.objects.create(title="third")
    third.labels.add(c)
    fourth = LabelledDocument.objects.create(title="fourth")
    fourth.labels.add(b)
    before = {"third": _stored(third).version_token, "fourth": _stored(fourth).version_token}
    s1, s2 = (SluggedLabelled.objects.get(pk=d.pk) for d in documents)
    with (
        expect_version(SluggedLabelled, one.pk, s1.version_token) as e1,
        expect_version(SluggedLabelled, two.pk, s2.version_token) as e2,
    ):
        Label.objects.filter(name__in=["a", "b"]).order_by("pk").delete()
        s1.save()
        s2.save()
    assert (_version(one), _version(two)) == (e1.token, e2.token)
    assert _stored(third).version_token != before["third"]
    assert _stored(fourth).version_token != before["fourth"]
    assert Label.objects.count() == 0


def test_rule_52_two_relation_tables_in_one_collector_run_are_followed(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    """One label linked through an auto-created table (``LabelledDocument.labels``), a
    plain parent's (``Named.tags``) and a custom ``through``: deleting it is a write of the
    three rows, each followed by the request that expects it."""
    one, _ = documents
    a, _ = labels
    labelled = LabelledDocument.objects.create(title="l")
    labelled.labels.add(a)
    named = NamedDocument.objects.create(name="n", title="t")
    named.tags.add(a)
    Tagging.objects.create(document=one, label=a)
    rows = [
        LabelledDocument.objects.get(pk=labelled.pk),
        NamedDocument.objects.get(pk=named.pk),
        SluggedLabelled.objects.get(pk=one.pk),
    ]
    with (
        expect_version(LabelledDocument, labelled.pk, rows[0].version_token) as e1,
        expect_version(NamedDocument, named.pk, rows[1].version_token) as e2,
        expect_version(SluggedLabelled, one.pk, rows[2].version_token) as e3,
    ):
        Label.objects.filter(pk=a.pk).delete()
        for row in rows:
            row.save()
    assert [type(r).objects.get(pk=r.pk).version_token for r in rows] == [
        e1.token,
        e2.token,
        e3.token,
    ]


# -- an error in the middle of a relation change ---------------------------------------------


def _raise_on(refused: str, sender: Any) -> Any:
    def receiver(action: str, **kwargs: Any) -> None:
        if action == refused:
            raise _Refused

    def connect() -> None:
        m2m_changed.connect(receiver, sender=sender, weak=False, dispatch_uid="hostile-async-m2m")

    return connect


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("custom-remove", id="custom-remove"),
        pytest.param("custom-clear", id="custom-clear"),
        pytest.param("auto-add", id="auto-add"),
    ],
)
def test_rule_52_a_failed_change_is_not_followed_by_the_request(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label], change: str
) -> None:
    """A project's receiver refuses the change after the library versioned the row (a
    custom ``through``'s link deletes; ``post_add``): Django rolls the change back, version
    included. The request's expectation forgets the version that was rolled back, so its
    next write of the row is not refused (rule 52). The instance in memory is Django's
    model state after a rollback (docs/models.md): not restored."""
    one, _ = documents
    a, b = labels
    labelled = LabelledDocument.objects.create(title="l")
    one.labels.add(a, b)
    if change == "auto-add":
        instance: Any = labelled
        sender, action, work = (
            LabelledDocument.labels.through,
            "post_add",
            lambda: labelled.labels.add(a),
        )
    else:
        instance = one
        sender, action = SluggedLabelled.labels.through, "post_" + change.split("-")[1]
        work = (lambda: one.labels.remove(a)) if change == "custom-remove" else one.labels.clear
    stored_before = type(instance).objects.get(pk=instance.pk).version_token
    _raise_on(action, sender)()
    try:
        with expect_version(type(instance), instance.pk, stored_before) as expected:
            with pytest.raises(_Refused):
                work()
            assert type(instance).objects.get(pk=instance.pk).version_token == stored_before
            instance.save()  # its own next write
    finally:
        m2m_changed.disconnect(sender=sender, dispatch_uid="hostile-async-m2m")
    assert type(instance).objects.get(pk=instance.pk).version_token == expected.token


# -- refused deletes inside the caller's transaction ------------------------------------------


def _stale_linked_pair() -> tuple[LabelledDocument, LabelledDocument, Label, str]:
    """``first`` (not expected) labelled ``l``, ``second`` labelled ``l`` and related to
    ``first``; ``second``'s version as read, then changed by a rival."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    label = Label.objects.create(name="l")
    first.labels.add(label)
    second.labels.add(label)
    first.related.add(second)
    read = _stored(second).version_token
    LabelledDocument.objects.filter(pk=second.pk).update(title="rival")
    return first, second, label, read


@pytest.mark.parametrize("delete", ["label", "label-queryset", "unexpected-related-row"])
def test_rule_51_a_delete_refused_by_a_linked_rows_conflict_leaves_nothing_half_applied(
    delete: str,
) -> None:
    """A delete of a row the field points to, refused because a linked document the request
    expects had changed. ``VersionedModel.delete()`` runs in a savepoint then, and the
    caller's transaction stays usable; a plain model's delete (Django's collector, no
    savepoint) marks it for rollback, as a refused relation change does (docs/models.md):
    in its own ``atomic()`` the caller goes on. Either way nothing is half-applied."""
    first, second, label, read = _stale_linked_pair()
    before = _stored(first).version_token
    work = {
        "label": label.delete,
        "label-queryset": Label.objects.filter(pk=label.pk).delete,
        "unexpected-related-row": _stored(first).delete,
    }[delete]
    # A plain model's delete needs an atomic() of its own (a savepoint) to leave it usable.
    own = contextlib.nullcontext() if delete == "unexpected-related-row" else transaction.atomic()
    with transaction.atomic():
        with (
            expect_version(LabelledDocument, second.pk, read),
            pytest.raises(VersionConflict),
            own,
        ):
            work()
        # usable: the caller reads the current row for its 412, or goes on
        assert _stored(second).title == "rival"
    assert Label.objects.filter(pk=label.pk).exists()
    assert _stored(first).version_token == before  # rule 51: nothing half-applied


def test_a_plain_models_delete_refused_by_a_receiver_marks_the_enclosing_transaction() -> None:
    """The documented caveat, as for a refused relation change: without a savepoint of its
    own, the caller's transaction must be rolled back (Django refuses further queries)."""
    _first, second, label, read = _stale_linked_pair()
    with transaction.atomic():
        with expect_version(LabelledDocument, second.pk, read), pytest.raises(VersionConflict):
            label.delete()
        with pytest.raises(TransactionManagementError):
            Label.objects.count()
        transaction.set_rollback(True)
    assert Label.objects.filter(pk=label.pk).exists()


@pytest.mark.parametrize("outer", [False, True], ids=["autocommit", "in-transaction"])
def test_rule_51_a_refused_label_delete_in_a_savepoint_leaves_nothing_half_applied(
    outer: bool,
) -> None:
    """The documented way to go on after a refused change: ``atomic()`` of its own. The
    unexpected document linked to the label, versioned before the expected one was found
    stale, keeps its version."""
    first, second, label, read = _stale_linked_pair()
    before = _stored(first).version_token
    with (
        transaction.atomic() if outer else contextlib.nullcontext(),
        expect_version(LabelledDocument, second.pk, read),
    ):
        with pytest.raises(VersionConflict), transaction.atomic():
            label.delete()
        assert LabelledDocument.objects.count() == 2
    assert Label.objects.filter(pk=label.pk).exists()
    assert _stored(first).version_token == before
    assert _labels(first) == ["l"]


# -- protected views deleting labels and links ----------------------------------------------


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_52_a_view_deleting_a_linked_label_answers_the_stored_version(
    documents: tuple[SluggedLabelled, SluggedLabelled],
    labels: tuple[Label, Label],
    atomic_requests: bool,
) -> None:
    one, two = documents
    a, _ = labels
    for label in labels:
        Tagging.objects.create(document=one, label=label)
    Tagging.objects.create(document=two, label=a)
    before_two = _version(two)
    etag = SluggedLabelled.objects.get(pk=one.pk).etag
    response = _put(f"/drop-label/{one.pk}/", {"label": "a"}, **{"If-Match": etag})
    assert response.status_code == 200, response.content
    assert response["ETag"] == SluggedLabelled.objects.get(pk=one.pk).etag != etag
    assert _version(two) != before_two
    again = _put(f"/drop-links/{one.pk}/", {"label": "b"}, **{"If-Match": response["ETag"]})
    assert again.status_code == 200, again.content
    assert again["ETag"] == SluggedLabelled.objects.get(pk=one.pk).etag != response["ETag"]
    assert _linked(one) == []


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_51_a_view_whose_label_delete_meets_a_rival_leaves_no_trace(
    documents: tuple[SluggedLabelled, SluggedLabelled],
    labels: tuple[Label, Label],
    atomic_requests: bool,
) -> None:
    """The label is linked to another document too (versioned first, not expected): the
    412 leaves the label, its links and the other document's version as they were."""
    one, two = documents
    a, _ = labels
    Tagging.objects.create(document=one, label=a)
    Tagging.objects.create(document=two, label=a)
    labelled = LabelledDocument.objects.create(title="other")
    labelled.labels.add(a)
    before = (_version(two), _stored(labelled).version_token)
    etag = SluggedLabelled.objects.get(pk=one.pk).etag
    response = _put(f"/drop-label/{one.pk}/?rival=1", {"label": "a"}, **{"If-Match": etag})
    assert response.status_code == 412, response.content
    assert response["ETag"] == SluggedLabelled.objects.get(pk=one.pk).etag
    assert (_linked(one), _linked(two), _labels(labelled)) == (["a"], ["a"], ["a"])
    assert (_version(two), _stored(labelled).version_token) == before


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_46_drf_destroy_of_a_related_row_versions_the_other(atomic_requests: bool) -> None:
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    label = Label.objects.create(name="l")
    first.related.add(second)
    first.labels.add(label)
    before = _stored(second).version_token
    etag = _stored(first).etag
    response = Client().delete(f"/api/labelled/{first.pk}/", headers={"If-Match": etag})
    assert response.status_code == 204, response.content
    assert not LabelledDocument.objects.filter(pk=first.pk).exists()
    assert _stored(second).version_token != before
    stale = Client().delete(f"/api/labelled/{second.pk}/", headers={"If-Match": f'"{before}"'})
    assert stale.status_code == 412, stale.content


# -- the admin's bulk delete through a project's delete_queryset() ----------------------------


@pytest.fixture
def own_delete_queryset(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The project's ``delete_queryset()``: audits, then Django's bulk delete."""
    audited: list[list[int]] = []

    def delete_queryset(self: Any, request: HttpRequest, queryset: Any) -> None:
        audited.append(sorted(queryset.values_list("pk", flat=True)))
        queryset.delete()

    monkeypatch.setattr(LabelledDocumentAdmin, "delete_queryset", delete_queryset)
    return audited


def _bulk_delete(client: Client, rows: list[LabelledDocument], rival: Any = None) -> Any:
    url = changelist_url(LabelledDocument)
    selected = {"action": "delete_selected", "_selected_action": [r.pk for r in rows]}
    versions = client.post(url, selected).context["preconditions_versions"]
    if rival is not None:
        rival()
    return client.post(url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions}, follow=True)


def _triangle() -> list[LabelledDocument]:
    rows = [LabelledDocument.objects.create(title=t) for t in ("a", "b", "c")]
    rows[0].related.add(rows[1], rows[2])
    rows[1].related.add(rows[2])
    return rows


def test_admin_bulk_delete_through_delete_queryset_of_two_related_rows_deletes_both(
    admin_client: Client, own_delete_queryset: list[list[int]]
) -> None:
    """As without the override (tests/test_relations_hostile_rows.py): deleting the first
    versions the second as the action's own write; the second is deleted too."""
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    response = _bulk_delete(admin_client, [first, second])
    assert LabelledDocument.objects.count() == 0, messages_of(response)


@pytest.mark.parametrize("override", [False, True], ids=["delete_model", "delete_queryset"])
@pytest.mark.parametrize("stale", [0, 1, 2])
def test_admin_bulk_delete_of_three_related_rows_keeps_only_the_one_changed(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch, override: bool, stale: int
) -> None:
    if override:
        monkeypatch.setattr(
            LabelledDocumentAdmin, "delete_queryset", lambda self, request, qs: qs.delete()
        )
    rows = _triangle()
    changed = rows[stale]

    def rival() -> None:
        LabelledDocument.objects.filter(pk=changed.pk).update(title="changed")

    response = _bulk_delete(admin_client, rows, rival)
    assert list(LabelledDocument.objects.values_list("pk", flat=True)) == [changed.pk], messages_of(
        response
    )
    assert any("Not deleted" in m for m in messages_of(response))


# -- locks: the target-delete receiver inside the collector's transaction ----------------------


@pytest.mark.parametrize("outer", [False, True], ids=["autocommit", "in-transaction"])
def test_a_select_for_update_queryset_of_labels_deletes_and_versions(outer: bool) -> None:
    """Django deletes a ``select_for_update()`` queryset (it drops the lock for the delete,
    also in autocommit); the receiver reads the queryset's rows again (its first row
    handles them all): the documents linked to them get a new version."""
    labels = [Label.objects.create(name=f"tmp{n}") for n in range(3)]
    doc = LabelledDocument.objects.create(title="d")
    doc.labels.add(*labels)
    named = NamedDocument.objects.create(name="n", title="t")
    named.tags.add(labels[2])
    before = (_stored(doc).version_token, NamedDocument.objects.get(pk=named.pk).version_token)
    with transaction.atomic() if outer else contextlib.nullcontext():
        locked = Label.objects.select_for_update().filter(name__startswith="tmp")
        if outer:
            assert len(list(locked)) == 3
        locked.delete()
    after = (_stored(doc).version_token, NamedDocument.objects.get(pk=named.pk).version_token)
    assert after[0] != before[0]
    assert after[1] != before[1]
    assert Label.objects.count() == 0


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_a_clear_in_autocommit_locks_inside_its_own_transaction(reverse: bool) -> None:
    """``clear()`` locks the cleared row (``SELECT … FOR UPDATE``) in autocommit: Django's
    transaction around the change is the one the lock needs."""
    label = Label.objects.create(name="x")
    named = NamedDocument.objects.create(name="n", title="t")
    named.tags.add(label)
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    first.related.add(second)
    before = (_stored(second).version_token, NamedDocument.objects.get(pk=named.pk).version_token)
    if reverse:
        label.named.clear()
        second.related.clear()
    else:
        named.tags.clear()
        first.related.clear()
    after = (_stored(second).version_token, NamedDocument.objects.get(pk=named.pk).version_token)
    assert after[0] != before[0]
    assert after[1] != before[1]


# -- query counts ------------------------------------------------------------------------------


def _count(work: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        work()
    return len(queries.captured_queries)


def _delete_labels_of_three_tables(size: int) -> int:
    """A queryset's delete of ``size`` labels, each linked through the three relation
    tables (auto-created, a plain parent's, a custom ``through``)."""
    labels = Label.objects.bulk_create([Label(name=f"t{size}-{n}") for n in range(size)])
    labelled = LabelledDocument.objects.create(title="l")
    labelled.labels.add(*labels)
    named = NamedDocument.objects.create(name="n", title="t")
    named.tags.add(*labels)
    slugged = SluggedLabelled.objects.create(slug=f"s{size}")
    Tagging.objects.bulk_create([Tagging(document=slugged, label=label) for label in labels])
    return _count(Label.objects.filter(name__startswith=f"t{size}-").delete)


def _async_clear_custom(size: int) -> int:
    """``aclear()`` of ``size`` links of a custom ``through``, in an event loop."""
    from asgiref.sync import async_to_sync

    document = SluggedLabelled.objects.create(slug=f"c{size}")
    document.labels.add(
        *Label.objects.bulk_create([Label(name=f"c{size}-{n}") for n in range(size)])
    )

    async def clear() -> None:
        await document.labels.aclear()

    cleared = _count(async_to_sync(clear))
    assert _linked(document) == []
    return cleared


@pytest.mark.parametrize("write", [_delete_labels_of_three_tables, _async_clear_custom])
def test_the_statements_of_a_delete_do_not_grow_with_its_rows(write: Any) -> None:
    small, large = write(5), write(50)
    assert 0 < small == large <= 16, (small, large)


@pytest.mark.asyncio
async def test_a_prefetched_instance_follows_its_async_remove_and_reads_fresh_labels(
    documents: tuple[SluggedLabelled, SluggedLabelled], labels: tuple[Label, Label]
) -> None:
    one, _ = documents
    await one.labels.aadd(*labels)
    loaded = await SluggedLabelled.objects.prefetch_related("labels").aget(pk=one.pk)
    with expect_version(SluggedLabelled, one.pk, loaded.version_token) as expected:
        await loaded.labels.aremove(labels[0])
        names = await sync_to_async(lambda: [label.name for label in loaded.labels.all()])()
        assert names == ["b"]
        await loaded.asave()
    assert loaded.version_token == expected.token == await sync_to_async(_version)(one)
