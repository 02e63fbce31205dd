"""Pins for the Django behaviour that django_preconditions._compat relies on.

If a Django release changes any of these, this file fails first and says what moved.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, router, transaction
from django.db.models import Count
from django.db.models.signals import post_save
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.views.decorators.http import condition, etag, require_http_methods, require_POST

from django_preconditions import decorators as ours
from django_preconditions._compat import (
    add_exact_filter,
    add_to_drf_delete_form,
    admin_sites,
    can_fast_delete,
    concrete_parents,
    counted_page,
    counted_slice,
    is_zero_row_update,
    limit_offset_page,
    load_with_rows,
    log_response,
    made_by_django_condition,
    on_write_database,
    page_number_page,
    require_http_methods_allowed,
    reset_base_manager,
    routers_configured,
    version_tokens_of,
    write_alias,
)
from django_preconditions.duplicates import duplicates_key
from django_preconditions.models import ProtectedEndpoint, expect_version
from tests.testapp.models import (
    Article,
    Document,
    DocumentProxy,
    Folder,
    Named,
    NamedDocument,
    SpecialArticle,
)

pytestmark = pytest.mark.django_db


def test_forced_update_of_a_missing_row_raises_djangos_own_bare_database_error() -> None:
    with pytest.raises(DatabaseError) as raised:
        Document(pk=987654, title="ghost").save(force_update=True)
    assert is_zero_row_update(raised.value)


def test_update_fields_save_of_a_missing_row_raises_djangos_own_bare_database_error() -> None:
    with pytest.raises(DatabaseError) as raised:
        Document(pk=987655, title="ghost").save(update_fields=["title"])
    assert is_zero_row_update(raised.value)


def test_driver_errors_are_not_mistaken_for_zero_row_updates() -> None:
    with pytest.raises(DatabaseError) as raised, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_at_all")
    assert not is_zero_row_update(raised.value)


def test_save_updates_existing_rows_through_the_base_managers_pk_filter() -> None:
    """The compare-and-swap hook: Django's UPDATE must carry our version condition."""
    document = Document.objects.create(title="a")
    token = document.version_token
    with CaptureQueriesContext(connection) as queries:
        document.save(expected_version=token)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert "version_token" in updates[0].split("WHERE", 1)[1]
    assert token in updates[0].split("WHERE", 1)[1]


def test_add_exact_filter_adds_the_condition_filter_would_add() -> None:
    """The compare-and-swap condition is added to the WHERE clause directly: the same SQL
    and the same rows as ``filter(pk=…, version_token=…)``."""
    document = Document.objects.create(title="a")
    other = Document.objects.create(title="b")
    expected = Document._base_manager.filter(pk=document.pk, version_token=document.version_token)
    built = Document._base_manager.filter(pk=document.pk)
    add_exact_filter(built, "version_token", document.version_token)
    assert str(built.query) == str(expected.query)
    assert list(built) == [document]
    stale = Document._base_manager.filter(pk=document.pk)
    add_exact_filter(stale, "version_token", other.version_token)
    assert not stale.exists()
    assert stale.update(title="c") == 0
    # The condition survives clones, counting and use as a subquery (relabelled aliases).
    assert not stale.all().exists()
    assert stale.count() == 0
    assert list(Document.objects.filter(pk__in=built.values("pk"))) == [document]
    nested = Document.objects.filter(pk__in=stale.values("pk"))
    assert not nested.exists()
    assert str(nested.query) == str(
        Document.objects.filter(pk__in=expected.values("pk")).query
    ).replace(document.version_token, other.version_token)


def test_can_fast_delete_tells_single_statement_deletes_apart() -> None:
    assert can_fast_delete(Document.objects.create(title="a"), "default")
    assert not can_fast_delete(Folder.objects.create(name="f"), "default")  # cascades


