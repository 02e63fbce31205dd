"""The DRF side: a ModelViewSet protected by PreconditionMixin (/api/documents/)."""

from __future__ import annotations

from rest_framework import viewsets

from django_preconditions.rest_framework import PreconditionMixin

from .models import Document
from .serializers import DocumentSerializer


class DocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Documents. PUT, PATCH and DELETE need If-Match (or If-Unmodified-Since).

    A PUT to /api/documents/ID/ with If-None-Match: * creates a document under an id that
    does not exist yet (create-only: a second such PUT gets 412).
    """

    # Plain text on purpose: the browsable API and the OpenAPI description show it as written.

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_allow_create = True
