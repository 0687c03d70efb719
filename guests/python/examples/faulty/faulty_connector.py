"""A test-only connector that fails on purpose, one way per config `mode`, so that
the tests can check what the host reports for each. Not an example to copy.

| mode             | what it does                                                        |
|------------------|---------------------------------------------------------------------|
| `raise`          | `list_records` raises a `ValueError` the connector does not catch   |
| `rate_limited`   | raises `sdk.RateLimited("slow down", retry_after_ms=1500)`          |
| `api`            | raises `sdk.Api(418, "I'm a teapot")`                               |
| `bad_page`       | `list_records` returns a dict instead of an `sdk.Page`              |
| `recursion`      | recurses until Python raises `RecursionError`                       |
| `socket`         | opens a URL with `urllib.request` (no sockets: it fails)            |
| `raw_socket`     | connects a `socket.socket` to 127.0.0.1:9 (no sockets: it fails)    |
| `source_name`    | `source_name` raises                                                 |
| `lazy_import`    | imports a module inside a call (fails: see the README)              |
| `ok`             | one record, no failure                                              |
"""

from __future__ import annotations

# Imported at import time: a component cannot import modules later (there is no
# file system with the standard library at run time), and `socket` needs the IDNA
# codec to resolve even an address.
import encodings.idna  # noqa: F401
import socket
import urllib.request
from typing import List, Optional

import connector_sdk as sdk
from connector_sdk.settings import SettingsCell

SETTINGS = SettingsCell(
    lambda cfg: cfg.one_of(
        "mode", ["raise", "rate_limited", "api", "bad_page", "recursion", "socket", "raw_socket", "source_name", "lazy_import", "ok"], "raise"
    )
)


def _deep(n: int) -> int:
    return _deep(n + 1) + 1


class FaultyConnector(sdk.Connector):
    def source_name(self) -> str:
        if SETTINGS.get() == "source_name":
            raise KeyError("no name today")
        return "faulty"

    def list_records(self, cursor: Optional[str], limit: Optional[int]) -> sdk.Page:
        mode = SETTINGS.get()
        if mode == "raise":
            raise ValueError("deliberate failure: the feed is on fire")
        if mode == "rate_limited":
            raise sdk.RateLimited("slow down", retry_after_ms=1500)
        if mode == "api":
            raise sdk.Api(418, "I'm a teapot")
        if mode == "bad_page":
            return {"records": []}  # type: ignore[return-value]
        if mode == "recursion":
            _deep(0)
        if mode == "socket":
            with urllib.request.urlopen("http://127.0.0.1:9/", timeout=5) as r:  # noqa: S310
                r.read()
        if mode == "raw_socket":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.connect(("127.0.0.1", 9))
        if mode == "lazy_import":
            import csv  # noqa: F401  (deliberately late)
        record = sdk.Record("one", {"id": "one", "mode": mode}, sdk.Provenance("faulty://one"))
        return sdk.Page([record])

    def to_envelopes(self, records: List[sdk.Record]) -> List[sdk.Draft]:
        return [r.draft(sdk.RecordType.EVENT, "faulty") for r in records]
