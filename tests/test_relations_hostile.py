"""Hostile tests of many-to-many versioning (relations.py, rules 44, 46, 51, 52): the reverse
side and symmetrical relations inside protected requests, pre_save receivers, async
managers, custom through models with a to_field, and a clear() racing a concurrent add."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models.signals import m2m_changed, pre_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from rest_framework import routers

from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from tests.support.middleware import settings_rule
from tests.test_relations import RULE, LabelledViewSet, _labels, _stored
from tests.testapp.models import Label, LabelledDocument, Named, NamedDocument

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.test_relations_hostile"),
]


@require_preconditions(LabelledDocument)
def reverse_add(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT {"labels": [names]}: adds the row through the reverse side (label.documents)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    for label in Label.objects.filter(name__in=json.loads(request.body)["labels"]):
        label.documents.add(document)
    return JsonResponse({"labels": sorted(document.labels.values_list("name", flat=True))})


def plain_reverse(request: HttpRequest, pk: int) -> HttpResponse:
    """Protected by the middleware's settings rule only; reverse-side add."""
    document = LabelledDocument.objects.get(pk=pk)
    for label in Label.objects.filter(name__in=json.loads(request.body)["labels"]):
        label.documents.add(document)
    return JsonResponse({"labels": sorted(document.labels.values_list("name", flat=True))})


