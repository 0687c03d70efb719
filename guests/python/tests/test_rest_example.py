"""The Python REST connector (examples/rest) against a fake upstream: next links,
Link headers, numbered pages, typed errors, and no credential of its own."""

import json
import unittest
from urllib.parse import parse_qs, urlsplit

import support  # noqa: F401

import connector_sdk as sdk
import rest_connector as rc
from connector_sdk import _host
from connector_sdk.testing import FakeHost, Reply, drain, error_case, request

BASE = "http://127.0.0.1:8089"
ITEMS = [{"id": i, "title": f"item {i}", "updated_at": f"2026-01-0{i}T00:00:00Z", "author": "me"} for i in range(1, 8)]


def api(req):
    """A paged API: `next` links in the body, or numbered pages."""
    u = urlsplit(req.url)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    if u.path == "/items":
        page, per = int(q.get("page", 1)), int(q.get("per_page", 3))
        body = {"items": ITEMS[(page - 1) * per : page * per]}
        if page * per < len(ITEMS) and "page" not in q:
            body["next"] = f"/items?page={page + 1}&per_page={per}"
        elif page * per < len(ITEMS) and q.get("style") != "numbers":
            body["next"] = f"{BASE}/items?page={page + 1}&per_page={per}"
        return Reply.json(body)
    if u.path == "/linked":
        page = int(q.get("page", 1))
        headers = [("Link", f'<{BASE}/linked?page={page + 1}>; rel="next"')] if page < 3 else []
        return Reply.json([{"id": f"p{page}"}], headers=headers)
    if u.path.startswith("/items/"):
        wanted = u.path.rsplit("/", 1)[1]
        for item in ITEMS:
            if str(item["id"]) == wanted:
                return Reply.json(item)
        return Reply(404, [], b'{"message": "no such item"}')
    return {
        "/busy": Reply(429, [("Retry-After", "3600")], b"slow down"),
        "/down": Reply(503, [], b"down"),
        "/html": Reply(200, [], b"<html>"),
        "/weird": Reply.json({"items": {"a": 1}}),
        "/mixed": Reply.json({"items": [{"id": "a"}, 5, {"no": "id"}, {"id": 2.5}]}),
        "/away": Reply.json({"items": [{"id": "x"}], "next": "http://127.0.0.2:8089/items?page=2"}),
    }[u.path]


CONFIG = {"base_url": BASE, "per_page_param": "per_page", "page_size": "3", "last_modified_field": "updated_at", "author_field": "author"}


def run(config, limit=None):
    with FakeHost(config=config, reply=api, allow=[BASE]) as host:
        drafts, skipped = drain(sdk.export(rc.RestConnector)(), limit)
    return drafts, skipped, host


def fails(config):
    """The (case, payload) a whole pass with `config` fails with."""
    with FakeHost(config=config, reply=api, allow=[BASE]):
        try:
            drain(sdk.export(rc.RestConnector)())
        except _host.Err as e:
            return error_case(e)
    raise AssertionError("the pass did not fail")


