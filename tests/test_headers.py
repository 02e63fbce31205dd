"""Parsing of the conditional request headers: CONFORMANCE section A (rules 1-8).

Pure functions over strings: no request, no database.
"""

from __future__ import annotations

import calendar
import gc
import sys
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_preconditions.exceptions import MalformedHeader
from django_preconditions.headers import (
    WILDCARD,
    EntityTag,
    EntityTagList,
    _walk_entity_tag_list,
    entity_tag_pairs,
    format_entity_tag,
    parse_entity_tag,
    parse_entity_tag_list,
    parse_http_date,
)
from tests.support.conditions import HYPOTHESIS, LAST_MODIFIED, TIME_BOUND_SECONDS

IF_MATCH = "If-Match"
IF_NONE_MATCH = "If-None-Match"


# etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3); obs-text arrives as latin-1.
ETAGC = "".join(chr(c) for c in [0x21, *range(0x23, 0x7F), *range(0x80, 0x100)])


opaque_tags = st.text(alphabet=ETAGC, max_size=20)
entity_tags = st.builds(EntityTag, opaque_tags, st.booleans())


def tags(*opaque: str, weak: bool = False) -> tuple[EntityTag, ...]:
    return tuple(EntityTag(o, weak=weak) for o in opaque)


def malformed(value: str, header: str = IF_MATCH) -> MalformedHeader:
    with pytest.raises(MalformedHeader) as excinfo:
        parse_entity_tag_list(header, value)
    return excinfo.value


def timed(function, *args):
    start = time.perf_counter()
    try:
        result = function(*args)
    except MalformedHeader as exc:
        result = exc
    return result, time.perf_counter() - start


# Rule 1: lists and repeated header lines ------------------------------------------------------


def test_rule_1_a_single_tag_parses_to_a_one_element_list():
    assert parse_entity_tag_list(IF_MATCH, '"v2"') == tags("v2")


def test_rule_1_a_list_keeps_every_member_in_order():
    assert parse_entity_tag_list(IF_MATCH, '"x", "v2"') == tags("x", "v2")


@pytest.mark.parametrize(
    "joined",
    [
        '"x", "v2"',  # joined with ", " (RFC 9110 §5.3)
        '"x","v2"',  # joined with "," (some servers)
        '"x" ,\t"v2"',  # optional whitespace on both sides of the comma
        '  "x",  "v2"  ',  # leading and trailing blanks
    ],
)
def test_rule_1_two_header_lines_joined_with_a_comma_parse_like_one_list(joined):
    assert parse_entity_tag_list(IF_MATCH, joined) == tags("x", "v2")


def test_rule_1_empty_list_elements_are_skipped_as_rfc_9110_section_5_6_1_requires():
    assert parse_entity_tag_list(IF_MATCH, ', "a",, "b" ,') == tags("a", "b")


def test_rule_1_a_mixed_list_keeps_each_tags_weakness():
    assert parse_entity_tag_list(IF_NONE_MATCH, 'W/"a", "b", W/"c"') == (
        EntityTag("a", weak=True),
        EntityTag("b"),
        EntityTag("c", weak=True),
    )


@pytest.mark.parametrize("value", ["*", " * ", "\t*\t"])
def test_rule_1_a_lone_wildcard_parses_to_the_wildcard(value):
    assert parse_entity_tag_list(IF_MATCH, value) == WILDCARD


def test_rule_1_a_quoted_star_is_an_ordinary_tag_not_the_wildcard():
    assert parse_entity_tag_list(IF_MATCH, '"*"') == tags("*")


# Rule 2: commas inside quotes -----------------------------------------------------------------


def test_rule_2_comma_inside_quotes_belongs_to_the_tag():
    assert parse_entity_tag_list(IF_MATCH, '"a,b"') == tags("a,b")


def test_rule_2_lists_split_only_on_commas_outside_quotes():
    assert parse_entity_tag_list(IF_MATCH, '"a,b", W/",", "c"') == (
        EntityTag("a,b"),
        EntityTag(",", weak=True),
        EntityTag("c"),
    )


# Rule 3: W/ is case-sensitive; tags are case-sensitive ----------------------------------------


def test_rule_3_upper_case_w_slash_marks_a_weak_tag():
    assert parse_entity_tag_list(IF_MATCH, 'W/"v2"') == tags("v2", weak=True)


