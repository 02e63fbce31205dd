"""The evaluation core: CONFORMANCE sections A-H as seen by :func:`evaluate`.

Pure: headers are plain dicts, the resource is a ``ResourceState``; no request, no database.
Notation as in CONFORMANCE.md: R has the current strong ETag "v2" (previous "v1") and
Last-Modified Tue, 01 Jul 2025 12:00:00 GMT; /items/9 does not exist.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.http.request import HttpHeaders
from hypothesis import given
from hypothesis import strategies as st

from django_preconditions import conditions
from django_preconditions.conditions import (
    IF_MATCH,
    IF_MODIFIED_SINCE,
    IF_NONE_MATCH,
    IF_UNMODIFIED_SINCE,
    Decision,
    Outcome,
    Reason,
    Requirement,
    ResourceState,
    evaluate,
)
from django_preconditions.exceptions import MalformedHeader
from django_preconditions.headers import EntityTag, format_entity_tag
from tests.support.conditions import (
    HYPOTHESIS,
    LAST_MODIFIED,
    LAST_MODIFIED_DATE,
    PROTECTED,
    TIME_BOUND_SECONDS,
    UNSAFE,
    WILDCARD_ALLOWED,
    R,
)

ONE_SECOND_EARLIER = "Tue, 01 Jul 2025 11:59:59 GMT"
ONE_SECOND_LATER = "Tue, 01 Jul 2025 12:00:01 GMT"
ANCIENT = "Sun, 06 Nov 1994 08:49:37 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"

R_WEAK = ResourceState(exists=True, etag=EntityTag("v2", weak=True), last_modified=LAST_MODIFIED)
R_WITHOUT_DATE = ResourceState(exists=True, etag=EntityTag("v2"))
ABSENT = ResourceState.absent()


def decide(method, headers=None, resource=R, requirement=None, **kwargs) -> Decision:
    return evaluate(method, headers or {}, resource, requirement, **kwargs)


# Decision basics -----------------------------------------------------------------------------


def test_rule_18_a_request_without_preconditions_proceeds_with_no_preconditions():
    """Rule 18 (and rule 32: no requirement given, so no 428)."""
    decision = decide("PUT")
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.NO_PRECONDITIONS
    assert decision.proceeds
    assert decision.status == 200
    assert decision.method == "PUT"


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.PROCEED, 200),
        (Outcome.NOT_MODIFIED, 304),
        (Outcome.MALFORMED, 400),
        (Outcome.PRECONDITION_FAILED, 412),
        (Outcome.PRECONDITION_REQUIRED, 428),
    ],
)
def test_each_outcome_carries_its_http_status(outcome, status):
    """Rules 5 (400), 18 (2xx), 19 (412), 28 (304) and 29 (428)."""
    assert outcome.status == status


def test_reasons_render_as_their_machine_readable_code():
    """Rule 34: error bodies carry machine-readable codes."""
    assert str(Reason.IF_MATCH_FAILED) == "if_match_failed"
    assert f"{Reason.PRECONDITION_MISSING}" == "precondition_missing"


def test_the_method_is_compared_case_insensitively():
    """Rules 19 and 29: a lower-case method (Django upper-cases request.method) is
    decided like the upper-case one."""
    decision = decide("put", {IF_MATCH: '"v1"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.method == "PUT"


def test_rule_1_a_case_insensitive_header_mapping_like_request_headers_is_read():
    """Rule 1: evaluate reads Django's request.headers mapping as adapters pass it."""
    headers = HttpHeaders({"HTTP_IF_MATCH": '"v1"'})
    assert decide("PUT", headers).outcome is Outcome.PRECONDITION_FAILED


# Rule 1: lists and repeated header lines -----------------------------------------------------


