from __future__ import annotations

from rest_framework import serializers

from .models import Document


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "title", "body", "version_token", "last_modified"]
        # The version fields are written by every save(); clients send them back in If-Match
        # (as the ETag), never in the body.
        read_only_fields = ["version_token", "last_modified"]
