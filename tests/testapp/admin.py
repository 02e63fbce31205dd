"""Document in the admin with lost-update protection (the admin and browser tests use it)."""

from __future__ import annotations

from django.contrib import admin

from django_preconditions.admin import VersionedModelAdmin
from tests.testapp.models import Document, LabelledDocument, TokenOnlyDocument


@admin.register(Document)
class DocumentAdmin(VersionedModelAdmin):
    list_display = ("id", "title", "counter", "last_modified")
    list_display_links = ("id",)
    list_editable = ("title",)
    search_fields = ("title",)


@admin.register(TokenOnlyDocument)
class TokenOnlyDocumentAdmin(VersionedModelAdmin):
    """A model versioned by its token alone (no ``last_modified``)."""


@admin.register(LabelledDocument)
class LabelledDocumentAdmin(VersionedModelAdmin):
    """Many-to-many fields: saving them is a write of the document (rule 46)."""
