"""The `columnar` export: a page of drafts as columns of bytes, derived from
`list_drafts` by default or filled by the connector, and the checks that name a
wrong column instead of trapping."""

import unittest

import support  # noqa: F401

import connector_sdk as sdk
from connector_sdk import _host
from connector_sdk.testing import FakeHost, drain, drain_columns, error_case, request, texts_of


def record(i, **provenance):
    return sdk.Record(str(i), {"id": str(i), "n": i}, sdk.Provenance(f"test://{i}", **provenance))


class Mixed(sdk.Connector):
    """Two pages whose drafts change type and tags part-way, with optional fields
    set on some drafts only, non-ASCII text and a skipped item."""

    def source_name(self):
        return "mixed"

    def list_records(self, cursor, limit):
        n = int(cursor or 0)
        records = [record(n, author="zoë" if n == 0 else None), record(n + 1, etag='"e1"'), record(n + 2)]
        skipped = [sdk.Skipped("item 9", "no id")] if n == 0 else []
        return sdk.Page(records, "3" if n == 0 else None, skipped)

    def to_envelopes(self, records):
        out = []
        for r in records:
            odd = int(r.id) % 2
            kind = sdk.RecordType.EVENT if odd else sdk.RecordType.CLAIM
            out.append(r.draft(kind, "inst-ü", ["t1"] if odd else [], {"n": r.id} if r.id == "4" else None))
        return out


class Filled(sdk.Connector):
    """A connector that fills its columns itself, with whatever the test puts there."""

    def __init__(self, fill):
        self.fill = fill

    def source_name(self):
        return "filled"

    def list_draft_columns(self, cursor, limit):
        block = sdk.Columns(sdk.RecordType.DOCUMENT, "inst")
        self.fill(block)
        return sdk.ColumnsPage([block])


def columns_of(connector):
    return sdk.export(lambda: connector).Columnar().list_draft_columns(request(None, None))


class DerivedColumns(unittest.TestCase):
    def test_the_columns_give_the_drafts_of_list_drafts(self):
        with FakeHost():
            drafts, skipped = drain(sdk.export(Mixed)())
        with FakeHost():
            columns, columns_skipped = drain_columns(sdk.export(Mixed)())
        self.assertEqual(len(drafts), 6)
        self.assertEqual(columns, drafts)
        self.assertEqual(columns_skipped, skipped)

    def test_a_block_for_each_run_of_drafts_that_share_type_instance_and_tags(self):
        with FakeHost():
            page = sdk.export(Mixed).Columnar().list_draft_columns(request(None, None))
        self.assertEqual([texts_of(b.record_ids, b.record_ids.count(b"\xff"), False) for b in page.blocks], [["0"], ["1"], ["2"]])
        self.assertEqual([b.acl_tags for b in page.blocks], [[], ["t1"], []])
        self.assertEqual(page.next_cursor, "3")
        # A column of nothing but none is sent empty; one with some none marks them.
        first, second = page.blocks[0], page.blocks[1]
        self.assertEqual((first.etags, first.authors), (b"", "zoë".encode() + b"\xff"))
        self.assertEqual(second.etags, b'"e1"\xff')
        self.assertEqual(second.authors, b"")

    def test_none_among_texts_is_the_byte_0xfe(self):
        def fill(b):
            b.add("a", "{}", "u:a", author="x")
            b.add("b", "{}", "u:b")
        with FakeHost():
            block = columns_of(Filled(fill)).blocks[0]
        self.assertEqual(block.authors, b"x\xff\xfe\xff")
        self.assertEqual(texts_of(block.authors, 2, True), ["x", None])
        self.assertEqual(block.metadata, b"")


class WrongColumns(unittest.TestCase):
    def refused(self, fill, connector=None):
        with FakeHost():
            with self.assertRaises(_host.Err) as raised:
                columns_of(connector or Filled(fill))
        case, message = error_case(raised.exception)
        self.assertEqual(case, "other")
        return message

    def test_a_column_of_another_length_is_named(self):
        def fill(b):
            b.add("a", "{}", "u:a")
            b.raws.append("{}")
        self.assertIn("block 0.raws has 2 entries for 1 record ids", self.refused(fill))

    def test_a_value_that_is_not_text_is_named_with_its_place(self):
        def fill(b):
            b.add("a", "{}", "u:a")
            b.add(7, "{}", "u:b")
        self.assertIn("block 0.record_ids[1] is int 7, expected str", self.refused(fill))

        def fill_optional(b):
            b.add("a", "{}", "u:a", last_modified=b"2026")
        self.assertIn("block 0.last_modified[0] is bytes", self.refused(fill_optional))

    def test_a_lone_surrogate_is_named_not_trapped_on(self):
        def fill(b):
            b.add("a", "{}", "u:\ud800")
        self.assertIn("block 0.uris[0] is not valid Unicode text (a lone surrogate at index 2)", self.refused(fill))

    def test_a_page_that_is_not_columns_is_named(self):
        class Wrong(Filled):
            def list_draft_columns(self, cursor, limit):
                return [1, 2]
        message = self.refused(None, Wrong(None))
        self.assertIn("list_draft_columns returned list, expected connector_sdk.ColumnsPage", message)

    def test_an_exception_while_filling_is_other_with_its_message(self):
        def fill(b):
            raise KeyError("gone")
        self.assertIn("KeyError", self.refused(fill))


if __name__ == "__main__":
    unittest.main()
