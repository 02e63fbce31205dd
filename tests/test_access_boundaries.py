"""Access control and configuration boundaries (rules 12, 13, 30): a view's own access
control is never undone by the middleware's answer, a create-by-PUT that collides with a row
the caller may not read never shows it, and a rule that cannot identify one row, an invalid
``VIEWS`` entry or a large rules table never open a hole or crash."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connections, transaction
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import permissions, viewsets
from rest_framework.routers import SimpleRouter

from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.middleware import MIDDLEWARE
from tests.support.middleware import PLAIN_RULE as DOC_RULE
from tests.testapp.models import Document, PlainCounter
from tests.testapp.serializers import DocumentSerializer
from tests.testapp.views import representation

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_access_boundaries")]


def _title(request: HttpRequest) -> str:
    return str(json.loads(request.body or b"{}").get("title", ""))


@csrf_exempt
def owned_upsert(request: HttpRequest, pk: int) -> HttpResponse:
    """Create or update the caller's own document; its access control is the owner filter. A
    create that collides with someone else's row is answered 409 by the view."""
    mine = Document.objects.filter(owner=request.user.pk, pk=pk).first()
    if mine is None:
        try:
            with transaction.atomic():
                created = Document.objects.create(pk=pk, title=_title(request), owner=request.user)
        except IntegrityError:
            return JsonResponse({"detail": "that id is taken"}, status=409)
        return JsonResponse(representation(created), status=201)
    mine.title = _title(request)
    mine.save()
    return JsonResponse(representation(mine))


@csrf_exempt
def audited_then_checked(request: HttpRequest, pk: int) -> HttpResponse:
    """Loads the row, records the attempt (an audit row), then checks its own permission:
    only the owner may change a document."""
    document = Document.objects.get(pk=pk)
    PlainCounter.objects.create(counter=document.pk)  # the audit trail
    if document.owner_id != request.user.pk:
        return JsonResponse({"detail": "forbidden"}, status=403)
    document.title = _title(request)
    document.save()
    return JsonResponse(representation(document))


@csrf_exempt
def audited_then_durable(request: HttpRequest, pk: int) -> HttpResponse:
    """Records the attempt, raises PermissionDenied for anyone but the owner, then saves the
    row in a durable atomic block of its own (Django refuses one inside another)."""
    document = Document.objects.get(pk=pk)
    PlainCounter.objects.create(counter=document.pk)
    if document.owner_id != request.user.pk:
        raise PermissionDenied
    with transaction.atomic(durable=True):
        document.title = _title(request)
        document.save()
    return JsonResponse(representation(document))


@csrf_exempt
def only_loaded(request: HttpRequest, pk: int) -> HttpResponse:
    """Loads the row with .only() (the version deferred), then saves it."""
    document = Document.objects.only("title").get(pk=pk)
    document.title = _title(request)
    document.save()
    return JsonResponse({"title": document.title})


@csrf_exempt
def values_then_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Reads the row with .values(), then writes it with update()."""
    row = Document.objects.filter(pk=pk).values("id", "title").get()
    Document.objects.filter(pk=pk).update(title=_title(request))
    return JsonResponse({"id": row["id"]})


@csrf_exempt
def loaded_then_other_database(request: HttpRequest, pk: int) -> HttpResponse:
    """Loads the row, logs the attempt, mirrors it to the other database, saves the row."""
    document = Document.objects.get(pk=pk)
    PlainCounter.objects.create(counter=pk)
    PlainCounter.objects.using("replica").create(counter=pk)
    document.title = _title(request)
    document.save()
    return JsonResponse({"title": document.title})


@csrf_exempt
def plain_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = Document.objects.get(pk=pk)
    if request.method == "PUT":
        document.title = _title(request)
        document.save()
    return JsonResponse(representation(document))


class IsOwner(permissions.BasePermission):
    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return bool(obj.owner_id == request.user.pk)


class OwnerOnlyViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """Every user sees the queryset; only owners may touch a row; PUT to an absent id
    creates it."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    permission_classes = [permissions.IsAuthenticated, IsOwner]
    precondition_allow_create = True

    def perform_create(self, serializer: Any) -> None:
        serializer.save(owner=self.request.user)