def test_log_response_logs_like_django(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().put("/x/")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        log_response(
            "Precondition Failed: %s", "/x/", request=request, response=HttpResponse(status=412)
        )
    assert [record.getMessage() for record in caplog.records] == ["Precondition Failed: /x/"]
    assert caplog.records[0].status_code == 412  # type: ignore[attr-defined]


def test_djangos_handler_reads_the_non_atomic_aliases_we_set(settings: Any) -> None:
    """transactions.own_request_transaction relies on it: Django must not wrap the view."""
    from django.core.handlers.base import BaseHandler
    from django.db import connections, transaction

    from django_preconditions._compat import non_atomic_aliases, set_non_atomic_aliases

    def view(request: Any) -> HttpResponse:
        return HttpResponse()

    def opted_out(request: Any) -> HttpResponse:
        return HttpResponse()

    assert non_atomic_aliases(transaction.non_atomic_requests(opted_out)) == {"default"}
    assert non_atomic_aliases(view) == frozenset()
    settings_dict = connections["default"].settings_dict
    previous = settings_dict["ATOMIC_REQUESTS"]
    settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert BaseHandler().make_view_atomic(view) is not view  # wrapped by Django
        set_non_atomic_aliases(view, frozenset({"default"}))
        assert BaseHandler().make_view_atomic(view) is view
    finally:
        settings_dict["ATOMIC_REQUESTS"] = previous


def test_request_body_replayable_follows_djangos_body_cache() -> None:
    from django_preconditions._compat import request_body_replayable

    request = RequestFactory().put("/x/", b'{"a": 1}', content_type="application/json")
    assert request_body_replayable(request)  # not read yet
    assert request.body == b'{"a": 1}'
    assert request_body_replayable(request)  # cached by request.body
    streamed = RequestFactory().put("/x/", b"data", content_type="application/octet-stream")
    streamed.read()
    assert not request_body_replayable(streamed)


def test_multi_table_save_updates_the_version_table_once_through_its_base_manager() -> None:
    """The hook applies to the one UPDATE of the table holding the version, also when Django
    saves the parent tables of a multi-table child first (rules 51, 53)."""
    article = SpecialArticle.objects.create(title="a", tag="t")
    token = article.version_token
    with CaptureQueriesContext(connection) as queries:
        article.save(expected_version=token)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    guarded = [sql for sql in updates if token in sql.split("WHERE", 1)[1]]
    assert len(updates) == 2
    assert len(guarded) == 1
    assert "testapp_article" in guarded[0].split("WHERE", 1)[0]


def test_post_save_receivers_run_after_the_compare_and_swap_update() -> None:
    """Rule 52 relies on Django issuing the UPDATE (our _update() hook) before post_save."""
    document = Document.objects.create(title="a")
    seen: list[str | None] = []

    def receiver(sender: Any, instance: Document, **kwargs: Any) -> None:
        seen.append(expectation.token)

    with expect_version(Document, document.pk, document.version_token) as expectation:
        post_save.connect(receiver, sender=Document)
        try:
            document.save()
        finally:
            post_save.disconnect(receiver, sender=Document)
    assert seen == [document.version_token]


def test_duplicate_primary_keys_are_recognised_from_this_backends_error() -> None:
    """A driver that reworded its unique-violation error would turn 412s into 500s (rule 50)."""
    document = Document.objects.create(title="a")
    keys = [(Document._meta.db_table, "id")]
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        Document(pk=document.pk, title="b").save_base(force_insert=True)
    assert duplicates_key(raised.value, connection, keys) is True
    ProtectedEndpoint.objects.create(view="taken")
    with pytest.raises(IntegrityError) as other, transaction.atomic():
        ProtectedEndpoint(view="taken").save_base(force_insert=True)
    assert (
        duplicates_key(other.value, connection, [("django_preconditions_protectedendpoint", "id")])
        is False
    )


def test_concrete_parents_lists_the_multi_table_ancestors() -> None:
    """Used to find the tables a duplicate key can be reported on and the plain parents to
    guard (rules 50, 53)."""
    assert concrete_parents(SpecialArticle) == [Article]
    assert concrete_parents(NamedDocument) == [Named]
    assert concrete_parents(Document) == []
    assert concrete_parents(DocumentProxy) == [Document]  # a proxy's concrete model counts


def _plain_view(request: Any) -> HttpResponse:
    return HttpResponse("ok")


def test_require_http_methods_wrappers_are_recognised_with_their_methods() -> None:
    """The audit reads the methods ``require_http_methods`` allows from its wrapper's closure
    (Django sets no public attribute): pinned here, for the factory and its shortcuts."""
    assert require_http_methods_allowed(require_http_methods(["GET", "PATCH"])(_plain_view)) == (
        "GET",
        "PATCH",
    )
    assert require_http_methods_allowed(require_POST(_plain_view)) == ("POST",)
    assert require_http_methods_allowed(_plain_view) is None
    assert require_http_methods_allowed(etag(lambda request: "x")(_plain_view)) is None


def test_djangos_condition_wrappers_are_recognised_and_ours_carry_a_public_marker() -> None:
    assert made_by_django_condition(condition(etag_func=lambda request: "x")(_plain_view))
    assert made_by_django_condition(etag(lambda request: "x")(_plain_view))
    assert not made_by_django_condition(require_POST(_plain_view))
    assert not made_by_django_condition(_plain_view)
    mine = ours.condition(etag_func=lambda request: "x")(_plain_view)
    assert getattr(mine, "preconditions_condition_only", False) is True
    protected = ours.require_preconditions(Document)(_plain_view)
    assert isinstance(getattr(protected, "preconditions_enforcer", None), ours.Enforcer)


def test_options_cache_the_base_manager_and_forgetting_it_reads_the_name_again() -> None:
    """models.py names our base manager on versioned models whose Meta does not: the cached
    ``Options.base_manager`` must be forgotten for the name to count."""
    from django.db.models.options import Options
    from django.utils.functional import cached_property

    assert isinstance(Options.__dict__["base_manager"], cached_property)
    manager = Document._meta.base_manager
    assert Document._meta.__dict__["base_manager"] is manager
    reset_base_manager(Document)
    assert "base_manager" not in Document._meta.__dict__
    assert type(Document._meta.base_manager) is type(manager)


def test_admin_sites_lists_the_default_site() -> None:
    from django.contrib import admin

    assert admin.site in admin_sites()


def test_drfs_browsable_template_has_the_delete_form_we_add_the_token_to() -> None:
    """DRF's ``rest_framework/base.html`` is fixed markup: its DELETE button's form must still
    be recognisable, or the browsable API's DELETE would be sent without the token."""
    from django.template.loader import get_template

    source = get_template("rest_framework/base.html").template.source
    marked = add_to_drf_delete_form(source, "<!--token-->")
    assert marked != source
    assert marked.count("<!--token-->") == 1
    assert 'data-method="DELETE"' in marked.split("<!--token-->")[0].rsplit("<form", 1)[1]


def test_version_tokens_of_a_model_queryset_are_its_primary_keys_and_tokens() -> None:
    first, second = Document.objects.create(title="a"), Document.objects.create(title="b")
    queryset = Document.objects.filter(pk__in=[first.pk, second.pk]).order_by("-pk")

    tokens = version_tokens_of(queryset.prefetch_related("folder"))

    assert tokens is not None
    assert list(tokens) == [(second.pk, second.version_token), (first.pk, first.version_token)]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Document.objects.only("title"),
        lambda: Document.objects.defer("version_token", "last_modified", "body"),
        lambda: Document.objects.select_related("owner").only("title", "owner__username"),
        lambda: Document.objects.all(),
    ],
)
def test_load_with_rows_takes_fields_out_of_only_and_defer(make: Any) -> None:
    """``Query.deferred_loading`` as only()/defer() leave it: the fields named load with the
    rows (one statement, no query when read), the others stay deferred as the view asked,
    and the original queryset is left as it was."""
    document = Document.objects.create(title="a", body="b")
    original = make()
    before = original.query.deferred_loading
    queryset = load_with_rows(original, ("version_token", "last_modified"))
    assert original.query.deferred_loading == before
    with CaptureQueriesContext(connection) as queries:
        (loaded,) = list(queryset.filter(pk=document.pk))
        assert (loaded.title, loaded.version_token) == ("a", document.version_token)
        assert loaded.last_modified == document.last_modified
    assert len(queries) == 1
    assert {"title", "version_token", "last_modified"}.isdisjoint(loaded.get_deferred_fields())
    assert loaded.get_deferred_fields() >= original.get(pk=document.pk).get_deferred_fields() - {
        "version_token",
        "last_modified",
    }


