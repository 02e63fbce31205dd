"""Fuzzing the adapters with hostile precondition headers (rules 5, 7, 8, and "never a 500").

Hypothesis sends valid lists, weak tags, ``*``, dates in all three forms, garbage, non-ASCII,
very long values, 10,000-tag lists and repeated header lines to the function-view decorator,
the class-based view, the DRF mixin and the middleware. Invariants: no 5xx; every refused request leaves the
row exactly as it was; a 2xx write really wrote a new version. ``HYPOTHESIS_PROFILE=fuzz``
(``make fuzz``) runs many more examples than the default CI profile.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.support.middleware import PLAIN_RULE, settings_rule
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

MIDDLEWARE_RULE = settings_rule("document-plain", **PLAIN_RULE)
ENDPOINTS = [
    "/reuse/docs/{pk}/",  # function-view decorator
    "/docs/{pk}/",
    "/cbv/docs/{pk}/",  # class-based view mixin
    "/plain/docs/{pk}/",  # middleware (settings rule)
    "/api/docs/{pk}/",  # DRF mixin
]
METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "POST", "OPTIONS"]

opaque = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"'),
    max_size=30,
)
tag = st.builds(lambda weak, text: f'{"W/" if weak else ""}"{text}"', st.booleans(), opaque)
dates = st.sampled_from(
    [
        "Tue, 01 Jul 2025 12:00:00 GMT",
        "Tuesday, 01-Jul-25 12:00:00 GMT",
        "Tue Jul  1 12:00:00 2025",
        "Mon, 32 Oct 2010 16:56:23 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "yesterday",
        "",
    ]
)
garbage = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=80),
    st.text(max_size=40),  # non-latin-1 too
    st.binary(max_size=60).map(lambda raw: raw.decode("latin-1")),
)


def header_value(current: str) -> Any:
    """A strategy for one conditional header, sometimes naming the current version."""
    current_tag = st.sampled_from([f'"{current}"', f'W/"{current}"'])
    tag_list = st.lists(st.one_of(tag, current_tag), min_size=1, max_size=6).map(", ".join)
    return st.one_of(
        tag_list,
        st.just("*"),
        st.just("*, " + f'"{current}"'),
        dates,
        garbage,
        st.integers(min_value=10_000, max_value=100_000).map(lambda n: "x" * n),
        st.just(", ".join(f'"t{i}"' for i in range(10_000))),
        st.lists(tag_list, min_size=2, max_size=3).map(", ".join),  # repeated header lines
    )


HEADERS = ("If-Match", "If-None-Match", "If-Unmodified-Since", "If-Modified-Since")


@st.composite
def requests(draw: Any, current: str) -> tuple[str, str, dict[str, str], Any]:
    method = draw(st.sampled_from(METHODS))
    endpoint = draw(st.sampled_from(ENDPOINTS))
    names = draw(st.lists(st.sampled_from(HEADERS), unique=True, max_size=4))
    headers = {name: draw(header_value(current)) for name in names}
    body = draw(
        st.one_of(
            st.just({"title": "fuzzed"}),
            st.just("{broken json"),
            st.dictionaries(st.sampled_from(["title", "body", "counter"]), st.text(max_size=5)),
        )
    )
    return method, endpoint, headers, body


def row(pk: int) -> tuple[Any, ...] | None:
    return (
        Document.objects.filter(pk=pk)
        .values_list("version_token", "title", "body", "counter", "last_modified")
        .first()
    )


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_hostile_headers_never_give_a_5xx_and_refusals_change_nothing(data: Any) -> None:
    document = Document.objects.create(title="original", counter=1)
    method, endpoint, headers, body = data.draw(requests(document.version_token))
    url = endpoint.format(pk=document.pk)
    before = row(document.pk)
    client = Client(raise_request_exception=False)
    with MIDDLEWARE_RULE:
        response = client.generic(
            method,
            url,
            body if isinstance(body, str) else json.dumps(body),
            content_type="application/json",
            headers=headers,
        )
    after = row(document.pk)
    assert response.status_code < 500, (method, url, headers, response.content[:300])
    if not 200 <= response.status_code < 300 or method in ("GET", "HEAD", "OPTIONS"):
        assert after == before, (method, url, headers, response.status_code)
    elif method == "DELETE":
        assert after is None
    else:
        assert after is not None
        assert before is not None
        assert after[0] != before[0]  # a write is a new version
    ours = response.get("Content-Type") == "application/problem+json"
    if response.status_code in (412, 428) or (response.status_code == 400 and ours):
        # Refusals by the library: a problem body (a 400 may also be the view's own).
        assert ours
        if method != "HEAD":  # HEAD responses carry no body
            assert response.json()["status"] == response.status_code


LIST_ENDPOINTS = [
    "/api/paged/docs/",  # PageNumberPagination
    "/api/offset/docs/",  # LimitOffsetPagination
    "/api/optionally-paged/docs/",  # paginated only when ?page_size= is sent
    "/api/docs/",  # not paginated
]
query_value = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "last", "1.5", "٣", "+1", "-0", "1e3", "9" * 19, "9" * 5000, "%00"]),
    st.text(max_size=5),
)


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    endpoint=st.sampled_from(LIST_ENDPOINTS),
    query=st.dictionaries(
        st.sampled_from(["page", "page_size", "limit", "offset"]), query_value, max_size=3
    ),
)
def test_hostile_list_queries_answer_as_drf_and_never_a_5xx(endpoint: str, query: Any) -> None:
    """Any page, page size, limit or offset a client sends (huge, negative, not a number,
    thousands of digits), with or without ``If-None-Match``: never a 5xx, and the
    conditional request gets the plain request's status — or 304 for the list's own ETag
    (the list 304 reads the page in one statement, which must not see what DRF never
    reads)."""
    from urllib.parse import urlencode

    if not Document.objects.exists():
        Document.objects.bulk_create(Document(title=f"d{number}") for number in range(7))
    client = Client(raise_request_exception=False)
    url = f"{endpoint}?{urlencode(query)}"
    plain = client.get(url)
    assert plain.status_code < 500, (url, plain.content[:300])
    etag = plain.get("ETag")
    for tag in {etag or 'W/"other"', 'W/"other"'}:
        conditional = client.get(url, headers={"If-None-Match": tag})
        expected = 304 if tag == etag and plain.status_code == 200 else plain.status_code
        assert conditional.status_code == expected, (url, tag, conditional.content[:300])
