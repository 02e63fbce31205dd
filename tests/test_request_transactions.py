"""The request transaction of every adapter (django_preconditions/transactions.py).

Rule 51: under ATOMIC_REQUESTS a refused write leaves no trace. Rule 55: the ETag of the 412
after a lost race is the latest committed one, also under REPEATABLE READ. Rule 47: database
conflicts, also those raised by the COMMIT, are 412 (row changed) or, after retries, 503 with
Retry-After (row unchanged) — never 500. Run on SQLite by `make test`, and on PostgreSQL and
MariaDB by `.ci/run`; the rival is a real second connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection, connections
from django.test import Client, override_settings

from tests.support.concurrency import other_connection, run_in_threads
from tests.support.middleware import MIDDLEWARE
from tests.testapp import transaction_views
from tests.testapp.models import Document, PlainCounter, SluggedDocument

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = ["/tx/docs/{pk}/", "/tx/cbv/docs/{pk}/", "/tx/api/docs/{pk}/", "/tx/mw/docs/{pk}/"]
MIDDLEWARE_RULE = {"tx-mw": {"model": "testapp.Document", "lookup_url_kwarg": "pk"}}


# Each test that takes ``atomic_requests`` (tests/conftest.py) runs in both modes.
BOTH_MODES = pytest.mark.parametrize(
    "atomic_requests", [False, True], ids=["autocommit", "atomic_requests"], indirect=True
)


@pytest.fixture
def repeatable_read() -> Iterator[None]:
    """MariaDB and PostgreSQL at REPEATABLE READ for new connections (SQLite: serialised)."""
    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    previous = options.get("isolation_level")
    if connection.vendor == "mysql":
        options["isolation_level"] = "repeatable read"
    elif connection.vendor == "postgresql":
        from psycopg import IsolationLevel

        options["isolation_level"] = IsolationLevel.REPEATABLE_READ
    connections.close_all()
    yield
    if previous is None:
        options.pop("isolation_level", None)
    else:
        options["isolation_level"] = previous
    connections.close_all()


def commit_rival_version(pk: int) -> None:
    """Another client's write, committed from another connection while the request runs."""
    other = other_connection()
    try:
        cursor = other.cursor()
        cursor.execute(
            "UPDATE testapp_document SET version_token = 'theirs', title = 'theirs' "
            "WHERE id = %s".replace("%s", "?" if connection.vendor == "sqlite" else "%s"),
            [pk],
        )
        other.commit()
    finally:
        other.close()


@pytest.fixture
def rival() -> Iterator[None]:
    transaction_views.RIVAL[:] = [commit_rival_version]
    yield
    transaction_views.RIVAL.clear()


