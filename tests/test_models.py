"""VersionedModel: version tokens, single-statement compare-and-swap writes, bulk writes.

Rules cited: 22, 24, 39, 42, 43, 44 (single statement), 45, 46 (CONFORMANCE.md).
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import serializers
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_preconditions.exceptions import VersionConflict
from django_preconditions.headers import EntityTag, parse_entity_tag
from django_preconditions.models import (
    expect_version,
    http_timestamp,
    new_version_token,
    observe_loads,
    stored_timestamp,
)
from tests.testapp.models import (
    Article,
    Document,
    Entry,
    Folder,
    OrderedDocument,
    PlainCounter,
    SpecialArticle,
)

pytestmark = pytest.mark.django_db


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].split(" ", 1)[0] in ("UPDATE", "DELETE", "INSERT")
    ]


def all_statements(queries: CaptureQueriesContext) -> list[str]:
    """Statements sent, leaving out transaction control (which depends on the backend)."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if not re.match(r"(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)", query["sql"])
    ]


# --- tokens ------------------------------------------------------------------------------


def test_every_save_gives_a_new_opaque_token() -> None:
    document = Document.objects.create(title="a")
    seen = {document.version_token}
    for _ in range(5):
        document.save()
        assert document.version_token not in seen
        seen.add(document.version_token)


def test_rule_43_token_reveals_neither_primary_key_nor_edit_count() -> None:
    document = Document.objects.create(title="a")
    tokens = []
    for _ in range(3):
        document.save()
        tokens.append(document.version_token)
    for token in tokens:
        assert str(document.pk) not in token or len(token) >= 20
        assert not token.isdigit()
        assert len(token) >= 20  # 128 random bits, not a counter
    # No common prefix/suffix that could encode a counter.
    assert len({token[:4] for token in tokens}) == 3


def test_etag_is_the_strong_quoted_token() -> None:
    document = Document.objects.create(title="a")
    assert document.etag == f'"{document.version_token}"'
    assert not document.etag.startswith("W/")


def test_rule_42_recreated_row_never_repeats_an_earlier_etag() -> None:
    document = Document.objects.create(title="a")
    pk, old_etags = document.pk, {document.etag}
    document.save()
    old_etags.add(document.etag)
    document.delete()
    recreated = Document.objects.create(pk=pk, title="a")
    assert recreated.etag not in old_etags


def test_token_is_valid_inside_an_etag_header() -> None:
    for _ in range(200):
        assert re.fullmatch(r"[\x21\x23-\x7e]+", new_version_token())


# --- compare-and-swap save -------------------------------------------------------------------


def test_compare_and_swap_save_is_one_update_with_the_version_in_its_where_clause() -> None:
    document = Document.objects.create(title="a")
    expected = document.version_token
    document.title = "b"
    with CaptureQueriesContext(connection) as queries:
        document.save(expected_version=expected)
    statements = all_statements(queries)
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    assert expected in statements[0]
    document.refresh_from_db()
    assert document.title == "b"
    assert document.version_token != expected


def test_compare_and_swap_save_costs_what_a_plain_save_costs() -> None:
    document = Document.objects.create(title="a")
    counter = PlainCounter.objects.create()
    with CaptureQueriesContext(connection) as plain:
        counter.save()
    with CaptureQueriesContext(connection) as plain_versioned:
        document.save()
    with CaptureQueriesContext(connection) as swapped:
        document.save(expected_version=document.version_token)
    assert len(all_statements(swapped)) == len(all_statements(plain)) == 1
    assert len(all_statements(plain_versioned)) == 1


def test_rule_44_stale_expected_version_raises_and_changes_nothing() -> None:
    document = Document.objects.create(title="a")
    stale = document.version_token
    Document.objects.get(pk=document.pk).save()  # someone else writes
    current = Document.objects.get(pk=document.pk).version_token
    document.title = "lost update"
    with pytest.raises(VersionConflict) as raised:
        document.save(expected_version=stale)
    assert raised.value.expected_version == stale
    assert raised.value.pk == document.pk
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "a"
    assert stored.version_token == current
    # The in-memory instance keeps the version it had, not the unsaved new one.
    assert document.version_token == stale


def test_rule_45_stale_save_of_a_deleted_row_never_reinserts_it() -> None:
    document = Document.objects.create(title="a")
    token = document.version_token
    Document.objects.filter(pk=document.pk).delete()
    with pytest.raises(VersionConflict):
        document.save(expected_version=token)
    assert not Document.objects.filter(pk=document.pk).exists()


def test_conflict_leaves_the_enclosing_transaction_usable() -> None:
    document = Document.objects.create(title="a")
    with transaction.atomic():
        with pytest.raises(VersionConflict):
            document.save(expected_version="not-the-version")
        # The UPDATE matched no row; the transaction is intact and can go on.
        assert Document.objects.filter(pk=document.pk).count() == 1
        document.save(expected_version=Document.objects.get(pk=document.pk).version_token)