def test_version_tokens_of_querysets_that_do_not_yield_instances_is_none() -> None:
    assert version_tokens_of(Document.objects.values("pk")) is None
    assert version_tokens_of(Document.objects.values_list("pk")) is None
    assert version_tokens_of(Document.objects.all().union(Document.objects.all())) is None


def test_querysets_keep_their_prefetch_lookups_in_a_private_attribute() -> None:
    # version_tokens_of() clears prefetch lookups only when there are some.
    assert Document.objects.all()._prefetch_related_lookups == ()
    assert Document.objects.prefetch_related("folder")._prefetch_related_lookups == ("folder",)


def _paginated_both_ways(paginator_class: Any, read: Any, query: str) -> tuple[Any, ...]:
    """Ten documents paged by DRF's own ``paginate_queryset()`` and by ``read`` (our
    one-statement reader): both paginators, both pages, ``read``'s queries, the request."""
    from rest_framework.request import Request

    for number in range(10):
        Document.objects.create(title=f"d{number}")
    tokens = version_tokens_of(Document.objects.order_by("pk"))
    request = Request(RequestFactory().get(f"/documents/{query}"))
    drf, ours_ = paginator_class(), paginator_class()
    expected = drf.paginate_queryset(tokens, request)
    with CaptureQueriesContext(connection) as queries:
        got = read(ours_, tokens, request)
    return drf, ours_, expected, got, queries, request


