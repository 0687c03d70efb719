"""A small REST/JSON connector: a paged JSON list under ``base_url``, through the
host's HTTP.

Each page is a JSON array of objects, or an object holding that array under
``items_field``. Pages follow each other by a next link (a URL in the body's
``next_field``, or a ``Link: <…>; rel="next"`` header) or by page number. The
connector never sees a credential: the operator's manifest has the host inject it
(``[[http.secrets]]``, ``Authorization: Bearer …``) for the API's host only. The
host's answers come back as typed errors (a 429 it did not wait out is
``rate-limited``, a 5xx after its retries is ``api``, an origin the manifest does not
allow is ``denied``), and the run reports them with their case.

Configuration (the manifest's ``[config]``; an empty value counts as not set):

===================  ======================================================  ====================
key                  meaning                                                 default
===================  ======================================================  ====================
base_url             the API's address, ``http://`` or ``https://``          required
path                 the list's path under ``base_url``                      ``/items``
items_field          the body's key holding the items (an object body)      ``items``
id_field             the field holding each item's id (string or number)    ``id``
record_type          document, event, entity, claim or metric                ``document``
source_instance      the envelope's ``source_instance``                      base_url host + path
last_modified_field  the field copied to ``provenance.last_modified``        none
author_field         the field copied to ``provenance.author``               none
acl_tags             comma-separated tags put on every record                none
pagination           ``next`` (a next link) or ``page`` (page numbers)       ``next``
next_field           ``next``: the body's key holding the next page's URL    ``next``
page_param           ``page``: the page-number query parameter               ``page``
start_page           ``page``: the first page's number                       1
per_page_param       query parameter that sends the page size                not sent
page_size            items per request (capped by the host's page limit)     100
record_path          one record's path, with ``{id}`` (``/items/{id}``)      none: unsupported
===================  ======================================================  ====================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple
from urllib.parse import quote, urlsplit

import connector_sdk as sdk
from connector_sdk import http, paging
from connector_sdk.settings import ConfigReader, SettingsCell


@dataclass
class Settings:
    base_url: str
    path: str
    items_field: str
    id_field: str
    record_type: sdk.RecordType
    source_instance: str
    last_modified_field: Optional[str]
    author_field: Optional[str]
    acl_tags: List[str]
    pagination: str
    next_field: str
    page_param: str
    start_page: int
    per_page_param: Optional[str]
    page_size: int
    record_path: Optional[str]

    @property
    def list_url(self) -> str:
        return self.base_url + self.path


def read_settings(cfg: ConfigReader) -> Settings:
    base_url = cfg.http_url("base_url")
    if base_url is None:
        raise sdk.settings.missing("base_url", "the API's address (`https://api.example.com`)")
    path = cfg.opt_or("path", "/items")
    if not path.startswith("/"):
        path = "/" + path
    record_path = cfg.opt("record_path")
    if record_path is not None and "{id}" not in record_path:
        raise sdk.settings.bad_value("record_path", record_path, "a path with `{id}` in it")
    parts = urlsplit(base_url)
    return Settings(
        base_url=base_url,
        path=path,
        items_field=cfg.opt_or("items_field", "items"),
        id_field=cfg.opt_or("id_field", "id"),
        record_type=cfg.record_type("record_type", sdk.RecordType.DOCUMENT),
        source_instance=cfg.opt("source_instance") or f"{parts.netloc}{parts.path}{path}",
        last_modified_field=cfg.opt("last_modified_field"),
        author_field=cfg.opt("author_field"),
        acl_tags=cfg.list("acl_tags"),
        pagination=cfg.one_of("pagination", ["next", "page"], "next"),
        next_field=cfg.opt_or("next_field", "next"),
        page_param=cfg.opt_or("page_param", "page"),
        start_page=cfg.int("start_page", 1, min=0),
        per_page_param=cfg.opt("per_page_param"),
        page_size=cfg.positive_int("page_size") or 100,
        record_path=record_path,
    )


SETTINGS = SettingsCell(read_settings)


class RestConnector(sdk.Connector):
    def source_name(self) -> str:
        return "rest"

    def list_records(self, cursor: Optional[str], limit: Optional[int]) -> sdk.Page:
        s = SETTINGS.get()
        # The configured page size, capped by what the host asks for.
        size = paging.page_size(min(limit, s.page_size) if limit else s.page_size, s.page_size)
        url, page_number = self.where(s, cursor, size)
        response = http.get(url, headers={"Accept": "application/json"})
        body = response.json()
        items = items_of(body, s.items_field, response.url)
        page = sdk.Page()
        for index, item in enumerate(items, start=1):
            outcome = record_of(s, item)
            if isinstance(outcome, sdk.Record):
                page.records.append(outcome)
            else:
                page.skipped.append(sdk.Skipped(f"{response.url} item {index}", outcome))
        page.next_cursor = self.next_cursor(s, response, body, page_number, len(items), size)
        return page

    def get_record(self, id: str) -> sdk.Record:  # noqa: A002
        s = SETTINGS.get()
        if s.record_path is None:
            raise sdk.Unsupported("connector `rest` offers get-record only with config `record_path`")
        url = s.base_url + s.record_path.replace("{id}", quote(id, safe=""))
        item = http.get(url, headers={"Accept": "application/json"}).json()
        outcome = record_of(s, item)
        if isinstance(outcome, str):
            raise sdk.Parse(f"GET {url}: {outcome}")
        return outcome

    def to_envelopes(self, records: List[sdk.Record]) -> List[sdk.Draft]:
        s = SETTINGS.get()
        return [r.draft(s.record_type, s.source_instance, s.acl_tags) for r in records]

    # --- pages -----------------------------------------------------------------------

    def where(self, s: Settings, cursor: Optional[str], size: int) -> Tuple[str, Optional[int]]:
        """The URL of the page at ``cursor``, and its number in ``page`` mode."""
        start = {"page": s.start_page} if s.pagination == "page" else {"url": None}
        position = paging.decode_cursor(cursor, start=start)
        if not isinstance(position, dict):
            raise paging.bad_cursor(str(cursor), "`v1:{\"url\": …}` or `v1:{\"page\": …}`")
        size_param = {s.per_page_param: size} if s.per_page_param else None
        if s.pagination == "page":
            number = position.get("page")
            if not isinstance(number, int) or isinstance(number, bool):
                raise paging.bad_cursor(str(cursor), '`v1:{"page": <number>}` (config `pagination` is `page`)')
            return paging.with_params(s.list_url, [(s.page_param, number)] + list((size_param or {}).items())), number
        if "url" not in position:
            raise paging.bad_cursor(str(cursor), '`v1:{"url": <next URL>}` (config `pagination` is `next`)')
        url = position["url"]
        if url is None:
            return paging.with_params(s.list_url, size_param), None
        if not isinstance(url, str):
            raise paging.bad_cursor(str(cursor), '`v1:{"url": <next URL>}`')
        return url, None

    def next_cursor(
        self, s: Settings, response: http.Response, body: Any, number: Optional[int], count: int, size: int
    ) -> Optional[str]:
        if s.pagination == "page":
            # Numbered pages end with a short (or empty) page.
            return paging.encode_cursor({"page": number + 1}) if count >= size and count > 0 else None
        link = body.get(s.next_field) if isinstance(body, dict) else None
        if not (isinstance(link, str) and link.strip()):
            link = paging.link_next(response.headers)
        if not link:
            return None
        return paging.encode_cursor({"url": paging.resolve_url(response.url, link)})


def items_of(body: Any, field: str, url: str) -> List[Any]:
    """The items of a page body: the body itself when it is an array, else its
    ``field`` (``null`` there is an empty page)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        items = body.get(field)
        if items is None:
            return []
        if isinstance(items, list):
            return items
        raise sdk.Parse(f"GET {url}: `{field}` in the body is {type(items).__name__}, not a list of items")
    raise sdk.Parse(f"GET {url}: the body is neither an array of items nor an object holding `{field}`")


def record_of(s: Settings, item: Any) -> "sdk.Record | str":
    """The record of one item, or why it is skipped."""
    if not isinstance(item, dict):
        return "not a JSON object"
    record_id = scalar(item.get(s.id_field))
    if not record_id:
        return f"no `{s.id_field}` field with a non-empty string or number"
    if s.record_path is not None:
        uri = s.base_url + s.record_path.replace("{id}", quote(record_id, safe=""))
    else:
        uri = f"{s.list_url}#{quote(record_id, safe='-._~')}"
    return sdk.Record(
        id=record_id,
        raw=json.dumps(item, ensure_ascii=False, separators=(",", ":")),
        provenance=sdk.Provenance(
            uri=uri,
            last_modified=scalar(item.get(s.last_modified_field)) if s.last_modified_field else None,
            author=scalar(item.get(s.author_field)) if s.author_field else None,
        ),
    )


def scalar(value: Any) -> Optional[str]:
    """A string or a whole number as text; anything else as absent."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
