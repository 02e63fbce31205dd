"""Rule 28 through the middleware: it decides a conditional GET after the view answered (it
never loads the row itself), so its 304 replaces the view's 200 and must repeat what that 200
carried for caches — ``Cache-Control``, ``Vary``, ``Expires``, ``Content-Location``, cookies —
as the 304 of the decorator (inside the view's cache decorators) and of DRF do."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.urls import path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from tests.support.middleware import MIDDLEWARE
from tests.testapp.models import Document
from tests.testapp.views import representation

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_middleware_not_modified")]


@cache_control(private=True, max_age=60)
@vary_on_headers("Accept-Language")
@require_http_methods(["GET", "HEAD"])
def cached_document(request: HttpRequest, pk: int) -> HttpResponse:
    response = JsonResponse(representation(get_object_or_404(Document, pk=pk)))
    response["Content-Location"] = f"/cached/{pk}/"
    response.set_cookie("seen", "1")
    return response


urlpatterns = [path("cached/<int:pk>/", cached_document, name="cached-document")]

RULE = {"VIEWS": {"cached-document": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}}


@override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=RULE)
def test_rule_28_the_middlewares_304_repeats_the_cache_headers_of_the_200(
    document: Document,
) -> None:
    full = Client().get(f"/cached/{document.pk}/")
    again = Client().get(f"/cached/{document.pk}/", headers={"If-None-Match": full["ETag"]})

    assert (full.status_code, again.status_code) == (200, 304)
    assert again.content == b""
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Location"):
        assert again[name] == full[name], name
    assert again.cookies["seen"].value == "1"
    assert "Content-Type" not in again


@override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS=RULE)
def test_a_stale_if_match_on_get_is_still_412(document: Document) -> None:
    response = Client().get(f"/cached/{document.pk}/", headers={"If-Match": '"stale"'})

    assert response.status_code == 412
    assert response["ETag"] == document.etag