@pytest.mark.parametrize(
    "query",
    ["", "?page=2", "?page=3", "?page=last", "?page_size=5&page=2", "?page_size=0"],
)
def test_page_number_page_is_drfs_paginate_queryset_read_as_one_slice(query: str) -> None:
    """``page_number_page()`` mirrors DRF's ``PageNumberPagination.paginate_queryset()``: the
    same items and the same state on the paginator, for each page and page size."""
    from rest_framework.pagination import PageNumberPagination

    class Pages(PageNumberPagination):
        page_size = 4
        page_size_query_param = "page_size"

    drf, ours_, expected, got, queries, request = _paginated_both_ways(
        Pages, page_number_page, query
    )

    assert got == expected
    # A numbered page: its rows and their count in one statement; "last" counts first.
    assert len(queries.captured_queries) == (2 if query == "?page=last" else 1)
    assert ours_.request is request
    if expected is None:
        assert not hasattr(ours_, "page")
        return
    assert (ours_.page.number, ours_.page.paginator.count) == (
        drf.page.number,
        drf.page.paginator.count,
    )
    assert ours_.get_next_link() == drf.get_next_link()
    assert ours_.get_previous_link() == drf.get_previous_link()
    assert getattr(ours_, "display_page_controls", False) == drf.display_page_controls


def _counted(queryset: Any, page: Any, per_page: int = 3) -> tuple[list[Any] | None, Any]:
    from django.core.paginator import Paginator

    paginator = Paginator(version_tokens_of(queryset), per_page)
    return counted_page(paginator, page), paginator


@pytest.mark.parametrize(
    "make",
    [
        lambda: Document.objects.order_by("pk"),
        lambda: Document.objects.filter(title__startswith="b").order_by("-pk"),
        lambda: Document.objects.exclude(title="a0").order_by("title", "pk"),
        lambda: Document.objects.filter(owner__username__startswith="u").distinct().order_by("pk"),
        lambda: Document.objects.annotate(n=Count("owner")).filter(n__gte=0).order_by("pk"),
        lambda: Document.objects.filter(pk__in=[]).order_by("pk"),
        lambda: Document.objects.filter(title__contains="%").order_by("pk"),
    ],
)
def test_counted_page_reads_the_page_and_what_count_counts_in_one_statement(make) -> None:
    owners = [User.objects.create(username=f"u{number}") for number in range(3)]
    for number in range(8):
        Document.objects.create(title=f"{'ab'[number % 2]}{number}%", owner=owners[number % 3])
    queryset = make()
    tokens = version_tokens_of(queryset)
    assert tokens is not None
    for page in (1, 2, "3"):
        expected_count = tokens.count()
        first = (int(page) - 1) * 3
        expected_rows = list(tokens[first : first + 3])
        with CaptureQueriesContext(connection) as queries:
            rows, paginator = _counted(queryset, page)
        if rows is None:  # an empty page beyond the first, or no SQL at all: left to Django
            assert not expected_rows
            assert int(page) > 1 or not queries.captured_queries
            continue
        assert len(queries.captured_queries) == 1
        assert rows == expected_rows
        assert paginator.count == expected_count


