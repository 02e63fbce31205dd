"""The compare-and-swap on every write path (CONFORMANCE rules 24, 50-53; issue 9).

Create-only writes are INSERTs that fail on conflict (50); a refused write leaves no trace
(51); further saves in a request follow the version it wrote (52); an expected version
applies to its row through any class (53); If-Unmodified-Since is safe and live whatever
wrote the row (24). The races run with real parallel connections (one thread, connection and
test client per writer) and are what `.ci/run` checks on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, connections, transaction
from django.db.models.signals import post_save, pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import (
    SETTLED_AFTER,
    ProtectedEndpoint,
    expect_creation,
    expect_version,
)
from tests.support.concurrency import run_in_threads
from tests.testapp.models import (
    Article,
    Document,
    DocumentProxy,
    Named,
    NamedDocument,
    Note,
    PlainCounter,
    SpecialArticle,
    UuidDocument,
)

RACES = 12


def statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries.captured_queries]


def data_statements(queries: CaptureQueriesContext) -> list[str]:
    """Statements sent, leaving out transaction control (which depends on the backend)."""
    return [
        sql
        for sql in statements(queries)
        if not re.match(r"(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)", sql)
    ]


LOST_RACE = "while yours was being processed"  # the 412 of a write refused by the database


def race(requests: list[Callable[[Client], Any]], lost: Counter[str] | None = None) -> list[int]:
    """Send the requests at once, each from its own thread, connection and client; count in
    ``lost`` the 412s decided by the compare-and-swap itself (not by the check before it)."""
    statuses: list[int] = []

    def run(index: int, barrier: threading.Barrier) -> None:
        client = Client(raise_request_exception=False)
        barrier.wait(timeout=30)
        response = requests[index](client)
        statuses.append(response.status_code)
        if lost is not None and response.status_code == 412:
            lost["cas" if LOST_RACE in response.content.decode() else "check"] += 1

    errors = run_in_threads(len(requests), run)
    assert not errors, errors
    return sorted(statuses)


@contextlib.contextmanager
def both_past_the_check(model: type[Any], pk: Any) -> Iterator[None]:
    """Hold each of two writers of row ``pk`` in ``pre_save`` (after the precondition check,
    before the write) until both are there: the race is then decided by the write itself."""
    barrier = threading.Barrier(2, timeout=15)

    def hold(sender: Any, instance: Any, **kwargs: Any) -> None:
        if str(instance.pk) == str(pk):
            barrier.wait()

    pre_save.connect(hold, sender=model, weak=False)
    try:
        yield
    finally:
        pre_save.disconnect(hold, sender=model)


def put(url: str, body: dict[str, Any], **headers: str) -> Callable[[Client], Any]:
    def send(client: Client) -> Any:
        return client.put(url, body, content_type="application/json", headers=headers)

    return send


# --- rule 50: create-only is an INSERT that fails on conflict --------------------------------


@pytest.mark.django_db
def test_rule_50_create_only_save_of_an_existing_row_is_a_conflict_and_changes_nothing() -> None:
    Document.objects.create(pk=7001, title="theirs")
    mine = Document(pk=7001, title="mine")
    with (
        expect_creation(Document, "7001") as expectation,  # the pk as the URL gives it
        CaptureQueriesContext(connection) as queries,
        pytest.raises(VersionConflict),
    ):
        mine.save()
    assert not any(sql.startswith("UPDATE") for sql in data_statements(queries))
    assert Document.objects.get(pk=7001).title == "theirs"
    assert not expectation.written
    assert mine._state.adding


@pytest.mark.django_db
def test_rule_50_uuid_primary_key_with_a_default_conflicts_instead_of_integrity_error() -> None:
    existing = UuidDocument.objects.create(title="theirs")
    with expect_creation(UuidDocument, str(existing.pk)), pytest.raises(VersionConflict):
        UuidDocument(pk=existing.pk, title="mine").save()
    assert UuidDocument.objects.get(pk=existing.pk).title == "theirs"


@pytest.mark.django_db
def test_rule_50_create_only_save_creates_once_and_then_follows_its_version() -> None:
    with expect_creation(Document, 7002) as expectation:
        document = Document(pk=7002, title="new")
        with CaptureQueriesContext(connection) as queries:
            document.save()
        assert [sql.split(" ", 1)[0] for sql in data_statements(queries)] == ["INSERT"]
        assert expectation.written
        assert expectation.token == document.version_token
        document.title = "edited in the same request"
        document.save()  # rule 52: an UPDATE against the version just created
    assert Document.objects.get(pk=7002).version_token == expectation.token


@pytest.mark.django_db
def test_rule_50_create_only_in_a_transaction_keeps_the_transaction_usable() -> None:
    Document.objects.create(pk=7003, title="theirs")
    with transaction.atomic():
        with expect_creation(Document, 7003), pytest.raises(VersionConflict):
            Document(pk=7003, title="mine").save()
        assert Document.objects.get(pk=7003).title == "theirs"  # no aborted transaction
        Document.objects.create(title="still usable")


@pytest.mark.django_db
def test_rule_50_a_violation_of_another_unique_field_stays_the_applications_error() -> None:
    ProtectedEndpoint.objects.create(view="taken")
    with expect_creation(ProtectedEndpoint, 7004), pytest.raises(IntegrityError):
        ProtectedEndpoint(pk=7004, view="taken").save()


@pytest.mark.django_db
def test_rule_50_an_update_of_a_row_expected_absent_is_a_conflict() -> None:
    document = Document.objects.create(pk=7005, title="theirs")
    with expect_creation(Document, 7005):
        with pytest.raises(VersionConflict):
            document.save()
        with pytest.raises(VersionConflict):
            document.delete()
    assert Document.objects.filter(pk=7005).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/create/docs/7007/", "/api/creating/docs/7007/"])
def test_rule_50_create_by_put_on_a_row_created_after_the_check_is_412_not_an_overwrite(
    client: Client, url: str
) -> None:
    """The decorator's allow_create path (docs/views.md) and DRF's create-by-PUT: the row
    appears between the precondition check and the view's save (here: from a pre_save
    receiver, which runs inside the save)."""

    def someone_creates_it_first(sender: Any, instance: Document, **kwargs: Any) -> None:
        if instance.title == "mine":
            Document.objects.create(pk=instance.pk, title="theirs")

    pre_save.connect(someone_creates_it_first, sender=Document)
    try:
        response = client.put(
            url, {"title": "mine"}, content_type="application/json", headers={"If-None-Match": "*"}
        )
    finally:
        pre_save.disconnect(someone_creates_it_first, sender=Document)
    assert response.status_code == 412
    if url.startswith("/create/"):
        assert response.json()["reason"] == "if_none_match_failed"
        assert "another request created the resource" in response.json()["detail"]
    # The refused save rolled back what ran inside it, the receiver's create included.
    assert not Document.objects.filter(pk=7007).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("view", ["owned", "owned/async"])
def test_rule_50_and_13_create_by_put_of_a_row_the_caller_may_not_see_is_404(
    client: Client, view: str
) -> None:
    """Another user's row looks absent through the caller's queryset: the create-only save
    neither overwrites it (Django's UPDATE-then-INSERT did) nor reveals it (a 412 with its
    ETag would): 404."""
    owner = User.objects.create(username="owner")
    client.force_login(User.objects.create(username="other"))
    theirs = Document.objects.create(pk=7008, title="theirs", owner=owner)
    response = client.put(
        f"/integrity/{view}/docs/7008/",
        {"title": "mine"},
        content_type="application/json",
        headers={"If-None-Match": "*"},
    )
    assert response.status_code == 404
    assert "ETag" not in response
    assert theirs.etag not in response.content.decode()
    stored = Document.objects.get(pk=7008)
    assert (stored.title, stored.version_token) == ("theirs", theirs.version_token)


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic_requests"])
@pytest.mark.parametrize("kind", ["integer", "uuid", "drf"])
def test_rule_50_concurrent_create_only_puts_give_exactly_one_201(
    kind: str, atomic: bool, request: pytest.FixtureRequest
) -> None:
    if atomic:
        request.getfixturevalue("atomic_requests")
    outcomes: Counter[tuple[int, ...]] = Counter()
    lost: Counter[str] = Counter()
    for race_number in range(RACES):
        if kind == "integer":
            pk: Any = 8000 + race_number
            url, model = f"/create/docs/{pk}/", Document
        elif kind == "uuid":
            pk = uuid.uuid4()
            url, model = f"/integrity/uuid/{pk}/", UuidDocument
        else:
            pk = 8100 + race_number
            url, model = f"/api/creating/docs/{pk}/", Document
        writers = [put(url, {"title": f"writer {i}"}, **{"If-None-Match": "*"}) for i in (0, 1)]
        # Every other race holds both writers after their check, just before the INSERT, so
        # both checks see no row and the INSERT itself must decide (not SQLite: its writers
        # serialise on the database lock); the other races are left to chance.
        held = race_number % 2 == 0 and connection.vendor != "sqlite"
        with both_past_the_check(model, pk) if held else contextlib.nullcontext():
            outcomes[tuple(race(writers, lost))] += 1
        assert model.objects.filter(pk=pk).count() == 1
    # Never two 201s (an overwrite), never a 5xx.
    assert set(outcomes) == {(201, 412)}, outcomes
    # The held races were decided by the INSERT (DRF re-evaluates If-None-Match after a
    # failed INSERT, which answers the same 412 as the check).
    if kind != "drf" and connection.vendor != "sqlite":
        assert lost["cas"] >= RACES // 2, lost
    print(f"rule 50 {kind} {'atomic' if atomic else 'autocommit'}: 412s {dict(lost)}")


@contextlib.contextmanager
def isolation_level(level: str | None) -> Iterator[None]:
    """Connections opened in the block use ``level`` (``None``: the test settings' own)."""
    if level is None:
        yield
        return
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one isolation level")
    if connection.vendor == "mysql" and level == "serializable":
        pytest.skip("MariaDB SERIALIZABLE is REPEATABLE READ with locking reads")
    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    previous = options.get("isolation_level")
    if connection.vendor == "postgresql":
        from psycopg import IsolationLevel

        options["isolation_level"] = IsolationLevel[level.upper().replace(" ", "_")]
    else:
        options["isolation_level"] = level
    connections.close_all()
    try:
        yield
    finally:
        if previous is None:
            options.pop("isolation_level", None)
        else:
            options["isolation_level"] = previous
        connections.close_all()


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
@pytest.mark.parametrize("level", ["repeatable read", "serializable"])
def test_rule_50_create_race_under_stricter_isolation_is_never_a_500(level: str) -> None:
    """The duplicate key is read from the error, not looked up: under REPEATABLE READ the row
    the INSERT collided with is invisible to the loser's transaction."""
    outcomes: Counter[tuple[int, ...]] = Counter()
    with isolation_level(level):
        for race_number in range(RACES):
            url = f"/create/docs/{8200 + race_number}/"
            writers = [put(url, {"title": f"w{i}"}, **{"If-None-Match": "*"}) for i in (0, 1)]
            outcomes[tuple(race(writers))] += 1
            assert Document.objects.filter(pk=8200 + race_number).count() == 1
    assert set(outcomes) == {(201, 412)}, outcomes


# --- rule 51: a refused write leaves no trace -----------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_rule_51_refused_save_of_a_child_leaves_the_parent_table_unchanged(
    in_transaction: bool,
) -> None:
    document = NamedDocument.objects.create(name="original", title="original")
    stale = document.version_token
    NamedDocument.objects.get(pk=document.pk).save()  # someone else writes
    document.name = document.title = "refused"
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        with pytest.raises(VersionConflict):
            document.save(expected_version=stale)
        # The parent table's UPDATE ran before the child's compare-and-swap; it is undone.
        assert Named.objects.get(pk=document.pk).name == "original"
        Document.objects.create(title="the transaction is still usable")
    stored = NamedDocument.objects.get(pk=document.pk)
    assert (stored.name, stored.title) == ("original", "original")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_rule_51_what_receivers_wrote_inside_a_refused_save_is_rolled_back(
    in_transaction: bool,
) -> None:
    document = Document.objects.create(title="a")

    def audit(sender: Any, instance: Document, **kwargs: Any) -> None:
        PlainCounter.objects.create(counter=99)

    pre_save.connect(audit, sender=Document)
    try:
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            with pytest.raises(VersionConflict):
                document.save(expected_version="stale")
            assert not PlainCounter.objects.filter(counter=99).exists()
    finally:
        pre_save.disconnect(audit, sender=Document)


