"""The report-only report in the admin: read-only, one row per endpoint and client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from .reporting import ReportedRequest

__all__ = ["ReportedRequestAdmin"]

if TYPE_CHECKING:
    _Admin = admin.ModelAdmin[ReportedRequest]
else:
    _Admin = admin.ModelAdmin


@admin.register(ReportedRequest)
class ReportedRequestAdmin(_Admin):
    """Which clients still send unsafe requests without a precondition, per endpoint: when
    an endpoint's rows stop growing, it can be switched to enforce mode."""

    list_display = (
        "endpoint",
        "method",
        "client",
        "user_agent",
        "count",
        "first_seen",
        "last_seen",
    )
    list_filter = ("endpoint", "method")
    search_fields = ("endpoint", "user", "user_agent", "last_path")
    ordering = ("endpoint", "-last_seen")
    readonly_fields = (
        "endpoint",
        "method",
        "user",
        "user_agent",
        "last_path",
        "count",
        "first_seen",
        "last_seen",
    )

    @admin.display(description=gettext_lazy("user"), ordering="user")
    def client(self, obj: ReportedRequest) -> str:
        return obj.user or gettext("(anonymous)")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
