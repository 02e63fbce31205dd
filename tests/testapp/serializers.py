"""Serializers for the DRF tests: plain ModelSerializers, as a project would write them."""

from __future__ import annotations

from rest_framework import serializers

from .models import Document


class DocumentSerializer(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = "__all__"


class StrictDocumentSerializer(serializers.ModelSerializer[Document]):
    """Titles of at most 10 characters: an easy way to send an invalid body."""

    title = serializers.CharField(max_length=10)

    class Meta:
        model = Document
        fields = ["id", "title", "body", "counter", "version_token", "last_modified"]
