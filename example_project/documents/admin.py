"""Documents and notes in the admin, with VersionedModelAdmin: two people editing the same
document cannot overwrite each other (the second save shows what changed instead).

The admin for protection rules (ProtectedEndpoint) is registered by
``django_preconditions.admin`` itself: /admin/django_preconditions/protectedendpoint/.
"""

from __future__ import annotations

from django.contrib import admin

from django_preconditions.admin import VersionedModelAdmin

from .models import Document, Note


@admin.register(Document)
class DocumentAdmin(VersionedModelAdmin):
    list_display = ("title", "last_modified")
    search_fields = ("title", "body")


@admin.register(Note)
class NoteAdmin(VersionedModelAdmin):
    list_display = ("__str__", "document", "last_modified")
    list_select_related = ("document",)
    search_fields = ("text",)
