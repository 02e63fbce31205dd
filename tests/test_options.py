"""Issue 9, item 11: ``request.preconditions`` exists on every request an adapter sees,
OPTIONS included, so views written as the docs show never crash (rules 14, 38)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory
from django.views import View
from rest_framework import viewsets
from rest_framework.test import APIRequestFactory

from django_preconditions.conditions import Reason
from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

pytestmark = pytest.mark.django_db


@require_preconditions(Document)
def as_documented(request: HttpRequest, pk: int) -> HttpResponse:
    """README/quickstart/views.md: the instance is read unconditionally."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    return JsonResponse({"title": document.title})


@pytest.mark.parametrize("method", ["options", "trace"])
def test_rule_14_options_reaches_the_view_with_the_object_loaded_and_not_evaluated(method):
    document = Document.objects.create(title="a")
    request = getattr(RequestFactory(), method)("/x/", headers={"If-Match": '"stale"'})
    response = as_documented(request, pk=document.pk)
    assert response.status_code == 200  # not 500, and no 412: not evaluated
    assert json.loads(response.content) == {"title": "a"}
    assert request.preconditions.decision.reason is Reason.NOT_EVALUATED


def test_rule_14_options_on_an_absent_object_is_404_not_500():
    response = as_documented(RequestFactory().options("/x/"), pk=987654)
    assert response.status_code == 404


class DocumentView(PreconditionRequiredMixin, View):
    def get_precondition_object(self) -> Document:
        return Document.objects.get(pk=self.kwargs["pk"])

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse()

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().options(request, *args, **kwargs)
        response["X-Evaluated"] = str(request.preconditions.decision.reason)  # type: ignore[attr-defined]
        return response


def test_rule_14_class_based_options_sees_request_preconditions():
    document = Document.objects.create(title="a")
    response = DocumentView.as_view()(RequestFactory().options("/x/"), pk=document.pk)
    assert response.status_code == 200
    assert response["X-Evaluated"] == "not_evaluated"


class DocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().options(request, *args, **kwargs)
        response["X-Evaluated"] = str(request.preconditions.decision.reason)
        return response


def test_rule_14_drf_options_sees_request_preconditions():
    document = Document.objects.create(title="a")
    view = DocumentViewSet.as_view({"get": "retrieve", "options": "options"})
    response = view(APIRequestFactory().options("/x/"), pk=document.pk)
    assert response.status_code == 200
    assert response["X-Evaluated"] == "not_evaluated"