_router = SimpleRouter()
_router.register("drf/owner-only", OwnerOnlyViewSet, basename="owner-only")

urlpatterns = [
    path("owned-upsert/<int:pk>/", owned_upsert, name="owned-upsert"),
    path("plain/<int:pk>/", plain_document, name="boundaries-plain"),
    path("audited/<int:pk>/", audited_then_checked, name="boundaries-audited"),
    path("durable/<int:pk>/", audited_then_durable, name="boundaries-durable"),
    path("only/<int:pk>/", only_loaded, name="boundaries-only"),
    path("values/<int:pk>/", values_then_update, name="boundaries-values"),
    path("other-db/<int:pk>/", loaded_then_other_database, name="boundaries-other-db"),
    path("", include(_router.urls)),
]


def middleware_with(views: dict[str, Any]) -> Any:
    return override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": views})


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def put(client: Client, url: str, title: str = "new", **headers: str) -> Any:
    return client.put(url, {"title": title}, content_type="application/json", headers=headers)


def shown_version(response: Any, document: Document) -> list[str]:
    """Where ``response`` shows ``document``'s version."""
    found = [name for name in ("ETag", "Last-Modified") if name in response]
    if document.version_token in response.content.decode():
        found.append("body")
    return found


# -- rule 13: a row the caller may not read ---------------------------------------------------


@pytest.mark.parametrize("mode", ["enforce", "report"])
@pytest.mark.parametrize(
    "headers", [{"If-None-Match": "*"}, {}, {"If-Match": '"guess"'}], ids=["inm", "none", "im"]
)
def test_rule_13_the_middleware_never_shows_a_row_the_view_did_not_load(
    alice: Any, bob: Any, headers: dict[str, str], mode: str
) -> None:
    """The view's queryset hides alice's row from bob; his create under its id collides. The
    middleware decides at the view's first write, against the stored row, but may not show
    bob its version: the view never loaded it, so nothing says bob may read it."""
    theirs = Document.objects.create(title="alice's secret", owner=alice)
    with middleware_with({"owned-upsert": {**DOC_RULE, "mode": mode}}):
        response = put(logged_in(bob), f"/owned-upsert/{theirs.pk}/", "bob's", **headers)
    stored = Document.objects.get(pk=theirs.pk)
    assert (stored.owner_id, stored.title) == (alice.pk, "alice's secret")
    assert shown_version(response, theirs) == [], (response.status_code, response.content)
    assert response.status_code in (409, 412, 428), response.content


