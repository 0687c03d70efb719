"""Settings readers: the Rust SDK's rules and wording, plus typed int/bool/str."""

import unittest

import support  # noqa: F401

import connector_sdk as sdk
from connector_sdk.settings import ConfigReader, SettingsCell, from_pairs, missing, pairs_lookup
from connector_sdk.testing import FakeHost


def reader(pairs):
    return ConfigReader(pairs_lookup(pairs))


def refused(call):
    with unittest.TestCase().assertRaises(sdk.InvalidConfig) as ctx:
        call()
    return str(ctx.exception)


class Readers(unittest.TestCase):
    def test_values_are_trimmed_and_empty_is_unset(self):
        cfg = reader({"a": "  x ", "blank": "   ", "empty": ""})
        self.assertEqual(cfg.opt("a"), "x")
        self.assertIsNone(cfg.opt("blank"))
        self.assertIsNone(cfg.opt("empty"))
        self.assertIsNone(cfg.opt("absent"))
        self.assertEqual(cfg.opt_or("a", "d"), "x")
        self.assertEqual(cfg.opt_or("blank", "d"), "d")
        self.assertEqual(cfg.str("a"), "x")
        self.assertEqual(cfg.str("blank", "d"), "d")
        self.assertEqual(cfg.required("a", "why"), "x")
        self.assertEqual(refused(lambda: cfg.required("blank", "the feed file")), "config `blank` is required: the feed file")

    def test_one_of_names_the_choices(self):
        cfg = reader({"state": "open", "sort": "size"})
        self.assertEqual(cfg.one_of("state", ["open", "closed"]), "open")
        self.assertIsNone(cfg.one_of("unset", ["open", "closed"]))
        self.assertEqual(cfg.one_of("unset", ["open", "closed"], "closed"), "closed")
        self.assertEqual(
            refused(lambda: cfg.one_of("sort", ["created", "updated"])),
            "config `sort` is `size`; expected one of created, updated",
        )

    def test_positive_int_refuses_zero_signs_words_and_more_than_u32(self):
        cfg = reader({"n": " 25 ", "zero": "0", "neg": "-1", "word": "ten", "big": "4294967296", "under": "1_000"})
        self.assertEqual(cfg.positive_int("n"), 25)
        self.assertIsNone(cfg.positive_int("unset"))
        for key, value in [("zero", "0"), ("neg", "-1"), ("word", "ten"), ("big", "4294967296"), ("under", "1_000")]:
            self.assertEqual(
                refused(lambda: cfg.positive_int(key)), f"config `{key}` is `{value}`; expected a positive whole number"
            )

    def test_int_with_bounds(self):
        cfg = reader({"n": "-5", "p": "+7", "x": "1.5", "w": "٣"})
        self.assertEqual(cfg.int("n"), -5)
        self.assertEqual(cfg.int("p"), 7)
        self.assertEqual(cfg.int("unset", 9), 9)
        self.assertIsNone(cfg.int("unset"))
        self.assertEqual(refused(lambda: cfg.int("n", min=0)), "config `n` is `-5`; expected a whole number of at least 0")
        self.assertEqual(refused(lambda: cfg.int("p", max=5)), "config `p` is `+7`; expected a whole number of at most 5")
        self.assertEqual(
            refused(lambda: cfg.int("p", min=1, max=5)), "config `p` is `+7`; expected a whole number from 1 to 5"
        )
        self.assertEqual(refused(lambda: cfg.int("x")), "config `x` is `1.5`; expected a whole number")
        self.assertEqual(refused(lambda: cfg.int("w")), "config `w` is `٣`; expected a whole number")
        self.assertEqual(cfg.required_int("p", "a port"), 7)
        self.assertEqual(refused(lambda: cfg.required_int("unset", "a port")), "config `unset` is required: a port")

    def test_bool_takes_the_usual_spellings(self):
        cfg = reader({"a": "true", "b": "No", "c": "ON", "d": "0", "e": "maybe"})
        self.assertEqual([cfg.bool(k) for k in "abcd"], [True, False, True, False])
        self.assertTrue(cfg.bool("unset", True))
        self.assertFalse(cfg.bool("unset"))
        self.assertEqual(refused(lambda: cfg.bool("e")), "config `e` is `maybe`; expected `true` or `false`")

    def test_list_splits_on_commas(self):
        cfg = reader({"tags": " a, b ,,c ,", "blank": " "})
        self.assertEqual(cfg.list("tags"), ["a", "b", "c"])
        self.assertEqual(cfg.list("blank"), [])
        self.assertEqual(cfg.list("unset"), [])

    def test_record_type_takes_either_case_and_a_default(self):
        cfg = reader({"lower": "event", "upper": "Metric", "bad": "issue"})
        self.assertEqual(cfg.record_type("lower", sdk.RecordType.CLAIM), sdk.RecordType.EVENT)
        self.assertEqual(cfg.record_type("upper", sdk.RecordType.CLAIM), sdk.RecordType.METRIC)
        self.assertEqual(cfg.record_type("unset", sdk.RecordType.CLAIM), sdk.RecordType.CLAIM)
        self.assertEqual(
            refused(lambda: cfg.record_type("bad", sdk.RecordType.CLAIM)),
            "config `bad` is `issue`; expected one of document, event, entity, claim, metric",
        )

    def test_http_url_checks_the_scheme_and_drops_trailing_slashes(self):
        cfg = reader({"a": "http://127.0.0.1:8089//", "b": "https://api.github.com", "c": "ftp://h"})
        self.assertEqual(cfg.http_url("a"), "http://127.0.0.1:8089")
        self.assertEqual(cfg.http_url("b"), "https://api.github.com")
        self.assertIsNone(cfg.http_url("unset"))
        self.assertEqual(refused(lambda: cfg.http_url("c")), "config `c` is `ftp://h`; expected an `http://` or `https://` URL")

    def test_from_pairs_lets_the_last_pair_win(self):
        def read(cfg):
            return cfg.required("k", "a value")

        self.assertEqual(from_pairs(read, [("k", "first"), ("k", "last")]), "last")
        self.assertEqual(refused(lambda: from_pairs(read, [("k", " ")])), "config `k` is required: a value")


class Cells(unittest.TestCase):
    def test_a_cell_reads_the_host_once_and_keeps_an_error(self):
        def read(cfg):
            n = cfg.positive_int("n")
            if n is None:
                raise missing("n", "a number")
            return n

        cell = SettingsCell(read)
        with FakeHost(config={"n": "7"}) as host:
            self.assertEqual(cell.get(), 7)
            host.config["n"] = "8"
            self.assertEqual(cell.get(), 7)
        failing = SettingsCell(read)
        with FakeHost(config={}) as host:
            self.assertEqual(refused(failing.get), "config `n` is required: a number")
            host.config["n"] = "8"
            self.assertEqual(refused(failing.get), "config `n` is required: a number")
        # A new run (a new FakeHost) reads again.
        with FakeHost(config={"n": "9"}):
            self.assertEqual(cell.get(), 9)

    def test_invalid_config_reaches_the_host_as_its_case(self):
        from connector_sdk.testing import error_case, request

        cell = SettingsCell(lambda cfg: cfg.required("path", "the feed file to read"))

        class C(sdk.Connector):
            def source_name(self):
                return "c"

            def list_records(self, cursor, limit):
                cell.get()

        with FakeHost():
            with self.assertRaises(Exception) as ctx:
                sdk.export(C)().list_drafts(request())
        self.assertEqual(error_case(ctx.exception), ("invalid-config", "config `path` is required: the feed file to read"))


if __name__ == "__main__":
    unittest.main()
