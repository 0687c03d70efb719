"""Unit tests of the connector on plain CPython, with the kit's fake host (no
component, no network): ``python3 -m unittest``."""

import os
import sys
import unittest
from urllib.parse import parse_qs, urlsplit

sys.dont_write_bytecode = True  # keep bytecode out of src/, which the build copies
HERE = os.path.dirname(os.path.abspath(__file__))
for path in ("{{kit}}/python", os.path.join(os.path.dirname(HERE), "src")):
    if path not in sys.path:
        sys.path.insert(0, path)

import connector_sdk as sdk  # noqa: E402
import {{name_snake}}_connector as connector  # noqa: E402
from connector_sdk.testing import FakeHost, Reply, drain, error_case, request  # noqa: E402

BASE = "https://api.example.com"
ITEMS = [{"id": i, "title": f"item {i}", "updated_at": f"2026-01-0{i}T00:00:00Z"} for i in range(1, 6)]


def api(req):
    """A fake API: pages of 3 items, and one item by id."""
    u = urlsplit(req.url)
    if u.path == "/items":
        page = int(parse_qs(u.query)["page"][0])
        return Reply.json({"items": ITEMS[(page - 1) * 3 : page * 3], "next": page + 1 if page * 3 < len(ITEMS) else None})
    for item in ITEMS:
        if u.path == f"/items/{item['id']}":
            return Reply.json(item)
    return Reply(404, [], b'{"message": "no such item"}')


def source():
    return sdk.export(connector.Connector)()


class ConnectorTest(unittest.TestCase):
    def test_two_pages_of_drafts(self):
        with FakeHost(config={"base_url": BASE}, reply=api, allow=[BASE]) as host:
            drafts, skipped = drain(source())
        self.assertEqual([d.record_id for d in drafts], ["1", "2", "3", "4", "5"])
        self.assertEqual(skipped, [])
        self.assertEqual(drafts[0].provenance.uri, f"{BASE}/items/1")
        self.assertEqual(drafts[0].provenance.last_modified, "2026-01-01T00:00:00Z")
        self.assertEqual(drafts[0].source_instance, "api.example.com")
        self.assertEqual([r.url for r in host.requests], [f"{BASE}/items?page=1", f"{BASE}/items?page=2"])

    def test_get_record_and_not_found(self):
        with FakeHost(config={"base_url": BASE}, reply=api, allow=[BASE]):
            self.assertEqual(source().get_record("3").id, "3")
            with self.assertRaises(Exception) as raised:
                source().get_record("9")
        self.assertEqual(error_case(raised.exception)[0], "not-found")

    def test_items_without_an_id_are_skipped(self):
        s = connector.Settings(base_url=BASE, record_type=sdk.RecordType.DOCUMENT)
        page = connector.parse_page(s, "u", {"items": [{"id": "a"}, {"title": "no id"}, 7], "next": None})
        self.assertEqual([r.id for r in page.records], ["a"])
        self.assertEqual([k.locator for k in page.skipped], ["item 2 of u", "item 3 of u"])
        for body in ({"data": []}, {"items": [], "next": "soon"}):
            with self.assertRaises(sdk.Parse):
                connector.parse_page(s, "u", body)

    def test_config_and_cursor_errors_are_invalid_config(self):
        for config, cursor in (({}, None), ({"base_url": BASE, "record_type": "issue"}, None), ({"base_url": BASE}, "x")):
            with FakeHost(config=config, reply=api, allow=[BASE]):
                with self.assertRaises(Exception) as raised:
                    source().list_drafts(request(cursor))
            self.assertEqual(error_case(raised.exception)[0], "invalid-config", config)


if __name__ == "__main__":
    unittest.main()
