"""A ``PRECONDITIONS`` value the system checks reject must not reach a request: gunicorn and
uWSGI do not run the checks, so a project can serve with one. Such a value is ignored (logged
once, the default or the level below applies), never coerced — the string ``"PUT"`` would be
the methods ``P``, ``U`` and ``T``, and ``"false"`` is true — and never a 500. A ``VIEWS``
entry that is not a dict leaves code-protected views protected and makes a view it alone
protects fail closed in the middleware (428 for unsafe methods)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from django_preconditions.checks import check_settings_block
from tests.support.json_requests import send
from tests.support.middleware import MIDDLEWARE, PLAIN_RULE
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db


def _ids(block: dict[str, Any]) -> list[str]:
    with override_settings(PRECONDITIONS=block):
        return [message.id for message in check_settings_block()]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("block", "check_id", "method", "headers"),
    [
        ({"VIEWS": {"document-detail": ["PUT"]}}, "preconditions.E010", "GET", {}),
        ({"VIEWS": {"document-detail": ["PUT"]}}, "preconditions.E010", "PUT", {}),
        ({"ERROR_FORMAT": "problme"}, "preconditions.E007", "PUT", {}),
        ({"ERROR_FORMAT": ".relative"}, "preconditions.E007", "PUT", {}),
        ({"VIEWS": {"document-detail": {"methods": "PUT"}}}, "preconditions.E012", "PUT", {}),
        ({"METHODS": "PUT"}, "preconditions.E003", "PUT", {}),
        (
            {"VIEWS": {"document-detail": {"allow_wildcard": "false"}}},
            "preconditions.E012",
            "PUT",
            {"If-Match": "*"},
        ),
        ({"ALLOW_WILDCARD": "false"}, "preconditions.E005", "PUT", {"If-Match": "*"}),
        ({"MODE": "reprot"}, "preconditions.E021", "PUT", {}),
    ],
)
def test_a_value_the_checks_reject_is_ignored_at_request_time(
    document: Document,
    block: dict[str, Any],
    check_id: str,
    method: str,
    headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert check_id in _ids(block)
    client = Client(raise_request_exception=False)
    body = {"title": "x"} if method == "PUT" else None
    with override_settings(PRECONDITIONS=block), caplog.at_level(logging.ERROR):
        response = send(client, method, f"/docs/{document.pk}/", body, headers)

    assert response.status_code == (200 if method == "GET" else 428), response.content[:300]
    assert response["Content-Type"].startswith("application/")  # the default format, no 500
    assert Document.objects.get(pk=document.pk).title == document.title


def test_an_ignored_value_is_logged_once_naming_the_check(
    document: Document, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        override_settings(PRECONDITIONS={"METHODS": "PUT, DELETE"}),
        caplog.at_level(logging.ERROR, logger="django_preconditions"),
    ):
        for _ in range(3):
            send(Client(), "PUT", f"/docs/{document.pk}/", {"title": "x"})
    logged = [record.getMessage() for record in caplog.records if "ignores" in record.getMessage()]
    assert len(logged) == 1
    assert "PRECONDITIONS['METHODS']" in logged[0]
    assert "preconditions.E003" in logged[0]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_middleware_rule_that_is_not_a_dict_fails_closed(document: Document, method: str) -> None:
    block = {"VIEWS": {"document-plain": ["PUT"]}}
    assert "preconditions.E010" in _ids(block)
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=block):
        client = Client(raise_request_exception=False)
        read = client.get(f"/plain/docs/{document.pk}/")
        write = send(client, method, f"/plain/docs/{document.pk}/", {"title": "x"})

    assert read.status_code == 200
    assert write.status_code == 428
    assert Document.objects.filter(pk=document.pk, title=document.title).exists()


@pytest.mark.parametrize(
    "interval",
    [10**400, float("nan"), float("inf"), -1, "5", True],
    ids=["10**400", "nan", "inf", "-1", "str", "bool"],
)
def test_check_e016_rejects_every_refresh_interval_the_middleware_cannot_use(
    document: Document, interval: Any
) -> None:
    block = {"RULES_REFRESH_INTERVAL": interval, "VIEWS": {"document-plain": PLAIN_RULE}}
    assert "preconditions.E016" in _ids(block)
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=block):
        client = Client(raise_request_exception=False)
        response = send(client, "PUT", f"/plain/docs/{document.pk}/", {"title": "x"})

    assert response.status_code == 428


@pytest.mark.parametrize("value", [".relative", "..", "a..b"])
def test_check_e007_reports_a_malformed_dotted_path(value: str) -> None:
    assert _ids({"ERROR_FORMAT": value}) == ["preconditions.E007"]


@pytest.mark.parametrize(
    "headers", [{"If-Match"}, frozenset({"If-Match"}), ["If-Match"], ("If-Match",)], ids=repr
)
def test_any_iterable_given_in_code_is_a_list_of_names(headers: Any) -> None:
    """Code may pass any iterable (the arguments are typed ``Iterable[str]``): a set of
    headers is the same requirement as a list, not an invalid value that is ignored."""
    from django_preconditions.policy import Policy

    policy = Policy.from_settings().updated(required_headers=headers, methods={"put"})
    assert policy.required_headers == ("If-Match",)
    assert policy.methods == frozenset({"PUT"})
