"""HTTP-dates as written, and dates in the future (CONFORMANCE rules 56 and 57)."""

from __future__ import annotations

import calendar
from typing import Any

import pytest
from django.test import Client

from django_preconditions.conditions import (
    IF_MODIFIED_SINCE,
    IF_UNMODIFIED_SINCE,
    Outcome,
    Reason,
    evaluate,
)
from django_preconditions.headers import parse_http_date
from tests.support.conditions import LAST_MODIFIED, PROTECTED, WILDCARD_ALLOWED, R
from tests.testapp.models import Document

NOW = LAST_MODIFIED + 3600
YEAR_9999 = "Fri, 31 Dec 9999 23:59:59 GMT"
YEAR_30 = "Thu, 17 Oct 0030 09:16:16 GMT"


# Rule 57: four-digit years as written; RFC 850's two digits by the 50-year rule -------------


def test_rule_57_a_four_digit_year_below_100_is_that_year_not_2000_something():
    assert parse_http_date(YEAR_30) == calendar.timegm((30, 10, 17, 9, 16, 16))
    assert parse_http_date("Thu Oct 17 09:16:16 0030") == calendar.timegm((30, 10, 17, 9, 16, 16))


def test_rule_57_rfc_850_two_digit_years_follow_the_fifty_year_rule():
    now_2025 = calendar.timegm((2025, 7, 1, 0, 0, 0))
    assert parse_http_date("Tuesday, 01-Jul-25 12:00:00 GMT", now=now_2025) == LAST_MODIFIED
    # 2075 is not more than 50 years ahead of 2025; 2076 is, so it is 1976.
    assert parse_http_date("Monday, 01-Jul-75 00:00:00 GMT", now=now_2025) == calendar.timegm(
        (2075, 7, 1, 0, 0, 0)
    )
    assert parse_http_date("Thursday, 01-Jul-76 00:00:00 GMT", now=now_2025) == calendar.timegm(
        (1976, 7, 1, 0, 0, 0)
    )


def test_rule_57_the_fifty_year_rule_compares_the_timestamp_not_the_year() -> None:
    """RFC 9110 §5.6.7: "a timestamp that appears to be more than 50 years in the future".
    On 2026-11-30, 31 December 2076 lies 50 years and a month ahead: it is 1976. 30 November
    2076 at noon, exactly 50 years ahead, is not more than 50 years ahead: it stays 2076."""
    now = calendar.timegm((2026, 11, 30, 12, 0, 0))
    assert parse_http_date("Friday, 31-Dec-76 23:59:59 GMT", now=now) == calendar.timegm(
        (1976, 12, 31, 23, 59, 59)
    )
    assert parse_http_date("Monday, 30-Nov-76 12:00:00 GMT", now=now) == calendar.timegm(
        (2076, 11, 30, 12, 0, 0)
    )
    leap_day = calendar.timegm((2024, 2, 29, 12, 0, 0))  # 2074 has no 29 February
    assert parse_http_date("Thursday, 01-Mar-74 00:00:00 GMT", now=leap_day) == (
        calendar.timegm((1974, 3, 1, 0, 0, 0))
    )


