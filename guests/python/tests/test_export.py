"""The `source` export the SDK builds from a connector: draft derivation, error
mapping, and the checks that keep a wrong return value from trapping."""

import unittest

import support  # noqa: F401

import connector_sdk as sdk
from connector_sdk import _host
from connector_sdk.testing import FakeHost, drain, error_case, request


def record(i, **provenance):
    return sdk.Record(str(i), {"id": str(i), "n": i}, sdk.Provenance(f"test://{i}", **provenance))


class Paged(sdk.Connector):
    """Three pages of two records, with a skipped item on the second page."""

    made = 0

    def __init__(self):
        Paged.made += 1
        self.calls = []

    def source_name(self):
        return "paged"

    def list_records(self, cursor, limit):
        self.calls.append(("list_records", cursor, limit))
        n = int(cursor or 0)
        skipped = [sdk.Skipped("item 3", "no id")] if n == 2 else []
        return sdk.Page([record(n), record(n + 1)], str(n + 2) if n < 4 else None, skipped)

    def to_envelopes(self, records):
        self.calls.append(("to_envelopes", [r.id for r in records]))
        return [r.draft(sdk.RecordType.CLAIM, "instance-a", ["team"], {"rank": r.id}) for r in records]


class Raising(sdk.Connector):
    """Raises `error` from every call."""

    error = ValueError("boom")

    def source_name(self):
        raise type(self).error

    def list_records(self, cursor, limit):
        raise type(self).error

    def get_record(self, id):
        raise type(self).error

    def to_envelopes(self, records):
        raise type(self).error


def raising(error):
    return type("R", (Raising,), {"error": error})


def failure(call):
    """The (case, payload) of the error `call()` raises."""
    try:
        call()
    except _host.Err as e:
        return error_case(e)
    raise AssertionError("no error")


class DraftDerivation(unittest.TestCase):
    def test_list_drafts_is_to_envelopes_of_list_records_in_one_call(self):
        with FakeHost():
            source = sdk.export(Paged)()
            page = source.list_drafts(request("2", 50))
            connector_calls = source_connector(source).calls
            self.assertEqual(connector_calls, [("list_records", "2", 50), ("to_envelopes", ["2", "3"])])
            self.assertEqual([d.record_id for d in page.drafts], ["2", "3"])
            self.assertEqual(page.next_cursor, "4")
            self.assertEqual([(s.locator, s.reason) for s in page.skipped], [("item 3", "no id")])
            d = page.drafts[0]
            self.assertEqual(d.record_type, _host.types.RecordType.CLAIM)
            self.assertEqual((d.source_instance, d.acl_tags, d.metadata), ("instance-a", ["team"], '{"rank":"2"}'))
            self.assertEqual(d.raw, '{"id":"2","n":2}')
            self.assertEqual(d.provenance, _host.types.Provenance("test://2", None, None, None))

            # The same drafts as the two separate exports give.
            listed = source.list_records(request("2", 50))
            drafts = source.to_envelopes(listed.records)
            self.assertEqual(drafts, page.drafts)
            self.assertEqual(listed.next_cursor, page.next_cursor)

    def test_a_whole_pass_pages_to_the_end(self):
        with FakeHost():
            drafts, skipped = drain(sdk.export(Paged)())
            self.assertEqual([d.record_id for d in drafts], ["0", "1", "2", "3", "4", "5"])
            self.assertEqual(len(skipped), 1)

    def test_the_connector_is_made_on_the_first_call_and_kept(self):
        before = Paged.made
        Source = sdk.export(Paged)
        a, b = Source(), Source()  # componentize-py makes one per export
        self.assertEqual(Paged.made, before, "nothing may be made while the component is built")
        with FakeHost():
            a.list_drafts(request())
            b.list_records(request())
        self.assertEqual(Paged.made, before + 1)

    def test_to_envelopes_gets_sdk_records(self):
        seen = []

        class Spy(Paged):
            def to_envelopes(self, records):
                seen.extend(records)
                return super().to_envelopes(records)

        with FakeHost():
            source = sdk.export(Spy)()
            wit = _host.types.SourceRecord("x", '{"a":1}', _host.types.Provenance("u://x", "e1", "2026", "me"))
            source.to_envelopes([wit])
        self.assertEqual(seen, [sdk.Record("x", '{"a":1}', sdk.Provenance("u://x", "e1", "2026", "me"))])

    def test_get_record_defaults_to_unsupported_and_none_is_not_found(self):
        class Finder(Paged):
            def get_record(self, id):
                return record(id) if id == "7" else None

        with FakeHost():
            self.assertEqual(
                failure(lambda: sdk.export(Paged)().get_record("1")),
                ("unsupported", "connector `paged` does not offer get-record"),
            )
            source = sdk.export(Finder)()
            self.assertEqual(source.get_record("7").id, "7")
            self.assertEqual(failure(lambda: source.get_record("8")), ("not-found", "no record with id `8`"))