@pytest.mark.django_db(transaction=True)
def test_rule_51_query_counts_of_a_compare_and_swap_save() -> None:
    """No extra statement for a single-table model without receivers, in autocommit and in
    a transaction; a savepoint (two statements) only where a refusal has something to undo."""
    document = Document.objects.create(title="a")
    child = NamedDocument.objects.create(title="a")
    counts = {}
    for label, instance in (("single", document), ("child", child)):
        with CaptureQueriesContext(connection) as autocommit:
            instance.save(expected_version=instance.version_token)
        with transaction.atomic(), CaptureQueriesContext(connection) as nested:
            instance.save(expected_version=instance.version_token)
        counts[label] = (len(data_statements(autocommit)), len(statements(nested)))
    with CaptureQueriesContext(connection) as autocommit, expect_creation(Document, 7100):
        Document(pk=7100, title="new").save()
    with (
        transaction.atomic(),
        CaptureQueriesContext(connection) as nested,
        expect_creation(Document, 7101),
    ):
        Document(pk=7101, title="new").save()
    counts["create"] = (len(data_statements(autocommit)), len(statements(nested)))
    assert counts["single"] == (1, 1)
    assert counts["child"][0] == 2  # parent and child table, in one transaction
    assert counts["child"][1] == 4  # SAVEPOINT, two UPDATEs, RELEASE SAVEPOINT
    assert counts["create"] == (1, 3)  # INSERT; SAVEPOINT, INSERT, RELEASE SAVEPOINT
    print(f"statements (autocommit without BEGIN/COMMIT, in atomic() all): {counts}")


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("atomic_requests")
@pytest.mark.parametrize("level", [None, "repeatable read", "serializable"])
def test_rule_51_racing_writers_of_a_child_never_commit_half_of_a_refused_write(
    level: str | None,
) -> None:
    outcomes: Counter[tuple[int, ...]] = Counter()
    lost: Counter[str] = Counter()
    with isolation_level(level):
        races = _race_children(lost)
    for stored, outcome in races:
        outcomes[outcome] += 1
        assert stored.name == stored.title in ("A", "B"), (stored.name, stored.title)
    assert set(outcomes) == {(200, 412)}, outcomes
    if connection.vendor != "sqlite":  # writers serialise on SQLite: the check may decide all
        assert lost["cas"] > 0, lost  # some races were decided by the write itself
    print(f"rule 51 {level}: 412s {dict(lost)}")