@pytest.mark.parametrize("value", ['"x", "v2"', '"v2", "x"', '"x","v2"', '"x" ,\t"v2"'])
def test_rule_1_if_match_passes_when_any_member_matches(value):
    decision = decide("PUT", {IF_MATCH: value}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.PRECONDITIONS_PASSED


def test_rule_1_if_match_fails_when_no_member_matches():
    decision = decide("PUT", {IF_MATCH: '"x", "v1"'})
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED


def test_rule_1_two_header_lines_joined_by_the_server_decide_like_one_line():
    one_line = decide("PUT", {IF_MATCH: '"x", "v2"'})
    two_lines = decide("PUT", {IF_MATCH: ", ".join(['"x"', '"v2"'])})
    assert one_line == two_lines


def test_rule_1_if_none_match_lists_match_any_member():
    decision = decide("GET", {IF_NONE_MATCH: '"x", "v2"'})
    assert decision.outcome is Outcome.NOT_MODIFIED


# Rule 2: commas inside quotes ----------------------------------------------------------------


def test_rule_2_comma_inside_quotes_belongs_to_the_tag():
    resource = ResourceState(exists=True, etag=EntityTag("a,b"))
    assert decide("PUT", {IF_MATCH: '"a,b"'}, resource).outcome is Outcome.PROCEED
    assert decide("PUT", {IF_MATCH: '"x", "a,b"'}, resource).outcome is Outcome.PROCEED


def test_rule_2_a_quoted_comma_list_is_not_split_into_members():
    resource = ResourceState(exists=True, etag=EntityTag("a"))
    decision = decide("PUT", {IF_MATCH: '"a,b"'}, resource)
    assert decision.outcome is Outcome.PRECONDITION_FAILED


# Rule 3: W/ and case sensitivity -------------------------------------------------------------


def test_rule_3_tags_compare_case_sensitively():
    decision = decide("PUT", {IF_MATCH: '"V2"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED


def test_rule_3_tags_compare_case_sensitively_even_with_weak_if_match():
    decision = decide("PUT", {IF_MATCH: 'W/"V2"'}, weak_if_match=True)
    assert decision.outcome is Outcome.PRECONDITION_FAILED


def test_rule_3_lower_case_weakness_prefix_is_malformed_not_a_mismatch():
    decision = decide("PUT", {IF_MATCH: 'w/"v2"'}, weak_if_match=True)
    assert decision.outcome is Outcome.MALFORMED
    assert decision.header == IF_MATCH
    assert "W/" in decision.detail


def test_rule_3_if_none_match_compares_case_sensitively():
    assert decide("GET", {IF_NONE_MATCH: '"V2"'}).outcome is Outcome.PROCEED


# Rule 4: the empty tag -----------------------------------------------------------------------


def test_rule_4_the_empty_tag_matches_a_resource_whose_tag_is_empty():
    resource = ResourceState(exists=True, etag=EntityTag(""))
    assert decide("PUT", {IF_MATCH: '""'}, resource).outcome is Outcome.PROCEED
    assert decide("GET", {IF_NONE_MATCH: 'W/""'}, resource).outcome is Outcome.NOT_MODIFIED


def test_rule_4_the_empty_tag_does_not_match_another_tag():
    decision = decide("PUT", {IF_MATCH: '""'})
    assert decision.outcome is Outcome.PRECONDITION_FAILED


# Rule 5: malformed If-Match is never treated as absent ---------------------------------------


@pytest.mark.parametrize(
    "value",
    ["v2", '*, "v2"', '"v2", *', "", "   ", '"v2', 'W/"v2', '"v2" "v1"', 'w/"v2"'],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST", "GET", "HEAD"])
def test_rule_5_a_malformed_if_match_is_malformed_whatever_the_method(method, value):
    decision = decide(method, {IF_MATCH: value}, requirement=PROTECTED)
    assert decision.outcome is Outcome.MALFORMED
    assert decision.status == 400
    assert decision.reason is Reason.MALFORMED_IF_MATCH
    assert decision.header == IF_MATCH
    assert isinstance(decision.malformed, MalformedHeader)
    assert decision.malformed.header == IF_MATCH
    assert decision.malformed.value == value
    assert decision.detail == decision.malformed.problem
    assert decision.detail
    assert '"abc"' in decision.malformed.expected


def test_rule_5_malformed_if_match_wins_over_a_valid_if_unmodified_since():
    decision = decide("PUT", {IF_MATCH: "v2", IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE})
    assert decision.outcome is Outcome.MALFORMED


def test_rule_5_malformed_if_match_is_reported_before_the_requirement():
    decision = decide("DELETE", {IF_MATCH: "v2"}, requirement=PROTECTED)
    assert decision.outcome is Outcome.MALFORMED


def test_rule_5_malformed_if_match_is_reported_even_for_an_absent_resource():
    decision = decide("PUT", {IF_MATCH: "v2"}, ABSENT)
    assert decision.outcome is Outcome.MALFORMED


@pytest.mark.parametrize(
    ("value", "in_problem"),
    [
        ("v2", '"v2"'),
        ('*, "v2"', "*"),
        ("", "empty"),
        ('"v2', "never closed"),
    ],
)
def test_rule_5_the_detail_says_what_is_wrong(value, in_problem):
    decision = decide("PUT", {IF_MATCH: value})
    assert in_problem in decision.detail


# Project decision: malformed If-None-Match ---------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_malformed_if_none_match_is_ignored_on_get_and_head(method):
    """Project decision beside rule 5: on GET/HEAD the full response is harmless."""
    decision = decide(method, {IF_NONE_MATCH: "v2"})
    assert decision.outcome is Outcome.PROCEED
    assert IF_NONE_MATCH in decision.ignored


def test_malformed_if_none_match_on_get_lets_if_modified_since_decide():
    """Project decision beside rule 5, with rule 16: an ignored If-None-Match is absent."""
    decision = decide("GET", {IF_NONE_MATCH: "v2", IF_MODIFIED_SINCE: LAST_MODIFIED_DATE})
    assert decision.outcome is Outcome.NOT_MODIFIED
    assert decision.header == IF_MODIFIED_SINCE


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_malformed_if_none_match_is_malformed_on_unsafe_methods(method):
    """Project decision beside rule 5: a conditional write never becomes unconditional."""
    decision = decide(method, {IF_NONE_MATCH: "v2"}, ABSENT)
    assert decision.outcome is Outcome.MALFORMED
    assert decision.reason is Reason.MALFORMED_IF_NONE_MATCH
    assert decision.header == IF_NONE_MATCH
    assert decision.malformed is not None
    assert decision.malformed.header == IF_NONE_MATCH
    assert decision.detail


def test_malformed_if_none_match_is_not_hidden_by_a_passing_if_match():
    """Project decision beside rule 5."""
    decision = decide("PUT", {IF_MATCH: '"v2"', IF_NONE_MATCH: '*, "x"'})
    assert decision.outcome is Outcome.MALFORMED
    assert decision.reason is Reason.MALFORMED_IF_NONE_MATCH


# Rules 6 and 7: dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date",
    [LAST_MODIFIED_DATE, "Tuesday, 01-Jul-25 12:00:00 GMT", "Tue Jul  1 12:00:00 2025"],
)
def test_rule_6_if_unmodified_since_accepts_all_three_date_forms(date):
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: date}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED


@pytest.mark.parametrize(
    "date",
    [ONE_SECOND_EARLIER, "Tuesday, 01-Jul-25 11:59:59 GMT", "Tue Jul  1 11:59:59 2025"],
)
def test_rule_6_an_earlier_date_in_any_form_fails_if_unmodified_since(date):
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: date})
    assert decision.outcome is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize(
    "date",
    [LAST_MODIFIED_DATE, "Tuesday, 01-Jul-25 12:00:00 GMT", "Tue Jul  1 12:00:00 2025"],
)
def test_rule_6_if_modified_since_accepts_all_three_date_forms(date):
    assert decide("GET", {IF_MODIFIED_SINCE: date}).outcome is Outcome.NOT_MODIFIED


