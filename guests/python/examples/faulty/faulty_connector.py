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
| `bad_columns`    | its `columnar` export returns columns that do not line up, built    |
|                  | from the bindings past the SDK's checks (for the host's own)        |
| `columns_differ` | its `columnar` export gives another record than `list_drafts` does  |
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
        "mode", ["raise", "rate_limited", "api", "bad_page", "recursion", "socket", "raw_socket", "source_name", "lazy_import", "bad_columns", "columns_differ", "ok"], "raise"
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


def misaligned_columns() -> object:
    """A WIT page of one block whose `raws` has two texts for its one record id."""
    from connector_sdk import _host

    t = _host.columnar
    return t.DraftColumns(
        blocks=[
            t.DraftBlock(
                record_type=_host.types.RecordType.CLAIM,
                source_instance="faulty",
                acl_tags=[],
                record_ids=b"one\xff",
                raws=b"{}\xff{}\xff",
                uris=b"faulty://one\xff",
                etags=b"",
                last_modified=b"",
                authors=b"",
                metadata=b"",
            )
        ],
        next_cursor=None,
        skipped=[],
    )


def other_columns() -> object:
    """A WIT page of columns whose one record is not the one `list_drafts` gives."""
    from connector_sdk import _convert

    block = sdk.Columns(sdk.RecordType.CLAIM, "faulty")
    block.add("other", '{"id":"other"}', "faulty://other")
    return _convert.columns_page_to_wit(sdk.ColumnsPage([block]), "list_draft_columns")