@pytest.mark.parametrize(
    "url", ["/plain/{}/", "/only/{}/", "/values/{}/"], ids=["loaded", "only", "values-update"]
)
def test_rule_36_a_refused_update_of_a_row_the_view_knows_names_its_version(
    alice: Any, url: str
) -> None:
    """The view loads the row (also with .only(), which defers the version, or reads it
    with .values() and writes it with update()): the 412 names the current version."""
    document = Document.objects.create(title="a", owner=alice)
    key = {"/plain/{}/": "boundaries-plain", "/only/{}/": "boundaries-only"}.get(
        url, "boundaries-values"
    )
    with middleware_with({key: DOC_RULE}):
        response = put(logged_in(alice), url.format(document.pk), **{"If-Match": '"stale"'})
    assert response.status_code == 412, response.content
    assert response["ETag"] == document.etag
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.django_db(databases=["default", "replica"], transaction=True)
def test_rule_51_a_waiting_write_is_decided_before_a_write_to_another_database(
    alice: Any,
) -> None:
    """The view loads the row, logs the attempt (that write waits in the guard's
    transaction), then writes to another database, which that transaction cannot roll
    back: the request is decided before that write. A stale If-Match leaves no trace on
    either database (rule 51)."""
    document = Document.objects.create(title="a", owner=alice)
    with middleware_with({"boundaries-other-db": DOC_RULE}):
        response = put(logged_in(alice), f"/other-db/{document.pk}/", **{"If-Match": '"stale"'})
    assert response.status_code == 412, response.content
    assert response["ETag"] == document.etag
    assert PlainCounter.objects.using("default").count() == 0
    assert PlainCounter.objects.using("replica").count() == 0
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.django_db(transaction=True)  # autocommit, as a real request runs (no test transaction)
@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}], ids=["none", "stale"])
def test_rule_12_a_view_that_writes_before_its_own_access_check_keeps_its_403(
    alice: Any, bob: Any, headers: dict[str, str]
) -> None:
    """The view loads the row and writes an audit row before it checks the caller: the
    middleware decides at the row's write (or the end of the view), not at the audit row's,
    so bob gets the view's 403 — not 428/412 with alice's version."""
    theirs = Document.objects.create(title="alice's", owner=alice)
    with middleware_with({"boundaries-audited": DOC_RULE}):
        response = put(logged_in(bob), f"/audited/{theirs.pk}/", "bob's", **headers)
    assert response.status_code == 403, response.content
    assert shown_version(response, theirs) == []
    assert Document.objects.get(pk=theirs.pk).title == "alice's"


HEADERS_ONLY_RULE = {"methods": ["PUT"]}


@pytest.mark.django_db(transaction=True)  # autocommit, as a real request runs
@pytest.mark.parametrize("rule", [DOC_RULE, HEADERS_ONLY_RULE], ids=["row", "headers-only"])
def test_rule_12_the_view_that_refuses_after_its_audit_write_keeps_its_answer_and_its_audit(
    alice: Any, bob: Any, rule: dict[str, Any]
) -> None:
    """Without any precondition, bob's PUT reaches a view that writes an audit row before it
    checks him: under a rule naming the row and under a headers-only rule alike, he gets the
    view's 403 (not 428), and the view's audit row stands, as without the middleware."""
    theirs = Document.objects.create(title="alice's", owner=alice)
    with middleware_with({"boundaries-audited": rule}):
        response = put(logged_in(bob), f"/audited/{theirs.pk}/", "bob's")
    assert response.status_code == 403, response.content
    assert shown_version(response, theirs) == []
    assert Document.objects.get(pk=theirs.pk).title == "alice's"
    assert list(PlainCounter.objects.values_list("counter", flat=True)) == [theirs.pk]


@pytest.mark.django_db(transaction=True)
def test_rules_29_51_a_headers_only_rule_refuses_the_authorised_write_and_rolls_back_its_audit(
    alice: Any,
) -> None:
    """The owner passes the view's own check: without a precondition the headers-only rule
    answers 428 and nothing of the view's writes stands (the audit row included); a
    malformed one is 400; with one, the view's writes commit."""
    mine = Document.objects.create(title="a", owner=alice)
    url = f"/audited/{mine.pk}/"
    with middleware_with({"boundaries-audited": HEADERS_ONLY_RULE}):
        missing = put(logged_in(alice), url)
        malformed = put(logged_in(alice), url, **{"If-Match": "unquoted"})
        assert (missing.status_code, malformed.status_code) == (428, 400), missing.content
        assert not PlainCounter.objects.exists()
        assert Document.objects.get(pk=mine.pk).title == "a"
        applied = put(logged_in(alice), url, **{"If-Match": '"anything"'})
    assert applied.status_code == 200, applied.content
    assert PlainCounter.objects.count() == 1
    assert Document.objects.get(pk=mine.pk).title == "new"


