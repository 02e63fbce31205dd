"""The benchmark's URLs, and the same URLs reordered so that one variant's routes come first.

Django tries a URLconf's patterns in order, so a route further down the list pays a failed
match for each pattern before it. Every variant is measured with a URLconf in which its own
routes are tried first (:func:`urlconf_first`, switched before each batch, untimed): each
resolves its URL with the same work, as it would in a project that has only its own view.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any

from bench_app import views
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import SimpleRouter

#: (router prefix, viewset), under ``drf/``.
VIEWSETS: tuple[tuple[str, Any], ...] = (
    ("plain-model/docs", views.PlainModelDocViewSet),
    ("columns/docs", views.ColumnsDocViewSet),
    ("ours/docs", views.OursDocViewSet),
    ("ours-token/docs", views.OursTokenDocViewSet),
    ("ext/docs", views.ExtDocViewSet),
    ("conc/docs", views.ConcDocViewSet),
    ("plain/wide", views.PlainWideViewSet),
    ("ours/wide", views.OursWideViewSet),
    ("ext/wide", views.ExtWideViewSet),
)


def _drf_routes(first: str | None) -> list[Any]:
    router = SimpleRouter()
    ordered = sorted(VIEWSETS, key=lambda item: item[0] != first)  # stable: the rest keep order
    for prefix, viewset in ordered:
        router.register(prefix, viewset, basename=prefix.replace("/", "-"))
    return router.urls


def _patterns(first_route: str | None, first_viewset: str | None) -> list[Any]:
    patterns = [
        path("admin/", admin.site.urls),
        path("drf/", include(_drf_routes(first_viewset))),
        path("fn/plain/<int:pk>/", views.plain_doc, name="plain-doc"),
        path("fn/columns/<int:pk>/", views.columns_doc, name="columns-doc"),
        path("fn/ours/<int:pk>/", views.ours_doc, name="ours-doc"),
        path("fn/ours-token/<int:pk>/", views.ours_token_doc, name="ours-token-doc"),
        path("rule/docs/<int:pk>/", views.doc_by_rule, name="doc-by-rule"),
        path("throughput/ours/<int:pk>/", views.throughput_ours, name="throughput-ours"),
        path("throughput/locked/<int:pk>/", views.throughput_locked, name="throughput-locked"),
    ]
    return sorted(patterns, key=lambda pattern: str(pattern.pattern) != first_route)


urlpatterns = _patterns(None, None)


def urlconf_first(url: str) -> str:
    """The name of a URLconf (made on first use) with the same routes as this one, where
    those that serve ``url`` are tried first."""
    route = next((str(p.pattern) for p in urlpatterns if url[1:].startswith(_prefix(p))), None)
    viewset = None
    if route == "drf/":
        segments = url[len("/drf/") :].split("/")
        viewset = "/".join(segments[:2])
    name = re.sub(r"\W", "_", f"{__name__}_first__{route}__{viewset}")
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.urlpatterns = _patterns(route, viewset)  # type: ignore[attr-defined]
        sys.modules[name] = module
    return name


def _prefix(pattern: Any) -> str:
    """The literal start of a pattern's route (``fn/plain/`` of ``fn/plain/<int:pk>/``)."""
    return str(pattern.pattern).split("<", 1)[0]