class ErrorMapping(unittest.TestCase):
    def test_an_uncaught_exception_is_other_with_its_type_message_and_place(self):
        with FakeHost() as host:
            source = sdk.export(raising(ValueError("boom")))()
            for call, name in [
                (lambda: source.list_records(request()), "list-records"),
                (lambda: source.list_drafts(request()), "list-drafts"),
                (lambda: source.get_record("1"), "get-record"),
                (lambda: source.to_envelopes([]), "to-envelopes"),
            ]:
                case, message = failure(call)
                self.assertEqual(case, "other")
                self.assertTrue(message.startswith(f"{name}: uncaught ValueError: boom (at "), message)
                self.assertIn("test_export.py:", message)
                self.assertTrue(message.endswith(")") and ", in " in message, message)
            # Each traceback went to the host's log.
            errors = [m for level, m in host.logs if level == "error"]
            self.assertEqual(len(errors), 4)
            self.assertIn("Traceback (most recent call last)", errors[0])
            self.assertIn("ValueError: boom", errors[0])

    def test_any_exception_at_all_is_other_never_a_trap(self):
        with FakeHost():
            for error, kind in [
                (KeyError("k"), "KeyError: 'k'"),
                (SystemExit(3), "SystemExit: 3"),
                (RecursionError("deep"), "RecursionError: deep"),
                (NotImplementedError(), "NotImplementedError"),
                (sdk.ConnectorError("base"), None),
            ]:
                case, message = failure(lambda: sdk.export(raising(error))().list_drafts(request()))
                self.assertEqual(case, "other", message)
                if kind:
                    self.assertIn(f"list-drafts: uncaught {kind}", message)
                else:
                    self.assertEqual(message, "base")

    def test_a_long_message_is_bounded(self):
        with FakeHost():
            case, message = failure(lambda: sdk.export(raising(ValueError("x" * 100_000)))().list_drafts(request()))
        self.assertEqual(case, "other")
        self.assertLess(len(message), 4200)
        self.assertIn("(cut: ", message)

    def test_typed_errors_become_their_cases(self):
        RetryInfo, ApiError = _host.types.RetryInfo, _host.types.ApiError
        cases = [
            (sdk.Auth("who"), "auth", "who"),
            (sdk.RateLimited("slow", retry_after_ms=1500), "rate-limited", RetryInfo(1500, "slow")),
            (sdk.RateLimited(2000), "rate-limited", RetryInfo(2000, "rate limited")),
            (sdk.RateLimited("slow"), "rate-limited", RetryInfo(None, "slow")),
            (sdk.Timeout("late"), "timeout", "late"),
            (sdk.Network("reset"), "network", "reset"),
            (sdk.NotFound("gone"), "not-found", "gone"),
            (sdk.Api(503, "down"), "api", ApiError(503, "down")),
            (sdk.Api(418), "api", ApiError(418, "the source answered with status 418")),
            (sdk.InvalidConfig("bad"), "invalid-config", "bad"),
            (sdk.Parse("garbled"), "parse", "garbled"),
            (sdk.Quota("used up"), "quota", "used up"),
            (sdk.CircuitOpen("open", retry_after_ms=7), "circuit-open", RetryInfo(7, "open")),
            (sdk.Denied("no"), "denied", "no"),
            (sdk.Unsupported("nope"), "unsupported", "nope"),
            (sdk.Other("else"), "other", "else"),
            # Out-of-range numbers cannot be lowered: they are dropped, not trapped on.
            (sdk.Api(70000, "odd"), "api", ApiError(0, "odd")),
            (sdk.RateLimited("neg", retry_after_ms=-1), "rate-limited", RetryInfo(None, "neg")),
        ]
        with FakeHost():
            for error, case, payload in cases:
                for call in ("list_drafts", "list_records"):
                    source = sdk.export(raising(error))()
                    got = failure(lambda: getattr(source, call)(request()))
                    self.assertEqual(got, (case, payload), f"{error!r} from {call}")

    def test_an_err_raised_with_the_bindings_passes_through(self):
        wit = _host.types.ConnectorError_Quota("raw")
        with FakeHost():
            self.assertEqual(failure(lambda: sdk.export(raising(_host.Err(wit)))().list_drafts(request())), ("quota", "raw"))

    def test_source_name_failures_answer_a_name_the_host_refuses(self):
        with FakeHost() as host:
            name = sdk.export(raising(KeyError("no name")))().source_name()
            self.assertTrue(name.startswith("<source-name: uncaught KeyError: 'no name'"), name)
            self.assertIn("Traceback", host.logs[0][1])

            class Wrong(Paged):
                def source_name(self):
                    return 42

            name = sdk.export(Wrong)().source_name()
            self.assertIn("TypeError: source_name returned int, expected str", name)


