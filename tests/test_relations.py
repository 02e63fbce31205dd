"""Many-to-many changes are writes of the model that declares the field (rule 46): they give
its rows a new version, so that a client holding the old ETag cannot send the old relation
back over a change it never saw; inside a protected request they are a compare-and-swap
that the request follows (rules 44, 51, 52)."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models.signals import m2m_changed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from rest_framework import routers, serializers, viewsets

from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import expect_version
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.concurrency import run_in_threads
from tests.support.middleware import settings_rule
from tests.testapp.models import Label, LabelledDocument, Named, NamedDocument

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.test_relations")]


def _label(request: HttpRequest, document: LabelledDocument) -> HttpResponse:
    """PUT ``{"labels": [names]}`` adds those labels (after a rival's write to the row when
    asked: ``?rival=1``); the body lists the labels the row has."""
    if request.method == "PUT":
        if request.GET.get("rival"):
            LabelledDocument.objects.filter(pk=document.pk).update(title="rival")
        names = json.loads(request.body)["labels"]
        document.labels.add(*Label.objects.filter(name__in=names))
    return JsonResponse({"labels": sorted(label.name for label in document.labels.all())})


@require_preconditions(LabelledDocument)
def decorated(request: HttpRequest, pk: int) -> HttpResponse:
    return _label(request, request.preconditions.instance)  # type: ignore[attr-defined]


@require_preconditions(LabelledDocument)
def labels_only(request: HttpRequest, pk: int) -> HttpResponse:
    """GET the labels; PUT ``{"labels": [names]}`` sets them and writes nothing else: only
    the relation's table changes."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        names = json.loads(request.body)["labels"]
        document.labels.set(Label.objects.filter(name__in=names))
    return JsonResponse({"labels": sorted(label.name for label in document.labels.all())})


def plain(request: HttpRequest, pk: int) -> HttpResponse:
    """Protected by the middleware's settings rule only."""
    return _label(request, LabelledDocument.objects.get(pk=pk))


class LabelledSerializer(serializers.ModelSerializer[LabelledDocument]):
    labels = serializers.SlugRelatedField(
        slug_field="name", queryset=Label.objects.all(), many=True
    )

    class Meta:
        model = LabelledDocument
        fields = ["id", "title", "labels"]


class RacingSerializer(LabelledSerializer):
    """Saves the row, then a rival writes it, then the labels are set (``?rival=1``)."""

    def update(self, instance: LabelledDocument, validated_data: dict[str, Any]) -> Any:
        labels = validated_data.pop("labels")
        instance.title = validated_data.get("title", instance.title)
        instance.save()
        LabelledDocument.objects.filter(pk=instance.pk).update(title="rival")
        instance.labels.set(labels)
        return instance


class LabelledViewSet(PreconditionMixin, viewsets.ModelViewSet[LabelledDocument]):
    queryset = LabelledDocument.objects.all()
    serializer_class = LabelledSerializer

    def get_serializer_class(self) -> Any:
        return RacingSerializer if self.request.query_params.get("rival") else LabelledSerializer


_router = routers.SimpleRouter()
_router.register("api/labelled", LabelledViewSet, basename="labelled")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include(_router.urls)),
    path("decorated/<int:pk>/", decorated),
    path("labels/<int:pk>/", labels_only),
    path("plain/<int:pk>/", plain, name="labelled-plain"),
]

RULE = {"model": "testapp.LabelledDocument", "lookup_url_kwarg": "pk"}


def _put(url: str, body: dict[str, Any], **headers: str) -> Any:
    client = Client()
    if url.startswith("/plain/"):
        with settings_rule("labelled-plain", **RULE):
            return client.put(url, body, content_type="application/json", headers=headers)
    return client.put(url, body, content_type="application/json", headers=headers)


@pytest.fixture
def document() -> LabelledDocument:
    Label.objects.bulk_create([Label(name=name) for name in ("a", "b", "c")])
    return LabelledDocument.objects.create(title="doc")


def _stored(document: LabelledDocument) -> LabelledDocument:
    return LabelledDocument.objects.get(pk=document.pk)


