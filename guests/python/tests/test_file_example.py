"""The Python file connector (examples/file) on CPython: the sample feed, paging,
cursors, settings, skipped lines and number ids, as the Rust connector gives them."""

import json
import os
import tempfile
import unittest

import support

import connector_sdk as sdk
import file_connector as fc
from connector_sdk import _host
from connector_sdk.settings import from_pairs
from connector_sdk.testing import FakeHost, drain, drain_columns, error_case, request

FEED = os.path.join(support.ROOT, "examples", "feeds", "factchecks.jsonl")
# guests/file.toml's [config], with the feed where this machine has it.
CONFIG = {
    "path": FEED,
    "id_field": "id",
    "record_type": "claim",
    "source_instance": "factcheck.example.org",
    "last_modified_field": "updated_at",
    "author_field": "author",
}


def run(config, limit=None):
    with FakeHost(config=config):
        return drain(sdk.export(fc.FileConnector)(), limit)


class SampleFeed(unittest.TestCase):
    def test_the_sample_feed_gives_35_drafts_and_skips_line_17(self):
        drafts, skipped = run(CONFIG)
        self.assertEqual(len(drafts), 35)
        self.assertEqual(len({d.record_id for d in drafts}), 35)
        with open(FEED, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for d in drafts:
            raw = json.loads(d.raw)
            self.assertEqual(raw["id"], d.record_id)
            self.assertIn(d.raw, [l.strip() for l in lines], "raw is the line's own text")
            self.assertEqual(d.record_type, _host.types.RecordType.CLAIM)
            self.assertEqual(d.source_instance, "factcheck.example.org")
            self.assertEqual(d.provenance.uri, f"file://{FEED}#{d.record_id}")
            self.assertEqual(d.provenance.last_modified, raw["updated_at"])
            self.assertEqual(d.provenance.author, raw["author"])
            self.assertEqual((d.acl_tags, d.metadata, d.provenance.etag), ([], None, None))
        self.assertEqual([(s.locator, s.reason) for s in skipped], [("line 17", "not a JSON object: EOF while parsing a string at column 637")])

    def test_paging_with_a_limit_gives_the_same_records(self):
        full, _ = run(CONFIG)
        paged, skipped = run(CONFIG, limit=4)
        self.assertEqual([d.record_id for d in paged], [d.record_id for d in full])
        self.assertEqual(len(skipped), 1)

    def test_cursors_are_byte_offsets_and_lines(self):
        with FakeHost(config=CONFIG):
            source = sdk.export(fc.FileConnector)()
            first = source.list_drafts(request(None, 2))
            with open(FEED, "rb") as f:
                two = len(f.readline()) + len(f.readline())
            self.assertEqual(first.next_cursor, f"v1:{two}:3")
            second = source.list_drafts(request(first.next_cursor, 1))
            self.assertEqual(second.drafts[0].record_id, "fc-2026-0003")
            last = source.list_drafts(request(None, 10_000))
            self.assertIsNone(last.next_cursor)

    def test_a_cursor_it_did_not_issue_is_refused(self):
        for bad in ["v2:0:1", "v1:0:0", "v1:x:1", "v1:0:1:2", "12"]:
            with FakeHost(config=CONFIG):
                with self.assertRaises(_host.Err) as ctx:
                    sdk.export(fc.FileConnector)().list_drafts(request(bad))
            self.assertEqual(
                error_case(ctx.exception),
                ("invalid-config", f"cursor `{bad}` was not issued by this connector (expected `v1:<offset>:<line>`)"),
            )

    def test_get_finds_a_record_or_says_not_found(self):
        with FakeHost(config=CONFIG):
            source = sdk.export(fc.FileConnector)()
            self.assertEqual(source.get_record("fc-2026-0005").id, "fc-2026-0005")
            with self.assertRaises(_host.Err) as ctx:
                source.get_record("fc-missing")
        self.assertEqual(error_case(ctx.exception), ("not-found", f"no record with id `fc-missing` in {FEED}"))

    def test_a_missing_file_is_not_found_with_a_hint(self):
        with FakeHost(config={"path": "/no/such/feed.jsonl"}):
            with self.assertRaises(_host.Err) as ctx:
                sdk.export(fc.FileConnector)().list_drafts(request())
        case, message = error_case(ctx.exception)
        self.assertEqual(case, "not-found")
        self.assertTrue(message.startswith("cannot open /no/such/feed.jsonl: No such file or directory (os error "), message)
        self.assertTrue(message.endswith("(is its directory granted in the manifest?)"))


class Settings(unittest.TestCase):
    def refused(self, pairs):
        with self.assertRaises(sdk.InvalidConfig) as ctx:
            from_pairs(fc.read_settings, pairs)
        return str(ctx.exception)

    def test_defaults_and_overrides(self):
        s = from_pairs(fc.read_settings, {"path": "/data/feeds/claims.jsonl"})
        self.assertEqual((s.format, s.id_field, s.record_type), ("jsonl", "id", sdk.RecordType.CLAIM))
        self.assertEqual((s.source_instance, s.page_size, s.acl_tags, s.author_field), ("claims.jsonl", 1000, [], None))
        s = from_pairs(
            fc.read_settings,
            {"path": "/d/x.data", "format": "json", "acl_tags": "a, b", "page_size": "5", "id_field": " "},
        )
        self.assertEqual((s.format, s.id_field, s.page_size, s.acl_tags), ("json", "id", 5, ["a", "b"]))

    def test_errors_keep_the_rust_connectors_wording(self):
        self.assertEqual(self.refused({}), "config `path` is required: the feed file to read")
        self.assertEqual(self.refused({"path": "/d/x.csv", "format": "csv"}), "config `format` is `csv`; expected `json` or `jsonl`")
        self.assertEqual(
            self.refused({"path": "/d/x.csv"}),
            "cannot tell the format of `/d/x.csv` from its extension; set config `format` to `json` or `jsonl`",
        )
        self.assertEqual(
            self.refused({"path": "/d/x.json", "record_type": "issue"}),
            "config `record_type` is `issue`; expected one of document, event, entity, claim, metric",
        )
        self.assertEqual(
            self.refused({"path": "/d/x.json", "page_size": "0"}), "config `page_size` is `0`; expected a positive whole number"
        )


class Feeds(unittest.TestCase):
    def feed(self, name, data):
        d = tempfile.mkdtemp()
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_a_json_array_feed(self):
        path = self.feed("feed.json", '[{"key": 7, "title": "Zürich"}, {"key": "b", "title": "two"}, {"title": "no key"}, 3]'.encode())
        drafts, skipped = run({"path": path, "id_field": "key", "record_type": "document"})
        self.assertEqual([d.record_id for d in drafts], ["7", "b"])
        self.assertEqual(drafts[0].raw, '{"key": 7, "title": "Zürich"}')
        self.assertEqual(drafts[0].record_type, _host.types.RecordType.DOCUMENT)
        self.assertEqual(drafts[0].source_instance, "feed.json")
        self.assertEqual(
            [(s.locator, s.reason) for s in skipped],
            [
                ("item 3", "no `key` field with a non-empty string or number"),
                ("item 4", "not a JSON object: invalid type: integer `3`, expected a JSON object"),
            ],
        )
        drafts, _ = run({"path": path, "id_field": "key"}, limit=1)
        self.assertEqual([d.record_id for d in drafts], ["7", "b"])

    def test_a_broken_json_array_is_a_parse_error(self):
        path = self.feed("bad.json", b'[{"id": 1}, {"id": ')
        with FakeHost(config={"path": path}):
            with self.assertRaises(_host.Err) as ctx:
                sdk.export(fc.FileConnector)().list_drafts(request())
        case, message = error_case(ctx.exception)
        self.assertEqual(case, "parse")
        self.assertTrue(message.startswith(f"{path} is not a JSON array of records: "), message)

    def test_every_kind_of_bad_line_is_skipped_with_its_reason(self):
        lines = [
            b'{"id": "ok-1"}',
            b"",
            b"   ",
            b"[1, 2]",
            b'"text"',
            b'{"id": ""}',
            b'{"id": null}',
            b'{"id": true}',
            b'{"id": {"a": 1}}',
            b'{"other": 1}',
            b'{"id": NaN}',
            b'{"id": 1e999}',
            b'{"id": "x\\ud800"}',
            b'{"id": "caf\xe9"}',
            b'{"id": "ok-2"} trailing',
            b'{"id": "ok-3"}\r',
        ]
        drafts, skipped = run({"path": self.feed("f.jsonl", b"\n".join(lines) + b"\n")})
        self.assertEqual([d.record_id for d in drafts], ["ok-1", "ok-3"])
        reasons = {s.locator: s.reason for s in skipped}
        self.assertNotIn("line 2", reasons)
        self.assertNotIn("line 3", reasons)
        self.assertEqual(reasons["line 4"], "not a JSON object: invalid type: sequence, expected a JSON object")
        self.assertEqual(reasons["line 5"], 'not a JSON object: invalid type: string "text", expected a JSON object')
        for n in (6, 7, 8, 9, 10):
            self.assertEqual(reasons[f"line {n}"], "no `id` field with a non-empty string or number")
        self.assertEqual(reasons["line 11"], "not a JSON object: expected value (`NaN` is not JSON)")
        self.assertEqual(reasons["line 12"], "not a JSON object: number out of range")
        self.assertEqual(reasons["line 13"], "not a JSON object: lone surrogate in hex escape")
        self.assertEqual(reasons["line 14"], "not UTF-8 (invalid utf-8 sequence of 1 bytes from index 11)")
        self.assertEqual(reasons["line 15"], "not a JSON object: trailing characters at column 16")

    def test_numbers_out_of_range_are_refused_however_they_are_written(self):
        long = "1" + "0" * 400
        lines = [
            b'{"id": "e-1", "x": 1E400}',
            b'{"id": "e-2", "x": [1, {"y": -2.5e+309}]}',
            ('{"id": "e-3", "x": ' + long + ".5}").encode(),
            b'{"id": "ok-1", "x": 1e300, "y": 0.51}',
            b'{"id": "ok-2", "x": 0.5, "text": "one e4 is not a number"}',
            ('{"id": "ok-3", "x": "' + long + '"}').encode(),
        ]
        drafts, skipped = run({"path": self.feed("n.jsonl", b"\n".join(lines) + b"\n")})
        self.assertEqual([d.record_id for d in drafts], ["ok-1", "ok-2", "ok-3"])
        self.assertEqual([(s.locator, s.reason) for s in skipped], [(f"line {n}", "not a JSON object: number out of range") for n in (1, 2, 3)])

    def test_the_one_call_parse_gives_what_the_careful_one_gives(self):
        texts = [
            '{"id": "a", "n": 1, "f": 0.25, "l": [1, 2.5, "x"], "o": {"k": null}}',
            '{"id": "\\u00fc", "t": true}',
            '{"id": "b"} trailing',
            '{"id": "c", "x": NaN}',
            '{"id": "d", "x": "\\ud800"}',
            '{"id": "e", "x": "unterminated}',
            '{"id": "f",}',
            "[1, 2]",
        ]
        for text in texts:
            for data in (None, text.encode()):
                try:
                    fast = ("ok", fc.parse_object(text, data))
                except ValueError as e:
                    fast = ("error", str(e))
                try:
                    value = fc._DECODER.decode(text)
                    careful = ("ok", value) if not ("\\u" in text and not fc._encodable(value)) else ("error", "lone surrogate in hex escape")
                except json.JSONDecodeError:
                    careful = ("error", fast[1])  # the wording is checked below
                except ValueError as e:
                    careful = ("error", str(e))
                self.assertEqual(fast, careful, text)
        self.assertEqual(self.reason(b'{"id": "b"} trailing'), "not a JSON object: trailing characters at column 13")
        self.assertEqual(self.reason(b'{"id": "f",}'), "not a JSON object: key must be a string at column 12")

    def reason(self, line):
        _, skipped = run({"path": self.feed("r.jsonl", line + b"\n")})
        return skipped[0].reason

    def test_number_ids_are_written_as_rust_writes_them(self):
        cases = [(7, "7"), (-3, "-3"), (1.5, "1.5"), (1.0, "1"), (1e21, "1000000000000000000000"), (1e-7, "0.0000001"), (2**64, "18446744073709552000"), (2**63, "9223372036854775808")]
        for value, text in cases:
            self.assertEqual(fc.scalar(value), text, value)
        self.assertIsNone(fc.scalar(True))
        self.assertIsNone(fc.scalar([1]))

    def test_ids_are_percent_encoded_in_the_uri(self):
        path = self.feed("f.jsonl", '{"id": "a b/ü#1"}\n{"id": "plain-1.x_~"}\n'.encode())
        drafts, _ = run({"path": path})
        self.assertEqual(drafts[0].provenance.uri, f"file://{path}#a%20b%2F%C3%BC%231")
        self.assertEqual(drafts[1].provenance.uri, f"file://{path}#plain-1.x_~")

    def test_a_file_of_broken_lines_still_comes_in_bounded_pages(self):
        path = self.feed("broken.jsonl", b"nope\n" * 25)
        with FakeHost(config={"path": path}):
            page = sdk.export(fc.FileConnector)().list_drafts(request(None, 10))
        self.assertEqual((len(page.drafts), len(page.skipped)), (0, 10))
        self.assertIsNotNone(page.next_cursor)


if __name__ == "__main__":
    unittest.main()


class ColumnsAgreeWithDrafts(unittest.TestCase):
    """The columns ingest takes give, page for page, the drafts of `list_drafts`."""

    def both(self, config, limit=None):
        with FakeHost(config=config):
            drafts = drain(sdk.export(fc.FileConnector)(), limit)
        with FakeHost(config=config):
            columns = drain_columns(sdk.export(fc.FileConnector)(), limit)
        self.assertEqual(columns, drafts)
        return drafts

    def test_on_the_sample_feed_in_pages_of_every_size(self):
        for limit in (None, 1, 4, 17, 100):
            drafts, skipped = self.both(CONFIG, limit)
            self.assertEqual((len(drafts), len(skipped)), (35, 1), limit)

    def test_on_bad_lines_numbers_and_a_json_array(self):
        with tempfile.TemporaryDirectory() as d:
            lines = b'{"id": "a", "x": 1e300}\n\n  \n{"id": 5}\n[1]\n{"id": "b\\u00e9", "updated_at": 7}\n\xff\n{"id": "c"} x\n'
            with open(os.path.join(d, "f.jsonl"), "wb") as f:
                f.write(lines)
            with open(os.path.join(d, "f.json"), "wb") as f:
                f.write(b'[{"id": "a"}, 3, {"id": "b", "author": "z\xc3\xab"}]')
            for path in ("f.jsonl", "f.json"):
                config = {"path": os.path.join(d, path), "last_modified_field": "updated_at", "author_field": "author"}
                for limit in (None, 2, 3):
                    drafts, _ = self.both(config, limit)
                    self.assertTrue(drafts, path)