def test_save_with_update_fields_always_bumps_the_version() -> None:
    document = Document.objects.create(title="a", body="x")
    before = document.version_token
    document.title = "b"
    document.body = "not saved"
    with CaptureQueriesContext(connection) as queries:
        document.save(update_fields=["title"])
    stored = Document.objects.get(pk=document.pk)
    assert stored.title == "b"
    assert stored.body == "x"
    assert stored.version_token == document.version_token != before
    assert "version_token" in writes(queries)[0]


def test_save_with_empty_update_fields_saves_nothing_and_keeps_the_version() -> None:
    document = Document.objects.create(title="a")
    before = document.version_token
    with CaptureQueriesContext(connection) as queries:
        document.save(update_fields=[])
    assert writes(queries) == []
    assert document.version_token == before == Document.objects.get(pk=document.pk).version_token


def test_compare_and_swap_with_update_fields() -> None:
    document = Document.objects.create(title="a")
    stale = document.version_token
    document.save()
    document.title = "b"
    with pytest.raises(VersionConflict):
        document.save(update_fields=["title"], expected_version=stale)
    document.save(update_fields=["title"], expected_version=document.version_token)
    assert Document.objects.get(pk=document.pk).title == "b"


def test_expected_version_on_an_unsaved_instance_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="existing row"):
        Document(title="a").save(expected_version="x")


def test_expect_version_applies_to_any_instance_of_the_row() -> None:
    document = Document.objects.create(title="a")
    token = document.version_token
    Document.objects.filter(pk=document.pk).update(title="changed")  # bumps the token
    with expect_version(Document, document.pk, token) as expectation:
        refetched = Document.objects.get(pk=document.pk)
        with pytest.raises(VersionConflict):
            refetched.save()
    assert not expectation.written

    current = Document.objects.get(pk=document.pk).version_token
    with expect_version(Document, document.pk, current) as expectation:
        first = Document.objects.get(pk=document.pk)
        first.save()
        first.save()  # a second save in the same request chains on the new version
    assert expectation.written
    assert expectation.token == first.version_token


def test_expect_version_does_not_touch_other_rows() -> None:
    one = Document.objects.create(title="one")
    two = Document.objects.create(title="two")
    with expect_version(Document, one.pk, "stale"):
        two.save()  # not the expected row: a plain save
    assert Document.objects.get(pk=two.pk).version_token == two.version_token


def test_model_whose_meta_does_not_inherit_still_compares_and_swaps() -> None:
    document = OrderedDocument.objects.create(title="a")
    with pytest.raises(VersionConflict):
        document.save(expected_version="stale")
    document.save(expected_version=document.version_token)


def test_multi_table_inheritance_compares_the_parent_tables_version() -> None:
    article = SpecialArticle.objects.create(title="a", tag="t")
    stale = article.version_token
    Article.objects.get(pk=article.pk).save()
    article.tag = "lost"
    with pytest.raises(VersionConflict):
        article.save(expected_version=stale)
    assert SpecialArticle.objects.get(pk=article.pk).tag == "t"
    fresh = SpecialArticle.objects.get(pk=article.pk)
    fresh.tag = "kept"
    fresh.save(expected_version=fresh.version_token)
    assert SpecialArticle.objects.get(pk=article.pk).tag == "kept"


def test_multi_table_inheritance_never_reinserts_a_deleted_parent() -> None:
    article = SpecialArticle.objects.create(title="a")
    token = article.version_token
    Article.objects.filter(pk=article.pk).delete()
    with pytest.raises(VersionConflict):
        article.save(expected_version=token)
    assert not Article.objects.filter(pk=article.pk).exists()


def test_raw_saves_from_fixtures_keep_the_fixture_version() -> None:
    fixture = json.dumps(
        [
            {
                "model": "testapp.document",
                "pk": 77,
                "fields": {
                    "title": "from fixture",
                    "version_token": "fixture-token",
                    "last_modified": "2025-07-01T12:00:00Z",
                },
            }
        ]
    )
    for obj in serializers.deserialize("json", fixture):
        obj.save()
    stored = Document.objects.get(pk=77)
    assert stored.version_token == "fixture-token"


def test_fixture_without_version_fields_gets_a_fresh_token() -> None:
    fixture = json.dumps([{"model": "testapp.document", "pk": 78, "fields": {"title": "t"}}])
    for obj in serializers.deserialize("json", fixture):
        obj.save()
    assert len(Document.objects.get(pk=78).version_token) >= 20


# --- compare-and-swap delete ------------------------------------------------------------------


