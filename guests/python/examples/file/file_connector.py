"""The JSON/JSONL partner-feed connector, in Python: the same feed format, config
keys, cursors and skipped-line reasons as the Rust connector in ``guests/file``, and
the same envelopes for the same feed.

It reads a feed file from a directory the operator granted: one JSON object per
line (JSONL), or one JSON array of objects. Each object becomes one record whose
``raw`` is the object's own text, passed through untouched (the host canonicalises
and hashes it); the connector only picks out the id, the last-modified time and the
author.

Configuration (the manifest's ``[config]``; an empty value counts as not set):

====================  ==========================================================  =================
key                   meaning                                                     default
====================  ==========================================================  =================
path                  the feed file, as the guest sees it (under a granted dir)   required
format                ``json`` (an array) or ``jsonl``                            by the extension
id_field              the field holding each record's id (a string or number)    ``id``
record_type           document, event, entity, claim or metric                    ``claim``
source_instance       the envelope's ``source_instance``                          the file's name
last_modified_field   the field copied to ``provenance.last_modified``            none
author_field          the field copied to ``provenance.author``                   none
acl_tags              comma-separated tags put on every record                    none
page_size             records per page when the host does not say                 1000
====================  ==========================================================  =================

A line (or array item) that is not a JSON object, or has no id, is reported as a
skipped record with its line number, and the page goes on. The cursor is
``v1:<byte offset>:<line>`` for JSONL (a page starts with a seek) and
``v1:<index>:<item>`` for an array, as the Rust connector's, so either connector
resumes the other's cursor.
"""

from __future__ import annotations

import json
import json.scanner
import re
from itertools import islice
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, List, Optional, Tuple
from urllib.parse import quote

import connector_sdk as sdk
from connector_sdk.settings import ConfigReader, SettingsCell, bad_value

#: The most records one page may hold, whatever the host asks for.
MAX_PAGE = 10_000


@dataclass
class Settings:
    path: str
    format: str  # "json" or "jsonl"
    id_field: str
    record_type: sdk.RecordType
    source_instance: str
    last_modified_field: Optional[str]
    author_field: Optional[str]
    acl_tags: List[str]
    page_size: int


def read_settings(cfg: ConfigReader) -> Settings:
    path = cfg.required("path", "the feed file to read")
    fmt = cfg.opt("format")
    if fmt == "json":
        kind = "json"
    elif fmt in ("jsonl", "ndjson"):
        kind = "jsonl"
    elif fmt is not None:
        raise bad_value("format", fmt, "`json` or `jsonl`")
    elif path.endswith(".jsonl") or path.endswith(".ndjson"):
        kind = "jsonl"
    elif path.endswith(".json"):
        kind = "json"
    else:
        raise sdk.InvalidConfig(
            f"cannot tell the format of `{path}` from its extension; set config `format` to `json` or `jsonl`"
        )
    return Settings(
        path=path,
        format=kind,
        id_field=cfg.opt_or("id_field", "id"),
        record_type=cfg.record_type("record_type", sdk.RecordType.CLAIM),
        source_instance=cfg.opt("source_instance") or path.rsplit("/", 1)[-1],
        last_modified_field=cfg.opt("last_modified_field"),
        author_field=cfg.opt("author_field"),
        acl_tags=cfg.list("acl_tags"),
        page_size=cfg.positive_int("page_size") or 1000,
    )


SETTINGS = SettingsCell(read_settings)


