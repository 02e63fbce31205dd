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

# A complexity guard, not a speed target (those live in benchmarks/): a linear parser needs
# milliseconds for 100 KB, a quadratic one minutes. 10 s leaves room for a loaded CI machine
# (1 s once failed at 1.8 s there) and still catches a quadratic parser.
TIME_BOUND_SECONDS = 10.0

HYPOTHESIS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
