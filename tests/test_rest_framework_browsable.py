"""The browsable API stays usable for writes on protected endpoints.

Its forms cannot set headers, so the page carries the ETag it was rendered with in a hidden
``_if_match`` field (HTML form, DELETE button) and in the raw-data tab's JSON; the mixin
reads it as ``If-Match`` for requests that ask for HTML and send no conditional header. The
protection is the same: a stale token is 412, no token is 428.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

HTML = "text/html; q=1.0, */*"  # what DRF's ajax-form.js sends


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def target(document: Document) -> str:
    return f"/api/docs/{document.pk}/"


def hidden_tokens(page: str) -> list[str]:
    return [
        html.unescape(value)
        for value in re.findall(r'<input type="hidden" name="_if_match" value="([^"]*)">', page)
    ]


def raw_content(page: str) -> dict[str, Any]:
    match = re.search(r'data-override="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert match is not None
    return json.loads(html.unescape(match.group(1)))  # type: ignore[no-any-return]


def submit(client: APIClient, method: str, document: Document, data: Any, fmt: str) -> Any:
    return getattr(client, method)(target(document), data, format=fmt, headers={"Accept": HTML})


def test_the_page_puts_its_etag_in_the_html_form_and_the_delete_button(client, document):
    page = client.get(target(document), headers={"Accept": "text/html"})

    assert page.status_code == 200
    text = page.content.decode()
    assert hidden_tokens(text) == [document.etag, document.etag]  # DELETE form, PUT form
    assert re.search(r'data-method="DELETE">\s*<input type="hidden" name="_if_match"', text)
    assert raw_content(text)["_if_match"] == document.etag


def test_html_form_put_with_the_page_token_succeeds(client, document):
    page = client.get(target(document), headers={"Accept": "text/html"}).content.decode()
    token = hidden_tokens(page)[0]

    response = submit(client, "put", document, {"title": "edited", "_if_match": token}, "multipart")

    current = Document.objects.get(pk=document.pk)
    assert response.status_code == 200
    assert current.title == "edited"
    assert hidden_tokens(response.content.decode()) == [current.etag, current.etag]


def test_raw_data_patch_with_the_page_token_succeeds(client, document):
    page = client.get(target(document), headers={"Accept": "text/html"}).content.decode()
    content = raw_content(page) | {"title": "patched"}

    response = submit(client, "patch", document, content, "json")

    assert response.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "patched"


def test_delete_button_with_the_page_token_succeeds(client, document):
    response = client.delete(
        target(document),
        f"_if_match={document.etag}",
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": HTML},
    )

    assert response.status_code == 200  # the browsable API shows a 204 as 200
    assert not Document.objects.filter(pk=document.pk).exists()


def test_a_stale_page_token_is_412_and_changes_nothing(client, document):
    stale = document.etag
    Document.objects.get(pk=document.pk).save()  # someone else wrote meanwhile

    response = submit(client, "put", document, {"title": "mine", "_if_match": stale}, "multipart")

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "draft"
    assert hidden_tokens(response.content.decode()) == []  # re-read before writing again


def test_a_form_without_the_token_is_428(client, document):
    response = submit(client, "put", document, {"title": "mine"}, "multipart")

    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "draft"


def test_the_form_field_is_ignored_for_api_clients(client, document):
    response = client.put(
        target(document), {"title": "mine", "_if_match": document.etag}, format="json"
    )

    assert response.status_code == 428


def test_a_header_wins_over_the_form_field(client, document):
    response = client.put(
        target(document),
        {"title": "mine", "_if_match": document.etag},
        format="multipart",
        headers={"Accept": HTML, "If-Match": '"stale"'},
    )

    assert response.status_code == 412


def test_after_a_validation_error_the_form_keeps_the_token_it_was_sent(client):
    document = Document.objects.create(title="draft")
    response = client.put(
        f"/api/strict/docs/{document.pk}/",
        {"title": "far too long a title", "_if_match": document.etag},
        format="multipart",
        headers={"Accept": HTML},
    )

    assert response.status_code == 400
    assert hidden_tokens(response.content.decode()) == [document.etag, document.etag]


def test_list_pages_render_without_tokens(client, document):
    response = client.get("/api/docs/", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert hidden_tokens(response.content.decode()) == []


def test_a_stale_form_token_never_reaches_the_write_even_when_the_body_is_invalid(client):
    document = Document.objects.create(title="draft")
    response = client.put(
        f"/api/strict/docs/{document.pk}/",
        {"title": "far too long a title", "_if_match": '"stale"'},
        format="multipart",
        headers={"Accept": HTML},
    )

    assert response.status_code == 412


def test_create_by_put_from_the_browsable_api_renders_the_new_token(client):
    response = client.put(
        "/api/creating/docs/9100/",
        {"title": "new"},
        format="multipart",
        headers={"Accept": HTML, "If-None-Match": "*"},
    )

    assert response.status_code == 201
    assert hidden_tokens(response.content.decode())[-1] == Document.objects.get(pk=9100).etag


def test_post_from_the_browsable_api_renders(client):
    response = client.post(
        "/api/docs/", {"title": "new"}, format="multipart", headers={"Accept": HTML}
    )

    assert response.status_code == 201
    assert "ETag" in response


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [("{not json", "application/json", 400), ("<a/>", "application/xml", 415)],
)
def test_a_body_that_does_not_parse_is_decided_after_the_precondition(
    client, document, body, content_type, status
):
    """Looking for the form field in a browsable-API request must not let DRF's parse error
    answer first (rule 11): 428 without a precondition, 412 with a stale one, and DRF's own
    400/415 once the precondition holds (never the handler on DRF's emptied data)."""
    url = target(document)
    stale = '"stale"'
    for headers, expected in (
        ({}, 428),
        ({"If-Match": stale}, 412),
        ({"If-Match": document.etag}, status),
    ):
        response = client.generic(
            "PUT", url, body, content_type=content_type, headers={"Accept": HTML, **headers}
        )
        assert response.status_code == expected, (headers, response.content[:200])
    assert Document.objects.get(pk=document.pk).version_token == document.version_token
