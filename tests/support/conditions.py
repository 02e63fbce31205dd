"""The resource ``R`` of CONFORMANCE.md's notation and the settings the pure-core tests share
(tests/test_conditions.py, test_dates.py, test_headers.py, test_responses.py)."""

from __future__ import annotations

import calendar

from hypothesis import HealthCheck, settings

from django_preconditions.conditions import Requirement, ResourceState
from django_preconditions.headers import EntityTag

#: R's Last-Modified: Tue, 01 Jul 2025 12:00:00 GMT.
LAST_MODIFIED = calendar.timegm((2025, 7, 1, 12, 0, 0))
LAST_MODIFIED_DATE = "Tue, 01 Jul 2025 12:00:00 GMT"

R = ResourceState(exists=True, etag=EntityTag("v2"), last_modified=LAST_MODIFIED)

UNSAFE = ("PUT", "PATCH", "DELETE")
PROTECTED = Requirement(methods=frozenset(UNSAFE))
WILDCARD_ALLOWED = Requirement(methods=frozenset(UNSAFE), allow_wildcard=True)

# Generous: a linear parser needs milliseconds; a quadratic one needs minutes for 100 KB.
TIME_BOUND_SECONDS = 1.0

HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