def _race_children(lost: Counter[str]) -> list[tuple[NamedDocument, tuple[int, ...]]]:
    races = []
    for _ in range(RACES):
        document = NamedDocument.objects.create(name="0", title="0")
        url = f"/integrity/named/{document.pk}/"
        etag = document.etag
        writers = [put(url, {"name": w, "title": w}, **{"If-Match": etag}) for w in "AB"]
        outcome = tuple(race(writers, lost))
        races.append((NamedDocument.objects.get(pk=document.pk), outcome))
    return races


# --- rule 52: a write that was saved is never answered 412 ------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic_requests"])
def test_rule_52_a_post_save_receiver_saving_again_follows_the_requests_version(
    atomic: bool, request: pytest.FixtureRequest
) -> None:
    if atomic:
        request.getfixturevalue("atomic_requests")
    note = Note.objects.create(title="First Title")
    assert note.slug == "first-title"  # the receiver saved it again
    response = Client().put(
        f"/integrity/notes/{note.pk}/",
        {"title": "Second Title"},
        content_type="application/json",
        headers={"If-Match": note.etag},
    )
    assert response.status_code == 200
    stored = Note.objects.get(pk=note.pk)
    assert (stored.title, stored.slug) == ("Second Title", "second-title")
    assert response["ETag"] == stored.etag  # the final version


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/docs/{}/", "/reuse/docs/{}/", "/cbv/docs/{}/", "/api/docs/{}/"])
def test_rule_52_every_adapter_answers_a_receivers_second_save_with_the_final_version(
    client: Client, path: str
) -> None:
    document = Document.objects.create(title="A", body="a")

    def keep_body_lowercase(sender: Any, instance: Document, **kwargs: Any) -> None:
        if instance.body != instance.title.lower():
            instance.body = instance.title.lower()
            instance.save(update_fields=["body"])

    post_save.connect(keep_body_lowercase, sender=Document)
    try:
        response = client.put(
            path.format(document.pk),
            {"title": "New"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    finally:
        post_save.disconnect(keep_body_lowercase, sender=Document)
    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.body) == ("New", "new")
    assert response["ETag"] == stored.etag


@pytest.mark.django_db
def test_rule_52_a_second_save_in_the_view_follows_and_the_response_carries_the_final_version(
    client: Client,
) -> None:
    document = Document.objects.create(title="a", body="b")
    response = client.put(
        f"/integrity/twice/docs/{document.pk}/",
        {"title": "t", "body": "x"},
        content_type="application/json",
        headers={"If-Match": document.etag},
    )
    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.body) == ("t", "x+")
    assert response["ETag"] == stored.etag


