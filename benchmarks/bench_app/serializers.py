from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import Doc, Wide


class DocSerializer(serializers.ModelSerializer[Doc]):
    class Meta:
        model = Doc
        fields = "__all__"


class WideSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = Wide
        fields = "__all__"