class FileConnector(sdk.Connector):
    def __init__(self) -> None:
        # A JSON array is read once per run (the instance lives for one run).
        self._items: Optional[List[Tuple[str, Any]]] = None

    def source_name(self) -> str:
        return "file"

    def list_records(self, cursor: Optional[str], limit: Optional[int]) -> sdk.Page:
        s = SETTINGS.get()
        size = sdk.paging.page_size(limit, s.page_size, MAX_PAGE)
        return self.page(s, cursor, size)

    def list_draft_columns(self, cursor: Optional[str], limit: Optional[int]) -> sdk.ColumnsPage:
        # Ingest's path: the records go into columns as they are read, with no
        # `Record`, `Provenance` or `Draft` made for each.
        s = SETTINGS.get()
        size = sdk.paging.page_size(limit, s.page_size, MAX_PAGE)
        return self.columns(s, cursor, size)

    def get_record(self, id: str) -> sdk.Record:  # noqa: A002
        s = SETTINGS.get()
        cursor = None
        while True:
            page = self.page(s, cursor, MAX_PAGE)
            for record in page.records:
                if record.id == id:
                    return record
            if page.next_cursor is None:
                raise sdk.NotFound(f"no record with id `{id}` in {s.path}")
            cursor = page.next_cursor

    def to_envelopes(self, records: List[sdk.Record]) -> List[sdk.Draft]:
        s = SETTINGS.get()
        record_type, instance, tags = s.record_type, s.source_instance, s.acl_tags
        # Draft(record_id, record_type, source_instance, provenance, raw, acl_tags)
        return [sdk.Draft(r.id, record_type, instance, r.provenance, r.raw, list(tags)) for r in records]

    # --- reading -------------------------------------------------------------------

    def page(self, s: Settings, cursor: Optional[str], limit: int) -> sdk.Page:
        page = self.columns(s, cursor, limit)
        records = [
            sdk.Record(d.record_id, d.raw, d.provenance) for block in page.blocks for d in block.drafts()
        ]
        return sdk.Page(records, page.next_cursor, page.skipped)

    def columns(self, s: Settings, cursor: Optional[str], limit: int) -> sdk.ColumnsPage:
        offset, line = parse_cursor(cursor)
        if s.format == "jsonl":
            return jsonl_columns(s, offset, line, limit)
        return self.json_columns(s, offset, limit)

    def json_columns(self, s: Settings, start: int, limit: int) -> sdk.ColumnsPage:
        if self._items is None:
            self._items = read_array(s)
        items = self._items
        start = min(start, len(items))
        end = min(start + limit, len(items))
        block = new_block(s)
        page = sdk.ColumnsPage([block])
        for index in range(start, end):
            text, value = items[index]
            outcome = fields_of(s, text, value)
            if type(outcome) is str:
                page.skipped.append(sdk.Skipped(f"item {index + 1}", outcome))
            else:
                add(s, block, text, outcome)
        page.next_cursor = encode_cursor(end, end + 1) if end < len(items) else None
        return page


def new_block(s: Settings) -> sdk.Columns:
    """The page's one block: every record shares the settings' type, instance and tags."""
    return sdk.Columns(s.record_type, s.source_instance, s.acl_tags)


def add(s: Settings, block: sdk.Columns, text: str, fields: Tuple[str, Optional[str], Optional[str]]) -> None:
    record_id, last_modified, author = fields
    block.record_ids.append(record_id)
    block.raws.append(text)
    block.uris.append(uri(s, record_id))
    # A column left empty is none for every record.
    if s.last_modified_field:
        block.last_modified.append(last_modified)
    if s.author_field:
        block.authors.append(author)


def jsonl_columns(s: Settings, offset: int, line: int, limit: int) -> sdk.ColumnsPage:
    block = new_block(s)
    page = sdk.ColumnsPage([block])
    skipped = page.skipped
    # The loop below runs for every line of the feed: what it calls is bound once.
    ids, raws, uris = block.record_ids, block.raws, block.uris
    id_field, modified_field, author_field = s.id_field, s.last_modified_field, s.author_field
    modified = block.last_modified.append if modified_field else None
    authors = block.authors.append if author_field else None
    prefix = f"file://{s.path}#"
    n = 0
    more = False
    try:
        with open(s.path, "rb", buffering=256 << 10) as f:
            f.seek(offset)
            # Skipped lines count toward the page too, so that a file of nothing but
            # broken lines still comes back in bounded pages; blank lines do not.
            while n < limit:
                batch = list(islice(f, limit - n))
                if not batch:
                    break
                # Which scanner is safe is decided once for the batch (see `parse_object`).
                shapes = b"".join(batch).translate(_NUMBER_SHAPES)
                scan = _SCAN_PLAIN if b"0e" not in shapes and _LONG_NUMBER not in shapes else _SCAN
                for data in batch:
                    number = line
                    offset += len(data)
                    line += 1
                    try:
                        text = data.decode("utf-8").strip(RUST_WHITESPACE)
                    except UnicodeDecodeError as e:
                        skipped.append(sdk.Skipped(f"line {number}", f"not UTF-8 ({utf8_error(e)})"))
                        n += 1
                        continue
                    if not text:
                        continue
                    n += 1
                    # The usual line, read in one call of the scanner: an object whose
                    # fields are strings, with no escape that could hide a lone
                    # surrogate. Anything else goes the careful way (`fields_of`).
                    try:
                        value, end = scan(text, 0)
                    except (ValueError, StopIteration):
                        value = end = None
                    if end == len(text) and type(value) is dict and "\\u" not in text:
                        record_id = value.get(id_field)
                        last_modified = value.get(modified_field) if modified_field else None
                        author = value.get(author_field) if author_field else None
                        fast = (
                            type(record_id) is str
                            and record_id
                            and (last_modified is None or type(last_modified) is str)
                            and (author is None or type(author) is str)
                        )
                    else:
                        fast = False
                    if not fast:
                        outcome = fields_of(s, text, _UNPARSED, data)
                        if type(outcome) is str:
                            skipped.append(sdk.Skipped(f"line {number}", outcome))
                            continue
                        record_id, last_modified, author = outcome
                    ids.append(record_id)
                    raws.append(text)
                    # `strip` leaves nothing of an id made only of unreserved characters.
                    uris.append(prefix + record_id if not record_id.strip(_UNRESERVED) else uri(s, record_id))
                    if modified:
                        modified(last_modified)
                    if authors:
                        authors(author)
            more = n >= limit and bool(f.peek(1))
    except OSError as e:
        raise io_error(s.path, e) from None
    page.next_cursor = encode_cursor(offset, line) if more else None
    return page