@pytest.mark.parametrize("date", ["yesterday", "", "Tue, 32 Jul 2025 12:00:00 GMT", "0"])
def test_rule_7_an_invalid_if_unmodified_since_is_ignored(date):
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: date})
    assert decision.outcome is Outcome.PROCEED
    assert IF_UNMODIFIED_SINCE in decision.ignored


def test_rule_7_an_invalid_if_unmodified_since_on_a_protected_endpoint_is_428():
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: "yesterday"}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.reason is Reason.PRECONDITION_MISSING
    assert IF_UNMODIFIED_SINCE in decision.detail
    assert decision.requirement is PROTECTED


def test_rule_7_an_invalid_if_modified_since_is_ignored():
    decision = decide("GET", {IF_MODIFIED_SINCE: "yesterday"})
    assert decision.outcome is Outcome.PROCEED


# Rule 8: bounded cost ------------------------------------------------------------------------


def test_rule_8_a_100_kb_if_match_is_evaluated_correctly_and_quickly():
    value = ", ".join(f'"{i:09d}"' for i in range(10_000)) + ', "v2"'
    assert len(value) > 100_000
    start = time.perf_counter()
    decision = decide("PUT", {IF_MATCH: value}, requirement=PROTECTED)
    assert time.perf_counter() - start < TIME_BOUND_SECONDS
    assert decision.outcome is Outcome.PROCEED


def test_rule_8_a_100_kb_malformed_if_match_is_400_quickly():
    start = time.perf_counter()
    decision = decide("PUT", {IF_MATCH: " " * 100_000 + "garbage"}, requirement=PROTECTED)
    assert time.perf_counter() - start < TIME_BOUND_SECONDS
    assert decision.outcome is Outcome.MALFORMED


def test_rule_8_100_kb_in_every_header_is_decided_quickly():
    headers = {
        IF_MATCH: '"v2", ' * 16_000 + '"v2"',
        IF_NONE_MATCH: " " * 100_000 + '"x"',
        IF_UNMODIFIED_SINCE: " " * 100_000 + "x",
        IF_MODIFIED_SINCE: "x" * 100_000,
    }
    start = time.perf_counter()
    decision = decide("PUT", headers, requirement=PROTECTED)
    assert time.perf_counter() - start < TIME_BOUND_SECONDS
    assert decision.outcome is Outcome.PROCEED


# Rules 9 and 10: comparison ------------------------------------------------------------------


def test_rule_9_if_match_uses_strong_comparison_by_default():
    decision = decide("PUT", {IF_MATCH: 'W/"v2"'})
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED


def test_rule_9_a_weak_current_tag_never_passes_strict_if_match():
    assert decide("PUT", {IF_MATCH: '"v2"'}, R_WEAK).outcome is Outcome.PRECONDITION_FAILED
    assert decide("PUT", {IF_MATCH: 'W/"v2"'}, R_WEAK).outcome is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize("value", ['W/"v2"', '"v2"'])
@pytest.mark.parametrize("resource", [R, R_WEAK], ids=["strong", "weak"])
def test_rule_9_if_none_match_uses_weak_comparison(value, resource):
    assert decide("GET", {IF_NONE_MATCH: value}, resource).outcome is Outcome.NOT_MODIFIED
    assert decide("PUT", {IF_NONE_MATCH: value}, resource).outcome is (Outcome.PRECONDITION_FAILED)


def test_rule_10_weak_if_match_accepts_a_weakened_current_tag():
    decision = decide("PUT", {IF_MATCH: 'W/"v2"'}, requirement=PROTECTED, weak_if_match=True)
    assert decision.outcome is Outcome.PROCEED


def test_rule_10_weak_if_match_still_accepts_the_strong_tag():
    decision = decide("PUT", {IF_MATCH: '"v2"'}, requirement=PROTECTED, weak_if_match=True)
    assert decision.outcome is Outcome.PROCEED


def test_rule_10_weak_if_match_still_rejects_a_previous_version():
    decision = decide("PUT", {IF_MATCH: 'W/"v1"'}, weak_if_match=True)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED


def test_rule_10_strict_mode_rejects_a_weakened_current_tag():
    decision = decide("PUT", {IF_MATCH: 'W/"v2"'}, requirement=PROTECTED, weak_if_match=False)
    assert decision.outcome is Outcome.PRECONDITION_FAILED


