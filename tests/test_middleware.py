"""PreconditionMiddleware: settings and admin rules enforced around views not protected in code.

Rules cited: 11, 12, 13, 19, 24, 26, 29, 30, 36, 41, 44, 51, 53 (CONFORMANCE.md); issue 12
(cost).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rules import reload_rules
from tests.support.middleware import MIDDLEWARE, PLAIN_RULE, put, settings_rule
from tests.testapp.models import Document, PlainCounter, SluggedDocument

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "key",
    ["document-plain", "tests.testapp.views.plain_document_detail", "plain/docs/<int:pk>/"],
)
def test_rule_29_settings_rule_by_name_path_or_route_requires_a_precondition(client, key) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with settings_rule(key, **PLAIN_RULE):
        response = put(client, f"/plain/docs/{document.pk}/")
    assert response.status_code == 428
    assert response["Cache-Control"] == "no-store"
    assert Document.objects.get(pk=document.pk).title == "a"


def test_without_a_rule_the_plain_view_is_untouched(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 200


def test_rule_19_current_etag_passes_and_the_response_carries_the_new_one(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with settings_rule("document-plain", **PLAIN_RULE):
        read = client.get(f"/plain/docs/{document.pk}/")
        assert read["ETag"] == document.etag
        response = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": read["ETag"]})
    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "new"
    assert response["ETag"] == stored.etag != document.etag


def test_rule_11_stale_precondition_is_412_before_the_view_parses_the_body(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    stale = document.etag
    document.save()
    with settings_rule("document-plain", **PLAIN_RULE):
        response = client.put(
            f"/plain/docs/{document.pk}/",
            "{not json",
            content_type="application/json",
            headers={"If-Match": stale},
        )
    assert response.status_code == 412
    assert response["ETag"] == Document.objects.get(pk=document.pk).etag  # rule 36


def test_rule_12_absent_object_is_left_to_the_view(client) -> None:  # type: ignore[no-untyped-def]
    with settings_rule("document-plain", **PLAIN_RULE), pytest.raises(Document.DoesNotExist):
        put(client, "/plain/docs/999/", **{"If-Match": '"x"'})


def test_rule_44_the_views_own_save_is_a_compare_and_swap(client) -> None:  # type: ignore[no-untyped-def]
    """The token is checked before the view and again by its UPDATE: a write that slips in
    between (here: during the view, from another connection's point of view) gives 412."""
    document = Document.objects.create(title="a")
    etag = document.etag
    from django.db.models.signals import pre_save

    def concurrent_write(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.title == "new":  # the request's save: someone else writes first
            Document.objects.filter(pk=instance.pk).update(title="theirs")

    pre_save.connect(concurrent_write, sender=Document)
    try:
        with settings_rule("document-plain", **PLAIN_RULE):
            response = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": etag})
    finally:
        pre_save.disconnect(concurrent_write, sender=Document)
    assert response.status_code == 412
    # The simulated writer ran inside the refused save(), which runs in a transaction of its
    # own when receivers are connected, so the refusal rolled it back (rule 51); a real
    # concurrent writer commits on its own connection: tests/test_concurrency.py.
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.django_db(transaction=True)
def test_issue_12_a_write_of_the_row_alone_costs_what_the_plain_view_costs(client) -> None:  # type: ignore[no-untyped-def]
    """A view whose only write is the row's save: the view's SELECT and the compare-and-swap
    UPDATE, nothing more — no second read of the row (the version the view loaded is the
    expected one) and no transaction around a single statement."""
    document = Document.objects.create(title="a")
    url = f"/plain/docs/{document.pk}/"
    with CaptureQueriesContext(connection) as plain:
        assert put(Client(), url).status_code == 200  # its own client: no middleware
    document.refresh_from_db()
    in_transaction: list[bool] = []

    def record(execute: Any, sql: str, *args: Any) -> Any:
        if sql.startswith("UPDATE"):
            in_transaction.append(connection.in_atomic_block)
        return execute(sql, *args)

    with settings_rule("document-plain", **PLAIN_RULE):
        client.get(url)  # the admin rules are read once
        with CaptureQueriesContext(connection) as protected, connection.execute_wrapper(record):
            response = put(client, url, **{"If-Match": document.etag})
    assert response.status_code == 200
    assert response["ETag"] == Document.objects.get(pk=document.pk).etag
    statements = [query["sql"].split()[0] for query in protected.captured_queries]
    assert statements == ["SELECT", "UPDATE"]
    assert len(protected.captured_queries) == len(plain.captured_queries)
    assert "version_token" in protected.captured_queries[1]["sql"].split("WHERE")[1]
    assert in_transaction == [False]


def test_rule_24_a_write_is_judged_by_the_version_the_view_loaded_then_compared(client) -> None:  # type: ignore[no-untyped-def]
    """The view's load is the stored row the preconditions are evaluated against; a change
    after it (here: a rival's UPDATE between the load and the save) is caught by the
    compare-and-swap, and the 412 carries the version read after the rollback."""
    from django.db.models.signals import pre_save

    document = Document.objects.create(title="a")
    etag = document.etag

    def rival(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.title == "new":
            Document.objects.filter(pk=instance.pk).update(version_token="theirs")

    with settings_rule("document-plain", **PLAIN_RULE):
        stale_since = put(
            client,
            f"/plain/docs/{document.pk}/",
            **{"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        )
        pre_save.connect(rival, sender=Document)
        try:
            raced = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": etag})
        finally:
            pre_save.disconnect(rival, sender=Document)
    assert stale_since.status_code == 412
    assert raced.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "a"
    assert raced["ETag"] == Document.objects.get(pk=document.pk).etag


def test_headers_only_rule_requires_a_header_and_leaves_evaluation_to_the_view(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with settings_rule("document-plain", methods=["PUT"]):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 428
        response = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": '"anything"'})
        malformed = put(client, f"/plain/docs/{document.pk}/", **{"If-Match": "unquoted"})
    assert response.status_code == 200  # no model named: the state is unknown here
    assert malformed.status_code == 400


def test_rule_30_admin_rule_takes_effect_at_once_in_the_saving_process(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 200
        rule = ProtectedEndpoint.objects.create(
            view="document-plain", model_label="testapp.Document", lookup_url_kwarg="pk"
        )
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 428
        rule.enabled = False
        rule.save()
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 200
        rule.delete()
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 200


def test_admin_rule_can_add_protected_methods_but_not_remove_settings_ones(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view="document-plain",
        methods="DELETE",
        model_label="testapp.Document",
        lookup_url_kwarg="pk",
        required_headers="If-Match",
    )
    with settings_rule("document-plain", methods=["PUT"], **PLAIN_RULE):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 428  # settings
        assert client.delete(f"/plain/docs/{document.pk}/").status_code == 428  # admin adds


def test_disabled_admin_rule_does_not_remove_settings_protection(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(view="document-plain", methods="DELETE", enabled=False)
    with settings_rule("document-plain", methods=["PUT"], **PLAIN_RULE):
        assert put(client, f"/plain/docs/{document.pk}/").status_code == 428


def test_views_protected_in_code_are_not_evaluated_twice(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view="document-reuse", methods="PUT", required_headers="If-Match", error_format="json"
    )
    reload_rules()
    with override_settings(MIDDLEWARE=MIDDLEWARE), CaptureQueriesContext(connection) as queries:
        response = put(client, f"/reuse/docs/{document.pk}/")
    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"  # the decorator's format
    assert len(queries.captured_queries) == 1  # the decorator's SELECT only


def test_zero_queries_for_rules_per_request_in_steady_state(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    for index in range(50):
        ProtectedEndpoint.objects.create(view=f"unused/{index}/")
    ProtectedEndpoint.objects.create(
        view="document-plain", model_label="testapp.Document", lookup_url_kwarg="pk"
    )
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        client.get(f"/plain/docs/{document.pk}/")  # loads the rules once
        with CaptureQueriesContext(connection) as queries:
            for _ in range(5):
                assert put(client, f"/plain/docs/{document.pk}/").status_code == 428
    assert not [q for q in queries.captured_queries if "protectedendpoint" in q["sql"].lower()]


@pytest.mark.django_db(transaction=True)  # MariaDB commits around DDL
@override_settings(PRECONDITIONS={"RULES_REFRESH_INTERVAL": 0})
def test_missing_rules_table_falls_back_to_settings_rules_and_logs(client, caplog) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE django_preconditions_protectedendpoint RENAME TO moved_away")
    try:
        with (
            caplog.at_level(logging.ERROR, logger="django_preconditions"),
            override_settings(
                MIDDLEWARE=MIDDLEWARE,
                PRECONDITIONS={
                    "RULES_REFRESH_INTERVAL": 0,
                    "VIEWS": {"document-plain": PLAIN_RULE},
                },
            ),
        ):
            response = put(client, f"/plain/docs/{document.pk}/")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE moved_away RENAME TO django_preconditions_protectedendpoint"
            )
    assert response.status_code == 428
    assert "could not read its admin rules" in caplog.text


def test_rule_30_async_views_are_protected_too(async_client) -> None:  # type: ignore[no-untyped-def]
    from asgiref.sync import async_to_sync

    document = Document.objects.create(title="a")
    url = f"/async/plain/docs/{document.pk}/"
    with settings_rule("document-async-plain", **PLAIN_RULE):
        missing = async_to_sync(async_client.put)(
            url, {"title": "x"}, content_type="application/json"
        )
        read = async_to_sync(async_client.get)(url)
        written = async_to_sync(async_client.put)(
            url, {"title": "x"}, content_type="application/json", headers={"If-Match": read["ETag"]}
        )
        replay = async_to_sync(async_client.put)(
            url, {"title": "y"}, content_type="application/json", headers={"If-Match": read["ETag"]}
        )
    assert missing.status_code == 428
    assert written.status_code == 200
    assert written["ETag"] == Document.objects.get(pk=document.pk).etag
    assert replay.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "x"


def test_admin_rule_validation_names_the_field_and_the_fix() -> None:
    rule = ProtectedEndpoint(
        view="no-such-url-name", methods="GET", model_label="testapp.Nope", lookup_url_kwarg="pk"
    )
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    errors = raised.value.message_dict
    assert "matches no URL pattern" in errors["view"][0]
    assert "methods" in errors
    assert "not an installed model" in " ".join(errors["model_label"])


@pytest.mark.parametrize(
    "view", ["document-plain", "tests.testapp.views.plain_document_detail", "plain/docs/<int:pk>/"]
)
def test_admin_rule_accepts_each_kind_of_view_key(view: str) -> None:
    ProtectedEndpoint(view=view).full_clean()


def test_admin_rule_rejects_a_key_that_matches_no_url_and_names_the_closest() -> None:
    with pytest.raises(ValidationError) as raised:
        ProtectedEndpoint(view="plain/docs/<int:pk/").full_clean()
    message = raised.value.message_dict["view"][0]
    assert "matches no URL pattern" in message
    assert "'plain/docs/<int:pk>/'" in message


# --- How the rule's lookup names the row: URL converters, keys the field cannot take ---------

_CONVERTERS = pytest.mark.urls("tests.support.converter_urls")


def _update_statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]


@_CONVERTERS
def test_rule_44_a_converter_handing_the_view_its_row_gets_the_etag_and_a_compare_and_swap(
    client: Client,
) -> None:
    """An admin rule on a view whose URL converter returns the object: the instance names
    its row (by primary key), its version is the one judged, and the save is a
    compare-and-swap (rules 19, 39, 44)."""
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view="conv-document", model_label="testapp.Document", lookup_url_kwarg="document"
    )
    url = f"/conv/{document.pk}/"
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        read = client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = put(client, url, **{"If-Match": read["ETag"]})
    assert read["ETag"] == document.etag
    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "new"
    assert response["ETag"] == stored.etag != document.etag
    (update,) = _update_statements(queries)
    assert "version_token" in update.split("WHERE")[1]


@_CONVERTERS
def test_rule_36_a_stale_etag_through_a_converter_is_412_with_the_current_one(
    client: Client,
) -> None:
    document = Document.objects.create(title="a")
    stale = document.etag
    document.save()
    ProtectedEndpoint.objects.create(
        view="conv-document", model_label="testapp.Document", lookup_url_kwarg="document"
    )
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        response = put(client, f"/conv/{document.pk}/", **{"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag  # the current version (rule 36)
    assert Document.objects.get(pk=document.pk).title == "a"


@_CONVERTERS
def test_rule_26_create_only_through_a_converter_is_412_when_the_row_exists(
    client: Client,
) -> None:
    """``If-None-Match: *`` must not overwrite the row the converter found."""
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view="conv-document", model_label="testapp.Document", lookup_url_kwarg="document"
    )
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        response = put(client, f"/conv/{document.pk}/", **{"If-None-Match": "*"})
    assert response.status_code == 412
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.etag) == ("a", document.etag)


@_CONVERTERS
def test_rule_53_a_converter_handing_the_view_a_proxy_names_the_same_row(
    client: Client,
) -> None:
    document = Document.objects.create(title="a")
    url = f"/conv/proxy/{document.pk}/"
    with settings_rule("conv-proxy", model="testapp.Document", lookup_url_kwarg="document"):
        current = put(client, url, **{"If-Match": document.etag})
        create_only = put(client, url, {"title": "c"}, **{"If-None-Match": "*"})
    assert current.status_code == 200
    assert create_only.status_code == 412
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "new"
    assert current["ETag"] == stored.etag


@_CONVERTERS
def test_rule_26_a_converter_on_a_lookup_field_names_the_row_by_that_field(
    client: Client,
) -> None:
    """With ``lookup_field`` "slug", the instance names its row by its slug (not by the
    ``str()`` of the object)."""
    document = SluggedDocument.objects.create(slug="first")
    url = "/conv/slugged/first/"
    rule = {
        "model": "testapp.SluggedDocument",
        "lookup_field": "slug",
        "lookup_url_kwarg": "document",
    }
    with settings_rule("conv-slugged", **rule):
        create_only = put(client, url, **{"If-None-Match": "*"})
        current = put(client, url, **{"If-Match": document.etag})
    assert create_only.status_code == 412
    assert current.status_code == 200
    assert SluggedDocument.objects.get(pk=document.pk).counter == 1


@_CONVERTERS
def test_rules_12_26_a_lookup_that_names_no_row_refuses_writes_with_428_not_unchecked(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The rule's integer field cannot take the URL's ``doc-<id>``: the row the view writes
    is unknown, so ``If-None-Match: *`` cannot be checked and the write is refused (428,
    logged), never applied without a compare-and-swap. A key the view answers 404 for is
    still the view's 404 (rule 12)."""
    document = Document.objects.create(title="a")
    with (
        caplog.at_level(logging.ERROR, logger="django_preconditions"),
        settings_rule("keyed-document", model="testapp.Document", lookup_url_kwarg="key"),
    ):
        missing = put(client, "/keyed/doc-999/", **{"If-None-Match": "*"})
        response = put(client, f"/keyed/doc-{document.pk}/", **{"If-None-Match": "*"})
    assert missing.status_code == 404
    assert response.status_code == 428
    assert response["Content-Type"] == "application/problem+json"
    assert "cannot be applied" in response.json()["detail"]
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.etag) == ("a", document.etag)
    assert "lookup does not identify the row" in caplog.text


@_CONVERTERS
def test_rules_13_36_a_lookup_that_names_no_row_answers_the_current_etag_with_428_not_412(
    client: Client,
) -> None:
    """A 412 would send a correct client round for ever (re-read, retry, 412): the 428 says
    the rule is at fault, and carries no version (rule 13)."""
    document = Document.objects.create(title="a")
    with settings_rule("keyed-document", model="testapp.Document", lookup_url_kwarg="key"):
        response = put(client, f"/keyed/doc-{document.pk}/", **{"If-Match": document.etag})
    assert response.status_code == 428
    assert "ETag" not in response
    assert document.etag not in response.content.decode()
    assert Document.objects.get(pk=document.pk).title == "a"


# --- RFC 9110 §13.1.1: a precondition is evaluated on every unsafe method -------------------


def test_a_stale_if_match_on_a_method_the_rule_does_not_require_is_412() -> None:
    """A rule that requires preconditions of PUT only still judges the If-Match a DELETE
    carries (the decorator, the class-based mixin and DRF do): stale → 412, nothing deleted;
    current → the delete; none → the view, as before."""
    client = Client()
    document = Document.objects.create(title="original")
    url = f"/plain/docs/{document.pk}/"
    with settings_rule("document-plain", methods=["PUT"], **PLAIN_RULE):
        stale = client.delete(url, headers={"If-Match": '"stale"'})
        assert stale.status_code == 412
        assert Document.objects.filter(pk=document.pk).exists()
        current = client.delete(url, headers={"If-Match": document.etag})
        assert current.status_code == 204
        assert not Document.objects.filter(pk=document.pk).exists()
        other = Document.objects.create(title="other")
        unconditional = client.delete(f"/plain/docs/{other.pk}/")
        assert unconditional.status_code == 204


def test_the_middleware_and_the_decorator_agree_on_a_stale_post() -> None:
    decorated = Document.objects.create(title="original")
    plain = Document.objects.create(title="original")
    stale = {"If-Match": '"stale"'}
    body = {"title": "lost"}
    by_decorator = Client().post(
        f"/docs/{decorated.pk}/", body, content_type="application/json", headers=stale
    )
    with settings_rule("document-plain", **PLAIN_RULE):
        by_middleware = Client().post(  # a new client: its handler loads the middleware
            f"/plain/docs/{plain.pk}/", body, content_type="application/json", headers=stale
        )
    assert (by_decorator.status_code, by_middleware.status_code) == (412, 412), (
        by_middleware.content
    )
    assert Document.objects.get(pk=plain.pk).title == "original"


# --- rules 12, 13: a write before the view's access check decides nothing yet ---------------

LOGGED = {"VIEWS": {"logged": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}}


@pytest.mark.django_db(transaction=True)  # the guard holds the view's writes itself
@pytest.mark.urls("tests.support.access_log_urls")
def test_rules_12_13_a_write_before_the_views_owner_check_does_not_answer_412(
    django_user_model: Any,
) -> None:
    """The view logs the access, then looks the row up among the caller's own: a stranger
    gets the view's 404 (no ETag, no version in the body); the owner's stale write gets 412
    and its log line is rolled back with it; a current one succeeds and keeps it."""
    owner = django_user_model.objects.create_user("owner", password="x")
    stranger = django_user_model.objects.create_user("stranger", password="x")
    document = Document.objects.create(title="secret", owner=owner)
    url = f"/logged/{document.pk}/"
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=LOGGED):
        client = Client()
        client.force_login(stranger)
        refused = put(client, url, **{"If-Match": '"guess"'})
        assert refused.status_code == 404
        assert "ETag" not in refused
        assert document.version_token not in refused.content.decode()
        logged = PlainCounter.objects.filter(counter=document.pk).count()
        client.force_login(owner)
        stale = put(client, url, **{"If-Match": '"stale"'})
        assert stale.status_code == 412
        assert PlainCounter.objects.filter(counter=document.pk).count() == logged
        missing = put(client, url)
        assert missing.status_code == 428
        current = put(client, url, **{"If-Match": document.etag})
        assert current.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "new"
    assert current["ETag"] == stored.etag
    assert PlainCounter.objects.filter(counter=document.pk).count() == logged + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.access_log_urls")
@pytest.mark.parametrize(("headers", "refused"), [({"If-Match": '"stale"'}, 412), ({}, 428)])
def test_a_write_before_the_row_is_loaded_is_judged_when_the_view_redirects(
    headers: dict[str, str], refused: int
) -> None:
    """Only the view's own refusals (401/403/404/405/410) keep its answer: a redirect after an
    undecided write is judged, and a refusal rolls the write back (rules 44, 51) without
    showing the row's version (the redirect may have been a refusal: rule 13)."""
    document = Document.objects.create(title="a")
    rules = {"VIEWS": {"redirect": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=rules):
        response = put(Client(), f"/redirect/{document.pk}/", **headers)
        current = put(Client(), f"/redirect/{document.pk}/", **{"If-Match": document.etag})
    assert response.status_code == refused
    # The redirect may have been the view's refusal (to a login page): no version shown.
    assert "ETag" not in response
    assert document.version_token not in response.content.decode()
    assert current.status_code == 302
    assert Document.objects.get(pk=document.pk).title == "new"
