"""The admin benchmark: the same change form saved through three admins."""

from __future__ import annotations

from concurrency.admin import ConcurrentModelAdmin
from django.contrib import admin

from django_preconditions.admin import VersionedModelAdmin

from .models import ConcDoc, Doc, PlainDoc

FIELDS = ("title", "body", "status", "counter", "published")


@admin.register(PlainDoc)
class PlainDocAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    fields = FIELDS


@admin.register(Doc)
class DocAdmin(VersionedModelAdmin):
    fields = FIELDS


@admin.register(ConcDoc)
class ConcDocAdmin(ConcurrentModelAdmin):  # type: ignore[misc]
    fields = (*FIELDS, "version")
