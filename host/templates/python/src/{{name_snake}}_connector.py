"""The ``{{name}}`` connector: the items of a paged REST/JSON API.

Each page is ``GET {base_url}/items?page=N`` (N from 1), answered with::

    {"items": [{"id": 1, "title": "...", "updated_at": "2026-01-01T00:00:00Z"}], "next": 2}

where ``next`` is the next page's number, or ``null`` on the last page. Each item is
one record; its ``raw`` is the item as the API sent it. One record is ``GET
{base_url}/items/{id}``.

Every request goes through the host (``connector_sdk.http``): only to the origins the
manifest allows, with the host's retries, and any credential added by the host (the
connector never sees it). The host's failures arrive as typed errors (a 404
``NotFound``, a 429 ``RateLimited``, a 5xx ``Api`` with its status, an origin that is
not allowed ``Denied``) and are passed on as they are.

Configuration (the manifest's ``[config]``, declared in ``capabilities.toml``):

=============  =========================================  ============
key            meaning                                    default
=============  =========================================  ============
base_url       the API, ``http://`` or ``https://``        required
record_type    document, event, entity, claim or metric   ``document``
=============  =========================================  ============
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Union
from urllib.parse import quote, urlsplit

import connector_sdk as sdk
from connector_sdk import http, paging
from connector_sdk.settings import ConfigReader, SettingsCell

ACCEPT = {"Accept": "application/json"}


@dataclass
class Settings:
    base_url: str
    record_type: sdk.RecordType

    @property
    def source_instance(self) -> str:
        """The envelopes' ``source_instance``: the API's host (and port)."""
        return urlsplit(self.base_url).netloc

    def item_url(self, record_id: str) -> str:
        return f"{self.base_url}/items/{quote(record_id, safe='')}"


def read_settings(cfg: ConfigReader) -> Settings:
    base_url = cfg.http_url("base_url")
    if base_url is None:
        raise sdk.settings.missing("base_url", "the API to read, such as https://api.example.com")
    return Settings(base_url=base_url, record_type=cfg.record_type("record_type", sdk.RecordType.DOCUMENT))


SETTINGS = SettingsCell(read_settings)


def page_of(cursor: Optional[str]) -> int:
    """The page a cursor names: 1 without one, else the page number returned as
    ``next_cursor``."""
    if cursor is None:
        return 1
    if not (cursor.isascii() and cursor.isdigit() and int(cursor) >= 1):
        raise paging.bad_cursor(cursor, "a page number")
    return int(cursor)


def record_of(s: Settings, item: Any) -> Union[sdk.Record, str]:
    """One item as a record, or why it cannot be one."""
    if not isinstance(item, dict):
        return "not a JSON object"
    record_id = item.get("id")
    if isinstance(record_id, bool) or not (isinstance(record_id, (int, float)) or (isinstance(record_id, str) and record_id)):
        return "no `id` that is a non-empty string or a number"
    record_id = str(record_id)
    updated = item.get("updated_at")
    return sdk.Record(
        id=record_id,
        raw=json.dumps(item, ensure_ascii=False, separators=(",", ":")),
        provenance=sdk.Provenance(uri=s.item_url(record_id), last_modified=updated if isinstance(updated, str) else None),
    )


def parse_page(s: Settings, url: str, body: Any) -> sdk.Page:
    """One page's parsed body (``url`` names it in errors): its records, skipped
    items and next cursor."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise sdk.Parse(f"GET {url}: no `items` array")
    following = body.get("next")
    if following is not None and (isinstance(following, bool) or not isinstance(following, int) or following < 1):
        raise sdk.Parse(f"GET {url}: `next` is {json.dumps(following)}, not a page number")
    page = sdk.Page(next_cursor=None if following is None else str(following))
    for index, item in enumerate(body["items"], start=1):
        outcome = record_of(s, item)
        if isinstance(outcome, str):
            page.skipped.append(sdk.Skipped(f"item {index} of {url}", outcome))
        else:
            page.records.append(outcome)
    return page


class Connector(sdk.Connector):
    def source_name(self) -> str:
        return "{{name}}"

    def list_records(self, cursor: Optional[str], limit: Optional[int]) -> sdk.Page:
        # The API's pages have a size of their own: the host's `limit` is not sent.
        s = SETTINGS.get()
        url = f"{s.base_url}/items?page={page_of(cursor)}"
        return parse_page(s, url, http.get(url, headers=ACCEPT).json())

    def get_record(self, id: str) -> sdk.Record:  # noqa: A002  (the WIT name)
        s = SETTINGS.get()
        url = s.item_url(id)
        outcome = record_of(s, http.get(url, headers=ACCEPT).json())
        if isinstance(outcome, str):
            raise sdk.Parse(f"GET {url}: {outcome}")
        return outcome

    def to_envelopes(self, records: List[sdk.Record]) -> List[sdk.Draft]:
        s = SETTINGS.get()
        return [r.draft(s.record_type, s.source_instance) for r in records]
