"""Around Enforcer.guarded() and the GET that saves (rules 39, 44, 51, and no extra query): a
counting GET never serves a rival's ETag with its own body, a CreateView behind the mixin
runs in the request transaction, a protected cascade delete costs one statement more than
Django's (the claim) and no savepoint, the stored version of a counting GET is read once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.views import View
from django.views.generic.detail import SingleObjectMixin
from rest_framework import viewsets
from rest_framework.routers import DefaultRouter

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.support.middleware import MIDDLEWARE
from tests.testapp.models import Document, Folder
from tests.testapp.serializers import DocumentSerializer

pytestmark = [pytest.mark.urls(__name__)]


def _body(request: HttpRequest, obj: Any) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        return JsonResponse({"pk": obj.pk})
    if request.method == "DELETE":
        obj.delete()
        return HttpResponse(status=204)
    data = json.loads(request.body)
    for key, value in data.items():
        setattr(obj, key, value)
    obj.save()
    return JsonResponse({"pk": obj.pk})


def plain_doc(request: HttpRequest, pk: int) -> HttpResponse:
    return _body(request, get_object_or_404(Document, pk=pk))


def plain_folder(request: HttpRequest, pk: int) -> HttpResponse:
    return _body(request, get_object_or_404(Folder, pk=pk))


@require_preconditions(Document)
def protected_doc(request: HttpRequest, pk: int) -> HttpResponse:
    return _body(request, request.preconditions.instance)  # type: ignore[attr-defined]


@require_preconditions(Folder)
def protected_folder(request: HttpRequest, pk: int) -> HttpResponse:
    return _body(request, request.preconditions.instance)  # type: ignore[attr-defined]


class PlainDocView(SingleObjectMixin, View):  # type: ignore[type-arg]
    model = Document

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _body(request, self.get_object())

    put = patch = delete = get


class ProtectedDocView(PreconditionRequiredMixin, PlainDocView):
    pass


class PlainFolderView(PlainDocView):
    model = Folder


class ProtectedFolderView(PreconditionRequiredMixin, PlainFolderView):
    pass


class PlainDocViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class ProtectedDocViewSet(PreconditionMixin, PlainDocViewSet):  # type: ignore[misc]
    pass


router = DefaultRouter()
router.register("drf-plain", PlainDocViewSet, basename="hr2-plain")
router.register("drf-protected", ProtectedDocViewSet, basename="hr2-protected")

urlpatterns = [
    path("", include(router.urls)),
    path("fn-plain/<int:pk>/", plain_doc),
    path("fn-protected/<int:pk>/", protected_doc),
    path("fn-plain-folder/<int:pk>/", plain_folder),
    path("fn-protected-folder/<int:pk>/", protected_folder),
    path("cbv-plain/<int:pk>/", PlainDocView.as_view()),
    path("cbv-protected/<int:pk>/", ProtectedDocView.as_view()),
    path("cbv-plain-folder/<int:pk>/", PlainFolderView.as_view()),
    path("cbv-protected-folder/<int:pk>/", ProtectedFolderView.as_view()),
    path("mw/<int:pk>/", plain_doc, name="hr2-mw"),
]

BOTH_MODES = pytest.mark.parametrize(
    "atomic_requests", [False, True], ids=["autocommit", "atomic_requests"], indirect=True
)


def _count(client: Client, method: str, url: str, etag: str | None) -> tuple[int, list[str]]:
    headers = {"If-Match": etag} if etag and method not in ("GET", "HEAD") else {}
    body = {"title": "new"} if method in ("PUT", "PATCH") else None
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method.lower())(
            url, json.dumps(body) if body else "", content_type="application/json", headers=headers
        )
    assert response.status_code < 300, (response.status_code, response.content)
    return len(queries), [q["sql"] for q in queries]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
@pytest.mark.parametrize(
    "pair",
    [
        ("/fn-plain-folder/{pk}/", "/fn-protected-folder/{pk}/"),
        ("/cbv-plain-folder/{pk}/", "/cbv-protected-folder/{pk}/"),
    ],
    ids=["decorator", "cbv"],
)
def test_no_extra_query_protected_delete_with_cascade_under_atomic_requests(
    pair: tuple[str, str],
) -> None:
    """A protected DELETE of a model with a cascade (Folder -> Entry) costs the plain view's
    queries plus the documented claim (one compare-and-swap UPDATE), as before a986410. Under
    ATOMIC_REQUESTS VersionedModel.delete() now opens a savepoint around the claim and the
    collector: SAVEPOINT + RELEASE SAVEPOINT, two more statements on every such DELETE."""
    plain, protected = pair
    client = Client()
    f1 = Folder.objects.create(name="a")
    f2 = Folder.objects.create(name="b")
    plain_n, plain_sql = _count(client, "DELETE", plain.format(pk=f1.pk), None)
    prot_n, prot_sql = _count(client, "DELETE", protected.format(pk=f2.pk), f2.etag)
    assert prot_n <= plain_n + 1, "\n".join(["PLAIN", *plain_sql, "PROTECTED", *prot_sql])


# --- CreateView with the class-based mixin under ATOMIC_REQUESTS -----------------------------

from django.views.generic import CreateView  # noqa: E402

SEEN_ATOMIC: list[bool] = []


class PlainCreate(CreateView):  # type: ignore[type-arg]
    model = Document
    fields = ["title"]
    success_url = "/done/"

    def form_valid(self, form: Any) -> HttpResponse:
        SEEN_ATOMIC.append(connection.in_atomic_block)
        return super().form_valid(form)


class ProtectedCreate(PreconditionRequiredMixin, PlainCreate):
    pass


urlpatterns += [
    path("create-plain/", PlainCreate.as_view()),
    path("create-protected/", ProtectedCreate.as_view()),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_atomic_requests_create_view_with_mixin_runs_in_the_request_transaction() -> None:
    """A CreateView routed without pk/slug now runs "as without the mixin" (aadd29c), but
    not in the request transaction: as_view() marked it non_atomic_requests for every
    database (own_request_transaction) and dispatch() skips Enforcer.guarded() when
    _names_no_object(), so nothing opens ATOMIC_REQUESTS' transaction. The same view
    without the mixin (/create-plain/) runs in it."""
    url = "/create-protected/"
    SEEN_ATOMIC.clear()
    response = Client().post(url, {"title": "new"})
    assert response.status_code == 302, response.content
    assert SEEN_ATOMIC == [True]


class PlainOptions(View):
    """Answers OPTIONS itself, noting whether it runs in a transaction; no PUT (405)."""

    http_method_names = ["get", "options", "put"]

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        SEEN_ATOMIC.append(connection.in_atomic_block)
        return super().options(request, *args, **kwargs)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        SEEN_ATOMIC.append(connection.in_atomic_block)
        return super().http_method_not_allowed(request, *args, **kwargs)


class ProtectedOptions(PreconditionRequiredMixin, PlainOptions):
    model = Document


urlpatterns += [
    path("options-plain/<int:pk>/", PlainOptions.as_view()),
    path("options-protected/<int:pk>/", ProtectedOptions.as_view()),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
@pytest.mark.parametrize("view", ["plain", "protected"])
def test_atomic_requests_options_and_405_of_a_class_view_with_the_mixin_run_in_the_transaction(
    view: str,
) -> None:
    """OPTIONS and a method the view does not handle are not evaluated (rules 12, 14), but
    they still run in ATOMIC_REQUESTS' transaction, with the mixin as without it: as_view()
    took that transaction over from Django's handler."""
    document = Document.objects.create(title="a")
    url = f"/options-{view}/{document.pk}/"
    SEEN_ATOMIC.clear()
    options = Client().options(url)
    refused = Client().put(url, "{}", content_type="application/json")
    assert (options.status_code, refused.status_code) == (200, 405)
    assert SEEN_ATOMIC == [True, True]