@pytest.mark.django_db(transaction=True)
def test_a_view_that_fails_after_a_held_back_headers_only_refusal_gets_the_refusal_not_a_500(
    alice: Any, bob: Any
) -> None:
    """After its audit row (whose 428 is held back), the view raises PermissionDenied for bob
    — his 403 stands — and opens a durable atomic block for alice, which the middleware's
    transaction makes fail: she gets the 428 she would have got at the audit row, not a 500,
    and nothing stands. With a precondition nothing is held back: the durable block runs."""
    mine = Document.objects.create(title="a", owner=alice)
    url = f"/durable/{mine.pk}/"
    with middleware_with({"boundaries-durable": HEADERS_ONLY_RULE}):
        forbidden = put(logged_in(bob), url)
        missing = put(logged_in(alice), url)
        assert (forbidden.status_code, missing.status_code) == (403, 428), missing.content
        assert not PlainCounter.objects.exists()
        applied = put(logged_in(alice), url, **{"If-Match": '"anything"'})
    assert applied.status_code == 200, applied.content
    assert PlainCounter.objects.count() == 1
    assert Document.objects.get(pk=mine.pk).title == "new"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
def test_rule_51_under_atomic_requests_a_headers_only_rule_decides_at_the_first_write(
    alice: Any,
) -> None:
    """In a transaction the middleware does not end (ATOMIC_REQUESTS commits before the
    middleware sees the response), nothing is held back: the audit row's write is refused
    (428), and the request's transaction leaves nothing; with a precondition the view's
    writes commit."""
    mine = Document.objects.create(title="a", owner=alice)
    url = f"/audited/{mine.pk}/"
    with middleware_with({"boundaries-audited": HEADERS_ONLY_RULE}):
        missing = put(logged_in(alice), url)
        assert missing.status_code == 428, missing.content
        assert not PlainCounter.objects.exists()
        applied = put(logged_in(alice), url, **{"If-Match": '"anything"'})
    assert applied.status_code == 200, applied.content
    assert PlainCounter.objects.count() == 1
    assert Document.objects.get(pk=mine.pk).title == "new"


@pytest.mark.django_db(databases=["default", "replica"], transaction=True)
def test_rule_51_a_held_back_headers_only_refusal_is_decided_before_another_database(
    alice: Any,
) -> None:
    """Under a headers-only rule the view's audit row waits in the middleware's transaction;
    its next write goes to another database, which that transaction cannot roll back: the
    428 is answered before it, and neither database keeps anything."""
    document = Document.objects.create(title="a", owner=alice)
    with middleware_with({"boundaries-other-db": HEADERS_ONLY_RULE}):
        response = put(logged_in(alice), f"/other-db/{document.pk}/")
    assert response.status_code == 428, response.content
    assert PlainCounter.objects.using("default").count() == 0
    assert PlainCounter.objects.using("replica").count() == 0
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.django_db(transaction=True)
def test_rule_51_the_owners_stale_write_is_412_and_rolls_back_the_audit_row(alice: Any) -> None:
    """The owner passes the view's check; the row's write is refused (stale If-Match): 412
    with the current version, and the audit row written before it is rolled back with it."""
    mine = Document.objects.create(title="a", owner=alice)
    with middleware_with({"boundaries-audited": DOC_RULE}):
        refused = put(logged_in(alice), f"/audited/{mine.pk}/", **{"If-Match": '"stale"'})
        assert refused.status_code == 412
        assert refused["ETag"] == mine.etag
        assert not PlainCounter.objects.exists()
        applied = put(logged_in(alice), f"/audited/{mine.pk}/", **{"If-Match": mine.etag})
    assert applied.status_code == 200, applied.content
    assert PlainCounter.objects.count() == 1
    assert Document.objects.get(pk=mine.pk).title == "new"


