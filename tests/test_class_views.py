"""HTTP-level tests of ``PreconditionRequiredMixin`` on class-based views (sync and async).

Views: ``DocumentJsonView`` (/cbv/docs/<pk>/), ``AsyncDocumentJsonView``
(/cbv/async/docs/<pk>/), ``DocumentUpdate`` (/cbv/update/<pk>/, POST protected),
``DocumentDelete`` (/cbv/delete/<pk>/) in tests/testapp/views.py, and
``OwnedDocumentJsonView`` (/extra/cbv/owned/docs/<pk>/) in tests/testapp/extra_views.py.
Each test cites the CONFORMANCE rule it checks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.documents import STORED_AT_HTTP, backdate, make_stale, state
from tests.support.json_requests import JSON, asend, send
from tests.support.validators import assert_last_modified
from tests.testapp import extra_views
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

EARLIER_HTTP = "Tue, 01 Jul 2025 11:59:59 GMT"

Send = Callable[..., Any]


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, client: Any, async_client: Any) -> tuple[str, Send]:
    """The JSON view under test, sync or async, and a function sending it a request."""
    if request.param == "sync":
        return "/cbv/docs/{pk}/", functools.partial(send, client)
    return "/cbv/async/docs/{pk}/", functools.partial(asend, async_client)


# --- JSON views: sync and async ------------------------------------------------------------


def test_get_answers_200_with_a_strong_etag_and_last_modified(api, document):
    # Rule 39.
    url, send = api
    response = send("GET", url.format(pk=document.pk))
    assert response.status_code == 200
    assert response["ETag"] == document.etag
    assert not response["ETag"].startswith("W/")
    assert_last_modified(response, document)
    assert json.loads(response.content)["title"] == "draft"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_matching_if_none_match_is_304_with_the_etag_and_no_body(api, document, method):
    # Rule 28.
    url, send = api
    response = send(method, url.format(pk=document.pk), headers={"If-None-Match": document.etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == document.etag


def test_get_with_a_stale_if_match_is_412(api, document):
    # Rule 20.
    url, send = api
    stale = make_stale(document)
    response = send("GET", url.format(pk=document.pk), headers={"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_an_unconditional_write_is_428_and_changes_nothing(api, document, method):
    # Rules 29, 33.
    url, send = api
    before = state(document.pk)
    response = send(method, url.format(pk=document.pk), {"title": "new"})
    assert response.status_code == 428
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content)["status"] == 428
    assert state(document.pk) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_write_with_a_stale_etag_is_412_and_changes_nothing(api, document, method):
    # Rules 19, 36.
    url, send = api
    stale = make_stale(document)
    before = state(document.pk)
    response = send(method, url.format(pk=document.pk), {"title": "new"}, {"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    assert state(document.pk) == before


def test_a_put_with_the_current_etag_succeeds_with_a_new_etag(api, document):
    # Rules 19, 41.
    url, send = api
    old = document.etag
    response = send("PUT", url.format(pk=document.pk), {"title": "new"}, {"If-Match": old})
    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == "new"
    assert response["ETag"] == document.etag != old
    assert_last_modified(response, document)


def test_a_delete_with_the_current_etag_answers_204_without_etag(api, document):
    # Rules 19, 41.
    url, send = api
    response = send("DELETE", url.format(pk=document.pk), headers={"If-Match": document.etag})
    assert response.status_code == 204
    assert "ETag" not in response.headers
    assert state(document.pk) is None


def test_a_stale_if_match_with_an_invalid_body_is_412_not_400(api, document):
    # Rule 11.
    url, send = api
    stale = make_stale(document)
    before = state(document.pk)
    response = send(
        "PUT", url.format(pk=document.pk), raw=b"{not json", headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert state(document.pk) == before


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("PUT", {}),
        ("PUT", {"If-Match": '"stale"'}),
        ("DELETE", {"If-Match": "*"}),
    ],
)
def test_an_absent_document_is_404_whatever_the_preconditions(api, method, headers):
    # Rule 12.
    url, send = api
    response = send(method, url.format(pk=999999), {"title": "x"}, headers)
    assert response.status_code == 404
    assert "ETag" not in response.headers


@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}, {"If-Match": "bad"}])
def test_a_method_the_view_does_not_handle_is_405_whatever_the_preconditions(
    api, document, headers
):
    # Rule 12: the views have no patch().
    url, send = api
    before = state(document.pk)
    response = send("PATCH", url.format(pk=document.pk), {"title": "x"}, headers)
    assert response.status_code == 405
    assert state(document.pk) == before


@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}, {"If-Match": "bad"}])
def test_options_ignores_preconditions(api, document, headers):
    # Rule 14.
    url, send = api
    response = send("OPTIONS", url.format(pk=document.pk), headers=headers)
    assert response.status_code == 200
    assert "PUT" in response["Allow"]


def test_a_wildcard_if_match_is_428(api, document):
    # Rule 21 (ALLOW_WILDCARD default: false).
    url, send = api
    before = state(document.pk)
    response = send("PUT", url.format(pk=document.pk), {"title": "x"}, {"If-Match": "*"})
    assert response.status_code == 428
    assert json.loads(response.content)["reason"] == "wildcard_not_accepted"
    assert state(document.pk) == before


def test_if_unmodified_since_equal_to_the_served_date_passes_and_earlier_fails(api, document):
    # Rules 22, 23.
    url, send = api
    backdate(document.pk)
    target = url.format(pk=document.pk)
    assert send("GET", target)["Last-Modified"] == STORED_AT_HTTP
    before = state(document.pk)
    response = send("PUT", target, {"title": "x"}, {"If-Unmodified-Since": EARLIER_HTTP})
    assert response.status_code == 412
    assert state(document.pk) == before
    response = send("PUT", target, {"title": "x"}, {"If-Unmodified-Since": STORED_AT_HTTP})
    assert response.status_code == 200


def test_the_second_of_two_writes_with_the_same_etag_is_412(api, document):
    # Rule 44 at the HTTP level.
    url, send = api
    target = url.format(pk=document.pk)
    etag = send("GET", target)["ETag"]
    assert send("PUT", target, {"title": "first"}, {"If-Match": etag}).status_code == 200
    after_first = state(document.pk)
    assert send("DELETE", target, headers={"If-Match": etag}).status_code == 412
    assert send("PUT", target, {"title": "second"}, {"If-Match": etag}).status_code == 412
    assert state(document.pk) == after_first


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/extra/cbv/counted/docs/{pk}/", "CountedDocumentJsonView"),
        ("/extra/cbv/async/counted/docs/{pk}/", "AsyncCountedDocumentJsonView"),
    ],
)
def test_a_304_is_decided_without_calling_the_handler(client, document, path, name):
    # Rule 28.
    url = path.format(pk=document.pk)
    calls = extra_views.CALLS.get(name, 0)
    response = client.get(url, headers={"If-None-Match": f"W/{document.etag}"})
    assert response.status_code == 304
    assert response["ETag"] == document.etag
    assert extra_views.CALLS.get(name, 0) == calls
    assert client.get(url).status_code == 200
    assert extra_views.CALLS[name] == calls + 1


def test_a_write_after_a_delete_with_the_same_etag_is_404_and_resurrects_nothing(api, document):
    # Rule 45 at the HTTP level.
    url, send = api
    target = url.format(pk=document.pk)
    etag = document.etag
    assert send("DELETE", target, headers={"If-Match": etag}).status_code == 204
    response = send("PUT", target, {"title": "back"}, {"If-Match": etag})
    assert response.status_code in (404, 412)
    assert state(document.pk) is None


# --- query counts: get_object() is cached ---------------------------------------------------


def captured(send: Send, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = send(*args, **kwargs)
    return response, [query["sql"].split()[0].upper() for query in queries.captured_queries]


def test_a_put_costs_one_select_and_one_update(api, document):
    url, send = api
    response, queries = captured(
        send, "PUT", url.format(pk=document.pk), {"title": "x"}, {"If-Match": document.etag}
    )
    assert response.status_code == 200
    assert queries == ["SELECT", "UPDATE"]


def test_a_delete_costs_one_select_and_one_delete(api, document):
    url, send = api
    response, queries = captured(
        send, "DELETE", url.format(pk=document.pk), headers={"If-Match": document.etag}
    )
    assert response.status_code == 204
    assert queries == ["SELECT", "DELETE"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 200), ({"If-None-Match": "{etag}"}, 304), ({"If-Match": '"stale"'}, 412)],
)
def test_a_get_costs_one_select_whatever_the_outcome(api, document, headers, status):
    url, send = api
    headers = {name: value.format(etag=document.etag) for name, value in headers.items()}
    response, queries = captured(send, "GET", url.format(pk=document.pk), headers=headers)
    assert response.status_code == status
    assert queries == ["SELECT"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_refused_write_costs_one_select(api, document, method):
    url, send = api
    response, queries = captured(send, method, url.format(pk=document.pk), {"title": "x"})
    assert response.status_code == 428
    assert queries == ["SELECT"]


# --- rule 13: a class-based view that only sees the caller's documents -----------------------


@pytest.mark.parametrize("use_current_etag", [False, True])
def test_a_caller_who_may_not_see_the_document_gets_404_never_412_nor_its_etag(
    client, alice, bob, use_current_etag
):
    document = Document.objects.create(title="Alice's", owner=alice)
    stale = make_stale(document)
    client.force_login(bob)
    before = state(document.pk)
    response = client.put(
        f"/extra/cbv/owned/docs/{document.pk}/",
        b"",
        content_type=JSON,
        headers={"If-Match": document.etag if use_current_etag else stale},
    )
    assert response.status_code == 404
    assert "ETag" not in response.headers
    assert document.version_token not in response.content.decode()
    assert state(document.pk) == before
    client.force_login(alice)
    response = client.put(
        f"/extra/cbv/owned/docs/{document.pk}/", b"", content_type=JSON, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert response["ETag"] == document.etag


# --- UpdateView: POST is protected -----------------------------------------------------------


def test_the_update_form_is_served_with_validators(client, document):
    # Rule 39.
    response = client.get(f"/cbv/update/{document.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)


def test_an_unconditional_form_post_is_428_and_changes_nothing(client, document):
    # Rules 29, 30 (POST is in this view's precondition_methods).
    before = state(document.pk)
    response = client.post(f"/cbv/update/{document.pk}/", {"title": "new", "body": "new"})
    assert response.status_code == 428
    assert state(document.pk) == before


def test_a_form_post_with_a_stale_if_match_is_412_and_changes_nothing(client, document):
    # Rule 19.
    stale = make_stale(document)
    before = state(document.pk)
    response = client.post(
        f"/cbv/update/{document.pk}/", {"title": "new", "body": "new"}, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert response["ETag"] == document.etag
    assert state(document.pk) == before


def test_an_invalid_form_post_with_a_stale_if_match_is_412(client, document):
    # Rule 11: the form is not validated before the preconditions.
    stale = make_stale(document)
    before = state(document.pk)
    response = client.post(
        f"/cbv/update/{document.pk}/", {"title": ""}, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_a_form_post_with_the_current_etag_saves_and_redirects(client, document):
    # Rule 19.
    old = document.etag
    response, queries = captured(
        client.post,
        f"/cbv/update/{document.pk}/",
        {"title": "new", "body": "new body"},
        headers={"If-Match": old},
    )
    assert response.status_code == 302
    assert response["Location"] == "/done/"
    document.refresh_from_db()
    assert (document.title, document.body) == ("new", "new body")
    assert document.etag != old
    assert queries == ["SELECT", "UPDATE"]


def test_an_invalid_form_post_with_the_current_etag_rerenders_the_form(client, document):
    before = state(document.pk)
    response = client.post(
        f"/cbv/update/{document.pk}/", {"title": ""}, headers={"If-Match": document.etag}
    )
    assert response.status_code == 200
    assert b"<form" in response.content
    assert state(document.pk) == before


def test_a_form_post_with_if_unmodified_since_equal_to_the_served_date_passes(client, document):
    # Rule 22.
    backdate(document.pk)
    served = client.get(f"/cbv/update/{document.pk}/")["Last-Modified"]
    response = client.post(
        f"/cbv/update/{document.pk}/",
        {"title": "new", "body": ""},
        headers={"If-Unmodified-Since": served},
    )
    assert response.status_code == 302
    assert state(document.pk)[0] == "new"  # type: ignore[index]


def test_the_update_view_of_an_absent_document_is_404(client):
    # Rule 12.
    response = client.post("/cbv/update/999999/", {"title": "x"}, headers={"If-Match": '"x"'})
    assert response.status_code == 404


# --- DeleteView ---------------------------------------------------------------------------------


def test_the_delete_confirmation_is_served_with_validators(client, document):
    response = client.get(f"/cbv/delete/{document.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == document.etag


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_an_unconditional_delete_is_428_and_keeps_the_row(client, document, method):
    # Rule 29.
    before = state(document.pk)
    response = client.generic(method, f"/cbv/delete/{document.pk}/")
    assert response.status_code == 428
    assert state(document.pk) == before


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_delete_with_a_stale_etag_is_412_and_keeps_the_row(client, document, method):
    # Rules 19, 45.
    stale = make_stale(document)
    before = state(document.pk)
    response = client.generic(method, f"/cbv/delete/{document.pk}/", headers={"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag
    assert state(document.pk) == before


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_a_delete_with_the_current_etag_deletes_and_redirects(client, document, method):
    # Rule 19.
    response, queries = captured(
        client.generic, method, f"/cbv/delete/{document.pk}/", headers={"If-Match": document.etag}
    )
    assert response.status_code == 302
    assert response["Location"] == "/done/"
    assert state(document.pk) is None
    assert queries == ["SELECT", "DELETE"]


def test_the_delete_view_of_an_absent_document_is_404(client):
    # Rule 12.
    response = client.post("/cbv/delete/999999/", headers={"If-Match": '"x"'})
    assert response.status_code == 404


def test_rule_38_json_class_based_view_answers_absent_objects_with_a_json_404(client) -> None:
    response = client.put("/cbv/docs/999999/", {"title": "x"}, content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_template_views_keep_djangos_own_404_page(client) -> None:
    response = client.post("/cbv/update/999999/", {"title": "x"})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- rules 12, 13: access control in the view's own get_object() ----------------------------


@pytest.mark.urls("tests.support.owner_check_urls")
@pytest.mark.parametrize(
    ("prefix", "refused"), [("owned", 404), ("forbidden", 403), ("async-owned", 404)]
)
def test_rules_12_13_the_views_own_get_object_answers_before_any_412_or_428(
    client: Any, django_user_model: Any, prefix: str, refused: int
) -> None:
    """A view checking the owner in get_object() refuses a stranger with its 404/403 — on a
    stale, a missing or a current precondition alike, without the owner's ETag — and the
    owner's requests are judged as usual."""
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    document = Document.objects.create(title="Alice's", owner=alice)
    stale = make_stale(document)
    document.refresh_from_db()
    url = f"/{prefix}/{document.pk}/"
    before = state(document.pk)
    client.force_login(bob)
    for headers in ({"If-Match": stale}, {}, {"If-Match": document.etag}):
        response = client.put(url, b'{"title": "x"}', content_type=JSON, headers=headers)
        assert (response.status_code, response.get("ETag")) == (refused, None), headers
        assert document.version_token not in response.content.decode()
    read = client.get(url, headers={"If-Match": stale})
    assert (read.status_code, read.get("ETag")) == (refused, None)
    assert state(document.pk) == before
    client.force_login(alice)
    assert client.put(url, b'{"title": "x"}', content_type=JSON).status_code == 428
    assert (
        client.put(url, b'{"title": "x"}', content_type=JSON, headers={"If-Match": stale})
    ).status_code == 412
    current = client.put(
        url, b'{"title": "mine"}', content_type=JSON, headers={"If-Match": document.etag}
    )
    assert current.status_code == 200
    assert current["ETag"] == Document.objects.get(pk=document.pk).etag