@pytest.mark.django_db
def test_rule_52_a_receiver_saving_another_instance_of_the_row_also_follows() -> None:
    document = Document.objects.create(title="a")
    with expect_version(Document, document.pk, document.version_token) as expectation:
        document.save()
        other = Document.objects.get(pk=document.pk)  # e.g. what a receiver fetched
        other.body = "more"
        other.save()
        document.title = "and again"
        document.save(update_fields=["title"])  # its in-memory token is now stale: follows
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.body) == ("and again", "more")
    assert expectation.token == stored.version_token


# --- rule 53: one row, any class -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("expected_through", "saved_through"),
    [
        (DocumentProxy, Document),
        (Document, DocumentProxy),
        (SpecialArticle, Article),
        (Article, SpecialArticle),
    ],
)
def test_rule_53_the_expected_version_applies_through_any_class_of_the_row(
    expected_through: type[Any], saved_through: type[Any]
) -> None:
    if issubclass(saved_through, Article) or issubclass(expected_through, Article):
        row: Any = SpecialArticle.objects.create(title="a")
    else:
        row = Document.objects.create(title="a")
    instance = saved_through.objects.get(pk=row.pk)
    instance.title = "lost update"
    with expect_version(expected_through, row.pk, "stale"):
        with pytest.raises(VersionConflict):
            instance.save()
        with pytest.raises(VersionConflict):
            instance.delete()
    assert type(row).objects.get(pk=row.pk).title == "a"
    with expect_version(expected_through, row.pk, row.version_token) as expectation:
        instance.save()
    assert expectation.written


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [False, True])
def test_rule_53_a_save_through_a_plain_parent_class_is_compared_and_swapped(
    in_transaction: bool,
) -> None:
    """NamedDocument(Named, VersionedModel): the name lives in the unversioned parent table."""
    document = NamedDocument.objects.create(name="original", title="t")
    parent = Named.objects.get(pk=document.pk)
    parent.name = "lost update"
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        with expect_version(NamedDocument, document.pk, "stale"), pytest.raises(VersionConflict):
            parent.save()
        with expect_version(NamedDocument, document.pk, "stale"), pytest.raises(VersionConflict):
            parent.delete()
    stored = NamedDocument.objects.get(pk=document.pk)
    assert (stored.name, stored.version_token) == ("original", document.version_token)
    with expect_version(NamedDocument, document.pk, document.version_token) as expectation:
        parent.name = "through the parent"
        parent.save()
        parent.save()  # follows the version the first save wrote (rule 52)
    stored = NamedDocument.objects.get(pk=document.pk)
    assert stored.name == "through the parent"
    assert expectation.token == stored.version_token != document.version_token


