from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import ConcDoc, Doc, PlainDoc, Wide


class PlainDocSerializer(serializers.ModelSerializer[PlainDoc]):
    class Meta:
        model = PlainDoc
        fields = "__all__"


class DocSerializer(serializers.ModelSerializer[Doc]):
    class Meta:
        model = Doc
        fields = "__all__"


class ConcDocSerializer(serializers.ModelSerializer[ConcDoc]):
    """django-concurrency with DRF: the version travels in the body; ``save()`` compares it
    (``UPDATE … WHERE version = <sent>``) and raises ``RecordModifiedError`` on a mismatch,
    which ``ConcurrencyMiddleware`` answers with 409."""

    version = serializers.IntegerField()

    class Meta:
        model = ConcDoc
        fields = "__all__"


class WideSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = Wide
        fields = "__all__"
