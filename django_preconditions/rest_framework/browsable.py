"""The browsable API with the page's ``ETag`` in its write forms (HTML forms cannot send
headers; :class:`~django_preconditions.rest_framework.PreconditionMixin` reads the token back
as ``If-Match``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import mark_safe
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request

from .._compat import add_to_drf_delete_form

__all__ = ["PreconditionBrowsableAPIRenderer"]


class PreconditionBrowsableAPIRenderer(BrowsableAPIRenderer):
    """The browsable API, with the page's ETag in its write forms.

    :class:`PreconditionMixin` uses it in place of DRF's ``BrowsableAPIRenderer``; subclass
    it instead of ``BrowsableAPIRenderer`` if you customise the browsable API. The ETag goes
    in a hidden field of the HTML form and of the DELETE button's form, and as a member of
    the raw-data tab's JSON; the mixin reads it as ``If-Match`` for requests that ask for
    HTML and carry no conditional header.
    """

    def _page_token(self) -> tuple[str, str] | None:
        context = getattr(self, "renderer_context", None) or {}
        view, response = context.get("view"), context.get("response")
        field_name = getattr(view, "precondition_form_field", None)
        etag_for = getattr(view, "precondition_form_etag", None)
        if not field_name or etag_for is None or response is None:
            return None
        etag = etag_for(response)
        return (str(field_name), str(etag)) if etag else None

    def _hidden_input(self) -> str:
        token = self._page_token()
        if token is None:
            return ""
        return format_html('<input type="hidden" name="{}" value="{}">', *token)

    def get_context(
        self, data: Any, accepted_media_type: str | None, renderer_context: Mapping[str, Any]
    ) -> dict[str, Any]:
        context = super().get_context(data, accepted_media_type, renderer_context)
        hidden = self._hidden_input()
        if hidden and isinstance(context.get("put_form"), str):
            context["put_form"] = mark_safe(context["put_form"] + hidden)
        return context

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Request) -> Any:
        form = super().get_raw_data_form(data, view, method, request)
        token = self._page_token()
        content_field = form.fields.get("_content") if form is not None else None
        if token is None or method not in ("PUT", "PATCH") or content_field is None:
            return form
        try:
            content = json.loads(content_field.initial or "{}")
        except ValueError:
            return form  # not JSON: the raw-data tab cannot carry the token
        if isinstance(content, dict):
            name, etag = token
            # The token last: a model field of the same name must not replace it.
            content_field.initial = json.dumps({**content, name: etag}, indent=4)
        return form

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> str:
        html = super().render(data, accepted_media_type, renderer_context)
        hidden = self._hidden_input()
        if not hidden:
            return html
        # The DELETE button's form is fixed markup in DRF's template: add the field to it.
        return add_to_drf_delete_form(html, hidden)