@pytest.mark.django_db
def test_rule_46_a_save_through_a_plain_parent_class_changes_the_version() -> None:
    document = NamedDocument.objects.create(name="a", title="t")
    parent = Named.objects.get(pk=document.pk)
    parent.name = "b"
    parent.save()
    stored = NamedDocument.objects.get(pk=document.pk)
    assert stored.name == "b"
    assert stored.version_token != document.version_token
    with pytest.raises(VersionConflict):  # a client holding the old version is refused
        stored.save(expected_version=document.version_token)


@pytest.mark.django_db
def test_rule_53_deleting_the_child_under_its_expectation_is_unaffected_by_the_parent_guard() -> (
    None
):
    document = NamedDocument.objects.create(name="a", title="t")
    with expect_version(NamedDocument, document.pk, document.version_token) as expectation:
        document.delete()
    assert expectation.deleted
    assert not Named.objects.filter(pk=document.pk).exists()


@pytest.mark.django_db
def test_rule_53_a_new_instance_carrying_the_rows_key_is_compared_and_swapped() -> None:
    document = Document.objects.create(title="a")
    with expect_version(Document, document.pk, "stale"), pytest.raises(VersionConflict):
        Document(pk=document.pk, title="replacement").save()
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.django_db
def test_rule_53_an_expectation_on_another_database_does_not_apply_here() -> None:
    document = Document.objects.create(title="a")
    with expect_version(Document, document.pk, "stale", using="replica"):
        document.save()  # the same pk on another database is another row
    assert Document.objects.get(pk=document.pk).version_token == document.version_token