def test_rule_3_lower_case_w_slash_is_malformed_and_the_problem_says_so():
    exc = malformed('w/"v2"')
    assert exc.header == IF_MATCH
    assert "W/" in exc.problem


def test_rule_3_tags_keep_their_case():
    assert parse_entity_tag_list(IF_MATCH, '"V2"') == tags("V2")
    assert parse_entity_tag_list(IF_MATCH, '"V2"') != tags("v2")


def test_rule_3_w_slash_inside_the_quotes_is_part_of_a_strong_tag():
    assert parse_entity_tag_list(IF_MATCH, '"W/v2"') == tags("W/v2")


# Rule 4: the empty tag ------------------------------------------------------------------------


def test_rule_4_the_empty_tag_is_valid():
    assert parse_entity_tag_list(IF_MATCH, '""') == tags("")


def test_rule_4_the_empty_weak_tag_is_valid():
    assert parse_entity_tag_list(IF_MATCH, 'W/""') == tags("", weak=True)


def test_rule_4_the_empty_tag_can_be_a_list_member():
    assert parse_entity_tag_list(IF_MATCH, '"", "v2"') == tags("", "v2")


# Rule 5: malformed values raise, naming the header and the expected form ----------------------


@pytest.mark.parametrize(
    ("value", "in_problem"),
    [
        ("v2", '"v2"'),  # unquoted: the problem shows it quoted
        ('*, "v2"', "*"),  # wildcard combined with tags
        ('"v2", *', "*"),
        ("", "empty"),
        ("   ", "empty"),
        ("\t", "empty"),
        ('"v2', "never closed"),  # unbalanced quotes
        ('"v1", "v2', "never closed"),
        ('W/"v2', "never closed"),
        ('"v2" "v1"', "comma"),  # missing separator
        ('"v2"x', "comma"),
        ('"a b"', "' '"),  # a character etagc does not allow
        ('"a\x7fb"', "'\\x7f'"),
        ('"\u20ac"', "\u20ac"),  # beyond latin-1: not obs-text
    ],
)
def test_rule_5_malformed_if_match_raises_with_a_problem_that_says_what_is_wrong(value, in_problem):
    exc = malformed(value)
    assert exc.header == IF_MATCH
    assert exc.value == value
    assert in_problem in exc.problem
    assert IF_MATCH in str(exc)
    assert '"abc"' in exc.expected
    assert "*" in exc.expected


def test_rule_5_the_problem_names_the_header_it_was_raised_for():
    exc = malformed("", header=IF_NONE_MATCH)
    assert exc.header == IF_NONE_MATCH
    assert IF_NONE_MATCH in exc.problem
    assert IF_NONE_MATCH in str(exc)


def test_rule_5_malformed_header_is_a_value_error():
    assert isinstance(malformed("v2"), ValueError)


def test_rule_5_a_list_of_only_commas_is_malformed():
    exc = malformed(", ,")
    assert exc.header == IF_MATCH


def test_rule_5_a_list_of_only_commas_is_described_as_having_no_entity_tags():
    """Rule 5 / STYLE habit 7: the problem must say what happened. Claiming that an empty
    token "is not quoted" and suggesting the tag "" (which is valid) misleads the client."""
    problem = malformed(", ,").problem
    assert "empty" in problem or "no entity-tag" in problem
    assert not problem.startswith(" ")


def test_rule_5_a_blank_after_w_slash_is_not_explained_as_an_unquoted_w_tag():
    """Rule 5 / STYLE habit 7: `W/ "a"` is a misplaced blank; the problem must not suggest
    sending the weakness prefix itself as the quoted tag "W/"."""
    problem = malformed('W/ "a"').problem
    assert '"W/"' not in problem


def test_rule_5_a_huge_unquoted_token_is_shown_shortened_in_the_problem():
    exc = malformed("x" * 10_000)
    assert len(exc.problem) < 1_000
    assert "10000 characters" in exc.problem


# Rule 6 and 7: HTTP-dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Tue, 01 Jul 2025 12:00:00 GMT",  # IMF-fixdate
        "Tuesday, 01-Jul-25 12:00:00 GMT",  # obsolete RFC 850
        "Tue Jul  1 12:00:00 2025",  # obsolete asctime
    ],
)
def test_rule_6_all_three_http_date_forms_give_the_same_instant(value):
    assert parse_http_date(value) == LAST_MODIFIED