class Pages(unittest.TestCase):
    def test_next_links_are_followed_to_the_end(self):
        drafts, skipped, host = run(CONFIG)
        self.assertEqual([d.record_id for d in drafts], [str(i) for i in range(1, 8)])
        self.assertEqual(skipped, [])
        self.assertEqual(
            [r.url for r in host.requests],
            [f"{BASE}/items?per_page=3", f"{BASE}/items?page=2&per_page=3", f"{BASE}/items?page=3&per_page=3"],
        )
        d = drafts[0]
        self.assertEqual(json.loads(d.raw), ITEMS[0])
        self.assertEqual(d.record_type, _host.types.RecordType.DOCUMENT)
        self.assertEqual(d.source_instance, "127.0.0.1:8089/items")
        self.assertEqual(d.provenance.uri, f"{BASE}/items#1")
        self.assertEqual((d.provenance.last_modified, d.provenance.author), ("2026-01-01T00:00:00Z", "me"))

    def test_the_connector_sends_no_credential_of_its_own(self):
        _, _, host = run(CONFIG)
        for req in host.requests:
            self.assertEqual([name.lower() for name, _ in req.headers], ["accept"])

    def test_the_hosts_page_limit_caps_the_page_size(self):
        drafts, _, host = run(CONFIG, limit=2)
        self.assertEqual(len(drafts), 7)
        self.assertEqual(host.requests[0].url, f"{BASE}/items?per_page=2")

    def test_a_link_header_is_followed_when_the_body_has_no_next(self):
        drafts, _, host = run({"base_url": BASE, "path": "/linked"})
        self.assertEqual([d.record_id for d in drafts], ["p1", "p2", "p3"])
        self.assertEqual(host.requests[1].url, f"{BASE}/linked?page=2")

    def test_numbered_pages_end_with_a_short_page(self):
        config = dict(CONFIG, pagination="page", record_path="/items/{id}")
        drafts, _, host = run(config)
        self.assertEqual([d.record_id for d in drafts], [str(i) for i in range(1, 8)])
        self.assertEqual(host.requests[0].url, f"{BASE}/items?page=1&per_page=3")
        self.assertEqual(len(host.requests), 3)
        self.assertEqual(drafts[0].provenance.uri, f"{BASE}/items/1")

    def test_items_that_are_not_records_are_skipped(self):
        drafts, skipped, _ = run({"base_url": BASE, "path": "/mixed"})
        self.assertEqual([d.record_id for d in drafts], ["a"])
        self.assertEqual(
            [s.reason for s in skipped],
            ["not a JSON object", "no `id` field with a non-empty string or number", "no `id` field with a non-empty string or number"],
        )
        self.assertEqual(skipped[0].locator, f"{BASE}/mixed item 2")

    def test_a_cursor_of_the_other_mode_is_refused(self):
        with FakeHost(config=dict(CONFIG, pagination="page"), reply=api, allow=[BASE]):
            with self.assertRaises(_host.Err) as ctx:
                sdk.export(rc.RestConnector)().list_drafts(request('v1:{"url":"x"}'))
        case, message = error_case(ctx.exception)
        self.assertEqual(case, "invalid-config")
        self.assertIn("was not issued by this connector", message)


class Errors(unittest.TestCase):
    def test_errors_of_the_upstream_and_the_grant_keep_their_cases(self):
        self.assertEqual(fails(dict(CONFIG, path="/busy"))[0], "rate-limited")
        case, payload = fails(dict(CONFIG, path="/busy"))
        self.assertEqual(payload.retry_after_ms, 3_600_000)
        case, payload = fails(dict(CONFIG, path="/down"))
        self.assertEqual((case, payload.status), ("api", 503))
        case, message = fails(dict(CONFIG, path="/away"))
        self.assertEqual(case, "denied")
        self.assertIn("HTTP to http://127.0.0.2:8089 is not granted", message)
        case, message = fails(dict(CONFIG, path="/html"))
        self.assertEqual(case, "parse")
        self.assertTrue(message.startswith(f"GET {BASE}/html?per_page=3: the response body is not JSON"), message)
        case, message = fails(dict(CONFIG, path="/weird"))
        self.assertEqual((case, message), ("parse", f"GET {BASE}/weird?per_page=3: `items` in the body is dict, not a list of items"))

    def test_settings_are_checked(self):
        self.assertEqual(fails({}), ("invalid-config", "config `base_url` is required: the API's address (`https://api.example.com`)"))
        self.assertEqual(fails({"base_url": "ftp://x"}), ("invalid-config", "config `base_url` is `ftp://x`; expected an `http://` or `https://` URL"))
        self.assertEqual(fails(dict(CONFIG, pagination="cursor")), ("invalid-config", "config `pagination` is `cursor`; expected one of next, page"))
        self.assertEqual(fails(dict(CONFIG, record_path="/items")), ("invalid-config", "config `record_path` is `/items`; expected a path with `{id}` in it"))


class GetRecord(unittest.TestCase):
    def test_get_record_needs_a_record_path(self):
        with FakeHost(config=CONFIG, reply=api, allow=[BASE]):
            with self.assertRaises(_host.Err) as ctx:
                sdk.export(rc.RestConnector)().get_record("1")
        self.assertEqual(error_case(ctx.exception)[0], "unsupported")

    def test_get_record_fetches_one_item(self):
        with FakeHost(config=dict(CONFIG, record_path="/items/{id}"), reply=api, allow=[BASE]) as host:
            source = sdk.export(rc.RestConnector)()
            record = source.get_record("5")
            self.assertEqual((record.id, record.provenance.uri), ("5", f"{BASE}/items/5"))
            with self.assertRaises(_host.Err) as ctx:
                source.get_record("99")
        self.assertEqual(error_case(ctx.exception)[0], "not-found")
        self.assertEqual(host.requests[-1].url, f"{BASE}/items/99")


if __name__ == "__main__":
    unittest.main()