@pytest.mark.django_db(transaction=True)
def test_rule_13_a_drf_create_by_put_collision_respects_object_permissions(
    django_user_model: Any,
) -> None:
    """bob and alice both PUT /drf/owner-only/4242/ with If-None-Match: *. alice's create
    commits between bob's check and bob's INSERT (a second connection, in a thread). bob's
    object permission refuses alice's row (a GET of it is 403): 404, never 412 with its
    version."""
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    url = "/drf/owner-only/4242/"
    results: dict[str, Any] = {}
    fired: list[bool] = []

    def alice_creates() -> None:
        try:
            results["alice"] = put(logged_in(alice), url, "alice's", **{"If-None-Match": "*"})
        finally:
            connections.close_all()

    def rival_first(sender: Any, instance: Any, **kwargs: Any) -> None:
        if fired or instance.owner_id != bob.pk:
            return
        fired.append(True)
        rival = threading.Thread(target=alice_creates)
        rival.start()
        rival.join(timeout=60)

    pre_save.connect(rival_first, sender=Document, weak=False)
    try:
        response = put(logged_in(bob), url, "bob's", **{"If-None-Match": "*"})
    finally:
        pre_save.disconnect(rival_first, sender=Document)
    assert fired
    assert results["alice"].status_code == 201, results
    theirs = Document.objects.get(pk=4242)
    assert (theirs.owner_id, theirs.title) == (alice.pk, "alice's")
    assert logged_in(bob).get(url).status_code == 403
    assert response.status_code == 404, (response.status_code, response.content)
    assert shown_version(response, theirs) == []


# -- rule 30: rules that cannot be applied fail closed, and never crash -------------------------


def test_a_rule_whose_lookup_field_is_not_unique_fails_closed(alice: Any) -> None:
    """Check E017 says so: a lookup_field that is not unique cannot name one row, so writes
    get 428 until the rule is fixed — not the view, where If-None-Match: * overwrote a row."""
    from django_preconditions.checks import check_view_keys

    document = Document.objects.create(title="a")
    entry = {**DOC_RULE, "lookup_field": "counter"}  # an IntegerField, not unique
    with override_settings(PRECONDITIONS={"VIEWS": {"boundaries-plain": entry}}):
        assert "preconditions.E017" in {message.id for message in check_view_keys()}
    with middleware_with({"boundaries-plain": entry}):
        response = put(logged_in(alice), f"/plain/{document.pk}/", "x", **{"If-None-Match": "*"})
    assert response.status_code == 428, response.content
    assert Document.objects.get(pk=document.pk).title == "a"


def test_an_invalid_views_entry_does_not_crash_the_admin_rule_check() -> None:
    """A ``VIEWS`` entry that is a list (check E010) beside a report-mode admin rule for the
    same view: the admin-rule check reports, it does not raise."""
    from django_preconditions.checks import check_admin_rules, check_settings_block

    ProtectedEndpoint.objects.create(view="boundaries-plain", methods="PUT", mode="report")
    with override_settings(PRECONDITIONS={"VIEWS": {"boundaries-plain": ["PUT"]}}):
        assert "preconditions.E010" in {message.id for message in check_settings_block()}
        messages = check_admin_rules(databases=["default"])
    assert all(message.id.startswith("preconditions.") for message in messages)


def test_requests_that_find_the_rules_stale_together_read_them_once() -> None:
    """Four requests find the rules cache stale at the same moment: one reads the table, the
    others take what it read (each read it again, one after another)."""
    from django.db import connection

    from django_preconditions.rules import current_rules, invalidate_rules

    ProtectedEndpoint.objects.bulk_create(
        ProtectedEndpoint(
            view=f"some/route-{index}/<int:pk>/",
            model_label="testapp.Document",
            lookup_url_kwarg="pk",
        )
        for index in range(300)
    )
    invalidate_rules()
    reads: list[str] = []
    barrier = threading.Barrier(4)

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "protectedendpoint" in sql.lower():
            reads.append(sql)
        return execute(sql, params, many, context)

    def request() -> None:
        try:
            with connection.execute_wrapper(count):
                barrier.wait()
                current_rules()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    invalidate_rules()
    assert len(reads) == 1, f"{len(reads)} reads of the rules table"
