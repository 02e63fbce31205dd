"""The middleware decides after the view's own access control and method dispatch, and admin
rules can only add protection (issue 10: every item of "What is broken today").

Rules cited: 11, 12, 13, 19, 21, 24, 28, 29, 30, 34, 36, 44 (CONFORMANCE.md).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils.http import http_date

from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rules import reload_rules
from tests.support.middleware import MIDDLEWARE, put
from tests.support.middleware import PLAIN_RULE as OWNED
from tests.support.middleware import settings_rule as protect
from tests.testapp.models import Document, PlainCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client: Any) -> User:
    return User.objects.create_user("owner", password="x")


@pytest.fixture
def stranger() -> User:
    return User.objects.create_user("stranger", password="x")


def assert_no_leak(response: Any, document: Document) -> None:
    """Rule 13: nothing in the answer carries the row's version."""
    assert "ETag" not in response
    assert document.version_token not in response.content.decode()


# --- Item 1: leaks and wrong order (rules 12, 13) -------------------------------------------


def test_rule_12_anonymous_put_with_a_guessed_etag_gets_the_login_redirect(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    with protect("mw-owned", **OWNED):
        response = put(client, f"/mw/owned/docs/{document.pk}/", **{"If-Match": '"guess"'})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert_no_leak(response, document)


def test_rule_13_a_non_owner_gets_404_not_412_nor_the_etag(client, owner, stranger) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(stranger)
    with protect("mw-owned", **OWNED):
        stale = put(client, f"/mw/owned/docs/{document.pk}/", **{"If-Match": '"guess"'})
        missing = put(client, f"/mw/owned/docs/{document.pk}/")
        probe = client.get(
            f"/mw/owned/docs/{document.pk}/", headers={"If-None-Match": document.etag}
        )
    for response in (stale, missing, probe):
        assert response.status_code == 404
        assert_no_leak(response, document)
    assert Document.objects.get(pk=document.pk).title == "a"


def test_rule_12_anonymous_get_with_the_real_etag_is_redirected_not_304(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    with protect("mw-owned", **OWNED):
        response = client.get(
            f"/mw/owned/docs/{document.pk}/", headers={"If-None-Match": document.etag}
        )
    assert response.status_code == 302
    assert_no_leak(response, document)


def test_rule_13_existence_cannot_be_probed_by_an_anonymous_put(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    with protect("mw-owned", **OWNED):
        present = put(client, f"/mw/owned/docs/{document.pk}/")
        absent = put(client, f"/mw/owned/docs/{document.pk + 100}/")
    assert (present.status_code, absent.status_code) == (302, 302)


def test_rules_29_19_36_the_owner_gets_428_then_200_then_412(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    url = f"/mw/owned/docs/{document.pk}/"
    with protect("mw-owned", **OWNED):
        missing = put(client, url)
        read = client.get(url)
        written = put(client, url, **{"If-Match": read["ETag"]})
        replay = put(client, url, {"title": "again"}, **{"If-Match": read["ETag"]})
        not_modified = client.get(url, headers={"If-None-Match": written["ETag"]})
    assert missing.status_code == 428
    assert missing["Cache-Control"] == "no-store"
    assert read["ETag"] == document.etag
    assert written.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert written["ETag"] == stored.etag != document.etag
    assert replay.status_code == 412
    assert replay["ETag"] == stored.etag  # the owner may see it (rule 36)
    assert stored.title == "new"
    assert not_modified.status_code == 304  # rule 28, from the row the view loaded
    assert not_modified["ETag"] == stored.etag


def test_rule_41_delete_with_the_current_etag_is_204_without_etag_and_stale_is_412(  # type: ignore[no-untyped-def]
    client, owner
) -> None:
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    url = f"/mw/owned/docs/{document.pk}/"
    with protect("mw-owned", **OWNED):
        stale = client.delete(url, headers={"If-Match": '"stale"'})
        deleted = client.delete(url, headers={"If-Match": document.etag})
        again = client.delete(url, headers={"If-Match": document.etag})
    assert stale.status_code == 412
    assert (deleted.status_code, deleted.has_header("ETag")) == (204, False)
    assert again.status_code == 404  # the view's answer for an absent row
    assert not Document.objects.filter(pk=document.pk).exists()


def test_rule_24_if_unmodified_since_is_evaluated_against_the_stored_row(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    url = f"/mw/owned/docs/{document.pk}/"
    with protect("mw-owned", **OWNED):
        old = put(client, url, **{"If-Unmodified-Since": http_date(0)})
        # The current second: not later than the server's clock (rule 56), not before the write.
        fresh = put(client, url, **{"If-Unmodified-Since": http_date(time.time())})
    assert old.status_code == 412
    assert fresh.status_code == 200


def test_rule_12_unsupported_methods_get_405_whatever_the_preconditions(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    url = f"/mw/read-only/docs/{document.pk}/"
    with protect("mw-read-only", **OWNED):
        answers = [
            client.generic(method, url, headers=headers)
            for method in ("PUT", "PATCH", "DELETE")
            for headers in ({}, {"If-Match": '"stale"'}, {"If-Match": document.etag})
        ]
    for response in answers:
        assert response.status_code == 405
        assert "ETag" not in response
    assert Document.objects.filter(pk=document.pk).exists()


def test_rule_44_a_refused_write_rolls_back_what_the_view_wrote_before(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    url = f"/mw/audited/docs/{document.pk}/"
    with protect("mw-audited", **OWNED):
        missing = put(client, url)
        stale = put(client, url, **{"If-Match": '"stale"'})
        assert not PlainCounter.objects.exists()
        written = put(client, url, **{"If-Match": document.etag})
    assert (missing.status_code, stale.status_code, written.status_code) == (428, 412, 200)
    assert PlainCounter.objects.count() == 1


def test_rule_11_stale_precondition_and_invalid_body_is_412(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    with protect("mw-owned", **OWNED):
        response = client.put(
            f"/mw/owned/docs/{document.pk}/",
            "{not json",
            content_type="application/json",
            headers={"If-Match": '"stale"'},
        )
    assert response.status_code == 412


def test_headers_only_rule_refuses_and_rolls_back_a_write_without_the_header(client, owner) -> None:  # type: ignore[no-untyped-def]
    counter = PlainCounter.objects.create()
    url = f"/mw/counters/{counter.pk}/"
    with protect("mw-counter", methods=["PUT"]):
        anonymous = put(client, url)
        client.force_login(owner)
        missing = put(client, url)
        unchanged = PlainCounter.objects.get(pk=counter.pk).counter
        written = put(client, url, **{"If-Match": '"anything"'})
    assert anonymous.status_code == 302  # the view's own access control first (rule 12)
    assert missing.status_code == 428
    assert unchanged == 0  # rolled back
    assert written.status_code == 200
    assert PlainCounter.objects.get(pk=counter.pk).counter == 1


def test_rule_21_wildcard_is_refused_after_the_view_authorised_the_write(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    with protect("mw-owned", **OWNED):
        response = put(client, f"/mw/owned/docs/{document.pk}/", **{"If-Match": "*"})
    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


def test_rules_cost_no_query_per_request_and_reads_cost_none_extra(client, owner) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", owner=owner)
    client.force_login(owner)
    url = f"/mw/owned/docs/{document.pk}/"
    ProtectedEndpoint.objects.create(view="mw-read-only")
    with protect("mw-owned", **OWNED):
        client.get(url)  # loads the rules once
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
    tables = " ".join(q["sql"].lower() for q in queries.captured_queries)
    assert "protectedendpoint" not in tables
    assert len(re.findall(r"from [`\"]?testapp_document", tables)) == 1  # the view's SELECT


# --- Item 3: an admin rule can only add protection ------------------------------------------


def admin_rule(**fields: Any) -> ProtectedEndpoint:
    """A rule saved without the form's validation (as a bypass, a migration or an old row
    would), so that the middleware's own defences are what is tested."""
    rule = ProtectedEndpoint.objects.create(**fields)
    reload_rules()
    return rule


@pytest.mark.parametrize(
    "fields",
    [
        {"lookup_field": "title"},
        {"lookup_field": "nonexistent"},
        {"lookup_url_kwarg": "nonexistent"},
        {"model_label": "testapp.Nope"},
        {"error_format": "django.http.HttpResponse"},
    ],
)
def test_a_broken_admin_rule_fails_closed_with_428_never_500_never_open(  # type: ignore[no-untyped-def]
    client, caplog, fields
) -> None:
    document = Document.objects.create(title="a")
    rule = {"model_label": "testapp.Document", "lookup_url_kwarg": "pk", **fields}
    with caplog.at_level(logging.ERROR, logger="django_preconditions"):
        admin_rule(view="document-plain", **rule)
        with override_settings(MIDDLEWARE=MIDDLEWARE):
            unconditional = put(client, f"/plain/docs/{document.pk}/")
            current = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": document.etag})
            read = client.get(f"/plain/docs/{document.pk}/")
    assert (unconditional.status_code, current.status_code) == (428, 428)
    assert read.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "a"
    assert "cannot apply the protection rule" in caplog.text


def test_an_admin_rule_cannot_switch_the_wildcard_on(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    admin_rule(view="document-plain", allow_wildcard=True)
    with protect("document-plain", **{"model": "testapp.Document", "lookup_url_kwarg": "pk"}):
        response = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": "*"})
    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


def test_an_admin_rule_cannot_replace_the_settings_error_format(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    admin_rule(view="document-plain", error_format="json")
    with protect("document-plain", error_format="problem", **OWNED):
        response = put(client, f"/plain/docs/{document.pk}/")
    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"


def test_an_admin_rule_cannot_narrow_methods_or_widen_headers(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    admin_rule(view="document-plain", methods="DELETE", required_headers="If-Unmodified-Since")
    with protect("document-plain", methods=["PUT"], required_headers=["If-Match"], **OWNED):
        put_response = put(
            client, f"/plain/docs/{document.pk}/", **{"If-Unmodified-Since": http_date(2**32)}
        )
        delete_response = client.delete(f"/plain/docs/{document.pk}/")
    assert put_response.status_code == 428  # If-Unmodified-Since is not accepted by settings
    assert delete_response.status_code == 428  # the admin rule added DELETE
    assert Document.objects.filter(pk=document.pk, title="a").exists()


def test_an_admin_model_on_a_headers_only_settings_rule_keeps_the_428(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    admin_rule(view="document-plain", model_label="testapp.Document", lookup_url_kwarg="wrong")
    with protect("document-plain", methods=["PUT"]):
        response = put(client, f"/plain/docs/{document.pk}/")
    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


def test_item_4_a_string_an_admin_typed_is_never_imported() -> None:
    sys.modules.pop("tests.support.import_canary", None)
    rule = ProtectedEndpoint(
        view="document-plain", error_format="tests.support.import_canary.render"
    )
    with pytest.raises(ValidationError, match="cannot name other formats"):
        rule.full_clean()
    ProtectedEndpoint.objects.create(
        view="document-plain", error_format="tests.support.import_canary.x"
    )
    reload_rules()
    assert "tests.support.import_canary" not in sys.modules


# --- Item 5: a failed refresh keeps the last good rules -------------------------------------


@pytest.mark.django_db(transaction=True)  # MariaDB commits around DDL
def test_item_5_unreadable_rules_table_keeps_the_last_rules_in_force(client, caplog) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view="document-plain", model_label="testapp.Document", lookup_url_kwarg="pk"
    )
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"RULES_REFRESH_INTERVAL": 0}):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 428
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE django_preconditions_protectedendpoint RENAME TO moved")
        try:
            with caplog.at_level(logging.ERROR, logger="django_preconditions"):
                answers = [put(client, f"/plain/docs/{document.pk}/").status_code for _ in range(5)]
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE moved RENAME TO django_preconditions_protectedendpoint")
    assert answers == [428] * 5
    assert Document.objects.get(pk=document.pk).title == "a"
    assert "rules read last stay in force" in caplog.text


def test_the_audit_reports_a_broken_admin_rule(client) -> None:  # type: ignore[no-untyped-def]
    from django_preconditions.audit import build_report

    admin_rule(view="document-plain", model_label="testapp.Document", lookup_url_kwarg="nope")
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        rows = {row.name: row for row in build_report()}
    assert "refused with 428" in rows["document-plain"].note


def test_an_admin_rule_cannot_lock_the_admin_site_itself(admin_client) -> None:  # type: ignore[no-untyped-def]
    rule = ProtectedEndpoint(view="admin:testapp_document_add", methods="POST")
    with pytest.raises(ValidationError, match="view of the admin site itself"):
        rule.full_clean()
    admin_rule(view="admin:testapp_document_add", methods="POST", required_headers="If-Match")
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        response = admin_client.post("/admin/testapp/document/add/", {"title": "t", "counter": 0})
    assert response.status_code == 302
    assert Document.objects.filter(title="t").exists()


@pytest.mark.django_db(transaction=True)
def test_the_views_transaction_is_closed_and_rolled_back_when_rendering_fails() -> None:
    from django.test import Client

    from django_preconditions import signals

    document = Document.objects.create(title="a")
    client = Client(raise_request_exception=False)
    url = f"/mw/audited/docs/{document.pk}/"

    def broken_receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a project's receiver of the refusal fails")

    signals.precondition_required.connect(broken_receiver, weak=False)
    try:
        with protect("mw-audited", **OWNED):
            failed = put(client, url)
    finally:
        signals.precondition_required.disconnect(broken_receiver)
    assert failed.status_code == 500
    assert not connection.in_atomic_block
    assert not PlainCounter.objects.exists()  # the view's audit row was rolled back
    with protect("mw-audited", **OWNED):
        assert put(client, url, **{"If-Match": document.etag}).status_code == 200
    assert PlainCounter.objects.count() == 1


def test_rule_12_a_class_based_views_http_method_names_answer_405_first(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with protect("mw-cbv", **OWNED):
        answers = [
            client.generic(method, f"/mw/cbv/docs/{document.pk}/", headers={"If-Match": '"x"'})
            for method in ("PUT", "PATCH", "DELETE")
        ]
        read = client.get(f"/mw/cbv/docs/{document.pk}/", headers={"If-None-Match": document.etag})
    assert [response.status_code for response in answers] == [405, 405, 405]
    assert read.status_code == 304


def test_a_view_that_swallows_the_refusal_is_still_refused_and_rolled_back(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with protect("mw-swallow", **OWNED):
        stale = put(client, f"/mw/swallow/docs/{document.pk}/", **{"If-Match": '"stale"'})
        missing = put(client, f"/mw/swallow/docs/{document.pk}/")
    assert (stale.status_code, missing.status_code) == (412, 428)
    assert Document.objects.get(pk=document.pk).title == "a"


def test_a_queryset_update_without_a_precondition_is_rolled_back_with_428(client) -> None:  # type: ignore[no-untyped-def]
    """Writes that bypass save() are not a compare-and-swap (docs/views.md), but a request
    without a precondition that wrote anything is still refused and rolled back."""
    document = Document.objects.create(title="a")
    with protect("mw-update", **OWNED):
        response = put(client, f"/mw/update/docs/{document.pk}/")
    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


def test_a_lookup_by_a_unique_field_other_than_the_pk(client) -> None:  # type: ignore[no-untyped-def]
    rule = ProtectedEndpoint.objects.create(view="unused-key")
    by_view = {
        "model": "django_preconditions.ProtectedEndpoint",
        "lookup_url_kwarg": "key",
        "lookup_field": "view",
    }
    url = "/mw/rules/unused-key/"
    with protect("mw-rule-note", **by_view):
        read = client.get(url)
        missing = client.put(url, "x", content_type="text/plain")
        stale = client.put(url, "x", content_type="text/plain", headers={"If-Match": '"old"'})
        written = client.put(
            url, "mine", content_type="text/plain", headers={"If-Match": read["ETag"]}
        )
        not_modified = client.get(url, headers={"If-None-Match": written["ETag"]})
    assert read["ETag"] == rule.etag
    assert (missing.status_code, stale.status_code, written.status_code) == (428, 412, 200)
    rule.refresh_from_db()
    assert (rule.note, written["ETag"]) == ("mine", rule.etag)
    assert not_modified.status_code == 304


def async_putter(async_client: Any, url: str) -> Callable[..., Any]:
    """A PUT of ``{}`` to ``url`` through the async test client, run to completion."""
    from asgiref.sync import async_to_sync

    def aput(**headers: str) -> Any:
        return async_to_sync(async_client.put)(
            url, {}, content_type="application/json", headers=headers
        )

    return aput


@pytest.mark.django_db(transaction=True)
def test_async_views_are_refused_after_their_access_control_and_rolled_back(async_client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    aput = async_putter(async_client, f"/mw/async/audited/docs/{document.pk}/")
    with protect("mw-async-audited", **OWNED):
        missing = aput()
        stale = aput(**{"If-Match": '"stale"'})
        assert not PlainCounter.objects.exists()
        written = aput(**{"If-Match": document.etag})
    assert (missing.status_code, stale.status_code, written.status_code) == (428, 412, 200)
    assert PlainCounter.objects.count() == 1
    assert written["ETag"] == Document.objects.get(pk=document.pk).etag
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_rules_12_51_an_async_view_under_a_headers_only_rule_is_refused_at_its_end_and_rolled_back(  # type: ignore[no-untyped-def]
    async_client,
) -> None:
    """Its audit row's write holds the 428 back (the view may yet refuse the caller): the
    view's writes run in the middleware's transaction and are rolled back when the view
    answers 200; with a precondition they commit, with no transaction left open."""
    document = Document.objects.create(title="a")
    aput = async_putter(async_client, f"/mw/async/audited/docs/{document.pk}/")
    with protect("mw-async-audited", methods=["PUT"]):
        missing = aput()
        assert missing.status_code == 428, missing.content
        assert not PlainCounter.objects.exists()
        assert Document.objects.get(pk=document.pk).title == "a"
        written = aput(**{"If-Match": '"anything"'})
    assert written.status_code == 200, written.content
    assert PlainCounter.objects.count() == 1
    assert Document.objects.get(pk=document.pk).title == "new"
    assert not connection.in_atomic_block


def test_rules_26_and_50_create_by_put_through_the_middleware_is_create_only(client) -> None:  # type: ignore[no-untyped-def]
    """A view that creates on PUT: If-None-Match: * creates once (201); the same PUT again is
    412 and changes nothing; without a precondition, 428 and nothing is created (rule 29)."""
    with protect("mw-upsert", **OWNED):
        missing = put(client, "/mw/upsert/docs/71/", {"title": "none"})
        created = put(client, "/mw/upsert/docs/70/", {"title": "first"}, **{"If-None-Match": "*"})
        again = put(client, "/mw/upsert/docs/70/", {"title": "second"}, **{"If-None-Match": "*"})
    assert missing.status_code == 428
    assert not Document.objects.filter(pk=71).exists()
    assert created.status_code == 201
    assert created.headers["ETag"] == Document.objects.get(pk=70).etag
    assert again.status_code == 412
    assert Document.objects.get(pk=70).title == "first"


def test_rule_50_a_row_created_after_the_middlewares_check_is_412_not_an_overwrite(client) -> None:  # type: ignore[no-untyped-def]
    """The create is an INSERT that fails on conflict: a rival that creates the row between
    the check and the view's save makes it 412, never an UPDATE of the rival's row."""
    from django.db.models.signals import pre_save

    def rival(sender: Any, instance: Document, **kwargs: Any) -> None:
        if instance.title == "mine" and not Document.objects.filter(pk=72).exists():
            Document.objects.bulk_create([Document(pk=72, title="theirs")])

    pre_save.connect(rival, sender=Document)
    try:
        with protect("mw-upsert", **OWNED):
            response = put(
                client, "/mw/upsert/docs/72/", {"title": "mine"}, **{"If-None-Match": "*"}
            )
    finally:
        pre_save.disconnect(rival, sender=Document)
    assert response.status_code == 412