@pytest.mark.parametrize("path", PATHS)
@BOTH_MODES
def test_rules_51_55_a_lost_race_is_412_with_the_latest_etag_and_leaves_no_trace(
    path: str, atomic_requests: bool, repeatable_read: None, rival: None
) -> None:
    if connection.vendor == "sqlite" and atomic_requests:
        # Every adapter reads the row inside the request transaction, as Django's own
        # ATOMIC_REQUESTS does (a select_for_update() lookup keeps its lock until COMMIT).
        pytest.skip("SQLite: the row is read inside the transaction, whose lock blocks the rival")
    document = Document.objects.create(title="a")
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": MIDDLEWARE_RULE}):
        response = Client().put(
            path.format(pk=document.pk),
            {"title": "mine"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    assert response.status_code == 412, response.content
    # Rule 55: the rival's committed version, never the one the client sent.
    assert response["ETag"] == '"theirs"'
    assert response.json()["current_etag"] == '"theirs"'
    assert Document.objects.get(pk=document.pk).title == "theirs"
    side_rows = PlainCounter.objects.filter(counter=document.pk).count()
    if atomic_requests or "/mw/" in path:
        # Rule 51: the view's other write was rolled back too (the middleware opens a
        # transaction when the view writes something before the row).
        assert side_rows == 0
    else:
        assert side_rows == 1  # autocommit: an earlier statement stands (documented)


@BOTH_MODES
def test_rule_47_a_conflict_raised_by_the_commit_is_retried_then_503_never_500(
    atomic_requests: bool,
) -> None:
    """SQLite: a reader holding its lock makes our COMMIT fail with "database is locked",
    after the view returned."""
    if connection.vendor != "sqlite" or not atomic_requests:
        pytest.skip("SQLite's COMMIT-time lock; PostgreSQL and MariaDB: the parallel test below")
    document = Document.objects.create(title="a")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 20")
    reader = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM testapp_document").fetchall()  # holds a SHARED lock
    try:
        response = Client().put(
            f"/tx/docs/{document.pk}/",
            {"title": "mine"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "database_conflict"
    assert Document.objects.get(pk=document.pk).version_token == document.version_token
    assert not PlainCounter.objects.filter(counter=document.pk).exists()


@pytest.fixture
def serializable() -> Iterator[str]:
    """The strictest level each database offers, for new connections."""
    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    previous = options.get("isolation_level")
    level = "serialized (SQLite)"
    if connection.vendor == "mysql":
        options["isolation_level"] = level = "repeatable read"
    elif connection.vendor == "postgresql":
        from psycopg import IsolationLevel

        options["isolation_level"] = IsolationLevel.SERIALIZABLE
        level = "serializable"
    connections.close_all()
    yield level
    if previous is None:
        options.pop("isolation_level", None)
    else:
        options["isolation_level"] = previous
    connections.close_all()


@BOTH_MODES
def test_rule_47_issue_9_item_2_writers_of_their_own_rows_never_get_a_500(
    atomic_requests: bool, serializable: str
) -> None:
    """Issue 9, item 2: SERIALIZABLE + ATOMIC_REQUESTS, 8 writers each PATCHing only its own
    row of a model with a unique field, through the DRF mixin: serialization failures at
    COMMIT used to be 500. They are run again now (the row did not change), so every write
    gets through or, after the last attempt, 503 with Retry-After."""
    rows = [SluggedDocument.objects.create(slug=f"row-{i}") for i in range(8)]
    transaction_views.UPDATE_RUNS.clear()
    statuses: Counter[int] = Counter()
    successes: Counter[int] = Counter()
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        client = Client()
        url = f"/tx/slugged/{rows[index].pk}/"
        barrier.wait(timeout=30)
        for attempt in range(15):
            read = client.get(url)
            # A new value of the unique field: DRF's UniqueValidator reads its index, the
            # UPDATE writes it — what makes SERIALIZABLE transactions of different rows clash.
            write = client.patch(
                url,
                {"counter": read.json()["counter"] + 1, "slug": f"row-{index}-{attempt}"},
                content_type="application/json",
                headers={"If-Match": read["ETag"]},
            )
            with lock:
                statuses[write.status_code] += 1
                if write.status_code == 200:
                    successes[index] += 1

    assert run_in_threads(8, work) == []
    runs = len(transaction_views.UPDATE_RUNS)
    print(
        f"\nitem 2 [{connection.vendor} {serializable} atomic_requests={atomic_requests}]: "
        f"statuses={dict(statuses)} updates_run={runs} (rolled back and run again: "
        f"{runs - statuses[200]})"
    )
    if connection.vendor == "postgresql" and atomic_requests:
        assert runs > statuses[200]  # conflicts really happened (and were run again)
    assert statuses[500] == 0
    assert set(statuses) <= {200, 503}
    for index, row in enumerate(rows):
        assert SluggedDocument.objects.get(pk=row.pk).counter == successes[index]  # none lost


def test_async_views_are_left_to_django_which_refuses_atomic_requests_for_them() -> None:
    from django.core.handlers.base import BaseHandler

    from tests.testapp.views import AsyncDocumentJsonView, async_document_detail

    settings_dict = connections["default"].settings_dict
    previous = settings_dict["ATOMIC_REQUESTS"]
    settings_dict["ATOMIC_REQUESTS"] = True
    try:
        for view in (async_document_detail, AsyncDocumentJsonView.as_view()):
            with pytest.raises(RuntimeError, match="ATOMIC_REQUESTS with async views"):
                BaseHandler().make_view_atomic(view)
    finally:
        settings_dict["ATOMIC_REQUESTS"] = previous


def test_a_view_marked_non_atomic_before_the_decorator_keeps_no_transaction() -> None:
    from django.db import transaction
    from django.http import HttpRequest, HttpResponse

    from django_preconditions.decorators import require_preconditions
    from django_preconditions.transactions import atomic_request_aliases

    @require_preconditions(Document)
    @transaction.non_atomic_requests
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return HttpResponse()

    settings_dict = connections["default"].settings_dict
    previous = settings_dict["ATOMIC_REQUESTS"]
    settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert atomic_request_aliases(view) == ()
    finally:
        settings_dict["ATOMIC_REQUESTS"] = previous
