"""Django's own tests/conditional_processing/tests.py, run against our drop-in ``condition``,
``etag`` and ``last_modified``.

Every Django assertion is kept, except where a CONFORMANCE rule says otherwise; there the
test asserts our behaviour and cites the rule. The classes after ``ConditionalGet`` cover what
the drop-ins add: malformed ``If-Match`` → 400 (rule 5), comma-aware list parsing (rule 2),
and the async view.
"""

from __future__ import annotations

import json

from django.test import SimpleTestCase

from tests.conditional_processing.views import (
    ETAG,
    EXPIRED_ETAG,
    EXPIRED_LAST_MODIFIED_STR,
    FULL_RESPONSE,
    LAST_MODIFIED_INVALID_STR,
    LAST_MODIFIED_NEWER_STR,
    LAST_MODIFIED_STR,
    WEAK_ETAG,
)

PROBLEM_JSON = "application/problem+json"


class ConditionalGet(SimpleTestCase):
    """Django's suite. ``tests/support/urls.py`` mounts the views under /condition/ as Django does."""

    def assertFullResponse(self, response, check_last_modified=True, check_etag=True):
        assert response.status_code == 200
        assert response.content == FULL_RESPONSE.encode()
        if response.request["REQUEST_METHOD"] in ("GET", "HEAD"):
            if check_last_modified:
                assert response.headers["Last-Modified"] == LAST_MODIFIED_STR
            if check_etag:
                assert response.headers["ETag"] == ETAG
        else:
            assert "Last-Modified" not in response.headers
            assert "ETag" not in response.headers

    def assertNotModified(self, response):
        assert response.status_code == 304
        assert response.content == b""

    def test_without_conditions(self):
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

    def test_if_modified_since(self):
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.get("/condition/")
        self.assertNotModified(response)
        response = self.client.put("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_NEWER_STR
        response = self.client.get("/condition/")
        self.assertNotModified(response)
        response = self.client.put("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_INVALID_STR
        response = self.client.get("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

    def test_if_unmodified_since(self):
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.get("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_NEWER_STR
        response = self.client.get("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_INVALID_STR
        response = self.client.get("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        response = self.client.get("/condition/")
        assert response.status_code == 412

    def test_if_none_match(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/")
        self.assertNotModified(response)
        response = self.client.put("/condition/")
        assert response.status_code == 412
        self.client.defaults["HTTP_IF_NONE_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

        # Several etags in If-None-Match is a bit exotic but why not?
        self.client.defaults["HTTP_IF_NONE_MATCH"] = f"{ETAG}, {EXPIRED_ETAG}"
        response = self.client.get("/condition/")
        self.assertNotModified(response)

    def test_weak_if_none_match(self):
        """
        If-None-Match comparisons should use weak matching, so weak and strong
        ETags with the same value should result in a 304 response.
        """
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/weak_etag/")
        self.assertNotModified(response)
        response = self.client.put("/condition/weak_etag/")
        assert response.status_code == 412

        self.client.defaults["HTTP_IF_NONE_MATCH"] = WEAK_ETAG
        response = self.client.get("/condition/weak_etag/")
        self.assertNotModified(response)
        response = self.client.put("/condition/weak_etag/")
        assert response.status_code == 412
        response = self.client.get("/condition/")
        self.assertNotModified(response)
        response = self.client.put("/condition/")
        assert response.status_code == 412

    def test_all_if_none_match(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = "*"
        response = self.client.get("/condition/")
        self.assertNotModified(response)
        response = self.client.put("/condition/")
        assert response.status_code == 412
        response = self.client.get("/condition/no_etag/")
        self.assertFullResponse(response, check_last_modified=False, check_etag=False)

    def test_if_match(self):
        self.client.defaults["HTTP_IF_MATCH"] = ETAG
        response = self.client.put("/condition/")
        self.assertFullResponse(response)
        self.client.defaults["HTTP_IF_MATCH"] = EXPIRED_ETAG
        response = self.client.put("/condition/")
        assert response.status_code == 412

    def test_weak_if_match(self):
        """
        If-Match comparisons should use strong matching, so any comparison
        involving a weak ETag should return a 412 response.
        """
        # Rule 10: the drop-ins with arbitrary ETag functions keep strict comparison.
        self.client.defaults["HTTP_IF_MATCH"] = ETAG
        response = self.client.get("/condition/weak_etag/")
        assert response.status_code == 412

        self.client.defaults["HTTP_IF_MATCH"] = WEAK_ETAG
        response = self.client.get("/condition/weak_etag/")
        assert response.status_code == 412
        response = self.client.get("/condition/")
        assert response.status_code == 412

    def test_all_if_match(self):
        self.client.defaults["HTTP_IF_MATCH"] = "*"
        response = self.client.get("/condition/")
        self.assertFullResponse(response)
        response = self.client.get("/condition/no_etag/")
        assert response.status_code == 412

    def test_both_headers(self):
        # See RFC 9110 Section 13.2.2.
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/")
        self.assertNotModified(response)

        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/")
        self.assertNotModified(response)

        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_NONE_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_NONE_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

    def test_both_headers_2(self):
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_MATCH"] = ETAG
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_MATCH"] = ETAG
        response = self.client.get("/condition/")
        self.assertFullResponse(response)

        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/")
        assert response.status_code == 412

        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_STR
        self.client.defaults["HTTP_IF_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/")
        assert response.status_code == 412

    def test_single_condition_1(self):
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified/")
        self.assertNotModified(response)
        response = self.client.get("/condition/etag/")
        self.assertFullResponse(response, check_last_modified=False)

    def test_single_condition_2(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/etag/")
        self.assertNotModified(response)
        response = self.client.get("/condition/last_modified/")
        self.assertFullResponse(response, check_etag=False)

    def test_single_condition_3(self):
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified/")
        self.assertFullResponse(response, check_etag=False)

    def test_single_condition_4(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/etag/")
        self.assertFullResponse(response, check_last_modified=False)

    def test_single_condition_5(self):
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified2/")
        self.assertNotModified(response)
        response = self.client.get("/condition/etag2/")
        self.assertFullResponse(response, check_last_modified=False)

    def test_single_condition_6(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/etag2/")
        self.assertNotModified(response)
        response = self.client.get("/condition/last_modified2/")
        self.assertFullResponse(response, check_etag=False)

    def test_single_condition_7(self):
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified/")
        assert response.status_code == 412
        response = self.client.get("/condition/etag/")
        # Rule 25: a resource with no modification time ignores If-Unmodified-Since, so this
        # view (an ETag function, no last-modified function) answers in full. Django: 412.
        self.assertFullResponse(response, check_last_modified=False)

    def test_single_condition_8(self):
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified/")
        self.assertFullResponse(response, check_etag=False)

    def test_single_condition_9(self):
        self.client.defaults["HTTP_IF_UNMODIFIED_SINCE"] = EXPIRED_LAST_MODIFIED_STR
        response = self.client.get("/condition/last_modified2/")
        assert response.status_code == 412
        response = self.client.get("/condition/etag2/")
        # Rule 25: If-Unmodified-Since on a view with no last-modified function is ignored
        # → 200, not Django's 412.
        self.assertFullResponse(response, check_last_modified=False)

    def test_single_condition_head(self):
        self.client.defaults["HTTP_IF_MODIFIED_SINCE"] = LAST_MODIFIED_STR
        response = self.client.head("/condition/")
        self.assertNotModified(response)

    def test_unquoted(self):
        """
        The same quoted ETag should be set on the header regardless of whether
        etag_func() in condition() returns a quoted or an unquoted ETag.
        """
        response_quoted = self.client.get("/condition/etag/")
        response_unquoted = self.client.get("/condition/unquoted_etag/")
        assert response_quoted["ETag"] == response_unquoted["ETag"]

    # It's possible that the matching algorithm could use the wrong value even
    # if the ETag header is set correctly (as tested by test_unquoted()), so
    # check that the unquoted value is matched.
    def test_unquoted_if_none_match(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = ETAG
        response = self.client.get("/condition/unquoted_etag/")
        self.assertNotModified(response)
        response = self.client.put("/condition/unquoted_etag/")
        assert response.status_code == 412
        self.client.defaults["HTTP_IF_NONE_MATCH"] = EXPIRED_ETAG
        response = self.client.get("/condition/unquoted_etag/")
        self.assertFullResponse(response, check_last_modified=False)

    def test_invalid_etag(self):
        self.client.defaults["HTTP_IF_NONE_MATCH"] = '"""'
        response = self.client.get("/condition/etag/")
        self.assertFullResponse(response, check_last_modified=False)


class MalformedIfMatchIsRefused(SimpleTestCase):
    """Rule 5: Django drops an unparseable If-Match and runs the view; we answer 400."""

    def assert_malformed_if_match(self, response, received):
        assert response.status_code == 400
        assert response["Content-Type"] == PROBLEM_JSON
        problem = json.loads(response.content)
        assert problem["status"] == 400
        assert problem["header"] == "If-Match"
        assert problem["received"] == received
        assert "quoted entity-tags" in problem["expected"]
        assert problem["title"]
        assert problem["detail"]
        assert problem["instance"] == response.request["PATH_INFO"]
        assert FULL_RESPONSE not in response.content.decode()

    def test_an_unquoted_if_match_is_answered_400_not_ignored(self):
        value = ETAG.strip('"')
        response = self.client.get("/condition/", headers={"if-match": value})
        self.assert_malformed_if_match(response, value)

    def test_an_unquoted_if_match_on_put_never_reaches_the_view(self):
        value = ETAG.strip('"')
        response = self.client.put("/condition/etag/", headers={"if-match": value})
        self.assert_malformed_if_match(response, value)

    def test_a_wildcard_combined_with_tags_is_answered_400(self):
        value = f"*, {ETAG}"
        response = self.client.put("/condition/", headers={"if-match": value})
        self.assert_malformed_if_match(response, value)
        assert "stand alone" in json.loads(response.content)["detail"]

    def test_an_empty_if_match_is_answered_400(self):
        response = self.client.put("/condition/", headers={"if-match": ""})
        self.assert_malformed_if_match(response, "")

    def test_an_if_match_with_unbalanced_quotes_is_answered_400(self):
        value = ETAG[:-1]
        response = self.client.put("/condition/", headers={"if-match": value})
        self.assert_malformed_if_match(response, value)

    def test_the_problem_body_shows_the_expected_form_in_an_example(self):
        response = self.client.get("/condition/", headers={"if-match": "v2"})
        problem = json.loads(response.content)
        assert problem["example"].startswith("If-Match: ")
        assert "v2" in problem["detail"]

    def test_a_malformed_if_none_match_on_get_is_ignored_as_django_does(self):
        # Rule 5 concerns If-Match; for GET an unparseable If-None-Match only costs a full
        # response (Django's test_invalid_etag above).
        response = self.client.get("/condition/", headers={"if-none-match": "v2"})
        assert response.status_code == 200
        assert response.content == FULL_RESPONSE.encode()


class EntityTagListParsing(SimpleTestCase):
    """Rules 1 and 2 through the drop-in ``condition``."""

    url = "/extra/condition/comma/"

    def test_the_comma_etag_is_served_as_one_tag(self):
        response = self.client.get(self.url)
        assert response.status_code == 200
        assert response["ETag"] == '"a,b"'

    def test_if_match_with_a_comma_inside_quotes_matches_that_tag(self):
        # Rule 2: Django splits on every comma and so fails to match ("a and b" are dropped).
        response = self.client.put(self.url, headers={"if-match": '"a,b"'})
        assert response.status_code == 200
        assert response.content == b"comma"

    def test_if_match_with_a_comma_tag_inside_a_list_matches(self):
        response = self.client.put(self.url, headers={"if-match": '"x", "a,b", "y"'})
        assert response.status_code == 200

    def test_the_halves_of_a_comma_tag_do_not_match_it(self):
        response = self.client.put(self.url, headers={"if-match": '"a", "b"'})
        assert response.status_code == 412

    def test_if_none_match_with_a_comma_tag_is_not_modified(self):
        response = self.client.get(self.url, headers={"if-none-match": '"a,b"'})
        assert response.status_code == 304
        assert response["ETag"] == '"a,b"'

    def test_any_member_of_an_if_match_list_passes(self):
        # Rule 1: two header lines arrive joined with a comma, as servers deliver them.
        response = self.client.put("/condition/", headers={"if-match": f"{EXPIRED_ETAG}, {ETAG}"})
        assert response.status_code == 200
        response = self.client.put("/condition/", headers={"if-match": f"{EXPIRED_ETAG},{ETAG}"})
        assert response.status_code == 200

    def test_if_match_compares_case_sensitively(self):
        # Rule 3.
        response = self.client.put("/condition/", headers={"if-match": ETAG.upper()})
        assert response.status_code == 412


class AsyncConditionalGet(SimpleTestCase):
    """The async view at /condition/async/ behaves like the sync one at /condition/."""

    url = "/condition/async/"

    def assert_full_response(self, response):
        assert response.status_code == 200
        assert response.content == FULL_RESPONSE.encode()
        assert response["ETag"] == ETAG
        assert response["Last-Modified"] == LAST_MODIFIED_STR

    def assert_not_modified(self, response):
        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == ETAG

    async def test_an_unconditional_get_answers_in_full_with_validators(self):
        self.assert_full_response(await self.async_client.get(self.url))

    async def test_a_matching_if_none_match_is_not_modified(self):
        response = await self.async_client.get(self.url, headers={"if-none-match": ETAG})
        self.assert_not_modified(response)
        response = await self.async_client.get(self.url, headers={"if-none-match": WEAK_ETAG})
        self.assert_not_modified(response)

    async def test_a_stale_if_none_match_answers_in_full(self):
        response = await self.async_client.get(self.url, headers={"if-none-match": EXPIRED_ETAG})
        self.assert_full_response(response)

    async def test_if_modified_since_is_not_modified_and_expired_answers_in_full(self):
        response = await self.async_client.get(
            self.url, headers={"if-modified-since": LAST_MODIFIED_STR}
        )
        self.assert_not_modified(response)
        response = await self.async_client.get(
            self.url, headers={"if-modified-since": EXPIRED_LAST_MODIFIED_STR}
        )
        self.assert_full_response(response)

    async def test_if_match_passes_with_the_current_tag_and_fails_with_an_old_one(self):
        response = await self.async_client.put(self.url, headers={"if-match": ETAG})
        assert response.status_code == 200
        assert response.content == FULL_RESPONSE.encode()
        assert "ETag" not in response.headers
        response = await self.async_client.put(self.url, headers={"if-match": EXPIRED_ETAG})
        assert response.status_code == 412

    async def test_if_none_match_on_put_fails(self):
        response = await self.async_client.put(self.url, headers={"if-none-match": ETAG})
        assert response.status_code == 412

    async def test_an_expired_if_unmodified_since_fails(self):
        response = await self.async_client.get(
            self.url, headers={"if-unmodified-since": EXPIRED_LAST_MODIFIED_STR}
        )
        assert response.status_code == 412
        response = await self.async_client.get(
            self.url, headers={"if-unmodified-since": LAST_MODIFIED_STR}
        )
        self.assert_full_response(response)

    async def test_a_malformed_if_match_is_answered_400(self):
        # Rule 5.
        response = await self.async_client.put(self.url, headers={"if-match": "unquoted"})
        assert response.status_code == 400
        assert response["Content-Type"] == PROBLEM_JSON
        assert json.loads(response.content)["header"] == "If-Match"

    async def test_the_async_and_sync_views_answer_alike(self):
        cases = [
            ("get", {}),
            ("get", {"if-none-match": ETAG}),
            ("get", {"if-modified-since": LAST_MODIFIED_STR}),
            ("get", {"if-unmodified-since": EXPIRED_LAST_MODIFIED_STR}),
            ("head", {"if-modified-since": LAST_MODIFIED_STR}),
            ("put", {"if-match": ETAG}),
            ("put", {"if-match": EXPIRED_ETAG}),
            ("put", {"if-match": "bad"}),
            ("put", {"if-none-match": "*"}),
        ]
        for method, headers in cases:
            sync_response = await self.async_client.generic(
                method.upper(), "/condition/", b"", headers=headers
            )
            async_response = await self.async_client.generic(
                method.upper(), self.url, b"", headers=headers
            )
            assert async_response.status_code == sync_response.status_code, (method, headers)
            assert async_response.content == sync_response.content.replace(
                b"/condition/", b"/condition/async/"
            ), (method, headers)
            for name in ("ETag", "Last-Modified"):
                assert async_response.headers.get(name) == sync_response.headers.get(name)
