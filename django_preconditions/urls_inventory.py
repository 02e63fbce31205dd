"""The project's URL patterns, flattened: what the admin offers in its view dropdown, what
validates a rule's view key, and what the protection audit walks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from .policy import dotted_path


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern: its full route (as ``ResolverMatch.route`` gives it), namespaced
    name, view callable and the view's dotted path."""

    route: str
    name: str | None
    view: Callable[..., Any]
    view_path: str

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys a ``VIEWS`` entry or an admin rule may use for this endpoint."""
        return tuple(key for key in (self.name, self.view_path, self.route) if key)


def iter_endpoints(urlconf: str | None = None) -> Iterator[Endpoint]:
    """Every URL pattern of ``urlconf`` (the project's by default), includes walked."""
    yield from _walk(get_resolver(urlconf).url_patterns, prefix="", namespace=None)


def _walk(patterns: Any, prefix: str, namespace: str | None) -> Iterator[Endpoint]:
    for entry in patterns:
        route = _join_route(prefix, str(entry.pattern))
        if isinstance(entry, URLResolver):
            child_namespace = namespace
            if entry.namespace:
                child_namespace = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, route, child_namespace)
        elif isinstance(entry, URLPattern):
            name = entry.name
            if name and namespace:
                name = f"{namespace}:{name}"
            yield Endpoint(
                route=route, name=name, view=entry.callback, view_path=dotted_path(entry.callback)
            )


def _join_route(prefix: str, route: str) -> str:
    """Join routes the way ``ResolverMatch.route`` does: an included regex loses its ``^``."""
    if not prefix:
        return route
    return prefix + route.removeprefix("^")


def known_view_keys(urlconf: str | None = None) -> set[str]:
    """All URL names, view dotted paths and routes of the project."""
    return {key for endpoint in iter_endpoints(urlconf) for key in endpoint.keys}