@pytest.mark.parametrize(
    "page", [0, -1, "0", "x", "1.0", "٣", None, 1.0, "last", "9" * 19, "1" * 5000]
)
def test_counted_page_leaves_unusual_page_numbers_to_the_paginator(page) -> None:
    Document.objects.create(title="only")
    with CaptureQueriesContext(connection) as queries:
        rows, paginator = _counted(Document.objects.order_by("pk"), page)
    assert rows is None
    assert not queries.captured_queries
    assert "count" not in paginator.__dict__


def test_counted_page_leaves_other_paginators_to_themselves() -> None:
    from django.core.paginator import Paginator

    class Estimated(Paginator):
        count = 1000  # e.g. a paginator that estimates its count

    Document.objects.create(title="only")
    tokens = version_tokens_of(Document.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        assert counted_page(Estimated(tokens, 3), 1) is None
        assert counted_page(Paginator(tokens, 3, orphans=1), 1) is None
    assert not queries.captured_queries


@pytest.mark.parametrize("default_limit", [None, 4])
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=4",
        "?limit=4&offset=4",
        "?limit=4&offset=8",
        "?offset=3",
        "?limit=4&offset=10",
        "?limit=4&offset=11",
        "?limit=0",
        "?limit=x&offset=-1",
        "?limit=50",
    ],
)
def test_limit_offset_page_is_drfs_paginate_queryset_read_in_one_statement(
    query: str, default_limit: int | None
) -> None:
    """``limit_offset_page()`` mirrors DRF's ``LimitOffsetPagination.paginate_queryset()``:
    the same items and the same state on the paginator, for each limit and offset; the rows
    and their count in one statement, except beyond the last row (then DRF's count too)."""
    from rest_framework.pagination import LimitOffsetPagination

    class Offsets(LimitOffsetPagination):
        max_limit = 6

    Offsets.default_limit = default_limit
    drf, ours_, expected, got, queries, request = _paginated_both_ways(
        Offsets, limit_offset_page, query
    )

    assert got == expected
    assert ours_.request is request
    if expected is None:
        assert not queries.captured_queries
        assert not hasattr(ours_, "count")
        return
    beyond_the_end = not expected and ours_.offset > 0
    assert len(queries.captured_queries) == (2 if beyond_the_end else 1)
    assert (ours_.limit, ours_.offset, ours_.count) == (drf.limit, drf.offset, drf.count)
    assert ours_.get_next_link() == drf.get_next_link()
    assert ours_.get_previous_link() == drf.get_previous_link()
    assert ours_.display_page_controls == drf.display_page_controls


def test_limit_offset_page_asks_a_paginator_with_its_own_count_for_it() -> None:
    from rest_framework.pagination import LimitOffsetPagination
    from rest_framework.request import Request

    class Estimated(LimitOffsetPagination):
        default_limit = 3

        def get_count(self, queryset: Any) -> int:
            return 1000  # e.g. an estimate from the planner

    Document.objects.create(title="only")
    tokens = version_tokens_of(Document.objects.order_by("pk"))
    paginator = Estimated()
    with CaptureQueriesContext(connection) as queries:
        rows = limit_offset_page(paginator, tokens, Request(RequestFactory().get("/d/")))
    assert paginator.count == 1000
    assert rows == list(tokens)
    assert len(queries.captured_queries) == 1  # the rows only