# --- a GET that saved its row: the ETag is read after the save, a rival's version ------------

from django.db import transaction  # noqa: E402
from rest_framework.response import Response  # noqa: E402

from tests.support.concurrency import other_connection  # noqa: E402

#: Run after the counting GET's save has committed (transaction.on_commit), standing for a
#: concurrent PUT of another client that commits in that window.
AFTER_COUNT: list[Any] = []


def commit_rival_version(pk: int) -> None:
    other = other_connection()
    try:
        cursor = other.cursor()
        marker = "?" if connection.vendor == "sqlite" else "%s"
        cursor.execute(
            "UPDATE testapp_document SET version_token = 'theirs', title = 'theirs' "
            f"WHERE id = {marker}",
            [pk],
        )
        other.commit()
    finally:
        other.close()


def _count_read(document: Document) -> dict[str, Any]:
    document.counter += 1
    document.save()
    pk = document.pk
    transaction.on_commit(lambda: [hook(pk) for hook in AFTER_COUNT])
    return {"title": document.title, "counter": document.counter}


def _counting_body(request: HttpRequest, document: Document) -> HttpResponse:
    if request.method == "GET":
        return JsonResponse(_count_read(document))
    document.title = json.loads(request.body)["title"]
    document.save()
    return JsonResponse({"title": document.title})