def test_compare_and_swap_delete_is_one_statement_like_a_plain_delete() -> None:
    plain = Document.objects.create(title="plain")
    document = Document.objects.create(title="a")
    with CaptureQueriesContext(connection) as plain_queries:
        plain.delete()
    with CaptureQueriesContext(connection) as queries:
        result = document.delete(expected_version=document.version_token)
    assert result == (1, {"testapp.Document": 1})
    assert len(all_statements(queries)) == len(all_statements(plain_queries)) == 1
    assert all_statements(queries)[0].startswith("DELETE")
    assert document.pk is None
    assert not Document.objects.filter(title="a").exists()


def test_stale_delete_raises_and_keeps_the_row() -> None:
    document = Document.objects.create(title="a")
    stale = document.version_token
    Document.objects.get(pk=document.pk).save()
    with pytest.raises(VersionConflict):
        document.delete(expected_version=stale)
    assert Document.objects.filter(pk=document.pk).exists()


def test_cascading_delete_claims_the_row_first_and_cascades_only_when_current() -> None:
    folder = Folder.objects.create(name="f")
    Entry.objects.create(folder=folder, text="e")
    with pytest.raises(VersionConflict):
        folder.delete(expected_version="stale")
    assert Entry.objects.filter(folder=folder).count() == 1
    with CaptureQueriesContext(connection) as queries:
        folder.delete(expected_version=folder.version_token)
    statements = all_statements(queries)
    assert statements[0].startswith("UPDATE")  # the claim, carrying the version
    assert not Folder.objects.exists()
    assert not Entry.objects.exists()


def test_expect_version_applies_to_delete_and_records_it() -> None:
    document = Document.objects.create(title="a")
    with expect_version(Document, document.pk, document.version_token) as expectation:
        Document.objects.get(pk=document.pk).delete()
    assert expectation.deleted
    assert expectation.written


def test_plain_delete_still_works() -> None:
    document = Document.objects.create(title="a")
    document.delete()
    assert not Document.objects.exists()


# --- async ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_asave_and_adelete_accept_expected_version() -> None:
    document = await Document.objects.acreate(title="a")
    stale = document.version_token
    await document.asave(expected_version=stale)
    with pytest.raises(VersionConflict):
        await document.asave(expected_version=stale)
    with pytest.raises(VersionConflict):
        await document.adelete(expected_version=stale)
    await document.adelete(expected_version=document.version_token)
    assert not await Document.objects.filter(title="a").aexists()


@pytest.mark.django_db(transaction=True)
async def test_expect_version_reaches_asave_through_sync_to_async() -> None:
    document = await Document.objects.acreate(title="a")
    await sync_to_async(Document.objects.filter(pk=document.pk).update)(title="b")
    with (
        expect_version(Document, document.pk, document.version_token),
        pytest.raises(VersionConflict),
    ):
        await document.asave()


# --- bulk writes (rule 46) -------------------------------------------------------------------


def test_rule_46_queryset_update_bumps_every_row_it_touches() -> None:
    one = Document.objects.create(title="one")
    two = Document.objects.create(title="two")
    untouched = Document.objects.create(title="three")
    assert Document.objects.filter(pk__in=[one.pk, two.pk]).update(body="bulk") == 2
    assert Document.objects.get(pk=one.pk).version_token != one.version_token
    assert Document.objects.get(pk=two.pk).version_token != two.version_token
    assert Document.objects.get(pk=untouched.pk).version_token == untouched.version_token


def test_rule_24_queryset_update_stamps_the_time_of_the_write_without_drift() -> None:
    """Rule 24 (rewritten): the stored time is exact, never pushed past the previous write."""
    document = Document.objects.create(title="a")
    for body in "12345":
        before = timezone.now()
        Document.objects.filter(pk=document.pk).update(body=body)
        stored = Document.objects.get(pk=document.pk).last_modified
        assert before <= stored <= timezone.now()


def test_update_without_bump_and_bump_versions() -> None:
    document = Document.objects.create(title="a")
    Document.objects.filter(pk=document.pk).update_without_bump(counter=5)
    assert Document.objects.get(pk=document.pk).version_token == document.version_token
    assert Document.objects.filter(pk=document.pk).bump_versions() == 1
    assert Document.objects.get(pk=document.pk).version_token != document.version_token


def test_rule_46_bulk_update_bumps_each_object() -> None:
    documents = [Document.objects.create(title=str(i)) for i in range(3)]
    before = {document.pk: document.version_token for document in documents}
    for document in documents:
        document.title += "!"
    Document.objects.bulk_update(documents, ["title"])
    for stored in Document.objects.all():
        assert stored.title.endswith("!")
        assert stored.version_token != before[stored.pk]