@pytest.mark.parametrize(
    ("first", "size"),
    [(-1, 3), (0, 0), (0, -1), (1.0, 3), (0, 2.0), (True, 3), (2**63 - 3, 3), (10**30, 3)],
)
def test_counted_slice_reads_nothing_for_an_unusual_slice(first: Any, size: Any) -> None:
    Document.objects.create(title="only")
    tokens = version_tokens_of(Document.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        assert counted_slice(tokens, first, size) is None
        assert counted_slice(tokens[:1], 0, 3) is None  # already sliced
        assert counted_slice(Document.objects.all(), 0, 3) is None  # instances, not tuples
    assert not queries.captured_queries


def test_page_number_page_leaves_an_invalid_page_to_drf() -> None:
    from rest_framework.exceptions import NotFound
    from rest_framework.pagination import PageNumberPagination
    from rest_framework.request import Request

    class Pages(PageNumberPagination):
        page_size = 4

    Document.objects.create(title="only")
    tokens = version_tokens_of(Document.objects.order_by("pk"))
    request = Request(RequestFactory().get("/documents/?page=9"))

    with pytest.raises(NotFound, match="Invalid page"):
        page_number_page(Pages(), tokens, request)


class _WritesToReplica:
    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "replica"


def test_write_alias_answers_like_the_routers_db_for_write_with_and_without_routers() -> None:
    """write_alias() skips the router's call without DATABASE_ROUTERS, reading its list of
    routers and repeating its fallback (the instance's database, else the default one)."""
    unsaved = Document(title="unsaved")
    loaded_elsewhere = Document(title="loaded elsewhere")
    loaded_elsewhere._state.db = "replica"
    assert not routers_configured()
    for instance in (None, unsaved, loaded_elsewhere):
        assert write_alias(Document, instance) == router.db_for_write(Document, instance=instance)
    assert write_alias(Document, loaded_elsewhere) == "replica"
    assert write_alias(Document) == "default"
    with override_settings(DATABASE_ROUTERS=[_WritesToReplica()]):
        assert routers_configured()
        assert write_alias(Document, unsaved) == "replica"
        assert write_alias(Document) == router.db_for_write(Document) == "replica"
    assert not routers_configured()


class _ReadsFromReplica(_WritesToReplica):
    def db_for_read(self, model: Any, **hints: Any) -> str:
        return "replica"


def test_on_write_database_moves_a_queryset_only_when_a_router_reads_elsewhere() -> None:
    """Rule 54: the version a write is checked against is read where the write goes."""
    queryset = Document.objects.all()
    elsewhere = Document.objects.using("replica")
    assert on_write_database(queryset) is queryset  # no router: reads where it writes
    assert on_write_database(elsewhere) is elsewhere  # an explicit using() is kept
    with override_settings(DATABASE_ROUTERS=[_WritesToReplica()]):
        assert on_write_database(queryset).db == "replica"
        assert on_write_database(elsewhere) is elsewhere  # reads there already
    with override_settings(DATABASE_ROUTERS=[_ReadsFromReplica()]):
        assert on_write_database(Document.objects.all()).db == "replica"


@pytest.mark.django_db(transaction=True)
def test_on_commit_callbacks_are_dropped_with_their_savepoint_and_run_at_commit() -> None:
    """What ``VersionExpectation.settle()`` reads (``connection.run_on_commit``)."""
    from django_preconditions._compat import on_commit_pending

    ran: list[str] = []

    def dropped() -> None:
        ran.append("dropped")

    def kept() -> None:
        ran.append("kept")

    with transaction.atomic():
        with transaction.atomic():
            transaction.on_commit(dropped)
            assert on_commit_pending(connection, dropped)
            transaction.set_rollback(True)
        assert not on_commit_pending(connection, dropped)
        transaction.on_commit(kept)
        assert on_commit_pending(connection, kept)
    assert ran == ["kept"]
    assert not on_commit_pending(connection, kept)


def test_a_responses_resources_are_closed_with_the_response_they_are_handed_to() -> None:
    """Pins ``HttpResponseBase._resource_closers`` for ``_compat.hand_over_resources``: the
    file of a FileResponse and the ``close()`` of a streamed iterator are registered there and
    run when the response that holds them is closed."""
    import io

    from django.http import FileResponse, HttpResponse, StreamingHttpResponse

    from django_preconditions._compat import hand_over_resources

    handle = io.BytesIO(b"data")
    closed: list[str] = []

    class Parts:
        def __iter__(self) -> Any:
            return iter([b"a"])

        def close(self) -> None:
            closed.append("stream")

    for replaced in (FileResponse(handle), StreamingHttpResponse(Parts())):
        sent = HttpResponse(status=304)
        hand_over_resources(replaced, sent)
        assert replaced._resource_closers == []
        sent.close()
    assert handle.closed
    assert closed == ["stream"]
