"""Django REST framework: :class:`PreconditionMixin` for ``GenericAPIView`` and viewsets.

The only package that imports DRF (besides :mod:`django_preconditions.spectacular`)::

    class DocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
        queryset = Document.objects.all()
        serializer_class = DocumentSerializer

Modules: :mod:`.mixin` (the mixin, create-by-``PUT``), :mod:`.exceptions` (refusals as
``APIException`` subclasses), :mod:`.lists` (collection ETags, the list 304 from a token-only
query), :mod:`.browsable` (the browsable API's forms). Import the public names from here.
"""

from __future__ import annotations

from .browsable import PreconditionBrowsableAPIRenderer
from .exceptions import (
    DatabaseConflict,
    MalformedPrecondition,
    PreconditionAPIException,
    PreconditionFailed,
    PreconditionRequired,
)
from .mixin import PreconditionMixin

__all__ = [
    "DatabaseConflict",
    "MalformedPrecondition",
    "PreconditionAPIException",
    "PreconditionBrowsableAPIRenderer",
    "PreconditionFailed",
    "PreconditionMixin",
    "PreconditionRequired",
]
