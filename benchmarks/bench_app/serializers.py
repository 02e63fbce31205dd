from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import ConcDoc, Doc, PlainDoc, TokenDoc, Wide

#: The same representation for every variant: the version travels in the ETag header, not in
#: the body (``fields = "__all__"`` would add ``version_token`` and ``last_modified`` to each
#: item: a larger representation, not a cost of the conditional-request machinery).
DOC_FIELDS = ("id", "title", "body", "status", "counter", "published")


class PlainDocSerializer(serializers.ModelSerializer[PlainDoc]):
    class Meta:
        model = PlainDoc
        fields = DOC_FIELDS


class DocSerializer(serializers.ModelSerializer[Doc]):
    class Meta:
        model = Doc
        fields = DOC_FIELDS


class TokenDocSerializer(serializers.ModelSerializer[TokenDoc]):
    class Meta:
        model = TokenDoc
        fields = DOC_FIELDS


class ConcDocSerializer(serializers.ModelSerializer[ConcDoc]):
    """django-concurrency with DRF: the version travels in the body; ``save()`` compares it
    (``UPDATE … WHERE version = <sent>``) and raises ``RecordModifiedError`` on a mismatch,
    which ``ConcurrencyMiddleware`` answers with 409."""

    version = serializers.IntegerField()

    class Meta:
        model = ConcDoc
        fields = (*DOC_FIELDS, "version")


class WideSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = Wide
        fields = "__all__"
