"""Collection ``ETag``\\ s: a weak tag over a page of a list, and a list 304 decided from a
token-only query (primary keys and versions) before any row is loaded.

The tag digests every object on the page — primary key and version token, in order — and the
page envelope (count, next, previous): any write to any of them, and any change of membership
or order, changes it, however long the page. It is the same whether computed from the rows
served or from the token-only query, so a matching ``If-None-Match`` is answered 304 without
loading or instantiating the rows (rule 28).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any, Final

from django.core.paginator import Page
from django.db import models
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination, PageNumberPagination

from .._compat import limit_offset_page, page_number_page, version_tokens_of
from ..models import VERSION_FIELD, VersionedModel

__all__ = ["collection_etag", "page_etag", "pagination_state", "token_page_etag"]

# Paginators whose paginate_queryset() only counts and slices the queryset: they page a
# token-only query (primary keys and versions) exactly as they page the full rows. Each
# maps to our reader of the same page, which reads the rows and their count in one statement.
_TOKEN_PAGINATE: Final = {
    PageNumberPagination.paginate_queryset: page_number_page,
    LimitOffsetPagination.paginate_queryset: limit_offset_page,
}


def collection_etag(
    view: GenericAPIView[Any], items: Any, *, paginated: bool | None = None
) -> str | None:
    """The tag of the page ``items`` (a serializer's ``instance``) about to be served, or
    ``None`` when the items are not all rows of one ``VersionedModel``. ``paginated``: whether
    the view's paginator paginated this request (``None``: not known)."""
    if isinstance(items, models.QuerySet):
        items = list(items)  # fills the queryset's cache: the serializer reuses the rows
    elif not isinstance(items, (list, tuple)):
        items = list(items) if isinstance(items, Iterable) else None
    if items is None:
        return None
    # One model (one label): the classes of the items, checked once each, not per item.
    classes = set(map(type, items))
    if len(classes) > 1:
        return None
    if not classes:
        return page_etag(view, "", (), paginated)
    model = classes.pop()
    if not issubclass(model, VersionedModel):
        return None
    if not all(map(operator.contains, map(vars, items), repeat(VERSION_FIELD))):
        # Loaded without their tokens (a queryset of the view's own that defers them): each
        # would be read by a query of its own, perhaps newer than the data served — no tag.
        return None
    pairs = map(operator.attrgetter(model._meta.pk.attname, VERSION_FIELD), items)
    return page_etag(view, model._meta.label, pairs, paginated)


def token_page_etag(
    view: GenericAPIView[Any], queryset: Any, paginate: Callable[[Any], Any]
) -> str | None:
    """The tag of the page ``paginate`` would cut from ``queryset``, read from a token-only
    query of it (the filters, the ordering and the paginator's slice kept); ``None`` when
    that cannot be done faithfully (e.g. cursor pagination reads the rows' ordering
    fields)."""
    if not isinstance(queryset, models.QuerySet) or not issubclass(queryset.model, VersionedModel):
        return None
    paginator = view.paginator
    if paginator is not None and type(paginator).paginate_queryset not in _TOKEN_PAGINATE:
        return None
    tokens = version_tokens_of(queryset)
    if tokens is None:
        return None
    read = None
    if (
        paginator is not None
        and getattr(paginate, "__func__", None) is GenericAPIView.paginate_queryset
    ):
        read = _TOKEN_PAGINATE[type(paginator).paginate_queryset]
    page = paginate(tokens) if read is None else read(paginator, tokens, view.request)
    pairs = list(tokens) if page is None else page
    return page_etag(view, queryset.model._meta.label, pairs, page is not None)


def page_etag(
    view: GenericAPIView[Any],
    label: str,
    pairs: Iterable[tuple[Any, str]],
    paginated: bool | None = None,
) -> str:
    """The digest of the ``(pk, version token)`` pairs of ``label``'s model in page order,
    and of the page envelope: the same from the full rows and from a token-only query."""
    # No Python-level loop over the page: the keys and the tokens are split apart and turned
    # into text by C calls (the keys' repr(), the tokens joined), about half the time of one
    # f-string per pair. The tokens saves write are URL-safe, never the separator. SHA-256 is
    # the cheapest digest where the processor has SHA instructions; 160 of its bits are kept.
    pairs = list(pairs)
    keys, tokens = zip(*pairs) if pairs else ((), ())
    digest = hashlib.sha256(f"{label}\x1e{len(pairs)}\x1e{keys!r}\x1e".encode())
    digest.update("\x1f".join(tokens).encode())
    # The envelope's values are numbers, flags, names and links: their repr() is their text.
    digest.update(f"\x1e{pagination_state(view, paginated)!r}".encode())
    return f"l{digest.hexdigest()[:40]}"


def pagination_state(view: GenericAPIView[Any], paginated: bool | None = None) -> list[Any]:
    """What the page envelope says besides the items (count, next, previous), read from
    the paginator before anything is rendered; empty when the list is not paginated (no
    paginator, or ``paginated`` is ``False``: the paginator left this request unpaginated and
    DRF serves a plain list). For DRF's page-number and limit/offset paginators, what their
    links are made of (:func:`_link_inputs`) rather than the links."""
    if paginated is False or getattr(view, "pagination_class", None) is None:
        return []
    paginator = view.paginator
    if paginator is None:
        return []
    page = getattr(paginator, "page", None)
    if paginated is None and not _left_paginated(paginator, page):
        return []
    count = getattr(paginator, "count", None)
    if count is None and isinstance(page, Page):  # CursorPagination's page is a list
        count = page.paginator.count
    state: list[Any] = [count]
    inputs = _link_inputs(paginator, page)
    if inputs is not None:
        state.extend(inputs)
        return state
    for link in ("get_next_link", "get_previous_link"):
        method = getattr(paginator, link, None)
        state.append(method() if callable(method) else None)
    return state


def _left_paginated(paginator: Any, page: Any) -> bool:
    """Whether DRF's own paginators paginated this request, from what they leave on
    themselves (a view that serializes its list without ``paginate_queryset()``); other
    paginators are assumed to have."""
    if isinstance(paginator, PageNumberPagination):
        return page is not None
    if isinstance(paginator, LimitOffsetPagination):
        return getattr(paginator, "limit", None) is not None
    return True


_LINKS: Final = {
    PageNumberPagination: (
        PageNumberPagination.get_next_link,
        PageNumberPagination.get_previous_link,
    ),
    LimitOffsetPagination: (
        LimitOffsetPagination.get_next_link,
        LimitOffsetPagination.get_previous_link,
    ),
}


def _link_inputs(paginator: Any, page: Any) -> list[Any] | None:
    """Everything DRF's own ``next``/``previous`` links are made of — the request's absolute
    URI, the query parameter names and the position (the count is in the state already) —
    or ``None`` for other paginators or links. Building the two links costs about 24 µs
    (two absolute URIs with their query strings rewritten); these few values say the same."""
    kind = type(paginator)
    links = (kind.get_next_link, kind.get_previous_link)
    if page is not None and links == _LINKS[PageNumberPagination]:
        return [
            page.number,
            page.has_next(),
            page.has_previous(),
            paginator.page_query_param,
            paginator.request.build_absolute_uri(),
        ]
    if links == _LINKS[LimitOffsetPagination] and getattr(paginator, "limit", None) is not None:
        return [
            paginator.offset,
            paginator.limit,
            paginator.limit_query_param,
            paginator.offset_query_param,
            paginator.request.build_absolute_uri(),
        ]
    return None
