"""The test-only faulty connector (examples/faulty) on CPython: each mode fails the
way the end-to-end tests expect the host to report."""

import unittest

import support  # noqa: F401

import connector_sdk as sdk
import faulty_connector as fc
from connector_sdk import _host
from connector_sdk.testing import FakeHost, error_case, request


def outcome(mode):
    with FakeHost(config={"mode": mode}):
        source = sdk.export(fc.FaultyConnector)()
        try:
            return "ok", source.list_drafts(request())
        except _host.Err as e:
            return error_case(e)


class Modes(unittest.TestCase):
    def test_each_mode(self):
        case, message = outcome("raise")
        self.assertEqual(case, "other")
        self.assertTrue(message.startswith("list-drafts: uncaught ValueError: deliberate failure: the feed is on fire (at "), message)
        self.assertIn("faulty_connector.py:", message)
        self.assertEqual(outcome("rate_limited"), ("rate-limited", _host.types.RetryInfo(1500, "slow down")))
        self.assertEqual(outcome("api"), ("api", _host.types.ApiError(418, "I'm a teapot")))
        case, message = outcome("bad_page")
        self.assertIn("uncaught TypeError: list_records returned dict, expected connector_sdk.Page", message)
        case, message = outcome("recursion")
        self.assertEqual(case, "other")
        self.assertIn("uncaught RecursionError: maximum recursion depth exceeded", message)
        case, page = outcome("ok")
        self.assertEqual([d.record_id for d in page.drafts], ["one"])

    def test_source_name_mode(self):
        with FakeHost(config={"mode": "source_name"}):
            name = sdk.export(fc.FaultyConnector)().source_name()
        self.assertTrue(name.startswith("<source-name: uncaught KeyError: 'no name today'"), name)

    def test_an_unknown_mode_is_invalid_config(self):
        self.assertEqual(
            outcome("melt"),
            ("invalid-config", "config `mode` is `melt`; expected one of raise, rate_limited, api, bad_page, recursion, socket, raw_socket, source_name, lazy_import, bad_columns, columns_differ, ok"),
        )


if __name__ == "__main__":
    unittest.main()
