"""Real parallel writers against one database: no lost update, and conflicts really happen.

Each writer is a thread with its own database connection and its own test client, started at
a barrier, with random jitter between its read and its write. Run on SQLite by `make test`
and, what the claims rest on, on PostgreSQL and MariaDB by `.ci/run` (rules 44, 45, 24).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from tests.support.concurrency import run_in_threads
from tests.support.middleware import PLAIN_RULE, settings_rule
from tests.testapp.models import Document, PlainCounter

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

WRITERS = 8
INCREMENTS_PER_WRITER = 4
MAX_ATTEMPTS = 60


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    successful_etags: list[str] = field(default_factory=list)
    successes: int = 0
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, etag: str | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if 200 <= status < 300:
                self.successes += 1
                if etag is not None:
                    self.successful_etags.append(etag)


def jitter() -> None:
    time.sleep(random.uniform(0, 0.004))


def increment_loop(url: str, tally: Tally, *, use_if_unmodified_since: bool = False) -> Any:
    def work(index: int, barrier: threading.Barrier) -> None:
        client = Client()
        barrier.wait(timeout=30)
        done = attempts = 0
        while done < INCREMENTS_PER_WRITER and attempts < MAX_ATTEMPTS:
            attempts += 1
            read = client.get(url)
            assert read.status_code == 200, read.content
            counter = read.json()["counter"]
            jitter()
            if use_if_unmodified_since and index % 2:
                headers = {"If-Unmodified-Since": read["Last-Modified"]}
            else:
                headers = {"If-Match": read["ETag"]}
            write = client.put(
                url,
                {"title": f"writer {index}", "counter": counter + 1},
                content_type="application/json",
                headers=headers,
            )
            tally.record(write.status_code, write.headers.get("ETag"))
            if write.status_code == 200:
                done += 1

    return work


MIDDLEWARE_RULE = settings_rule("document-plain", **PLAIN_RULE)


@pytest.mark.parametrize(
    "path",
    [
        "/reuse/docs/{pk}/",  # decorator, view reuses the loaded instance
        "/docs/{pk}/",  # decorator, view fetches the row again
        "/cbv/docs/{pk}/",  # class-based view mixin
        "/plain/docs/{pk}/",  # plain view protected by a settings rule (middleware)
        "/api/docs/{pk}/",  # DRF ModelViewSet with PreconditionMixin
    ],
)
def test_rule_44_parallel_writers_lose_no_update_and_do_conflict(path: str) -> None:
    document = Document.objects.create(title="shared")
    tally = Tally()
    with MIDDLEWARE_RULE:
        errors = run_in_threads(WRITERS, increment_loop(path.format(pk=document.pk), tally))
    assert errors == []
    final = Document.objects.get(pk=document.pk).counter
    print(
        f"\n{path}: writers={WRITERS} successes={tally.successes} "
        f"conflicts={tally.statuses[412]} statuses={dict(tally.statuses)} final={final}"
    )
    assert final == tally.successes  # no lost update
    assert tally.statuses[412] > 0  # conflicts really happened
    assert not [status for status in tally.statuses if status >= 500]
    assert set(tally.statuses) <= {200, 412}
    assert len(set(tally.successful_etags)) == tally.successes  # every success a new version


def test_rule_24_writers_mixing_if_match_and_if_unmodified_since_lose_no_update() -> None:
    document = Document.objects.create(title="shared")
    tally = Tally()
    work = increment_loop(f"/reuse/docs/{document.pk}/", tally, use_if_unmodified_since=True)
    errors = run_in_threads(WRITERS, work)
    assert errors == []
    final = Document.objects.get(pk=document.pk).counter
    assert final == tally.successes
    assert tally.statuses[412] > 0
    assert not [status for status in tally.statuses if status >= 500]


def test_control_without_preconditions_loses_updates() -> None:
    """The same harness against an unprotected endpoint: proves the tests above can fail."""
    counter = PlainCounter.objects.create()
    url = f"/plain/counters/{counter.pk}/"
    successes = Counter[str]()
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        client = Client()
        barrier.wait(timeout=30)
        for _ in range(INCREMENTS_PER_WRITER):
            value = client.get(url).json()["counter"]
            jitter()
            response = client.put(url, {"counter": value + 1}, content_type="application/json")
            assert response.status_code == 200
            with lock:
                successes["writes"] += 1

    assert run_in_threads(WRITERS, work) == []
    final = PlainCounter.objects.get(pk=counter.pk).counter
    print(
        f"\ncontrol: writes={successes['writes']} final={final} lost={successes['writes'] - final}"
    )
    assert final < successes["writes"]


RACE_PATHS = ["/reuse/docs/{pk}/", "/api/docs/{pk}/"]


def race_pair(
    document: Document,
    first: Callable[[Client, str], Any],
    second: Callable[[Client, str], Any],
    path: str = "/reuse/docs/{pk}/",
) -> list[int]:
    """Two requests carrying the same ETag, released together."""
    etag = Client().get(path.format(pk=document.pk))["ETag"]
    statuses: list[int] = []

    def work(index: int, barrier: threading.Barrier) -> None:
        client = Client()
        barrier.wait(timeout=30)
        response = (first, second)[index](client, etag)
        statuses.append(response.status_code)

    assert run_in_threads(2, work) == []
    return sorted(statuses)


def put(document: Document, path: str = "/reuse/docs/{pk}/") -> Callable[[Client, str], Any]:
    def send(client: Client, etag: str) -> Any:
        return client.put(
            path.format(pk=document.pk),
            {"title": "racing"},
            content_type="application/json",
            headers={"If-Match": etag},
        )

    return send


def delete(document: Document, path: str = "/reuse/docs/{pk}/") -> Callable[[Client, str], Any]:
    def send(client: Client, etag: str) -> Any:
        return client.delete(path.format(pk=document.pk), headers={"If-Match": etag})

    return send


@pytest.mark.parametrize("path", RACE_PATHS)
def test_rule_44_two_writes_with_the_same_etag_give_exactly_one_success(path: str) -> None:
    outcomes = Counter[tuple[int, ...]]()
    for _ in range(10):
        document = Document.objects.create(title="pair")
        pair = race_pair(document, put(document, path), put(document, path), path)
        outcomes[tuple(pair)] += 1
    assert set(outcomes) == {(200, 412)}, outcomes


@pytest.mark.parametrize("path", RACE_PATHS)
def test_rule_45_delete_racing_a_write_never_gives_two_successes_nor_resurrects(
    path: str,
) -> None:
    outcomes = Counter[tuple[int, ...]]()
    for _ in range(10):
        document = Document.objects.create(title="pair")
        statuses = race_pair(document, put(document, path), delete(document, path), path)
        outcomes[tuple(statuses)] += 1
        # The loser gets 412, or 404 when the delete finished before it was even read.
        assert statuses in ([200, 412], [204, 412], [204, 404]), statuses
        if 204 in statuses:
            assert not Document.objects.filter(pk=document.pk).exists()
        else:
            assert Document.objects.get(pk=document.pk).title == "racing"
    assert not [status for pair in outcomes for status in pair if status >= 500]