def read_array(s: Settings) -> List[Tuple[str, Any]]:
    """The text and value of every item of a JSON array file."""
    try:
        with open(s.path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise io_error(s.path, e) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise sdk.Other(f"cannot read {s.path}: stream did not contain valid UTF-8") from None
    try:
        return split_array(text)
    except ValueError as e:
        raise sdk.Parse(f"{s.path} is not a JSON array of records: {e}") from None


_WS = re.compile(r"[ \t\n\r]*")

#: What Rust's ``str::trim`` removes (Unicode White_Space). Python's ``str.strip()``
#: also removes U+001C..U+001F, which would make a line that ends in one of them a
#: record here and a skipped line in the Rust connector.
RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def split_array(text: str) -> List[Tuple[str, Any]]:
    """The items of the JSON array ``text``, each as (its own text, its value)."""
    decoder = _decoder()
    i = _WS.match(text, 0).end()
    if not text.startswith("[", i):
        raise ValueError("expected a JSON array")
    i = _WS.match(text, i + 1).end()
    items: List[Tuple[str, Any]] = []
    if text.startswith("]", i):
        i += 1
    else:
        while True:
            try:
                value, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError as e:
                raise ValueError(f"{e.msg} at line {e.lineno} column {e.colno}") from None
            items.append((text[i:end], value))
            i = _WS.match(text, end).end()
            if text.startswith(",", i):
                i = _WS.match(text, i + 1).end()
            elif text.startswith("]", i):
                i += 1
                break
            else:
                raise ValueError("expected `,` or `]`")
    if _WS.match(text, i).end() != len(text):
        raise ValueError("trailing characters")
    return items


# --- one record ----------------------------------------------------------------------

_UNPARSED = object()
#: Ids made of these characters need no percent-encoding in a URI fragment.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"


def fields_of(
    s: Settings, text: str, value: Any, data: Optional[bytes] = None
) -> "Tuple[str, Optional[str], Optional[str]] | str":
    """The (id, last-modified, author) of one line or item (``value`` is its parsed
    JSON, or ``_UNPARSED``; ``data`` the line's bytes, if at hand), or the reason it
    is skipped."""
    if value is _UNPARSED:
        try:
            value = parse_object(text, data)
        except ValueError as e:
            return f"not a JSON object: {e}"
    if type(value) is not dict:
        return f"not a JSON object: invalid type: {unexpected(value)}, expected a JSON object"
    # Strings (the usual case) as they are; numbers and the rest through `scalar`.
    v = value.get(s.id_field)
    record_id = v if type(v) is str else scalar(v)
    if not record_id:
        return f"no `{s.id_field}` field with a non-empty string or number"
    v = value.get(s.last_modified_field) if s.last_modified_field else None
    last_modified = v if v is None or type(v) is str else scalar(v)
    v = value.get(s.author_field) if s.author_field else None
    author = v if v is None or type(v) is str else scalar(v)
    return record_id, last_modified, author


def uri(s: Settings, record_id: str) -> str:
    """The record's address: the file, and the id as its fragment."""
    # `strip` leaves nothing of an id made only of unreserved characters (most ids).
    fragment = record_id if not record_id.strip(_UNRESERVED) else quote(record_id, safe="-._~")
    return f"file://{s.path}#{fragment}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"expected value (`{name}` is not JSON)")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_constant=_reject_constant, parse_float=_float)


_DECODER = _decoder()
#: Scanners (C in CPython): one call reads one value, without the checks and regular
#: expressions around it in ``JSONDecoder.decode``. ``_SCAN_PLAIN`` reads numbers
#: with the built-in ``float`` (no Python call a number), for text in which no number
#: can be out of range.
_SCAN = json.scanner.make_scanner(_DECODER)
_SCAN_PLAIN = json.scanner.make_scanner(json.JSONDecoder(parse_constant=_reject_constant))
#: A number is out of range (infinite as a float) only with an exponent (a digit then
#: `e`) or hundreds of digits: in a line's bytes with every digit made `0` and every
#: `E` made `e`, ``b"0e"`` or a long run of ``0`` (either may also be inside a string:
#: that line is then only read the careful way).
_NUMBER_SHAPES = bytes.maketrans(b"123456789E", b"000000000e")
_LONG_NUMBER = b"0" * 300
# The wording serde_json (the Rust connector's parser) uses for the same faults.
_SERDE_WORDS = {
    "Invalid control character at": "control character (\\u0000-\\u001F) found while parsing a string",
    "Expecting value": "expected value",
    "Extra data": "trailing characters",
    "Expecting property name enclosed in double quotes": "key must be a string",
    "Expecting ':' delimiter": "expected `:`",
    "Unterminated string starting at": "EOF while parsing a string",
    "Invalid \\escape": "invalid escape",
    "Invalid \\uXXXX escape": "invalid escape",
}


def parse_object(text: str, data: Optional[bytes] = None) -> Any:
    """``text`` parsed as JSON as strictly as serde_json does (no NaN, no infinite
    numbers, no lone surrogates); a ``ValueError`` worded like serde_json's.

    ``data``, if given, is the bytes of the line ``text`` was read from. The scanner
    reads a trimmed text in one call; a text it does not read whole (an error, or
    whitespace at either end) goes through ``decode`` again, which words the error."""
    scan = _SCAN
    if data is not None:
        shapes = data.translate(_NUMBER_SHAPES)
        if b"0e" not in shapes and _LONG_NUMBER not in shapes:
            scan = _SCAN_PLAIN
    try:
        value, end = scan(text, 0)
    except (json.JSONDecodeError, StopIteration):
        pass  # worded below
    else:
        if end == len(text):
            if "\\u" in text and not _encodable(value):
                raise ValueError("lone surrogate in hex escape")
            return value
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as e:
        # serde_json reports an unterminated string where the text ends, Python where
        # the string starts.
        column = len(text) if e.msg == "Unterminated string starting at" and "\n" not in text else e.colno
        raise ValueError(f"{_SERDE_WORDS.get(e.msg, e.msg)} at column {column}") from None
    if "\\u" in text and not _encodable(value):
        raise ValueError("lone surrogate in hex escape")
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def scalar(value: Any) -> Optional[str]:
    """A string or number as text, as the Rust connector writes it; anything else
    (null, a boolean, an array, an object) as absent."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if -(1 << 63) <= value < (1 << 64):
            return str(value)
        return rust_float(float(value))  # serde_json reads larger integers as f64
    if isinstance(value, float):
        return rust_float(value)
    return None


def rust_float(value: float) -> str:
    """``value`` as Rust's ``f64`` ``Display`` writes it: the shortest digits that
    read back as the same number, never in exponent form (``1e21`` is
    ``1000000000000000000000``, ``1.0`` is ``1``)."""
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def unexpected(value: Any) -> str:
    """How serde_json names a JSON value of the wrong type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{rust_float(value)}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    return "sequence"


def utf8_error(e: UnicodeDecodeError) -> str:
    """A ``UnicodeDecodeError`` worded as Rust's ``Utf8Error``."""
    if e.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {e.start}"
    return f"invalid utf-8 sequence of {e.end - e.start} bytes from index {e.start}"


# --- cursors and errors ----------------------------------------------------------------

_CURSOR = re.compile(r"v1:\+?([0-9]+):\+?([0-9]+)")


def parse_cursor(cursor: Optional[str]) -> Tuple[int, int]:
    """The (offset, line) of a cursor this connector issued; the start for none."""
    if cursor is None:
        return 0, 1
    m = _CURSOR.fullmatch(cursor)
    if m is None or int(m.group(2)) == 0 or int(m.group(1)) >= 1 << 64 or int(m.group(2)) >= 1 << 64:
        raise sdk.InvalidConfig(
            f"cursor `{cursor}` was not issued by this connector (expected `v1:<offset>:<line>`)"
        )
    return int(m.group(1)), int(m.group(2))


def encode_cursor(offset: int, line: int) -> str:
    return f"v1:{offset}:{line}"


def io_error(path: str, e: OSError) -> sdk.ConnectorError:
    what = f"{e.strerror} (os error {e.errno})" if e.strerror else str(e)
    if isinstance(e, FileNotFoundError):
        return sdk.NotFound(f"cannot open {path}: {what} (is its directory granted in the manifest?)")
    if isinstance(e, PermissionError):
        return sdk.Denied(f"cannot open {path}: {what}")
    return sdk.Other(f"cannot read {path}: {what}")