# Rule 14: methods that ignore preconditions --------------------------------------------------


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "CONNECT", "options"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {IF_MATCH: "not quoted"},
        {IF_NONE_MATCH: '*, "x"'},
        {IF_MATCH: '"v1"', IF_UNMODIFIED_SINCE: ANCIENT},
        {IF_NONE_MATCH: '"v2"'},
    ],
    ids=["none", "malformed-if-match", "malformed-if-none-match", "failing", "matching-inm"],
)
def test_rule_14_options_trace_and_connect_proceed_without_evaluating(method, headers):
    requirement = Requirement(methods=frozenset({"OPTIONS", "TRACE", "CONNECT", "PUT"}))
    decision = decide(method, headers, requirement=requirement)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.NOT_EVALUATED


# Rules 15-18: precedence ---------------------------------------------------------------------


def test_rule_15_if_match_failing_wins_over_a_future_if_unmodified_since():
    decision = decide("PUT", {IF_MATCH: '"v1"', IF_UNMODIFIED_SINCE: FUTURE})
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED
    assert decision.header == IF_MATCH
    assert IF_UNMODIFIED_SINCE in decision.ignored


def test_rule_15_if_match_passing_ignores_an_ancient_if_unmodified_since():
    decision = decide(
        "PUT", {IF_MATCH: '"v2"', IF_UNMODIFIED_SINCE: ANCIENT}, requirement=PROTECTED
    )
    assert decision.outcome is Outcome.PROCEED
    assert IF_UNMODIFIED_SINCE in decision.ignored


def test_rule_16_if_none_match_is_evaluated_after_a_passing_if_match():
    decision = decide("PUT", {IF_MATCH: '"v2"', IF_NONE_MATCH: '"v2"'})
    assert decision.reason is Reason.IF_NONE_MATCH_FAILED


def test_rule_16_if_none_match_is_evaluated_after_a_passing_if_unmodified_since():
    decision = decide("GET", {IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE, IF_NONE_MATCH: '"v2"'})
    assert decision.outcome is Outcome.NOT_MODIFIED


def test_rule_16_a_failing_if_unmodified_since_wins_over_if_none_match():
    decision = decide("GET", {IF_UNMODIFIED_SINCE: ONE_SECOND_EARLIER, IF_NONE_MATCH: '"v2"'})
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_UNMODIFIED_SINCE_FAILED


def test_rule_16_if_modified_since_is_ignored_when_if_none_match_is_present():
    decision = decide("GET", {IF_NONE_MATCH: '"v1"', IF_MODIFIED_SINCE: FUTURE})
    assert decision.outcome is Outcome.PROCEED


def test_rule_16_if_modified_since_decides_when_if_none_match_is_absent():
    decision = decide("GET", {IF_MODIFIED_SINCE: LAST_MODIFIED_DATE})
    assert decision.outcome is Outcome.NOT_MODIFIED
    assert decision.reason is Reason.NOT_MODIFIED
    assert decision.header == IF_MODIFIED_SINCE


@pytest.mark.parametrize("date", [ONE_SECOND_LATER, LAST_MODIFIED_DATE])
def test_rule_16_if_modified_since_after_the_modification_is_304(date):
    assert decide("HEAD", {IF_MODIFIED_SINCE: date}).outcome is Outcome.NOT_MODIFIED


def test_rule_16_if_modified_since_before_the_modification_proceeds():
    decision = decide("GET", {IF_MODIFIED_SINCE: ONE_SECOND_EARLIER})
    assert decision.outcome is Outcome.PROCEED


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_rule_16_if_modified_since_only_applies_to_get_and_head(method):
    decision = decide(method, {IF_MODIFIED_SINCE: FUTURE})
    assert decision.outcome is Outcome.PROCEED


def test_rule_16_if_modified_since_on_an_absent_resource_proceeds():
    assert decide("GET", {IF_MODIFIED_SINCE: FUTURE}, ABSENT).outcome is Outcome.PROCEED


def test_rule_16_if_modified_since_without_a_modification_time_proceeds():
    decision = decide("GET", {IF_MODIFIED_SINCE: FUTURE}, R_WITHOUT_DATE)
    assert decision.outcome is Outcome.PROCEED


def test_rule_17_matching_if_match_and_if_none_match_on_get_is_304():
    decision = decide("GET", {IF_MATCH: '"v2"', IF_NONE_MATCH: '"v2"'})
    assert decision.outcome is Outcome.NOT_MODIFIED