@pytest.mark.parametrize(
    "value",
    [
        "Tue, 30 Jun 2015 23:59:60 GMT",
        "Tuesday, 30-Jun-15 23:59:60 GMT",
        "Tue Jun 30 23:59:60 2015",
    ],
)
def test_rule_6_a_leap_second_is_a_valid_http_date(value):
    """RFC 9110 §5.6.7: time-of-day runs to 23:59:60; POSIX time counts it as midnight."""
    midnight = calendar.timegm((2015, 7, 1, 0, 0, 0))
    assert parse_http_date(value, now=midnight) == midnight


@pytest.mark.parametrize(
    "value", ["Tue, 30 Jun 2015 12:30:60 GMT", "Tue, 30 Jun 2015 23:59:61 GMT"]
)
def test_rule_7_a_60th_second_other_than_a_leap_second_is_invalid(value):
    assert parse_http_date(value) is None


def test_rule_6_blanks_around_a_date_are_allowed():
    assert parse_http_date(" \tTue, 01 Jul 2025 12:00:00 GMT \t") == LAST_MODIFIED


def test_rule_6_imf_fixdate_with_a_two_digit_day():
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "1751371200",  # a timestamp is not an HTTP-date
        "2025-07-01T12:00:00Z",  # ISO 8601 is not an HTTP-date
        "Tue, 32 Jul 2025 12:00:00 GMT",  # no such day
        "Tue, 31 Feb 2025 12:00:00 GMT",
        "Tue, 01 Jul 2025 25:00:00 GMT",  # no such hour
        "Tue, 01 Jul 2025 12:00:00 UTC",  # HTTP-dates are in GMT
        "Tue, 01 Foo 2025 12:00:00 GMT",
        "Tue, 01 Jul 2025 12:00:00 GMT" + " trailing garbage" * 10,
        "Tue, 01 Jul 2025 12:00:00 GMT" + "x" * 100_000,
    ],
)
def test_rule_7_an_invalid_date_parses_to_none(value):
    assert parse_http_date(value) is None


# Rule 8: linear, bounded parsing --------------------------------------------------------------


def test_rule_8_a_100_kb_single_tag_parses_correctly_and_quickly():
    opaque = "a" * 100_000
    result, elapsed = timed(parse_entity_tag_list, IF_MATCH, f'"{opaque}"')
    assert result == tags(opaque)
    assert elapsed < TIME_BOUND_SECONDS


def test_rule_8_a_100_kb_list_parses_correctly_and_quickly():
    members = [f"tag-{i:06d}" for i in range(10_000)]  # 10,000 x 10 characters + separators
    value = ", ".join(format_entity_tag(m, weak=i % 2 == 1) for i, m in enumerate(members))
    assert len(value) > 100_000
    result, elapsed = timed(parse_entity_tag_list, IF_MATCH, value)
    assert result == tuple(EntityTag(m, weak=i % 2 == 1) for i, m in enumerate(members))
    assert elapsed < TIME_BOUND_SECONDS


@pytest.mark.parametrize("weak_every", [0, 2], ids=["strong", "half-weak"])
def test_rule_8_a_list_runs_no_python_function_per_tag(weak_every: int) -> None:
    """The parse's cost does not grow with Python calls per tag: 10,000 tags are found and
    built in C (a hostile 8 KB If-None-Match holds hundreds)."""
    value = ", ".join(
        format_entity_tag(f"t{i}", weak=bool(weak_every) and i % weak_every == 1)
        for i in range(10_000)
    )
    calls: list[str] = []

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            calls.append(frame.f_code.co_name)

    gc.disable()  # a collection the 10,000 tags set off would run others' gc.callbacks
    sys.setprofile(count)
    try:
        result = parse_entity_tag_list(IF_NONE_MATCH, value)
    finally:
        sys.setprofile(None)
        gc.enable()
    assert len(result) == 10_000
    assert result[1] == EntityTag("t1", weak=bool(weak_every))
    assert len(calls) < 10, calls[:20]


def test_rule_8_ten_thousand_tiny_tags_parse_correctly_and_quickly():
    value = ",".join(['""'] * 10_000)
    result, elapsed = timed(parse_entity_tag_list, IF_MATCH, value)
    assert result == tags(*[""] * 10_000)
    assert elapsed < TIME_BOUND_SECONDS