# --- rule 24: If-Unmodified-Since safe and live on every write path ----------------------------


def wait_until(second_fraction: float) -> float:
    """Sleep until the given fraction of the current (or next) second; return the second."""
    now = time.time()
    second = int(now)
    if now - second > second_fraction:
        second += 1
    time.sleep(max(0.0, second + second_fraction - now))
    return second


@pytest.mark.django_db
@pytest.mark.parametrize(
    "job_write", ["save", "save_update_fields", "bulk_update", "queryset_update"]
)
def test_rule_24_issue_9_item_6_a_stale_copys_write_is_never_lost_to_if_unmodified_since(
    client: Client, job_write: str
) -> None:
    document = Document.objects.create(title="a", counter=1)
    wait_until(0.7)
    job_copy = Document.objects.get(pk=document.pk)  # loaded in second s-1
    wait_until(0.02)  # s.02: someone saves a fresh instance
    fresh = Document.objects.get(pk=document.pk)
    fresh.title = "fresh"
    fresh.save()
    served = client.get(f"/docs/{document.pk}/")["Last-Modified"]
    wait_until(0.3)  # s.3: the job writes its old copy
    job_copy.counter = 2
    if job_write == "save":
        job_copy.save()
    elif job_write == "save_update_fields":
        job_copy.save(update_fields=["counter"])
    elif job_write == "bulk_update":
        Document.objects.bulk_update([job_copy], ["counter"])
    else:
        Document.objects.filter(pk=document.pk).update(counter=2)
    wait_until(0.5)  # s.5: the client writes with the Last-Modified it read
    response = client.put(
        f"/docs/{document.pk}/",
        {"title": "client", "counter": 1},
        content_type="application/json",
        headers={"If-Unmodified-Since": served},
    )
    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).counter == 2  # the job's write is kept


@pytest.mark.django_db
def test_rule_24_after_300_quick_writes_an_if_unmodified_since_client_gets_through_in_2s(
    client: Client,
) -> None:
    document = Document.objects.create(title="a")
    url = f"/docs/{document.pk}/"
    etag = document.etag
    for index in range(300):
        response = client.put(
            url, {"title": f"w{index}"}, content_type="application/json", headers={"If-Match": etag}
        )
        assert response.status_code == 200
        etag = response["ETag"]
    last_write = time.time()
    stored = Document.objects.get(pk=document.pk).last_modified
    assert stored <= timezone.now()  # no drift ahead of the clock
    attempts = 0
    while True:
        attempts += 1
        served = client.get(url)["Last-Modified"]
        response = client.put(
            url,
            {"title": "IUS client"},
            content_type="application/json",
            headers={"If-Unmodified-Since": served},
        )
        if response.status_code == 200:
            break
        assert response.status_code == 412
        time.sleep(0.05)
    assert time.time() - last_write < 1 + SETTLED_AFTER + 0.4  # within 2 s (rule 24)
    assert Document.objects.get(pk=document.pk).title == "IUS client"


@pytest.mark.django_db
def test_refused_lone_compare_and_swap_keeps_the_enclosing_transaction_usable() -> None:
    """A save that is one compare-and-swap UPDATE runs without a savepoint; when it matches no
    row, Django's "needs rollback" mark on the enclosing transaction is undone (rule 51)."""
    document = Document.objects.create(title="original")
    stale = document.version_token
    Document.objects.get(pk=document.pk).save()  # someone else writes
    document.title = "refused"
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries, pytest.raises(VersionConflict):
            document.save(expected_version=stale)
        assert [sql.split(" ", 1)[0] for sql in data_statements(queries)] == ["UPDATE"]
        assert not any("SAVEPOINT" in query["sql"] for query in queries.captured_queries)
        assert transaction.get_rollback() is False
        Document.objects.create(title="the transaction is still usable")
    assert Document.objects.get(pk=document.pk).title == "original"
    assert Document.objects.filter(title="the transaction is still usable").exists()


