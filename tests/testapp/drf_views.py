"""DRF views for the tests: the minimal viewset of the issue, its unprotected twin (the
query-count baseline) and variants for permissions, policies, create-by-PUT and races."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import generics, permissions, viewsets
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from django_preconditions.rest_framework import PreconditionMixin

from .models import Document
from .serializers import DocumentSerializer, StrictDocumentSerializer


class DocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Exactly the minimal use from the issue: nothing else configured."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class PlainDocumentViewSet(viewsets.ModelViewSet):
    """The same viewset without the mixin: the baseline for query counts."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class StrictDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Titles of at most 10 characters, to pair a stale If-Match with an invalid body."""

    queryset = Document.objects.all()
    serializer_class = StrictDocumentSerializer


class IsOwnerOrReadOnly(permissions.BasePermission):
    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or obj.owner_id == request.user.pk


class OwnedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Authenticated users see their own and shared (ownerless) documents; only owners write."""

    serializer_class = DocumentSerializer
    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated, IsOwnerOrReadOnly]

    def get_queryset(self) -> QuerySet[Document]:
        user = self.request.user
        return Document.objects.filter(owner__isnull=True) | Document.objects.filter(owner=user.pk)


class CreatingDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """PUT to an absent document creates it when sent with If-None-Match: * (rule 26)."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_allow_create = True


class CustomPolicyDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Only If-Match satisfies the requirement; PATCH is not protected; DELETE accepts *."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_required_headers = ["If-Match"]
    precondition_actions = {
        "partial_update": {"methods": ["PUT", "DELETE"]},
        "destroy": {"allow_wildcard": True},
    }

    @action(detail=True, methods=["post"], precondition_methods=["POST"])
    def publish(self, request: Request, pk: str) -> Response:
        document = self.get_object()
        document.title = f"{document.title} (published)"
        document.save()
        return Response(self.get_serializer(document).data)

    @action(detail=True, methods=["post"])
    def touch(self, request: Request, pk: str) -> Response:
        document = self.get_object()
        document.counter += 1
        document.save()
        return Response(self.get_serializer(document).data)


class GuidanceDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_error_format = "json"


class DrfFormatDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_error_format = "drf"


class EnvelopeDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_error_format = "tests.support.error_formats.envelope_error"


class RacingDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Another writer changes (or deletes) the row between the precondition check and the
    save, as a concurrent request could: the compare-and-swap must notice (rules 44, 45)."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        # Queryset writes: the rival is another request, not this view's own save.
        rival = Document.objects.filter(pk=serializer.instance.pk)
        if self.request.query_params.get("rival") == "delete":
            rival.delete()
        else:
            rival.update(title="the rival's change")
        serializer.save()

    def perform_destroy(self, instance: Document) -> None:
        Document.objects.filter(pk=instance.pk).update(title="changed meanwhile")
        instance.delete()


class PagedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.order_by("pk")
    serializer_class = DocumentSerializer
    pagination_class = type("FiftyPerPage", (PageNumberPagination,), {"page_size": 50})


class OptionallyPagedDocumentViewSet(PreconditionMixin, viewsets.ReadOnlyModelViewSet):
    """Paginated only when the request asks (``?page_size=`` or ``?limit=``): without it
    DRF answers a plain list, without an envelope."""

    queryset = Document.objects.order_by("pk")
    serializer_class = DocumentSerializer
    pagination_class = type(
        "OnRequest",
        (PageNumberPagination,),
        {"page_size": None, "page_size_query_param": "page_size"},
    )


class UnpaginatedListDocumentViewSet(OptionallyPagedDocumentViewSet):
    """Serializes its list itself, without paginate_queryset(), though it has a paginator."""

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_queryset(), many=True).data)


class OffsetDocumentViewSet(PreconditionMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Document.objects.order_by("pk")
    serializer_class = DocumentSerializer
    # max_limit as DRF advises: without one DRF itself answers ?limit=10**19 with a 500 (it
    # slices [offset:offset + limit] after counting; the database cannot hold that LIMIT).
    pagination_class = type(
        "Offsets", (LimitOffsetPagination,), {"default_limit": None, "max_limit": 1000}
    )


class ReadOnlyDocumentViewSet(PreconditionMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class DocumentListCreate(PreconditionMixin, generics.ListCreateAPIView):
    """A generic view (not a viewset): Location comes from precondition_detail_url_name."""

    queryset = Document.objects.order_by("pk")
    serializer_class = DocumentSerializer
    precondition_detail_url_name = "api:generic-document-detail"


class DocumentDetail(PreconditionMixin, generics.RetrieveUpdateDestroyAPIView):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class OwnLookupDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Overrides get_object() without super(), the way DRF documents: still protected,
    because it ends in check_object_permissions()."""

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def get_object(self) -> Document:
        document = get_object_or_404(Document.objects.all(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, document)
        return document