class _NoOpinionRouter:
    """A router with no opinion on these models (it routes another app's, say)."""

    def db_for_read(self, model: Any, **hints: Any) -> None:
        return None

    def db_for_write(self, model: Any, **hints: Any) -> None:
        return None


@pytest.mark.urls("tests.support.owner_check_urls")
@pytest.mark.parametrize("routers", [[], [_NoOpinionRouter()]], ids=["no router", "a router"])
@pytest.mark.parametrize("prefix", ["no-argument", "built-on"])
def test_get_object_overrides_without_a_queryset_or_built_on_the_mixin_work(
    client: Any, prefix: str, routers: list[Any], settings: Any
) -> None:
    """An override without the queryset argument (with routers the mixin has a queryset to
    give), and one that calls get_precondition_object(): judged as usual, never a 500."""
    settings.DATABASE_ROUTERS = routers
    document = Document.objects.create(title="t")
    url = f"/{prefix}/{document.pk}/"
    stale = client.put(url, b'{"title": "x"}', content_type=JSON, headers={"If-Match": '"s"'})
    assert stale.status_code == 412
    current = client.put(
        url, b'{"title": "x"}', content_type=JSON, headers={"If-Match": document.etag}
    )
    assert current.status_code == 200, current.content
    assert current["ETag"] == Document.objects.get(pk=document.pk).etag
