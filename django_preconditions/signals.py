"""Signals sent when a request is refused for its preconditions.

Connect to them to log or count conflicts. Both are sent with ``sender`` set to the view
(function or class), and keyword arguments ``request``, ``view``, ``reason`` (a
:class:`~django_preconditions.conditions.Reason`) and ``decision``.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A request was answered 412 Precondition Failed (stale If-Match, If-Unmodified-Since or
#: If-None-Match, or a compare-and-swap write that found the row changed).
precondition_failed = Signal()

#: A request was answered 428 Precondition Required (no accepted precondition was sent), or,
#: with ``report_only=True``, report mode let such a request through (docs/rollout.md).
precondition_required = Signal()