class ReturnValueChecks(unittest.TestCase):
    """A value the bindings could not lower is an `other` error naming the field."""

    def check(self, connector, call, expected):
        with FakeHost():
            case, message = failure(lambda: call(sdk.export(connector)()))
        self.assertEqual(case, "other")
        self.assertIn(expected, message)

    def test_wrong_types_are_named(self):
        def lister(result):
            return type("L", (Paged,), {"list_records": lambda self, c, l: result})

        self.check(lister({"records": []}), lambda s: s.list_drafts(request()), "list_records returned dict, expected connector_sdk.Page")
        self.check(lister({"records": []}), lambda s: s.list_records(request()), "list_records returned dict")
        self.check(
            lister(sdk.Page([sdk.Record(5, "{}", sdk.Provenance("u://"))])),
            lambda s: s.list_records(request()),
            "record 0.id is int 5, expected str",
        )
        self.check(
            lister(sdk.Page([sdk.Record("a", "{}", sdk.Provenance("u://", etag=3))])),
            lambda s: s.list_records(request()),
            "record 0.provenance.etag is int 3, expected str",
        )
        self.check(
            lister(sdk.Page([sdk.Record("a\ud800", "{}", sdk.Provenance("u://"))])),
            lambda s: s.list_records(request()),
            "record 0.id is not valid Unicode text (a lone surrogate at index 1)",
        )
        self.check(
            lister(sdk.Page([sdk.Record("a", {"v": {1, 2}}, sdk.Provenance("u://"))])),
            lambda s: s.list_records(request()),
            "record 0.raw cannot be written as JSON",
        )
        self.check(lister(sdk.Page([], 7)), lambda s: s.list_drafts(request()), "next_cursor is int 7, expected str")
        self.check(
            lister(sdk.Page([], None, [("line 1", "x")])),
            lambda s: s.list_drafts(request()),
            "skipped[0] is tuple, expected connector_sdk.Skipped",
        )

    def test_drafts_must_match_records_one_to_one(self):
        short = type("S", (Paged,), {"to_envelopes": lambda self, records: []})
        self.check(short, lambda s: s.list_drafts(request()), "to_envelopes returned 0 drafts for 2 records")
        self.check(short, lambda s: s.to_envelopes([]) or s.list_drafts(request()), "one per record")
        bad_type = type("B", (Paged,), {"to_envelopes": lambda self, records: [r.draft("issue", "i") for r in records]})
        self.check(bad_type, lambda s: s.list_drafts(request()), "draft 0.record_type is 'issue', not a record type")
        bad_meta = type("M", (Paged,), {"to_envelopes": lambda self, records: [r.draft("claim", "i", metadata=[1]) for r in records]})
        self.check(bad_meta, lambda s: s.list_drafts(request()), "draft 0.metadata is list, expected a dict or JSON object text")

    def test_record_types_by_name_or_member(self):
        with FakeHost():
            for given in ("claim", "Claim", sdk.RecordType.CLAIM):
                connector = type("T", (Paged,), {"to_envelopes": lambda self, rs, g=given: [r.draft(g, "i") for r in rs]})
                page = sdk.export(connector)().list_drafts(request())
                self.assertEqual(page.drafts[0].record_type, _host.types.RecordType.CLAIM)

    def test_ready_drafts_convert_in_one_step_to_what_the_checked_conversion_gives(self):
        from connector_sdk import _convert

        p = sdk.Provenance("file:///f#1", None, "2026-01-01", "Zoë")
        drafts = [
            sdk.Draft("1", sdk.RecordType.CLAIM, "inst", p, '{"t":"Zürich 北浜市"}'),
            sdk.Draft("2", sdk.RecordType.EVENT, "inst", sdk.Provenance("u://2", "W/1"), "{}", [], '{"k":1}'),
        ]
        with FakeHost():
            fast = [_convert._fast_draft(d) for d in drafts]
            self.assertNotIn(None, fast)
            checked = [_convert.draft_to_wit(sdk.Draft(**{**d.__dict__, "acl_tags": ("x",)}), "d") for d in drafts]
        for f, c in zip(fast, checked):
            c.acl_tags = []
            self.assertEqual(f, c)
        self.assertEqual(fast[1].metadata, '{"k":1}')
        self.assertEqual(fast[1].provenance.etag, "W/1")

    def test_a_draft_that_needs_converting_or_is_wrong_takes_the_checked_way(self):
        from connector_sdk import _convert

        class Text(str):
            pass

        p = sdk.Provenance("u://1")
        needs = [
            sdk.Draft("1", "claim", "i", p, "{}"),  # a record type by name
            sdk.Draft("1", sdk.RecordType.CLAIM, "i", p, {"id": 1}),  # raw as a value
            sdk.Draft("1", sdk.RecordType.CLAIM, Text("i"), p, "{}"),  # a str subclass
            sdk.Draft("1", sdk.RecordType.CLAIM, "i", p, "{}", ["tag"]),  # acl tags
            sdk.Draft("1", sdk.RecordType.CLAIM, "i", p, "{}", metadata={"k": 1}),
        ]
        with FakeHost():
            for d in needs:
                self.assertIsNone(_convert._fast_draft(d))
                self.assertEqual(_convert.draft_to_wit(d, "d").record_type, _host.types.RecordType.CLAIM)
            # Text the bindings cannot lower is refused by name, wherever it is in a page.
            ok = sdk.Draft("1", sdk.RecordType.CLAIM, "i", p, "{}")
            for bad, field in [
                (sdk.Draft("1", sdk.RecordType.CLAIM, "i", p, '"\ud800 ü"'), "draft 1.raw"),
                (sdk.Draft("1", sdk.RecordType.CLAIM, "i", sdk.Provenance("u://", author="\udfff"), "{}"), "draft 1.provenance.author"),
                (sdk.Draft(7, sdk.RecordType.CLAIM, "i", p, "{}"), "draft 1.record_id is int 7"),
            ]:
                self.assertIsNone(_convert._fast_draft(bad))
                with self.assertRaises(TypeError) as ctx:
                    _convert.drafts_to_wit([ok, bad, ok], "to_envelopes", 3)
                self.assertTrue(str(ctx.exception).startswith(field), str(ctx.exception))

    def test_the_garbage_collector_is_paused_during_a_call_only(self):
        import gc

        seen = []

        class Watching(Paged):
            def list_records(self, cursor, limit):
                seen.append(gc.isenabled())
                if cursor == "boom":
                    raise ValueError("boom")
                return super().list_records(cursor, limit)

        self.assertTrue(gc.isenabled())
        with FakeHost():
            source = sdk.export(Watching)()
            source.list_drafts(request())
            self.assertTrue(gc.isenabled())
            with self.assertRaises(_host.Err):
                source.list_drafts(request("boom"))
            self.assertTrue(gc.isenabled(), "re-enabled after an error too")
            gc.disable()
            try:
                source.list_drafts(request())
                self.assertFalse(gc.isenabled(), "a collector the caller disabled stays disabled")
            finally:
                gc.enable()
        self.assertEqual(seen, [False, False, False])

    def test_inside_a_component_export_freezes_the_snapshot_for_the_collector(self):
        import gc
        import sys
        from unittest import mock

        with mock.patch.object(gc, "freeze") as freeze:
            sdk.export(Paged)
            freeze.assert_not_called()  # plain CPython: unit tests keep their collector
            with mock.patch.object(sys, "platform", "wasi"):
                sdk.export(Paged)
            freeze.assert_called_once_with()


def source_connector(source):
    """The connector instance behind an export instance."""
    return type(source).connector()


if __name__ == "__main__":
    unittest.main()