def _labels(document: LabelledDocument) -> list[str]:
    return sorted(document.labels.values_list("name", flat=True))


# -- every way of changing the relation -------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda doc, a, b: doc.labels.add(b), id="add"),
        pytest.param(lambda doc, a, b: doc.labels.remove(a), id="remove"),
        pytest.param(lambda doc, a, b: doc.labels.set([b]), id="set"),
        pytest.param(lambda doc, a, b: doc.labels.clear(), id="clear"),
        pytest.param(lambda doc, a, b: doc.labels.create(name="new"), id="create"),
        pytest.param(lambda doc, a, b: b.documents.add(doc), id="reverse-add"),
        pytest.param(lambda doc, a, b: a.documents.remove(doc), id="reverse-remove"),
        pytest.param(lambda doc, a, b: a.documents.clear(), id="reverse-clear"),
        pytest.param(lambda doc, a, b: b.documents.set([doc]), id="reverse-set"),
    ],
)
def test_rule_46_a_change_of_the_relation_gives_the_row_a_new_version(
    document: LabelledDocument, change: Any
) -> None:
    a, b = Label.objects.get(name="a"), Label.objects.get(name="b")
    document.labels.add(a)
    before = _stored(document)
    change(document, a, b)
    after = _stored(document)
    assert after.version_token != before.version_token
    assert after.last_modified >= before.last_modified
    if document.version_token != before.version_token:  # changed through the declaring side
        assert document.version_token == after.version_token  # the instance has it too


def test_rule_46_adding_what_is_related_already_changes_nothing(
    document: LabelledDocument,
) -> None:
    a = Label.objects.get(name="a")
    document.labels.add(a)
    before = _stored(document).version_token
    document.labels.add(a)
    document.labels.set([a])
    assert _stored(document).version_token == before


def test_rule_46_a_symmetrical_relation_is_a_write_of_both_rows() -> None:
    first = LabelledDocument.objects.create(title="first")
    second = LabelledDocument.objects.create(title="second")
    tokens = {doc.pk: doc.version_token for doc in (first, second)}
    first.related.add(second)
    assert all(_stored(doc).version_token != tokens[doc.pk] for doc in (first, second))
    tokens = {doc.pk: _stored(doc).version_token for doc in (first, second)}
    second.related.clear()
    assert all(_stored(doc).version_token != tokens[doc.pk] for doc in (first, second))


def test_other_many_to_many_relations_keep_djangos_fast_add() -> None:
    """Receivers are connected for the relations versioned models declare only: Django adds
    to other relations without first reading which rows are missing."""
    assert m2m_changed.has_listeners(LabelledDocument.labels.through)
    assert not m2m_changed.has_listeners(User.groups.through)
    user = User.objects.create(username="u")
    user.groups.add(Group.objects.create(name="g"))
    assert list(user.groups.values_list("name", flat=True)) == ["g"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda doc, label: doc.tags.add(label), id="child"),
        pytest.param(lambda doc, label: Named.objects.get(pk=doc.pk).tags.add(label), id="parent"),
        pytest.param(lambda doc, label: label.named.add(doc), id="reverse"),
    ],
)
def test_rule_46_a_field_of_a_plain_parent_is_a_write_of_the_versioned_child(change: Any) -> None:
    """``Named`` (plain) declares ``tags``; its versioned multi-table child keeps the
    version. A change through the child, the parent or the reverse side versions the row."""
    document = NamedDocument.objects.create(name="n", title="t")
    label = Label.objects.create(name="x")
    before = NamedDocument.objects.get(pk=document.pk).version_token
    change(document, label)
    assert NamedDocument.objects.get(pk=document.pk).version_token != before
    assert list(document.tags.values_list("name", flat=True)) == ["x"]


