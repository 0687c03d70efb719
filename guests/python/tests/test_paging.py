"""Paging helpers: page sizes, versioned cursors, in-memory pages, Link headers, URLs."""

import unittest

import support  # noqa: F401

import connector_sdk as sdk
from connector_sdk import paging


class PageSizes(unittest.TestCase):
    def test_the_hosts_limit_wins_within_bounds(self):
        self.assertEqual(paging.page_size(None, 100), 100)
        self.assertEqual(paging.page_size(25, 100), 25)
        self.assertEqual(paging.page_size(0, 100), 1)
        self.assertEqual(paging.page_size(50_000, 100), paging.MAX_PAGE)
        self.assertEqual(paging.page_size(500, 100, maximum=200), 200)


class Cursors(unittest.TestCase):
    def test_a_cursor_round_trips_and_is_versioned(self):
        c = paging.encode_cursor({"url": "https://h/x?page=2", "n": 3})
        self.assertEqual(c, 'v1:{"n":3,"url":"https://h/x?page=2"}')
        self.assertEqual(paging.decode_cursor(c), {"n": 3, "url": "https://h/x?page=2"})
        self.assertEqual(paging.decode_cursor(None, start=0), 0)
        self.assertEqual(paging.decode_cursor(paging.encode_cursor(5, "v2"), "v2"), 5)

    def test_a_foreign_cursor_is_invalid_config_naming_it(self):
        for bad in ["v2:{}", "v1:{nope", "12", ""]:
            with self.assertRaises(sdk.InvalidConfig) as ctx:
                paging.decode_cursor(bad)
            self.assertEqual(
                str(ctx.exception), f"cursor `{bad}` was not issued by this connector (expected `v1:<json>`)"
            )
        with self.assertRaises(sdk.InvalidConfig) as ctx:
            paging.decode_cursor("x" * 1000)
        self.assertLess(len(str(ctx.exception)), 300)

    def test_offset_pages_cover_a_sequence_once(self):
        items = list(range(10))
        seen, cursor = [], None
        while True:
            page, cursor = paging.offset_page(items, cursor, 4)
            seen.extend(page)
            if cursor is None:
                break
        self.assertEqual(seen, items)
        self.assertEqual(paging.offset_page(items, None, 10), (items, None))
        self.assertEqual(paging.offset_page([], None, 10), ([], None))
        with self.assertRaises(sdk.InvalidConfig):
            paging.offset_page(items, "v1:-3", 4)
        with self.assertRaises(sdk.InvalidConfig):
            paging.offset_page(items, 'v1:"a"', 4)


class LinkHeaders(unittest.TestCase):
    def test_next_is_found_among_other_relations(self):
        h = '<https://api.github.com/repos/o/r/issues?page=2>; rel="next", <https://api.github.com/repos/o/r/issues?page=9>; rel="last"'
        self.assertEqual(paging.parse_link_next(h), "https://api.github.com/repos/o/r/issues?page=2")
        self.assertEqual(paging.parse_link_next('<https://x/last>; rel="last", <https://x/next>; rel=next'), "https://x/next")
        self.assertEqual(paging.parse_link_next('<https://x/2>; rel="prev NEXT"'), "https://x/2")
        self.assertEqual(paging.parse_link_next('<https://x/a,b>; title="a, b; c"; rel="next"'), "https://x/a,b")

    def test_no_next_or_a_malformed_link_is_none(self):
        for h in ['<https://x/1>; rel="prev"', "garbage", "", "<>; rel=next", '<https://x/1>; rel="nextpage"']:
            self.assertIsNone(paging.parse_link_next(h), h)

    def test_link_next_looks_through_every_link_header(self):
        headers = [("content-type", "application/json"), ("Link", '<a>; rel="prev"'), ("link", "</items?page=3>; rel=next")]
        self.assertEqual(paging.link_next(headers), "/items?page=3")
        self.assertEqual(paging.header(headers, "CONTENT-TYPE"), "application/json")
        self.assertIsNone(paging.header(headers, "etag"))


class Urls(unittest.TestCase):
    def test_relative_references_resolve_against_the_page(self):
        base = "https://api.example.com/v1/items?page=1"
        self.assertEqual(paging.resolve_url(base, "?page=2"), "https://api.example.com/v1/items?page=2")
        self.assertEqual(paging.resolve_url(base, "/v2/x"), "https://api.example.com/v2/x")
        self.assertEqual(paging.resolve_url(base, "other?a=1"), "https://api.example.com/v1/other?a=1")
        self.assertEqual(paging.resolve_url(base, " https://elsewhere/x "), "https://elsewhere/x")

    def test_params_are_encoded_and_appended(self):
        self.assertEqual(paging.with_params("https://h/x", {"q": "a b&c", "n": 2}), "https://h/x?q=a+b%26c&n=2")
        self.assertEqual(paging.with_params("https://h/x?a=1", [("b", True), ("c", None)]), "https://h/x?a=1&b=true")
        self.assertEqual(paging.with_params("https://h/x#frag", {"a": 1}), "https://h/x?a=1#frag")
        self.assertEqual(paging.with_params("https://h/x", None), "https://h/x")
        self.assertEqual(paging.with_params("https://h/x", {"a": None}), "https://h/x")


if __name__ == "__main__":
    unittest.main()