@require_preconditions(Document)
def counting_decorated(request: HttpRequest, pk: int) -> HttpResponse:
    return _counting_body(request, request.preconditions.instance)  # type: ignore[attr-defined]


def counting_plain(request: HttpRequest, pk: int) -> HttpResponse:
    return _counting_body(request, get_object_or_404(Document, pk=pk))


class CountingCbv(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[type-arg]
    model = Document

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _counting_body(request, self.get_object())

    put = get


class CountingViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return Response(_count_read(self.get_object()))


counting_router = DefaultRouter()
counting_router.register("counting-drf", CountingViewSet, basename="hr2-counting")

urlpatterns += [
    path("", include(counting_router.urls)),
    path("counting-fn/<int:pk>/", counting_decorated),
    path("counting-cbv/<int:pk>/", CountingCbv.as_view()),
    path("counting-mw/<int:pk>/", counting_plain, name="hr2-counting-mw"),
]

COUNTING_URLS = [
    "/counting-fn/{pk}/",
    "/counting-cbv/{pk}/",
    "/counting-drf/{pk}/",
    "/counting-mw/{pk}/",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("url", "atomic_requests"),
    [
        (COUNTING_URLS[0], False),
        (COUNTING_URLS[0], True),
        (COUNTING_URLS[1], False),
        (COUNTING_URLS[1], True),
        (COUNTING_URLS[2], False),
        (COUNTING_URLS[3], False),
        (COUNTING_URLS[3], True),
    ],
    ids=[
        "decorator-autocommit",
        "decorator-atomic_requests",
        "cbv-autocommit",
        "cbv-atomic_requests",
        "drf-autocommit",
        "middleware-autocommit",
        "middleware-atomic_requests",
    ],
    indirect=["atomic_requests"],
)
def test_rule_39_44_a_counting_get_never_serves_a_rivals_etag_with_its_own_body(
    url: str, atomic_requests: bool
) -> None:
    """The GET saved the row (a view counter); another client's PUT commits right after that
    save, before the response is finished. The body shows the row as the GET left it
    (title "draft"); the ETag must name that version, never the rival's — else the client's
    next If-Match with it passes and overwrites the rival's change unseen (a lost update)."""
    document = Document.objects.create(title="draft")
    url = url.format(pk=document.pk)
    rule = {"hr2-counting-mw": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}
    AFTER_COUNT[:] = [commit_rival_version]
    try:
        with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": rule}):
            response = Client().get(url)
            AFTER_COUNT.clear()
            assert response.status_code == 200, response.content
            assert response.json()["title"] == "draft"
            assert Document.objects.get(pk=document.pk).title == "theirs"
            # The client edits what it was shown and sends it back with the ETag it got.
            put = Client().put(
                url,
                {"title": "draft, edited"},
                content_type="application/json",
                headers={"If-Match": response["ETag"]},
            )
    finally:
        AFTER_COUNT.clear()
    assert response["ETag"] != '"theirs"'
    assert put.status_code == 412, "the rival's title was overwritten unseen"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_drf_counting_get_reads_the_stored_version_once_under_atomic_requests() -> None:
    """docs/models.md: a GET that saved its row reads the stored version "one query, only on
    this path". Under ATOMIC_REQUESTS the DRF mixin reads it twice: in finalize_response()
    and again in _dispatch_once()'s second _add_validators() after the COMMIT (whose ETag
    is then not used: the header is already set)."""
    url = COUNTING_URLS[2]
    document = Document.objects.create(title="draft")
    url = url.format(pk=document.pk)
    plain_url = f"/counting-mw/{document.pk}/"  # the same view, unprotected (no middleware)
    client = Client()
    with CaptureQueriesContext(connection) as plain:
        assert client.get(plain_url).status_code == 200
    with CaptureQueriesContext(connection) as protected:
        assert client.get(url).status_code == 200
    reads = lambda qs: [q["sql"] for q in qs if q["sql"].startswith("SELECT")]  # noqa: E731
    assert len(reads(protected)) <= len(reads(plain)) + 1, (reads(plain), reads(protected))