def test_rule_44_a_rival_before_a_change_through_the_plain_parent_is_a_conflict() -> None:
    document = NamedDocument.objects.create(name="n", title="t")
    parent = Named.objects.get(pk=document.pk)
    with expect_version(NamedDocument, document.pk, document.version_token) as expected:
        parent.tags.add(Label.objects.create(name="mine"))  # follows (rule 52)
        assert expected.token == NamedDocument.objects.get(pk=document.pk).version_token
        NamedDocument.objects.filter(pk=document.pk).update(title="rival")
        with pytest.raises(VersionConflict):
            parent.tags.add(Label.objects.create(name="late"))
    assert list(document.tags.values_list("name", flat=True)) == ["mine"]


# -- inside a request that expects a version ----------------------------------------------------


def test_rule_52_the_request_follows_its_own_change_of_the_relation(
    document: LabelledDocument,
) -> None:
    """A relation change then a save of the row, in one block expecting the row's version:
    the save compare-and-swaps against the version the change wrote, not the one expected
    before it (which would refuse the request's own write)."""
    with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
        document.labels.add(Label.objects.get(name="a"))
        assert expected.token == _stored(document).version_token
        document.title = "after"
        document.save()
    stored = _stored(document)
    assert (stored.title, stored.version_token) == ("after", expected.token)


def test_rule_52_a_change_through_the_reverse_side_is_followed_and_checked_too(
    document: LabelledDocument,
) -> None:
    a, b = Label.objects.get(name="a"), Label.objects.get(name="b")
    other = LabelledDocument.objects.create(title="other")
    with expect_version(LabelledDocument, document.pk, document.version_token) as expected:
        a.documents.add(document, other)
        assert expected.token == _stored(document).version_token
        document.title = "after"
        document.save()  # follows: not a conflict with the request's own change
        LabelledDocument.objects.filter(pk=document.pk).update(title="rival")
        with pytest.raises(VersionConflict):
            b.documents.add(document)
    assert (_stored(document).title, _labels(document)) == ("rival", ["a"])
    assert _labels(other) == ["a"]


def test_rule_44_a_rivals_write_before_the_change_is_a_conflict(
    document: LabelledDocument,
) -> None:
    with expect_version(LabelledDocument, document.pk, document.version_token):
        LabelledDocument.objects.filter(pk=document.pk).update(title="rival")
        with pytest.raises(VersionConflict):
            document.labels.add(Label.objects.get(name="a"))
    assert _labels(document) == []  # the relation's change was rolled back with it (rule 51)
    assert _stored(document).title == "rival"


ADAPTERS = ["/decorated/{}/", "/plain/{}/", "/api/labelled/{}/"]


def _body(url: str) -> dict[str, Any]:
    return {"title": "doc", "labels": ["a"]} if url.startswith("/api/") else {"labels": ["a"]}


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_52_a_protected_change_of_the_relation_answers_the_final_version(
    document: LabelledDocument, url: str, atomic_requests: bool
) -> None:
    response = _put(url.format(document.pk), _body(url), **{"If-Match": document.etag})
    assert response.status_code == 200, response.content
    stored = _stored(document)
    assert response["ETag"] == stored.etag != document.etag
    assert _labels(document) == ["a"]
    again = _put(url.format(document.pk), _body(url), **{"If-Match": response["ETag"]})
    assert again.status_code == 200, again.content


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_46_an_etag_from_before_a_change_of_the_relation_is_stale(
    document: LabelledDocument, url: str
) -> None:
    """The lost update this prevents: a client read the row, someone else labelled it, the
    client sends its copy (without that label) back with the ETag it read."""
    read = document.etag
    document.labels.add(Label.objects.get(name="b"))
    response = _put(url.format(document.pk), _body(url), **{"If-Match": read})
    assert response.status_code == 412, response.content
    assert response["ETag"] == _stored(document).etag
    assert _labels(document) == ["b"]


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
@pytest.mark.parametrize("url", ["/decorated/{}/", "/plain/{}/"])
def test_rule_44_a_rivals_write_during_the_request_is_412_and_leaves_no_label(
    document: LabelledDocument, url: str, atomic_requests: bool
) -> None:
    """The view's write of the row (standing in for a rival's) lands between the check and
    the change of the relation: the change's compare-and-swap finds another version. (Under
    the middleware that write is the request's own, in the transaction the 412 rolls back.)"""
    response = _put(
        url.format(document.pk) + "?rival=1", {"labels": ["a"]}, **{"If-Match": document.etag}
    )
    assert response.status_code == 412, response.content
    assert response["ETag"] == _stored(document).etag
    assert _labels(document) == []  # rule 51


