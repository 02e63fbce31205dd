"""Browser paths of the DRF integration: what a page the library rendered submits.

The browsable API's forms carry the page's ETag in ``precondition_form_field`` (docs/
rest_framework.md, "The browsable API"): the HTML form and the DELETE button's form in a
hidden field, the raw-data tab in a JSON member. A page the library rendered, submitted
unchanged as DRF's ``ajax-form.js`` submits it, must pass the precondition it carries.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.urls import include, path
from rest_framework import viewsets
from rest_framework.parsers import JSONParser
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.rest_framework import PreconditionMixin
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_browsable_forms")]

HTML = "text/html; q=1.0, */*"  # what DRF's ajax-form.js sends


class JsonOnlyDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """An API that accepts JSON bodies only (``DEFAULT_PARSER_CLASSES = [JSONParser]`` is a
    common project setting)."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    parser_classes = [JSONParser]


class VersionFieldDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """The form field named after the model's own version field."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_form_field = "version_token"


router = DefaultRouter()
router.register("json-only/docs", JsonOnlyDocumentViewSet, basename="json-only-document")
router.register("version-field/docs", VersionFieldDocumentViewSet, basename="version-field")
urlpatterns = [path("", include(router.urls))]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def hidden_tokens(page: str, name: str = "_if_match") -> list[str]:
    pattern = rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)">'
    return [html.unescape(value) for value in re.findall(pattern, page)]


def raw_content(page: str) -> dict[str, Any]:
    match = re.search(r'data-override="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert match is not None
    return json.loads(html.unescape(match.group(1)))  # type: ignore[no-any-return]


def test_delete_button_of_a_json_only_api_is_refused_428_although_the_page_carries_the_token(
    client: APIClient, document: Document
) -> None:
    """The DELETE button's form is posted url-encoded by ajax-form.js. On a viewset that parses
    JSON only, the mixin's attempt to read ``_if_match`` from the body fails with DRF's 415,
    which it swallows, so the token the page itself rendered is never read: 428 forever, and
    the browsable API can no longer delete at all (it could without the mixin)."""
    url = f"/json-only/docs/{document.pk}/"
    page = client.get(url, headers={"Accept": "text/html"}).content.decode()
    [token] = hidden_tokens(page)  # the DELETE button's form (no HTML form tab: JSON only)
    assert token == document.etag

    response = client.delete(
        url,
        f"_if_match={token}",
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
        headers={"Accept": HTML},
    )

    assert response.status_code == 200  # the browsable API shows the 204 as 200
    assert not Document.objects.filter(pk=document.pk).exists()


def test_raw_data_tab_token_is_overwritten_when_the_form_field_is_named_like_a_model_field(
    client: APIClient, document: Document
) -> None:
    """``precondition_form_field = "version_token"``: the raw-data tab's JSON should carry the
    page's ETag under that name, but the serializer's own ``version_token`` (the bare token,
    unquoted) overwrites it, so the page's own PATCH is answered 400 (malformed If-Match)."""
    url = f"/version-field/docs/{document.pk}/"
    page = client.get(url, headers={"Accept": "text/html"}).content.decode()
    assert hidden_tokens(page, "version_token") == [document.etag, document.etag]
    content = raw_content(page)

    assert content["version_token"] == document.etag  # observed: the unquoted token

    response = client.patch(
        url, content | {"title": "patched"}, format="json", headers={"Accept": HTML}
    )
    assert response.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "patched"