@require_preconditions(LabelledDocument)
def related_view(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT {"other": pk}: relates the row to another through the *other* row's side."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    other = LabelledDocument.objects.get(pk=json.loads(request.body)["other"])
    other.related.add(document)
    return JsonResponse({"ok": True})


_router = routers.SimpleRouter()
_router.register("api/labelled", LabelledViewSet, basename="labelled")

urlpatterns = [
    path("", include(_router.urls)),
    path("reverse/<int:pk>/", reverse_add),
    path("plain-reverse/<int:pk>/", plain_reverse, name="plain-reverse"),
    path("related/<int:pk>/", related_view),
]


@pytest.fixture
def document() -> LabelledDocument:
    Label.objects.bulk_create([Label(name=name) for name in ("a", "b", "c")])
    return LabelledDocument.objects.create(title="doc")


def _put(url: str, body: Any, **headers: str) -> Any:
    return Client().put(url, body, content_type="application/json", headers=headers)


# -- rule 52: a pre_save receiver that changes the row's own relation ----------------------


def test_pre_save_receiver_changing_the_relation_is_not_a_conflict(
    document: LabelledDocument,
) -> None:
    a = Label.objects.get(name="a")

    def tag_on_save(sender: Any, instance: LabelledDocument, **kwargs: Any) -> None:
        if instance.pk is not None:
            instance.labels.add(a)

    pre_save.connect(tag_on_save, sender=LabelledDocument, dispatch_uid="hostile-pre-save")
    try:
        with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
            document.title = "mine"
            document.save()  # the request's own write: must not be refused (rule 52)
    finally:
        pre_save.disconnect(sender=LabelledDocument, dispatch_uid="hostile-pre-save")
    stored = _stored(document)
    assert (stored.title, _labels(document)) == ("mine", ["a"])
    assert expected.token == stored.version_token


# -- rule 52: responses after a change through the reverse side -------------------------------


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_decorated_reverse_add_answers_the_final_version(
    document: LabelledDocument, atomic_requests: bool
) -> None:
    response = _put(
        f"/reverse/{document.pk}/", {"labels": ["a", "b"]}, **{"If-Match": document.etag}
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == _stored(document).etag != document.etag
    again = _put(f"/reverse/{document.pk}/", {"labels": ["c"]}, **{"If-Match": response["ETag"]})
    assert again.status_code == 200, again.content


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_middleware_reverse_add(document: LabelledDocument, atomic_requests: bool) -> None:
    with settings_rule("plain-reverse", **RULE):
        response = _put(
            f"/plain-reverse/{document.pk}/", {"labels": ["a"]}, **{"If-Match": document.etag}
        )
        assert response.status_code == 200, response.content
        assert response["ETag"] == _stored(document).etag != document.etag
        stale = _put(
            f"/plain-reverse/{document.pk}/", {"labels": ["b"]}, **{"If-Match": document.etag}
        )
        assert stale.status_code == 412, stale.content
    assert _labels(document) == ["a"]


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_symmetrical_change_through_the_other_row(
    document: LabelledDocument, atomic_requests: bool
) -> None:
    other = LabelledDocument.objects.create(title="other")
    response = _put(f"/related/{document.pk}/", {"other": other.pk}, **{"If-Match": document.etag})
    assert response.status_code == 200, response.content
    assert response["ETag"] == _stored(document).etag != document.etag


def test_symmetrical_rival_on_the_other_side_leaves_no_trace(document: LabelledDocument) -> None:
    other = LabelledDocument.objects.create(title="other")
    mine_before = _stored(document).version_token
    with expect_version(LabelledDocument, other.pk, other.version_token):
        LabelledDocument.objects.filter(pk=other.pk).update(title="rival")
        with pytest.raises(VersionConflict):
            document.related.add(other)
    assert list(document.related.all()) == []
    assert list(other.related.all()) == []
    assert _stored(document).version_token == mine_before  # rule 51


def test_set_clear_true_follows(document: LabelledDocument) -> None:
    a, b = Label.objects.get(name="a"), Label.objects.get(name="b")
    document.labels.add(a)
    document.refresh_from_db()
    with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
        document.labels.set([b], clear=True)
        Label.objects.get(name="c").documents.set([document], clear=True)
        document.title = "x"
        document.save()
    assert _stored(document).version_token == expected.token
    assert _labels(document) == ["b", "c"]


# -- DRF create ---------------------------------------------------------------------------------


def test_drf_create_with_labels_answers_the_stored_version(document: LabelledDocument) -> None:
    response = Client().post(
        "/api/labelled/", {"title": "new", "labels": ["a", "b"]}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    stored = LabelledDocument.objects.get(pk=response.json()["id"])
    assert response["ETag"] == stored.etag


# -- async related managers ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_aadd_aset_follow() -> None:
    from asgiref.sync import sync_to_async

    document = await LabelledDocument.objects.acreate(title="d")
    a = await Label.objects.acreate(name="a")
    b = await Label.objects.acreate(name="b")
    with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
        await document.labels.aadd(a)
        await b.documents.aadd(document)
        await document.labels.aset([b])
        document.title = "after"
        await document.asave()
        await sync_to_async(LabelledDocument.objects.filter(pk=document.pk).update)(title="rival")
        with pytest.raises(VersionConflict):
            await document.labels.aadd(a)
    stored = await LabelledDocument.objects.aget(pk=document.pk)
    assert stored.title == "rival"
    names = [n async for n in document.labels.values_list("name", flat=True)]
    assert names == ["b"]
    assert expected.token != stored.version_token


# -- plain parent -------------------------------------------------------------------------------


def test_plain_parent_reverse_clear_and_child_set() -> None:
    document = NamedDocument.objects.create(name="n", title="t")
    label = Label.objects.create(name="x")
    document.tags.add(label)
    before = NamedDocument.objects.get(pk=document.pk).version_token
    label.named.clear()
    assert NamedDocument.objects.get(pk=document.pk).version_token != before
    with expect_version(
        NamedDocument, document.pk, NamedDocument.objects.get(pk=document.pk).version_token
    ) as e:
        label.named.add(document)
        Named.objects.get(pk=document.pk).tags.set([], clear=True)
        document.title = "z"
        document.save()
    assert NamedDocument.objects.get(pk=document.pk).version_token == e.token


# -- a real concurrent connection: the rows a reverse clear() deletes are read before it ----------


def _in_other_connection(work: Any) -> threading.Thread:
    """Start ``work`` on a thread with its own connection (joined by the caller)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="needs a second writer while the clear runs"
)
def test_a_label_added_while_a_reverse_clear_runs_is_never_lost_silently(
    document: LabelledDocument,
) -> None:
    """``label.documents.clear()`` reads the related rows, then DELETEs their links. Another
    connection labels a document in between and its client reads the ETag. Either that link
    survives (it was added after the clear: the clear locks the label first, so the add
    waits), or the clear removed it and the document has a new version: the client's copy
    is never accepted over the change it did not see."""
    a = Label.objects.get(name="a")
    rival_doc = LabelledDocument.objects.create(title="rival")
    seen: dict[str, str] = {}
    started: list[threading.Thread] = []

    def rival_adds_during_clear(sender: Any, action: str, **kwargs: Any) -> None:
        if action != "pre_clear" or started:
            return

        def work() -> None:
            a.documents.add(rival_doc)  # autocommit, on its own connection
            seen["etag"] = LabelledDocument.objects.get(pk=rival_doc.pk).etag

        started.append(_in_other_connection(work))
        time.sleep(0.5)  # the add runs now, or waits for the clear's lock

    through = LabelledDocument.labels.through
    m2m_changed.connect(rival_adds_during_clear, sender=through, dispatch_uid="hostile-race")
    try:
        a.documents.clear()  # in its own transaction (Django's atomic), autocommit around
    finally:
        m2m_changed.disconnect(sender=through, dispatch_uid="hostile-race")
    started[0].join(30)
    assert not started[0].is_alive()
    assert started[0].errors == []  # type: ignore[attr-defined]
    stored = _stored(rival_doc)
    if _labels(rival_doc) == ["a"]:
        assert stored.etag == seen["etag"]  # the link and the version the client read agree
        return
    response = _put(
        f"/api/labelled/{rival_doc.pk}/",
        {"title": "rival", "labels": ["a", "b"]},
        **{"If-Match": seen["etag"]},
    )
    assert response.status_code == 412, (response.status_code, _labels(rival_doc))


# -- docs/models.md: a refused relation change and the enclosing transaction -----------------------


def test_a_refused_relation_change_marks_the_enclosing_transaction_unless_in_a_savepoint(
    document: LabelledDocument,
) -> None:
    """Django changes a relation inside ``atomic(savepoint=False)``: a conflict raised there
    marks an enclosing transaction for rollback (unlike a refused ``save()``). In a
    ``transaction.atomic()`` of its own, the transaction stays usable, e.g. to retry."""
    from django.db.transaction import TransactionManagementError

    a = Label.objects.get(name="a")
    read = document.version_token
    LabelledDocument.objects.filter(pk=document.pk).update(title="rival")
    with transaction.atomic():
        with expect_version(LabelledDocument, document.pk, read):
            with pytest.raises(VersionConflict):
                document.labels.add(a)
            with pytest.raises(TransactionManagementError):
                LabelledDocument.objects.get(pk=document.pk)
        transaction.set_rollback(True)
    with transaction.atomic(), expect_version(LabelledDocument, document.pk, read):
        try:
            with transaction.atomic():
                document.labels.add(a)
        except VersionConflict:
            current = LabelledDocument.objects.get(pk=document.pk)  # usable
            current.title = "retried"
            current.save(expected_version=current.version_token)
    assert (_stored(document).title, _labels(document)) == ("retried", [])


# -- a custom through (through_defaults) whose key to the declaring model is not its pk --------


def test_reverse_add_with_a_to_field_through_gives_the_row_a_new_version() -> None:
    from tests.testapp.models import SluggedLabelled

    doc = SluggedLabelled.objects.create(slug="s1")
    label = Label.objects.create(name="x")
    before = SluggedLabelled.objects.get(pk=doc.pk).version_token
    label.slugged.add(doc, through_defaults={"note": "n"})  # reverse side
    assert SluggedLabelled.objects.get(pk=doc.pk).version_token != before


def test_forward_add_with_through_defaults_follows() -> None:
    from tests.testapp.models import SluggedLabelled

    doc = SluggedLabelled.objects.create(slug="s2")
    label = Label.objects.create(name="y")
    with expect_version(SluggedLabelled, doc.pk, doc.version_token) as expected:
        doc.labels.add(label, through_defaults={"note": "n"})
        doc.save()
    assert SluggedLabelled.objects.get(pk=doc.pk).version_token == expected.token


def test_reverse_add_with_a_numeric_to_field_versions_the_wrong_row() -> None:
    from tests.testapp.models import SluggedLabelled

    first = SluggedLabelled.objects.create(slug="zzz")
    second = SluggedLabelled.objects.create(slug=str(first.pk))  # a slug that looks like a pk
    label = Label.objects.create(name="x")
    tokens = {d.pk: SluggedLabelled.objects.get(pk=d.pk).version_token for d in (first, second)}
    label.slugged.add(second)  # only `second` is written
    assert SluggedLabelled.objects.get(pk=first.pk).version_token == tokens[first.pk]
    assert SluggedLabelled.objects.get(pk=second.pk).version_token != tokens[second.pk]
