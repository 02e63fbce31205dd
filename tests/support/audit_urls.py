"""A small project for the protection audit (tests/test_audit.py): one pattern per case, so
the expected report is stable whatever tests/support/urls.py grows into."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import View
from django.views.decorators import http as django_http
from django.views.generic import TemplateView, UpdateView
from django.views.generic.detail import SingleObjectMixin
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from django_preconditions.audit import audit_admin_view
from django_preconditions.decorators import condition, require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.testapp.models import Document


class DocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = ["id", "title", "body"]


class ProtectedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[type-arg]
    """PATCH left unprotected per action; an extra action protects POST."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_required_headers = ["If-Match"]
    precondition_actions = {"partial_update": {"methods": ["PUT", "DELETE"]}}

    @action(detail=True, methods=["post"], precondition_methods=["POST"])
    def publish(self, request: Request, pk: str) -> Response:
        return Response({})


class PlainDocumentViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class ReadOnlyDocumentViewSet(PreconditionMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class DocumentDetail(PreconditionMixin, generics.RetrieveUpdateDestroyAPIView):  # type: ignore[type-arg]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


@api_view(["GET", "POST"])
def api_function(request: Request) -> Response:
    return Response({})


def _ok(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return HttpResponse("ok")


@require_preconditions(Document)
def protected_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


@require_preconditions(Document, methods=["PUT", "DELETE"], required_headers=["If-Match"])
def custom_policy_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


@django_http.require_http_methods(["GET", "HEAD", "PUT"])
@require_preconditions(Document)
def get_put_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


def plain_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


def settings_counter(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


async def rule_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


@django_http.require_safe
def safe_document(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


@django_http.require_POST
def post_only(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@condition(etag_func=lambda request: "x")
def condition_only(request: HttpRequest) -> HttpResponse:
    return _ok(request)


@django_http.etag(lambda request, pk: "x")
def django_etag_only(request: HttpRequest, pk: int) -> HttpResponse:
    return _ok(request)


def self_protected(request: HttpRequest) -> HttpResponse:
    """Marked by a project's own decorator: the audit trusts the mark, settings policy."""
    return _ok(request)


self_protected.preconditions_protected = True  # type: ignore[attr-defined]


class SelfProtectedView(View):
    preconditions_protected = True
    delete = _ok


class SelfProtectedAPIView(APIView):
    preconditions_protected = True
    delete = _ok


class DocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc,type-arg]
    model = Document
    get = put = delete = _ok


class DocumentUpdate(PreconditionRequiredMixin, UpdateView):  # type: ignore[misc,type-arg]
    model = Document
    fields = ["title"]
    precondition_methods = ["POST", "PUT"]


class PlainDocumentUpdate(UpdateView):  # type: ignore[type-arg]
    model = Document
    fields = ["title"]


router = SimpleRouter()
router.register("docs", ProtectedDocumentViewSet, basename="document")
router.register("plain/docs", PlainDocumentViewSet, basename="plain-document")
router.register("readonly/docs", ReadOnlyDocumentViewSet, basename="readonly-document")

urlpatterns = [
    # Function views
    path("docs/<int:pk>/", protected_document, name="document-detail"),
    path("custom/docs/<int:pk>/", custom_policy_document, name="document-custom"),
    path("get-put/docs/<int:pk>/", get_put_document, name="get-put"),
    path("plain/docs/<int:pk>/", plain_document, name="document-plain"),
    path("safe/docs/<int:pk>/", safe_document, name="document-safe"),
    path("post-only/", post_only, name="post-only"),
    path("condition/", condition_only, name="condition-only"),
    path("django-etag/docs/<int:pk>/", django_etag_only, name="django-etag"),
    # Unprotected in code; protected by settings and admin rules in some tests
    path("settings/counters/<int:pk>/", settings_counter, name="settings-counter"),
    path("rule/docs/<int:pk>/", rule_document, name="rule-document"),
    path("self-protected/", self_protected, name="self-protected"),
    # Class-based views
    path("cbv/docs/<int:pk>/", DocumentJsonView.as_view(), name="cbv-document"),
    path(
        "cbv/put-only/docs/<int:pk>/",
        DocumentJsonView.as_view(http_method_names=["get", "put"]),
        name="cbv-put-only",
    ),
    path("cbv/update/<int:pk>/", DocumentUpdate.as_view(), name="cbv-update"),
    path("cbv/plain-update/<int:pk>/", PlainDocumentUpdate.as_view(), name="cbv-plain-update"),
    path("cbv/self-protected/", SelfProtectedView.as_view(), name="cbv-self-protected"),
    path("cbv/template/", TemplateView.as_view(template_name="x.html"), name="cbv-template"),
    # Django REST framework, namespaced
    path("api/", include((router.urls, "api"))),
    path("api/generic/docs/<int:pk>/", DocumentDetail.as_view(), name="api-generic-detail"),
    path("api/function/", api_function, name="api-function"),
    path("api/self-protected/", SelfProtectedAPIView.as_view(), name="api-self-protected"),
    # The admin, and the audit page as the admin would mount it
    path("audit/", admin.site.admin_view(audit_admin_view), name="audit"),
    path("admin/", admin.site.urls),
]
