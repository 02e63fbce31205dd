"""Assertions about served validators that hold whatever the clock does between the response
and the assertion."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.http import parse_http_date

from django_preconditions.models import stored_timestamp


def assert_last_modified(response: Any, instance: Any) -> None:
    """``Last-Modified`` is the stored second, or the second before while the write's second
    has not settled, and never later than the clock (rules 22, 24, 39). Which one depends on
    when the response was made, so allow both."""
    served = parse_http_date(response["Last-Modified"])
    stored = stored_timestamp(instance.last_modified)
    assert stored is not None
    assert stored - 1 <= served <= stored, (response["Last-Modified"], instance.last_modified)
    assert served <= int(timezone.now().timestamp())
