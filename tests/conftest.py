from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor
