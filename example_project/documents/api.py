"""The DRF side: a ModelViewSet protected by PreconditionMixin (/api/documents/)."""

from __future__ import annotations

from rest_framework import viewsets

from django_preconditions.rest_framework import PreconditionMixin

from .models import Document
from .serializers import DocumentSerializer


class DocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    """Documents. PUT/PATCH/DELETE need If-Match (or If-Unmodified-Since).

    ``PUT /api/documents/<id>/`` with ``If-None-Match: *`` creates a document under an id
    that does not exist yet (create-only: a second such PUT gets 412).
    """

    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
    precondition_allow_create = True
