"""DRF error bodies whatever renderer was negotiated (rules 34, 38): JSON of the chosen
format, with the media type and charset the other adapters send (docs/errors.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import include, path
from rest_framework import viewsets
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.routers import SimpleRouter

from django_preconditions.rest_framework import PreconditionMixin
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_rest_framework_renderers")]


class PlainTextRenderer(BaseRenderer):
    """A project's renderer of another media type (CSV, YAML, plain text)."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return str(data).encode()


class TextDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    renderer_classes = [JSONRenderer, PlainTextRenderer]


_router = SimpleRouter()
_router.register("text/docs", TextDocumentViewSet, basename="text-document")

urlpatterns = [path("", include(_router.urls)), path("", include("tests.support.urls"))]

REFUSALS = pytest.mark.parametrize(
    ("headers", "status"),
    [({"If-Match": '"stale"'}, 412), ({}, 428), ({"If-Match": "unquoted"}, 400)],
    ids=["412", "428", "400"],
)


def put(url: str, headers: dict[str, str]) -> Any:
    return Client().put(url, {"title": "x"}, content_type="application/json", headers=headers)


@REFUSALS
def test_rule_38_an_error_is_json_when_the_client_negotiated_another_renderer(
    headers: dict[str, str], status: int
) -> None:
    """``Accept: text/plain`` picks the viewset's plain-text renderer: the error body is
    still the problem document, as JSON (the renderer would have sent the dict's repr)."""
    document = Document.objects.create(title="a")
    response = put(f"/text/docs/{document.pk}/", {"Accept": "text/plain", **headers})
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status
    if status == 412:
        assert response["ETag"] == document.etag
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.parametrize("error_format", ["problem", "json", "drf"])
@REFUSALS
def test_rule_34_drf_sends_the_content_type_of_the_other_adapters(
    error_format: str, headers: dict[str, str], status: int
) -> None:
    """The same refusal through the DRF mixin and through the decorator: the same media type
    and charset (docs/errors.md: ``application/json; charset=utf-8`` for ``json`` and
    ``drf``)."""
    document = Document.objects.create(title="a")
    with override_settings(PRECONDITIONS={"ERROR_FORMAT": error_format}):
        drf = put(f"/api/docs/{document.pk}/", headers)
        decorated = put(f"/docs/{document.pk}/", headers)
    assert drf.status_code == decorated.status_code == status
    assert drf["Content-Type"] == decorated["Content-Type"]
    expected = (
        "application/problem+json"
        if error_format == "problem"
        else ("application/json; charset=utf-8")
    )
    assert drf["Content-Type"] == expected
    json.loads(drf.content)