# --- rule 44: the version condition stays on the UPDATE when a save reads the row ------------


def _is_version_select(sql: str) -> bool:
    head, _, where = sql.partition("WHERE")
    return head.lstrip().upper().startswith("SELECT") and "version_token" in where


@pytest.mark.django_db
def test_rule_44_a_stale_save_reading_a_deferred_field_is_a_conflict() -> None:
    """Django reads a deferred field of ``update_fields`` during the save, through the same
    ``_base_manager.filter(pk=…)`` as the UPDATE: the version condition belongs to the UPDATE
    (a SELECT refused by it raised ``DoesNotExist``, a 500 in a view)."""
    document = Document.objects.create(title="a", body="b")
    stale = document.version_token
    Document.objects.filter(pk=document.pk).update(title="changed by someone else")
    partial = Document.objects.only("title").get(pk=document.pk)
    partial.title = "mine"
    with CaptureQueriesContext(connection) as queries, pytest.raises(VersionConflict):
        partial.save(expected_version=stale, update_fields=["title", "body"])
    assert not any(_is_version_select(sql) for sql in statements(queries))
    assert Document.objects.get(pk=document.pk).title == "changed by someone else"


@pytest.mark.django_db
def test_rule_44_a_multi_table_child_loaded_with_defer_is_refused_when_stale() -> None:
    document = NamedDocument.objects.create(name="n", title="t")
    stale = document.version_token
    NamedDocument.objects.filter(pk=document.pk).update(title="changed by someone else")
    with expect_version(NamedDocument, document.pk, stale):
        partial = NamedDocument.objects.defer("title").get(pk=document.pk)
        partial.name = "mine"
        with pytest.raises(VersionConflict):
            partial.save()
    stored = NamedDocument.objects.get(pk=document.pk)
    assert (stored.name, stored.title) == ("n", "changed by someone else")