@pytest.mark.parametrize(
    "value",
    [
        " " * 100_000 + "garbage",
        "\t " * 50_000 + '"unterminated',
        '"v2"' + " " * 100_000 + "garbage",
        '"v2",' + " " * 100_000 + "*",
        '"' + "a" * 100_000,  # an unterminated 100 KB tag
        '"' + "a" * 100_000 + " ",
        '"a", ' * 20_000 + "garbage",  # garbage after 20,000 valid tags
        "," * 100_000,
        "W/" * 50_000,
        '"' + "a" * 100_000 + '"x',  # no comma after a 100 KB tag
        '"' + "a" * 100_000 + '\x01"',  # a control character at the end of a 100 KB tag
        ", " * 50_000 + "x",  # 50,000 empty elements, then garbage
    ],
    ids=[
        "blanks-then-garbage",
        "blanks-then-unterminated",
        "tag-blanks-garbage",
        "tag-comma-blanks-star",
        "unterminated-tag",
        "unterminated-tag-with-blank",
        "many-tags-then-garbage",
        "only-commas",
        "repeated-weak-prefix",
        "100-kb-tag-then-garbage",
        "100-kb-tag-with-a-control-character",
        "empty-elements-then-garbage",
    ],
)
def test_rule_8_a_100_kb_malformed_value_fails_cleanly_and_quickly(value):
    result, elapsed = timed(parse_entity_tag_list, IF_MATCH, value)
    assert isinstance(result, MalformedHeader)
    assert result.header == IF_MATCH
    assert result.problem
    assert len(result.problem) < 1_000  # the problem quotes the value only shortened
    assert elapsed < TIME_BOUND_SECONDS


def test_rule_8_a_100_kb_date_is_rejected_quickly():
    result, elapsed = timed(parse_http_date, " " * 100_000 + "Tue, 01 Jul 2025 12:00:00 GMT x")
    assert result is None
    assert elapsed < TIME_BOUND_SECONDS


# Entity-tags: single tags, formatting and the comparison functions (RFC 9110 §8.8.3) ---------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"abc"', EntityTag("abc")),
        ('W/"abc"', EntityTag("abc", weak=True)),
        ('  "abc"\t', EntityTag("abc")),
        ('""', EntityTag("")),
        ('"a,b"', EntityTag("a,b")),
    ],
)
def test_a_single_entity_tag_parses(value, expected):
    """Rules 2-4 for one tag (a response's ETag, compared under rule 9)."""
    assert parse_entity_tag(value) == expected


@pytest.mark.parametrize("value", ["abc", 'w/"abc"', '"abc', '"a", "b"', "*", "", '"a b"'])
def test_a_value_that_is_not_one_entity_tag_parses_to_none(value):
    """Rules 3 and 5 for one tag."""
    assert parse_entity_tag(value) is None


def test_formatting_a_tag_gives_its_header_form():
    """Rules 3 and 4: W/ prefix, quotes, the empty tag."""
    assert format_entity_tag("abc") == '"abc"'
    assert format_entity_tag("abc", weak=True) == 'W/"abc"'
    assert str(EntityTag("abc", weak=True)) == 'W/"abc"'
    assert str(EntityTag("")) == '""'


# The table of RFC 9110 §8.8.3.2.
@pytest.mark.parametrize(
    ("first", "second", "strong", "weak"),
    [
        (EntityTag("1", weak=True), EntityTag("1", weak=True), False, True),
        (EntityTag("1", weak=True), EntityTag("2", weak=True), False, False),
        (EntityTag("1", weak=True), EntityTag("1"), False, True),
        (EntityTag("1"), EntityTag("1", weak=True), False, True),
        (EntityTag("1"), EntityTag("1"), True, True),
        (EntityTag("1"), EntityTag("2"), False, False),
        (EntityTag("v2"), EntityTag("V2"), False, False),
    ],
)
def test_rule_9_strong_and_weak_comparison_follow_the_rfc_9110_table(first, second, strong, weak):
    assert first.strong_match(second) is strong
    assert first.weak_match(second) is weak


# Properties -----------------------------------------------------------------------------------


@HYPOTHESIS
@given(st.lists(entity_tags, min_size=1, max_size=20))
def test_rule_1_any_list_of_valid_tags_joined_with_comma_space_parses_back(tag_list):
    value = ", ".join(str(tag) for tag in tag_list)
    assert parse_entity_tag_list(IF_MATCH, value) == tuple(tag_list)


