"""The test settings with PreconditionMiddleware, and a settings rule for one view."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings

MIDDLEWARE = [*settings.MIDDLEWARE, "django_preconditions.middleware.PreconditionMiddleware"]

#: The ``VIEWS`` entry that protects a view over ``testapp.Document`` found by ``pk``.
PLAIN_RULE = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}


def settings_rule(key: str, **entry: Any) -> Any:
    """The middleware installed and ``entry`` as the settings rule for ``key`` (rule 29)."""
    return override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {key: entry}})


def put(client: Any, url: str, body: Any = None, **headers: str) -> Any:
    """A JSON PUT (``{"title": "new"}`` unless ``body`` is given) with the given headers."""
    return client.put(
        url,
        body if body is not None else {"title": "new"},
        content_type="application/json",
        headers=headers,
    )