@pytest.mark.django_db(transaction=True)
def test_rule_44_a_write_between_the_deferred_read_and_the_update_is_never_lost() -> None:
    """Another writer with the same expected version commits right before our UPDATE, after
    Django read the deferred field: exactly one of the two writes succeeds."""
    document = Document.objects.create(title="original", body="original body")
    token = document.version_token
    interleaved: list[str] = []

    def other_writer() -> None:
        theirs = Document.objects.get(pk=document.pk)
        theirs.body = "their body"
        theirs.save(expected_version=token)

    def before_update(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not interleaved and sql.lstrip().upper().startswith("UPDATE"):
            interleaved.append(sql)
            errors = run_in_threads(1, lambda index, barrier: other_writer())
            assert not errors, errors
        return execute(sql, params, many, context)

    partial = Document.objects.only("title").get(pk=document.pk)
    partial.title = "my title"
    with connection.execute_wrapper(before_update), pytest.raises(VersionConflict):
        partial.save(expected_version=token, update_fields=["title", "body"])
    assert interleaved
    stored = Document.objects.get(pk=document.pk)
    assert (stored.title, stored.body) == ("original", "their body")


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.integrity_urls")
def test_rule_44_a_protected_view_loading_with_defer_answers_a_lost_race_412() -> None:
    """The row changes after the precondition check, before the view's own load with a
    deferred field: 412 (was 500), and the other write stays."""
    document = NamedDocument.objects.create(name="n", title="original")
    client = Client(raise_request_exception=False)
    url = f"/named/deferred/{document.pk}/"
    selects: list[str] = []

    def write_before_the_views_load(
        execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if sql.lstrip().upper().startswith("SELECT"):
            selects.append(sql)
            if len(selects) == 2:  # the decorator's load was the first
                errors = run_in_threads(
                    1,
                    lambda index, barrier: NamedDocument.objects.filter(pk=document.pk).update(
                        title="their title"
                    ),
                )
                assert not errors, errors
        return execute(sql, params, many, context)

    with connection.execute_wrapper(write_before_the_views_load):
        response = client.put(
            url,
            {"name": "mine"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    assert response.status_code == 412, response.content
    stored = NamedDocument.objects.get(pk=document.pk)
    assert (stored.name, stored.title) == ("n", "their title")
    current = client.put(
        url, {"name": "mine"}, content_type="application/json", headers={"If-Match": stored.etag}
    )
    assert current.status_code == 200
    assert NamedDocument.objects.get(pk=document.pk).name == "mine"


def put_with_its_etag(path: str, title: str) -> tuple[Document, Any, Document]:
    """A new document, the response to a PUT of ``title`` to ``path`` (``{pk}`` filled in)
    with the document's current ETag, and the document as stored afterwards."""
    document = Document.objects.create(title="a")
    response = Client().put(
        path.format(pk=document.pk),
        {"title": title},
        content_type="application/json",
        headers={"If-Match": document.etag},
    )
    return document, response, Document.objects.get(pk=document.pk)


# --- rule 52: a write the view's own rollback took back names nothing -------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.integrity_urls")
@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_52_a_save_rolled_back_by_the_view_leaves_the_stored_etag(
    atomic_requests: bool,
) -> None:
    """The view saves inside its own ``atomic()`` block and rolls it back: the response
    carries the ETag the row still has, which a next write can use."""
    document = Document.objects.create(title="a")
    client = Client()
    response = client.put(
        f"/draft/docs/{document.pk}/?draft_only=1",
        {"title": "b"},
        content_type="application/json",
        headers={"If-Match": document.etag},
    )
    stored = Document.objects.get(pk=document.pk)
    assert response.status_code == 200
    assert (stored.title, stored.etag) == ("a", document.etag)
    assert response["ETag"] == stored.etag
    again = client.put(
        f"/docs/{document.pk}/",
        {"title": "c"},
        content_type="application/json",
        headers={"If-Match": response["ETag"]},
    )
    assert again.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.integrity_urls")
@pytest.mark.parametrize("atomic_requests", [False, True], indirect=True)
def test_rule_52_a_save_after_a_rolled_back_save_in_the_view_is_not_a_conflict(
    atomic_requests: bool,
) -> None:
    """The second save compares against the version the row has after the rollback (the one
    the client proved), not the draft's: 200, not a false 412."""
    document, response, stored = put_with_its_etag("/draft/docs/{pk}/", "b")
    assert response.status_code == 200, response.content
    assert stored.title == "b"
    assert response["ETag"] == stored.etag != document.etag


@pytest.mark.django_db
def test_rule_52_an_expectation_forgets_a_write_its_savepoint_rolled_back() -> None:
    document = Document.objects.create(title="a")
    with expect_version(Document, document.pk, document.version_token) as expectation:
        with transaction.atomic():
            document.save()
            inner = document.version_token
            assert expectation.token == inner
            transaction.set_rollback(True)
        expectation.settle()
        assert expectation.token == Document.objects.get(pk=document.pk).version_token
        assert not expectation.written
        kept = Document.objects.get(pk=document.pk)
        kept.save()
        with transaction.atomic():
            kept.title = "kept"
            kept.save()
        expectation.settle()
        assert expectation.written
        assert expectation.token == Document.objects.get(pk=document.pk).version_token


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.integrity_urls")
@pytest.mark.parametrize("again", [False, True], ids=["one save", "a second save"])
def test_rule_52_a_save_committed_while_an_earlier_on_commit_callback_raised_still_counts(
    again: bool,
) -> None:
    """Django runs no later callback once one raises: the request's mark of its committed
    save never runs; the stored version settles it (the ETag names it, a second save is not
    a false 412)."""
    path = "/hook/docs/{pk}/?again=1" if again else "/hook/docs/{pk}/"
    document, response, stored = put_with_its_etag(path, "new")
    assert response.status_code == 200, response.content
    assert stored.title == "new"
    assert stored.body == ("second" if again else "")
    assert response["ETag"] == stored.etag != document.etag


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.support.integrity_urls")
def test_rule_52_a_delete_the_view_rolled_back_is_not_followed() -> None:
    _, response, stored = put_with_its_etag("/undelete/docs/{pk}/", "new")
    assert response.status_code == 200, response.content
    assert stored.title == "new"
    assert response.get("ETag") == stored.etag