def test_rule_17_matching_if_match_and_if_none_match_on_put_is_412():
    decision = decide("PUT", {IF_MATCH: '"v2"', IF_NONE_MATCH: '"v2"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_NONE_MATCH_FAILED
    assert decision.header == IF_NONE_MATCH


def test_rule_18_when_nothing_fails_the_method_runs():
    headers = {
        IF_MATCH: '"v2"',
        IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE,
        IF_NONE_MATCH: '"v1"',
        IF_MODIFIED_SINCE: ANCIENT,
    }
    decision = decide("PUT", headers, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.PRECONDITIONS_PASSED
    assert decision.requirement is PROTECTED


# Rules 19-21: If-Match -----------------------------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_19_the_current_tag_lets_the_write_proceed(method):
    decision = decide(method, {IF_MATCH: '"v2"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.PRECONDITIONS_PASSED


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_19_the_previous_tag_is_412(method):
    decision = decide(method, {IF_MATCH: '"v1"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.status == 412
    assert decision.reason is Reason.IF_MATCH_FAILED
    assert decision.header == IF_MATCH
    assert decision.detail
    assert decision.requirement is PROTECTED


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_rule_20_get_with_a_previous_tag_in_if_match_is_412(method):
    decision = decide(method, {IF_MATCH: '"v1"'}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_FAILED


def test_rule_20_get_with_the_current_tag_in_if_match_proceeds():
    assert decide("GET", {IF_MATCH: '"v2"'}).outcome is Outcome.PROCEED


def test_rule_19_if_match_on_an_absent_resource_is_412_no_current_representation():
    decision = decide("PUT", {IF_MATCH: '"v2"'}, ABSENT, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_NO_CURRENT_REPRESENTATION


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_21_wildcard_on_a_protected_endpoint_is_428_by_default(method):
    decision = decide(method, {IF_MATCH: "*"}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.status == 428
    assert decision.reason is Reason.WILDCARD_NOT_ACCEPTED
    assert "*" in decision.detail
    assert decision.requirement is PROTECTED


def test_rule_21_wildcard_is_refused_even_with_a_valid_if_unmodified_since():
    decision = decide(
        "PUT", {IF_MATCH: "*", IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE}, requirement=PROTECTED
    )
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.reason is Reason.WILDCARD_NOT_ACCEPTED


def test_rule_21_wildcard_allowed_passes_when_the_resource_exists():
    decision = decide("PUT", {IF_MATCH: "*"}, requirement=WILDCARD_ALLOWED)
    assert decision.outcome is Outcome.PROCEED


def test_rule_21_wildcard_allowed_is_412_when_the_resource_is_absent():
    decision = decide("PUT", {IF_MATCH: "*"}, ABSENT, requirement=WILDCARD_ALLOWED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_NO_CURRENT_REPRESENTATION


def test_rule_21_wildcard_without_a_requirement_is_true_when_the_resource_exists():
    assert decide("PUT", {IF_MATCH: "*"}).outcome is Outcome.PROCEED
    assert decide("GET", {IF_MATCH: "*"}).outcome is Outcome.PROCEED


def test_rule_21_wildcard_without_a_requirement_is_412_when_the_resource_is_absent():
    decision = decide("PUT", {IF_MATCH: "*"}, ABSENT)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_MATCH_NO_CURRENT_REPRESENTATION


def test_rule_21_wildcard_is_true_for_an_existing_resource_that_has_no_entity_tag():
    """Rule 21 and RFC 9110 §13.1.1: "*" is false only when there is no current
    representation. ``exists=True`` says there is one, whether or not it has an ETag."""
    resource = ResourceState(exists=True, etag=None, last_modified=LAST_MODIFIED)
    decision = decide("PUT", {IF_MATCH: "*"}, resource)
    assert decision.outcome is Outcome.PROCEED


def test_rule_21_wildcard_on_get_is_not_subject_to_the_requirement():
    assert decide("GET", {IF_MATCH: "*"}, requirement=PROTECTED).outcome is Outcome.PROCEED


def test_rule_21_a_tag_never_matches_an_existing_resource_without_an_entity_tag():
    resource = ResourceState(exists=True, etag=None, last_modified=LAST_MODIFIED)
    decision = decide("PUT", {IF_MATCH: '"v2"'}, resource)
    assert decision.outcome is Outcome.PRECONDITION_FAILED


# Rules 22-25: If-Unmodified-Since ------------------------------------------------------------


def test_rule_22_if_unmodified_since_equal_to_last_modified_passes():
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.PRECONDITIONS_PASSED


def test_rule_22_if_unmodified_since_later_than_last_modified_passes():
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: ONE_SECOND_LATER}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_23_if_unmodified_since_earlier_than_the_modification_is_412(method):
    decision = decide(method, {IF_UNMODIFIED_SINCE: ONE_SECOND_EARLIER}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_UNMODIFIED_SINCE_FAILED
    assert decision.header == IF_UNMODIFIED_SINCE
    assert decision.detail


def test_rule_23_if_unmodified_since_applies_to_get_too():
    decision = decide("GET", {IF_UNMODIFIED_SINCE: ANCIENT})
    assert decision.outcome is Outcome.PRECONDITION_FAILED


def test_rule_25_if_unmodified_since_is_ignored_without_a_modification_time():
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: ANCIENT}, R_WITHOUT_DATE)
    assert decision.outcome is Outcome.PROCEED
    assert IF_UNMODIFIED_SINCE in decision.ignored


def test_rule_25_if_unmodified_since_alone_without_a_modification_time_is_428():
    decision = decide(
        "PUT", {IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE}, R_WITHOUT_DATE, requirement=PROTECTED
    )
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.reason is Reason.PRECONDITION_MISSING
    assert IF_UNMODIFIED_SINCE in decision.detail
    assert decision.requirement is not None
    assert IF_MATCH in decision.requirement.accepted_headers


def test_rule_25_if_match_satisfies_the_requirement_without_a_modification_time():
    decision = decide("PUT", {IF_MATCH: '"v2"'}, R_WITHOUT_DATE, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED


# Rules 26-28: If-None-Match ------------------------------------------------------------------


def test_rule_26_put_with_if_none_match_star_on_an_absent_resource_proceeds():
    decision = decide("PUT", {IF_NONE_MATCH: "*"}, ABSENT, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.PRECONDITIONS_PASSED


def test_rule_26_put_with_if_none_match_star_on_an_existing_resource_is_412():
    decision = decide("PUT", {IF_NONE_MATCH: "*"}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_NONE_MATCH_FAILED
    assert decision.header == IF_NONE_MATCH
    assert "exists" in decision.detail


def test_rule_26_if_none_match_star_on_an_existing_resource_without_a_tag_is_412():
    resource = ResourceState(exists=True, etag=None, last_modified=LAST_MODIFIED)
    assert decide("PUT", {IF_NONE_MATCH: "*"}, resource).outcome is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize("requirement", [None, PROTECTED], ids=["unprotected", "protected"])
def test_rule_27_post_with_if_none_match_star_on_the_existing_collection_is_412(requirement):
    collection = ResourceState(exists=True, etag=EntityTag("list-3"))
    decision = decide("POST", {IF_NONE_MATCH: "*"}, collection, requirement=requirement)
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert decision.reason is Reason.IF_NONE_MATCH_FAILED


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("value", ['"v2"', 'W/"v2"', '"x", W/"v2"', "*"])
def test_rule_28_get_and_head_with_a_matching_if_none_match_are_304(method, value):
    decision = decide(method, {IF_NONE_MATCH: value}, requirement=PROTECTED)
    assert decision.outcome is Outcome.NOT_MODIFIED
    assert decision.status == 304
    assert decision.reason is Reason.NOT_MODIFIED
    assert decision.header == IF_NONE_MATCH


def test_rule_28_a_previous_tag_in_if_none_match_proceeds():
    assert decide("GET", {IF_NONE_MATCH: '"v1"'}).outcome is Outcome.PROCEED


def test_rule_28_if_none_match_on_an_absent_resource_proceeds():
    assert decide("GET", {IF_NONE_MATCH: '"v2"'}, ABSENT).outcome is Outcome.PROCEED
    assert decide("GET", {IF_NONE_MATCH: "*"}, ABSENT).outcome is Outcome.PROCEED


def test_rule_28_a_matching_if_none_match_on_put_is_412_not_304():
    decision = decide("PUT", {IF_NONE_MATCH: 'W/"v2"'})
    assert decision.outcome is Outcome.PRECONDITION_FAILED
    assert "listed" in decision.detail


# Rules 29-32: 428 Precondition Required ------------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_29_a_protected_write_without_preconditions_is_428(method):
    decision = decide(method, {}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.status == 428
    assert decision.reason is Reason.PRECONDITION_MISSING
    assert decision.requirement is PROTECTED
    assert decision.detail


@pytest.mark.parametrize("method", UNSAFE)
def test_rule_29_428_is_decided_before_the_resource_is_compared(method):
    """A missing precondition is 428 whether or not the resource exists."""
    decision = decide(method, {}, ABSENT, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED


@pytest.mark.parametrize(
    "headers",
    [
        {IF_NONE_MATCH: '"v1"'},  # a tag list in If-None-Match proves nothing about the edit
        {IF_MODIFIED_SINCE: LAST_MODIFIED_DATE},
    ],
)
def test_rule_29_other_conditional_headers_do_not_satisfy_the_requirement(headers):
    decision = decide("PUT", headers, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_REQUIRED
    assert decision.reason is Reason.PRECONDITION_MISSING


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_rule_32_never_428_for_get_head_or_options_even_when_listed(method):
    requirement = Requirement(methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT"}))
    decision = decide(method, {}, requirement=requirement)
    assert decision.outcome is Outcome.PROCEED


@pytest.mark.parametrize("method", ["POST", "PROPFIND", "PURGE"])
def test_rule_32_never_428_for_methods_outside_the_policy(method):
    decision = decide(method, {}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PROCEED
    assert decision.reason is Reason.NO_PRECONDITIONS


def test_rule_32_no_requirement_means_no_428():
    assert decide("DELETE", {}).outcome is Outcome.PROCEED


def test_rule_30_the_protected_methods_are_configurable():
    post_only = Requirement(methods=frozenset({"POST"}))
    assert decide("POST", {}, requirement=post_only).outcome is Outcome.PRECONDITION_REQUIRED
    assert decide("PUT", {}, requirement=post_only).outcome is Outcome.PROCEED


def test_rule_30_accepting_only_if_match_refuses_if_unmodified_since():
    requirement = Requirement(methods=frozenset(UNSAFE), accepted_headers=frozenset({IF_MATCH}))
    refused = decide("PUT", {IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE}, requirement=requirement)
    assert refused.outcome is Outcome.PRECONDITION_REQUIRED
    assert refused.reason is Reason.PRECONDITION_MISSING
    accepted = decide("PUT", {IF_MATCH: '"v2"'}, requirement=requirement)
    assert accepted.outcome is Outcome.PROCEED


def test_rule_30_accepting_only_if_unmodified_since_refuses_if_match():
    requirement = Requirement(
        methods=frozenset(UNSAFE), accepted_headers=frozenset({IF_UNMODIFIED_SINCE})
    )
    refused = decide("PUT", {IF_MATCH: '"v2"'}, requirement=requirement)
    assert refused.outcome is Outcome.PRECONDITION_REQUIRED
    accepted = decide("PUT", {IF_UNMODIFIED_SINCE: LAST_MODIFIED_DATE}, requirement=requirement)
    assert accepted.outcome is Outcome.PROCEED


def test_rule_30_the_default_requirement_accepts_if_match_and_if_unmodified_since():
    assert PROTECTED.accepted_headers == frozenset({IF_MATCH, IF_UNMODIFIED_SINCE})
    assert PROTECTED.allow_wildcard is False


def test_rule_30_a_failing_accepted_precondition_is_412_not_428():
    decision = decide("PUT", {IF_UNMODIFIED_SINCE: ANCIENT}, requirement=PROTECTED)
    assert decision.outcome is Outcome.PRECONDITION_FAILED


@pytest.mark.parametrize("requirement", [PROTECTED, WILDCARD_ALLOWED])
def test_rule_31_create_only_if_none_match_star_satisfies_the_requirement(requirement):
    decision = decide("PUT", {IF_NONE_MATCH: "*"}, ABSENT, requirement=requirement)
    assert decision.outcome is Outcome.PROCEED


def test_rule_31_create_only_satisfies_even_a_requirement_that_accepts_only_if_match():
    requirement = Requirement(methods=frozenset(UNSAFE), accepted_headers=frozenset({IF_MATCH}))
    decision = decide("PUT", {IF_NONE_MATCH: "*"}, ABSENT, requirement=requirement)
    assert decision.outcome is Outcome.PROCEED


# Properties ----------------------------------------------------------------------------------

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
HEADER_NAMES = [IF_MATCH, IF_NONE_MATCH, IF_UNMODIFIED_SINCE, IF_MODIFIED_SINCE]
ETAGC = "".join(chr(c) for c in [0x21, *range(0x23, 0x7F), *range(0x80, 0x100)])

entity_tags = st.builds(EntityTag, st.text(alphabet=ETAGC, max_size=8), st.booleans())
header_values = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF)),
    st.sampled_from(["*", '"v2"', 'W/"v2"', '"v1"', "v2", "", LAST_MODIFIED_DATE, ANCIENT, FUTURE]),
    st.lists(entity_tags, min_size=1, max_size=5).map(lambda ts: ", ".join(map(str, ts))),
)
resources = st.one_of(
    st.just(ABSENT),
    st.builds(
        ResourceState,
        st.booleans(),
        st.none() | entity_tags,
        st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    ),
)
requirements = st.none() | st.builds(
    Requirement,
    st.frozensets(st.sampled_from(METHODS)),
    st.frozensets(st.sampled_from(HEADER_NAMES)),
    st.booleans(),
)


@HYPOTHESIS
@given(
    st.sampled_from(METHODS) | st.text(max_size=10),
    st.dictionaries(st.sampled_from(HEADER_NAMES), header_values),
    resources,
    requirements,
    st.booleans(),
)
def test_evaluate_never_raises_and_always_returns_a_decision(
    method, headers, resource, requirement, weak_if_match
):
    """Rules 5, 8 (never a 500), 28 and 32, for arbitrary header values."""
    decision = evaluate(method, headers, resource, requirement, weak_if_match=weak_if_match)
    assert isinstance(decision, Decision)
    assert isinstance(decision.outcome, Outcome)
    assert isinstance(decision.reason, Reason)
    assert decision.method == method.upper()
    if decision.outcome is Outcome.NOT_MODIFIED:
        assert decision.method in {"GET", "HEAD"}  # rule 28: 304 only for GET/HEAD
    if decision.outcome is Outcome.PRECONDITION_REQUIRED:
        # Rule 32: never 428 for GET/HEAD/OPTIONS or methods outside the policy.
        assert requirement is not None
        assert decision.method in requirement.methods
        assert decision.method not in {"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"}
    if decision.outcome is Outcome.MALFORMED:
        assert decision.malformed is not None
        assert decision.header in {IF_MATCH, IF_NONE_MATCH}


@HYPOTHESIS
@given(st.lists(entity_tags, min_size=1, max_size=8), entity_tags, st.booleans())
def test_rule_9_and_10_if_match_passes_exactly_when_a_member_matches(tag_list, current, weak):
    resource = ResourceState(exists=True, etag=current)
    value = ", ".join(format_entity_tag(t.opaque, weak=t.weak) for t in tag_list)
    decision = decide("PUT", {IF_MATCH: value}, resource, weak_if_match=weak)
    if weak:
        expected = any(tag.opaque == current.opaque for tag in tag_list)
    else:
        expected = any(
            not tag.weak and not current.weak and tag.opaque == current.opaque for tag in tag_list
        )
    assert decision.proceeds is expected


@HYPOTHESIS
@given(st.lists(entity_tags, min_size=1, max_size=8), entity_tags)
def test_rule_9_if_none_match_on_get_is_304_exactly_when_a_member_weakly_matches(tag_list, current):
    resource = ResourceState(exists=True, etag=current)
    value = ", ".join(map(str, tag_list))
    decision = decide("GET", {IF_NONE_MATCH: value}, resource)
    matches = any(tag.opaque == current.opaque for tag in tag_list)
    assert (decision.outcome is Outcome.NOT_MODIFIED) is matches


def _comparable(decision: Decision) -> tuple[Decision, str | None]:
    """Decisions compare field by field; a malformed header's exception by its message."""
    malformed = None if decision.malformed is None else str(decision.malformed)
    return dataclasses.replace(decision, malformed=None), malformed


def _full_evaluation(method, headers, resource, requirement, weak_if_match):
    """Steps 1-5 without the shortcut, given what evaluate() gives them: the requirement as
    it applies to the resource."""
    if requirement is not None and resource is not None:
        requirement = conditions.requirement_for(requirement, resource)
    return conditions._evaluate_parsed(method, headers, resource, requirement, weak_if_match, None)


def _current_form(tag: EntityTag | None, variant: int) -> str:
    """The header form of the resource's tag, exactly or nearly (whitespace, the other
    weakness, a list of it)."""
    if tag is None:
        return '"v2"'
    forms = [
        str(tag),
        f" {tag}",
        f"{tag} ",
        format_entity_tag(tag.opaque, weak=not tag.weak),
        f"{tag}, {tag}",
        f'"{tag.opaque}',
    ]
    return forms[variant % len(forms)]


@HYPOTHESIS
@given(
    st.sampled_from(METHODS),
    st.sampled_from([IF_MATCH, IF_NONE_MATCH]),
    st.integers(min_value=0, max_value=11),
    resources,
    requirements
    | st.builds(Requirement, st.frozensets(st.sampled_from(METHODS)), report_only=st.just(True)),
    st.booleans(),
)
def test_the_exact_match_shortcut_decides_as_the_full_evaluation(
    method, header, variant, resource, requirement, weak_if_match
):
    """Rules 9, 10, 15, 28, 32: a single If-Match / If-None-Match naming the current tag is
    decided without parsing (the common write and the common revalidation); the decision is
    the full evaluation's, for every method, policy and resource."""
    value = _current_form(resource.etag, variant)
    headers = {header: value}
    shortcut = evaluate(method, headers, resource, requirement, weak_if_match=weak_if_match)
    if method in ("OPTIONS", "TRACE", "CONNECT"):
        return
    full = _full_evaluation(method, headers, resource, requirement, weak_if_match)
    assert _comparable(shortcut) == _comparable(full)


IUS_ONLY = Requirement(methods=frozenset(UNSAFE), accepted_headers=frozenset({IF_UNMODIFIED_SINCE}))


@pytest.mark.parametrize(
    ("method", "headers", "resource", "requirement", "outcome"),
    [
        ("PATCH", {IF_MATCH: '"v2"'}, R, IUS_ONLY, Outcome.PRECONDITION_REQUIRED),
        ("GET", {IF_MATCH: '"v2"'}, R, IUS_ONLY, Outcome.PROCEED),
        ("PATCH", {IF_MATCH: '"v2"'}, R_WEAK, PROTECTED, Outcome.PRECONDITION_FAILED),
        ("PATCH", {IF_MATCH: 'W/"v2"'}, R_WEAK, PROTECTED, Outcome.PRECONDITION_FAILED),
        ("PATCH", {IF_MATCH: '"v2"'}, ABSENT, PROTECTED, Outcome.PRECONDITION_FAILED),
        ("PATCH", {IF_NONE_MATCH: '"v2"'}, R, None, Outcome.PRECONDITION_FAILED),
        ("GET", {IF_NONE_MATCH: 'W/"v2"'}, R_WEAK, None, Outcome.NOT_MODIFIED),
        ("GET", {IF_NONE_MATCH: '"v2"'}, R_WEAK, None, Outcome.NOT_MODIFIED),
        ("GET", {IF_NONE_MATCH: '"v2"'}, ABSENT, None, Outcome.PROCEED),
        (
            "PUT",
            {IF_MATCH: '"a b"'},
            ResourceState(True, EntityTag("a b")),
            None,
            Outcome.MALFORMED,
        ),
    ],
)
def test_the_exact_match_shortcut_at_its_edges(method, headers, resource, requirement, outcome):
    """Where the shortcut must step aside: a policy without If-Match (rule 32's 428), weak
    or absent current tags (rules 9, 10), If-None-Match on a write, a stored tag that is not
    a valid entity-tag (rule 5)."""
    decision = evaluate(method, headers, resource, requirement)
    full = _full_evaluation(method, headers, resource, requirement, False)
    assert _comparable(decision) == _comparable(full)
    assert decision.outcome is outcome


@pytest.mark.parametrize(
    ("method", "headers", "outcome"),
    [
        ("PATCH", {IF_MATCH: '"v2"'}, Outcome.PROCEED),
        ("GET", {IF_NONE_MATCH: '"v2"'}, Outcome.NOT_MODIFIED),
        ("HEAD", {IF_NONE_MATCH: '"v2"'}, Outcome.NOT_MODIFIED),
    ],
)
def test_the_common_conditional_requests_are_decided_without_parsing(
    monkeypatch, method, headers, outcome
):
    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(conditions, "_parse", no_parsing)
    assert decide(method, headers, requirement=PROTECTED).outcome is outcome
    with pytest.raises(AssertionError, match="parsed"):  # anything else is parsed
        decide(method, {next(iter(headers)): ' "v2"'}, requirement=PROTECTED)


def test_rule_57_report_mode_judges_dates_against_the_callers_now() -> None:
    # An If-Modified-Since after `now` is ignored; in report mode the relaxed re-evaluation of
    # what the client sent uses the same `now` (not the clock).
    report = Requirement(methods=frozenset(UNSAFE), report_only=True)
    headers = {IF_MODIFIED_SINCE: LAST_MODIFIED_DATE}
    decision = evaluate("PUT", headers, R, report, now=LAST_MODIFIED - 60)
    assert decision.outcome is Outcome.PROCEED
    assert decision.unmet is not None
    assert decision.unmet.outcome is Outcome.PRECONDITION_REQUIRED
    assert IF_MODIFIED_SINCE in decision.ignored
