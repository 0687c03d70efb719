"""The requests-like wrapper over the host's `http` import."""

import json
import unittest

import support  # noqa: F401

import connector_sdk as sdk
from connector_sdk import _host, http
from connector_sdk.testing import FakeHost, Reply


def echo(req):
    return Reply.json({"url": req.url, "method": req.method.name}, headers=[("ETag", '"v1"'), ("Link", "</p2>; rel=next")])


class Requests(unittest.TestCase):
    def test_a_get_goes_through_the_host_with_params_headers_and_timeout(self):
        with FakeHost(reply=echo) as host:
            resp = http.get(
                "https://api.example.com/items?x=1",
                params={"page": 2, "q": "a b"},
                headers={"Accept": "application/json"},
                timeout_ms=5000,
            )
        req = host.requests[0]
        self.assertEqual(req.method, _host.http.Method.GET)
        self.assertEqual(req.url, "https://api.example.com/items?x=1&page=2&q=a+b")
        self.assertEqual(req.headers, [("Accept", "application/json")])
        self.assertEqual((req.body, req.timeout_ms), (None, 5000))
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.ok)
        self.assertEqual(resp.json(), {"url": req.url, "method": "GET"})
        self.assertEqual(json.loads(resp.text), resp.json())
        self.assertEqual(resp.body, resp.text.encode())
        self.assertEqual(resp.headers.get("etag"), '"v1"')
        self.assertEqual(resp.headers["ETAG"], '"v1"')
        self.assertIn("link", resp.headers)
        self.assertEqual(sdk.paging.link_next(resp.headers), "/p2")
        self.assertEqual(resp.url, req.url)

    def test_a_json_body_is_sent_with_its_content_type(self):
        with FakeHost(reply=echo) as host:
            http.post("https://h/search", json={"q": "ü"})
            http.put("https://h/x", body="text", headers=[("Content-Type", "text/plain")])
        post, put = host.requests
        self.assertEqual(post.method, _host.http.Method.POST)
        self.assertEqual(post.body, '{"q":"ü"}'.encode())
        self.assertEqual(post.headers, [("Content-Type", "application/json")])
        self.assertEqual(put.body, b"text")
        self.assertEqual(put.headers, [("Content-Type", "text/plain")])

    def test_the_hosts_failures_are_typed_errors_naming_the_request(self):
        def upstream(req):
            path = req.url.rsplit("/", 1)[1]
            return {
                "401": Reply(401, [], b"who"),
                "404": Reply(404, [], b"gone"),
                "429": Reply(429, [("Retry-After", "3")], b"slow"),
                "503": Reply(503, [], b"down"),
            }[path]

        with FakeHost(reply=upstream, allow=["https://h"]):
            for path, cls in [("401", sdk.Auth), ("404", sdk.NotFound), ("429", sdk.RateLimited), ("503", sdk.Api)]:
                with self.assertRaises(cls) as ctx:
                    http.get(f"https://h/{path}")
                self.assertTrue(str(ctx.exception).startswith(f"GET https://h/{path}: {path}"), str(ctx.exception))
            with self.assertRaises(sdk.RateLimited) as ctx:
                http.get("https://h/429")
            self.assertEqual(ctx.exception.retry_after_ms, 3000)
            with self.assertRaises(sdk.Api) as ctx:
                http.get("https://h/503")
            self.assertEqual(ctx.exception.status, 503)
            with self.assertRaises(sdk.Denied) as ctx:
                http.get("https://elsewhere.example/x")
            self.assertIn("HTTP to https://elsewhere.example is not granted", str(ctx.exception))

    def test_a_status_the_caller_did_not_expect_is_an_api_error(self):
        with FakeHost(reply=lambda req: Reply(304, [], b"")):
            with self.assertRaises(sdk.Api) as ctx:
                http.get("https://h/x")
            self.assertEqual(ctx.exception.status, 304)
            self.assertEqual(str(ctx.exception), "GET https://h/x: unexpected status 304 (expected 2xx)")
            self.assertEqual(http.get("https://h/x", ok=(200, 304)).status, 304)

    def test_a_body_that_is_not_json_is_a_parse_error(self):
        for body in (b"<html>", b'{"n": NaN}', b'{"n": 1e999}', b"\xff"):
            with FakeHost(reply=lambda req, b=body: Reply(200, [], b)):
                with self.assertRaises(sdk.Parse) as ctx:
                    http.get("https://h/x").json()
                self.assertTrue(str(ctx.exception).startswith("GET https://h/x: the response body is not JSON ("))
        with FakeHost(reply=lambda req: Reply(200, [], b'\xef\xbb\xbf{"bom": true}')):
            self.assertEqual(http.get("https://h/x").json(), {"bom": True})

    def test_bad_arguments_are_refused_before_anything_is_sent(self):
        with FakeHost(reply=echo) as host:
            with self.assertRaises(ValueError):
                http.request("BREW", "https://h/")
            with self.assertRaises(ValueError):
                http.get("https://h/", timeout_ms=-1)
            with self.assertRaises(ValueError):
                http.post("https://h/", body="a", json={})
            with self.assertRaises(TypeError):
                http.get("https://h/", headers={"X-N": 1})
        self.assertEqual(host.requests, [])

    def test_an_uncaught_http_error_reaches_the_host_as_its_case(self):
        from connector_sdk.testing import error_case, request

        class C(sdk.Connector):
            def source_name(self):
                return "c"

            def list_records(self, cursor, limit):
                http.get("https://not-allowed.example/items")

        with FakeHost(reply=echo, allow=["https://api.example.com"]):
            with self.assertRaises(_host.Err) as ctx:
                sdk.export(C)().list_drafts(request())
        case, message = error_case(ctx.exception)
        self.assertEqual(case, "denied")
        self.assertIn("GET https://not-allowed.example/items: HTTP to https://not-allowed.example is not granted", message)


class StateAndLog(unittest.TestCase):
    def test_state_keeps_text_and_json(self):
        with FakeHost(state={"a": "1"}) as host:
            self.assertEqual(sdk.state.get("a"), "1")
            sdk.state.set("b", "two")
            sdk.state.set_json("c", {"etag": '"x"', "n": [1]})
            self.assertEqual(sdk.state.get_json("c"), {"etag": '"x"', "n": [1]})
            self.assertEqual(sdk.state.get_json("b", "dflt"), "dflt")
            self.assertEqual(sdk.state.get_json("none", 0), 0)
            sdk.state.delete("a")
            sdk.state.delete("never")
        self.assertEqual(host.state, {"b": "two", "c": '{"etag":"\\"x\\"","n":[1]}'})

    def test_log_lines_go_to_the_host_at_their_level(self):
        import logging

        with FakeHost() as host:
            sdk.log.info("page 1")
            sdk.log.warn("odd")
            sdk.log.error("x" * 20000)
            logger = logging.getLogger("partner.test")
            logger.addHandler(sdk.log.HostLogHandler())
            logger.setLevel(logging.DEBUG)
            logger.warning("via logging %d", 7)
            logger.debug("detail")
        self.assertEqual(host.logs[0], ("info", "page 1"))
        self.assertEqual(host.logs[1], ("warn", "odd"))
        self.assertLess(len(host.logs[2][1]), 8200)
        self.assertEqual(host.logs[3], ("warn", "via logging 7"))
        self.assertEqual(host.logs[4], ("debug", "detail"))


if __name__ == "__main__":
    unittest.main()