def test_rule_46_on_delete_set_null_bumps_the_rows_it_changes(alice: Any) -> None:
    """Deleting a user sets ``Document.owner`` to NULL through Django's collector, a bulk
    ``update()`` of the base manager: those rows change, so their versions change."""
    owned = Document.objects.create(title="owned", owner=alice)
    other = Document.objects.create(title="not owned")
    alice.delete()
    stored = Document.objects.get(pk=owned.pk)
    assert stored.owner_id is None
    assert stored.version_token != owned.version_token
    assert stored.last_modified >= owned.last_modified
    assert Document.objects.get(pk=other.pk).version_token == other.version_token


def test_rule_46_bulk_create_updating_conflicts_bumps_the_rows_it_updates() -> None:
    document = Document.objects.create(title="a", body="old")
    unique = {} if connection.vendor == "mysql" else {"unique_fields": ["id"]}
    Document.objects.bulk_create(
        [Document(pk=document.pk, title="a", body="upserted"), Document(title="new")],
        update_conflicts=True,
        update_fields=["body"],
        **unique,
    )
    stored = Document.objects.get(pk=document.pk)
    assert stored.body == "upserted"
    assert stored.version_token != document.version_token
    assert Document.objects.filter(title="new").count() == 1
    # Without update_conflicts, bulk_create() is Django's own.
    plain = Document(title="plain", version_token="given-token")
    Document.objects.bulk_create([plain])
    assert Document.objects.get(title="plain").version_token == "given-token"


# --- modification times (rules 22, 24, 39) -----------------------------------------------------


def test_rule_24_saves_stamp_the_time_of_the_write_without_drift() -> None:
    """Rule 24: many writes in one second all keep the exact time (no second per write)."""
    document = Document.objects.create(title="a")
    start = timezone.now()
    for _ in range(20):
        document.save()
    stored = Document.objects.get(pk=document.pk).last_modified
    assert start <= stored <= timezone.now()
    assert stored == document.last_modified


def test_rule_24_stale_copies_are_stamped_now_not_from_memory() -> None:
    """Issue 9 item 6: the stamp of save(update_fields) or bulk_update() of an old copy is
    the time of the write, never derived from the stale value the copy holds."""
    document = Document.objects.create(title="a")
    old = Document.objects.get(pk=document.pk)
    old.last_modified = timezone.now() - datetime.timedelta(hours=1)
    before = timezone.now()
    old.counter = 1
    old.save(update_fields=["counter"])
    assert Document.objects.get(pk=document.pk).last_modified >= before
    old.last_modified = timezone.now() - datetime.timedelta(hours=1)
    before = timezone.now()
    Document.objects.bulk_update([old], ["counter"])
    assert Document.objects.get(pk=document.pk).last_modified >= before


def test_rule_22_24_39_served_second_waits_until_the_write_second_is_settled() -> None:
    stored = datetime.datetime(2025, 7, 1, 12, 0, 0, 700_000, tzinfo=datetime.timezone.utc)
    second = int(stored.timestamp())
    assert stored_timestamp(stored) == second  # what preconditions are evaluated against
    # Inside the write's second (and the margin after it) the second before is served...
    assert http_timestamp(stored, now=second + 0.8) == second - 1
    assert http_timestamp(stored, now=second + 1.2) == second - 1
    # ...then the stored second itself (rule 22: IUS equal to it passes from then on).
    assert http_timestamp(stored, now=second + 1.5) == second
    assert http_timestamp(stored, now=second + 3600) == second
    # Never later than now (rule 39), also for a stamp from a clock that runs ahead.
    assert http_timestamp(stored, now=second - 5.5) == second - 6
    assert http_timestamp(None) is None


def test_entity_tag_is_the_etag_parsed() -> None:
    document = Document.objects.create(title="a")
    tag = document.entity_tag
    assert isinstance(tag, EntityTag)
    assert str(tag) == document.etag
    assert parse_entity_tag(document.etag) == tag
    assert not tag.weak
    assert tag.strong_match(EntityTag(document.version_token))
    document.save()
    assert not tag.strong_match(document.entity_tag)  # a write makes a new tag


def test_observe_loads_shows_the_instances_loaded_from_the_database_and_restores() -> None:
    """The middleware's view of the row the view loaded (``from_db``): instances read from
    the database are shown, new ones are not, and the previous observer comes back."""
    document = Document.objects.create(title="a")
    outer: list[object] = []
    inner: list[object] = []
    assert observe_loads(outer.append) is None
    try:
        previous = observe_loads(inner.append)
        loaded = Document.objects.get(pk=document.pk)
        Document(title="b")  # built, not loaded
        assert observe_loads(previous) is not None
        again = Document.objects.get(pk=document.pk)
    finally:
        observe_loads(None)
    assert inner == [loaded]
    assert outer == [again]
    assert (loaded.version_token, loaded._state.adding) == (document.version_token, False)