# -- the admin ------------------------------------------------------------------------------------


def test_rule_46_the_admin_refuses_a_form_opened_before_a_change_of_the_labels(
    admin_client: Client, document: LabelledDocument
) -> None:
    """Saving the stale form would set the labels back to what it showed, dropping the label
    added since; it is refused, and a current form saves labels and title."""
    from tests.support.admin_pages import form_of, open_form, save

    a, b = Label.objects.get(name="a"), Label.objects.get(name="b")
    stale = open_form(admin_client, document)
    document.labels.add(b)  # elsewhere, after the form was opened
    refused = save(admin_client, document, stale, title="stale", labels=[str(a.pk)])
    assert refused.status_code == 200  # the form again, with the conflict
    assert form_of(refused).preconditions_conflict is not None
    assert (_stored(document).title, _labels(document)) == ("doc", ["b"])
    current = open_form(admin_client, document)
    saved = save(admin_client, document, current, title="new", labels=[str(a.pk)])
    assert saved.status_code == 302
    assert (_stored(document).title, _labels(document)) == ("new", ["a"])


@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_52_a_rival_between_the_rows_save_and_the_labels(
    document: LabelledDocument, atomic_requests: bool
) -> None:
    """DRF saves the row, then sets the labels; a rival writes the row in between, and the
    labels' compare-and-swap finds the rival's version: the labels are not set over it.
    Under ATOMIC_REQUESTS the save is rolled back too: 412 (rule 51). In autocommit the save
    had committed: not 412 but 503, saying it was applied and to re-read (rule 52)."""
    response = _put(
        f"/api/labelled/{document.pk}/?rival=1",
        {"title": "mine", "labels": ["a"]},
        **{"If-Match": document.etag},
    )
    assert _labels(document) == []
    stored = _stored(document)
    if atomic_requests:
        assert response.status_code == 412, response.content
        assert stored.title == "doc"
        assert response["ETag"] == stored.etag
    else:
        assert response.status_code == 503, response.content
        assert "was applied" in response.json()["detail"]
        assert stored.title == "rival"


# -- real parallel writers --------------------------------------------------------------------------

WRITERS = 4
LABELS_PER_WRITER = 3


@pytest.mark.concurrency
def test_rule_44_parallel_writers_of_the_labels_alone_lose_no_label(
    document: LabelledDocument,
) -> None:
    """Writers that each add labels by reading the list and setting it again, with the ETag
    they read, on their own connections: every label a writer was told it added is there at
    the end (before, the version did not change, and a stale list overwrote others' labels),
    and conflicts really happened."""
    Label.objects.bulk_create(
        [Label(name=f"w{i}-{n}") for i in range(WRITERS) for n in range(LABELS_PER_WRITER)]
    )
    url = f"/labels/{document.pk}/"
    added: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        client = Client()
        barrier.wait(timeout=30)
        for n in range(LABELS_PER_WRITER):
            mine = f"w{index}-{n}"
            for _ in range(60):
                read = client.get(url)
                assert read.status_code == 200, read.content
                time.sleep(random.uniform(0, 0.004))
                write = client.put(
                    url,
                    {"labels": [*read.json()["labels"], mine]},
                    content_type="application/json",
                    headers={"If-Match": read["ETag"]},
                )
                with lock:
                    statuses.append(write.status_code)
                if write.status_code == 200:
                    with lock:
                        added.append(mine)
                    break

    assert run_in_threads(WRITERS, work) == []
    assert set(statuses) <= {200, 412, 503}, statuses
    assert len(added) == WRITERS * LABELS_PER_WRITER
    assert _labels(document) == sorted(added)  # no lost update
    assert statuses.count(412) > 0  # the writers really raced