@pytest.mark.django_db
def test_rule_57_an_rfc_850_date_decades_ago_is_412_not_a_date_in_the_future(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end (the decorator), the clock at 2026-11-30 12:00 UTC: If-Unmodified-Since
    "31-Dec-76" is 1976, before the document's last write: 412 (rule 23) — not 2076, a date
    in the future that would be answered 428 (rule 56)."""
    frozen = float(calendar.timegm((2026, 11, 30, 12, 0, 0)))
    monkeypatch.setattr("django_preconditions.headers.time.time", lambda: frozen)
    monkeypatch.setattr("django_preconditions.conditions.time.time", lambda: frozen)
    document = Document.objects.create(title="x")
    response = Client().put(
        f"/docs/{document.pk}/",
        {"title": "y"},
        content_type="application/json",
        headers={"If-Unmodified-Since": "Friday, 31-Dec-76 23:59:59 GMT"},
    )
    assert response.status_code == 412, response.content[:300]
    assert Document.objects.get(pk=document.pk).title == "x"


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 0000 08:49:37 GMT",  # there is no year 0
        "Sun, 06 Nov 94 08:49:37 GMT",  # IMF-fixdate needs four digits
        "Sunday, 06-Nov-1994 08:49:37 GMT",  # RFC 850 has two
        "Sun, 6 Nov 1994 08:49:37 GMT",  # and a two-digit day
    ],
)
def test_rule_57_malformed_years_and_days_are_invalid(value):
    assert parse_http_date(value) is None


def test_rule_57_a_year_30_if_unmodified_since_refuses_the_write():
    decision = evaluate("PUT", {IF_UNMODIFIED_SINCE: YEAR_30}, R, PROTECTED, now=NOW)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_UNMODIFIED_SINCE_FAILED


def test_rule_57_if_modified_since_in_the_future_is_ignored_not_304():
    future = "Tue, 01 Jul 2025 14:00:00 GMT"  # after NOW
    decision = evaluate("GET", {IF_MODIFIED_SINCE: future}, R, now=NOW)
    assert decision.outcome is Outcome.PROCEED
    assert IF_MODIFIED_SINCE in decision.ignored
    # Not in the future: still a 304.
    past = "Tue, 01 Jul 2025 12:30:00 GMT"
    assert evaluate("GET", {IF_MODIFIED_SINCE: past}, R, now=NOW).outcome is Outcome.NOT_MODIFIED


# Rule 56: an If-Unmodified-Since in the future is a wildcard in disguise -----------------


@pytest.mark.parametrize("value", [YEAR_9999, "Tue, 01 Jul 2025 13:00:01 GMT"])
def test_rule_56_if_unmodified_since_in_the_future_does_not_satisfy_the_requirement(value):
    decision = evaluate("PUT", {IF_UNMODIFIED_SINCE: value}, R, PROTECTED, now=NOW)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.reason is Reason.UNMODIFIED_SINCE_IN_FUTURE
    assert "later than the server's current time" in decision.detail


def test_rule_56_with_allow_wildcard_a_future_if_unmodified_since_is_accepted():
    decision = evaluate("PUT", {IF_UNMODIFIED_SINCE: YEAR_9999}, R, WILDCARD_ALLOWED, now=NOW)
    assert decision.outcome is Outcome.PROCEED


def test_rule_56_the_current_second_is_not_the_future():
    now_date = "Tue, 01 Jul 2025 13:00:00 GMT"  # == NOW
    decision = evaluate("PUT", {IF_UNMODIFIED_SINCE: now_date}, R, PROTECTED, now=NOW)
    assert decision.outcome is Outcome.PROCEED


ADAPTERS = ["/docs/{pk}/", "/cbv/docs/{pk}/", "/api/docs/{pk}/"]


def put_unmodified_since(path: str, value: str) -> tuple[Any, Document]:
    document = Document.objects.create(title="a")
    response = Client().put(
        path.format(pk=document.pk),
        {"title": "b"},
        content_type="application/json",
        headers={"If-Unmodified-Since": value},
    )
    return response, Document.objects.get(pk=document.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ADAPTERS)
def test_rule_56_every_adapter_answers_428_to_a_year_9999_if_unmodified_since(path):
    response, document = put_unmodified_since(path, YEAR_9999)
    assert response.status_code == 428
    assert "later than the server's current time" in response.json()["detail"]
    assert document.title == "a"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ADAPTERS)
def test_rule_57_every_adapter_refuses_a_year_30_if_unmodified_since(path):
    response, document = put_unmodified_since(path, YEAR_30)
    assert response.status_code == 412
    assert document.title == "a"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ADAPTERS)
def test_rule_57_every_adapter_ignores_a_future_if_modified_since(path):
    document = Document.objects.create(title="a")
    response = Client().get(path.format(pk=document.pk), headers={"If-Modified-Since": YEAR_9999})
    assert response.status_code == 200