@HYPOTHESIS
@given(
    st.lists(entity_tags, min_size=1, max_size=20),
    st.lists(st.sampled_from([",", ", ", " ,", "\t,\t", " , , "]), min_size=19, max_size=19),
)
def test_rule_1_any_list_of_valid_tags_parses_back_whatever_the_separators(tag_list, separators):
    value = str(tag_list[0]) + "".join(
        separator + str(tag) for separator, tag in zip(separators, tag_list[1:])
    )
    assert parse_entity_tag_list(IF_MATCH, value) == tuple(tag_list)


@HYPOTHESIS
@given(entity_tags)
def test_any_valid_tag_parses_back_alone(tag):
    """Rules 2-4 for one tag."""
    assert parse_entity_tag(str(tag)) == tag


def parse_or_error(value: str) -> EntityTagList | str | MalformedHeader:
    try:
        return parse_entity_tag_list(IF_MATCH, value)
    except MalformedHeader as exc:
        return exc


def check_parse_outcome(value: str) -> None:
    result = parse_or_error(value)
    if isinstance(result, MalformedHeader):
        assert result.header == IF_MATCH
        assert result.value == value
        assert result.problem
        return
    if result == WILDCARD:
        assert value.strip(" \t") == "*"
        return
    assert isinstance(result, tuple)
    assert result
    assert all(isinstance(tag, EntityTag) for tag in result)
    # Whatever parsed, re-serialised, parses to the same list.
    assert parse_entity_tag_list(IF_MATCH, ", ".join(map(str, result))) == result


@HYPOTHESIS
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF)))
def test_rule_5_parsing_latin_1_text_never_raises_anything_but_malformed_header(value):
    check_parse_outcome(value)


@HYPOTHESIS
@given(st.text())
def test_rule_5_parsing_any_unicode_text_never_raises_anything_but_malformed_header(value):
    check_parse_outcome(value)


@HYPOTHESIS
@given(
    st.lists(
        st.sampled_from(
            [
                '"a"',
                'W/"b"',
                '""',
                '"',
                ",",
                ", ",
                " ",
                "\t",
                "*",
                "W/",
                "w/",
                "x",
                "\x7f",
                "\u20ac",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_rule_5_parsing_near_miss_lists_never_raises_anything_but_malformed_header(value):
    check_parse_outcome(value)


def walked(value: str) -> EntityTagList | str:
    """What the element-by-element walk makes of ``value``: the tags, or the problem."""
    try:
        return _walk_entity_tag_list(IF_MATCH, value)
    except MalformedHeader as exc:
        return exc.problem


near_misses = st.lists(
    st.sampled_from(
        ['"a"', 'W/"b"', '""', '"', ",", ", ", " ", "\t", "W/", "w/", "x", '"W/"', "\x7f", "é"]
    ),
    max_size=16,
).map("".join)


@HYPOTHESIS
@given(
    st.one_of(
        near_misses,
        st.text(alphabet=' \t,"W/ab\x01\xe9', max_size=30),
        st.lists(st.sampled_from(['"a"', 'W/"b"', '""', ",", ", ", " ", "\t", "W/"])).map("".join),
    )
)
def test_rules_1_to_5_one_pass_over_a_list_decides_as_the_walk_element_by_element(value):
    """A well-formed list is parsed by splitting it at its quotes; anything else falls back
    to the walk that says where it fails. Both must accept the same values and find the same
    tags, weakness included."""
    if value.strip(" \t") == WILDCARD:
        return
    result = parse_or_error(value)
    expected = walked(value)
    if isinstance(result, MalformedHeader):
        assert result.problem == expected
        with pytest.raises(MalformedHeader):
            entity_tag_pairs(IF_MATCH, value)
    else:
        assert result == expected
        assert [tag.weak for tag in result] == [tag.weak for tag in expected]  # type: ignore[union-attr]
        # What the evaluation compares: (opaque, weak) pairs, weakness included.
        assert entity_tag_pairs(IF_MATCH, value) == tuple(map(tuple, expected))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"aW/b", "c"', tags("aW/b", "c")),  # "W/" inside a tag: strong tags all the same
        ('W/"a", "W/"', (EntityTag("a", weak=True), EntityTag("W/"))),
        ('"a",W/"b" , ,"c"', (EntityTag("a"), EntityTag("b", weak=True), EntityTag("c"))),
    ],
)
def test_rule_2_weakness_is_read_from_the_prefix_only(value, expected):
    assert parse_entity_tag_list(IF_MATCH, value) == expected


@HYPOTHESIS
@given(st.text())
def test_rule_7_parsing_a_date_never_raises(value):
    result = parse_http_date(value)
    assert result is None or isinstance(result, int)
