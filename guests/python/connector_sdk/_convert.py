"""Conversions between the SDK's types and the generated WIT types, checked.

The componentize-py runtime lowers a return value field by field and traps on a
value of the wrong type (an ``int`` where the WIT says ``string``, text with a lone
surrogate, a ``u32`` out of range). A trap would end the run without saying which
connector code was wrong, so every value is checked here first and a wrong one is
a ``TypeError`` naming the field; the export turns it into ``other``.

The check costs little where it matters, a page of drafts: a draft whose every field
already has its exact type (what connectors return) is converted in one step
(``_fast_draft``), with ASCII text checked in O(1) and other text encoded once; any
other draft goes through the field-by-field conversion, which names what is wrong.
The host checks every value again anyway (it treats the guest as hostile): the
checks here are for the connector's error messages and against traps.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

from . import _host
from .errors import (
    Api,
    CircuitOpen,
    ConnectorError,
    Other,
    RateLimited,
    BY_CASE,
    bounded,
)
from .records import Columns, ColumnsPage, Draft, DraftPage, Page, Provenance, Record, RecordType, Skipped, json_text

_U64 = (1 << 64) - 1

# The WIT case class of each error case, by the SDK's case name.
_WIT_CASE_NAMES = {
    "auth": "Auth",
    "rate-limited": "RateLimited",
    "timeout": "Timeout",
    "network": "Network",
    "not-found": "NotFound",
    "api": "Api",
    "invalid-config": "InvalidConfig",
    "parse": "Parse",
    "quota": "Quota",
    "circuit-open": "CircuitOpen",
    "denied": "Denied",
    "unsupported": "Unsupported",
    "other": "Other",
}
_SDK_CASE_BY_WIT = {v: k for k, v in _WIT_CASE_NAMES.items()}


def error_to_wit(error: ConnectorError) -> Any:
    """The WIT ``connector-error`` of an SDK error."""
    t = _host.types
    message = _valid_text(bounded(error.message))
    case = error.case if error.case in _WIT_CASE_NAMES else "other"
    cls = getattr(t, "ConnectorError_" + _WIT_CASE_NAMES[case])
    if case in ("rate-limited", "circuit-open"):
        retry = getattr(error, "retry_after_ms", None)
        if not (isinstance(retry, int) and not isinstance(retry, bool) and 0 <= retry <= _U64):
            retry = None
        return cls(t.RetryInfo(retry_after_ms=retry, message=message))
    if case == "api":
        status = getattr(error, "status", 0)
        if not (isinstance(status, int) and not isinstance(status, bool) and 0 <= status <= 0xFFFF):
            status = 0
        return cls(t.ApiError(status=status, message=message))
    return cls(message)


def error_from_wit(value: Any) -> ConnectorError:
    """The SDK error of a WIT ``connector-error`` (from an import, such as ``http``)."""
    name = type(value).__name__.rsplit("_", 1)[-1]
    case = _SDK_CASE_BY_WIT.get(name, "other")
    payload = value.value
    if case == "api":
        return Api(payload.status, payload.message)
    if case == "rate-limited":
        return RateLimited(payload.message, retry_after_ms=payload.retry_after_ms)
    if case == "circuit-open":
        return CircuitOpen(payload.message, retry_after_ms=payload.retry_after_ms)
    return BY_CASE.get(case, Other)(str(payload))


def _valid_text(text: str) -> str:
    """``text`` with anything that is not encodable as UTF-8 replaced: for the SDK's
    own messages, which must never fail."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, what: str) -> str:
    if type(value) is str and value.isascii():  # the common case, checked in O(1)
        return value
    if type(value) is not str:
        if isinstance(value, str):  # a str subclass: lower its plain value
            value = str.__str__(value)
        else:
            raise TypeError(f"{what} is {type(value).__name__} {_short(value)}, expected str")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TypeError(f"{what} is not valid Unicode text (a lone surrogate at index {e.start})") from None
    return value


def _opt_text(value: Any, what: str) -> Optional[str]:
    if value is None or (type(value) is str and value.isascii()):
        return value
    return _text(value, what)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


_RECORD_TYPES: dict = {}


def _record_type(value: Any, what: str) -> Any:
    wit = _RECORD_TYPES.get(value) if isinstance(value, RecordType) else None
    if wit is not None:
        return wit
    if isinstance(value, str):
        try:
            value = RecordType.parse(value)
        except ValueError:
            raise TypeError(f"{what} is {value!r}, not a record type") from None
    if not isinstance(value, RecordType):
        raise TypeError(f"{what} is {type(value).__name__}, expected connector_sdk.RecordType")
    wit = getattr(_host.types.RecordType, value.name)
    _RECORD_TYPES[value] = wit
    return wit


def _provenance(value: Any, what: str) -> Any:
    if not isinstance(value, Provenance):
        raise TypeError(f"{what} is {type(value).__name__}, expected connector_sdk.Provenance")
    return _host.types.Provenance(
        uri=_text(value.uri, what + ".uri"),
        etag=_opt_text(value.etag, what + ".etag"),
        last_modified=_opt_text(value.last_modified, what + ".last_modified"),
        author=_opt_text(value.author, what + ".author"),
    )


def _raw(value: Any, what: str) -> str:
    if type(value) is str and value.isascii():
        return value
    try:
        return _text(json_text(value), what)
    except (TypeError, ValueError) as e:
        if isinstance(e, TypeError) and str(e).startswith(what):
            raise
        raise TypeError(f"{what} cannot be written as JSON: {e}") from None


def _skipped(items: Any, what: str) -> List[Any]:
    out = []
    for i, s in enumerate(_list(items, what)):
        if not isinstance(s, Skipped):
            raise TypeError(f"{what}[{i}] is {type(s).__name__}, expected connector_sdk.Skipped")
        out.append(
            _host.types.SkippedRecord(
                locator=_text(s.locator, f"{what}[{i}].locator"), reason=_text(s.reason, f"{what}[{i}].reason")
            )
        )
    return out


def _list(items: Any, what: str) -> list:
    if isinstance(items, (list, tuple)):
        return list(items)
    raise TypeError(f"{what} is {type(items).__name__}, expected a list")


def record_to_wit(r: Any, what: str) -> Any:
    """A WIT ``source-record`` of an SDK ``Record``."""
    if not isinstance(r, Record):
        raise TypeError(f"{what} is {type(r).__name__}, expected connector_sdk.Record")
    return _host.types.SourceRecord(
        id=_text(r.id, what + ".id"), raw=_raw(r.raw, what + ".raw"), provenance=_provenance(r.provenance, what + ".provenance")
    )


def record_from_wit(r: Any) -> Record:
    """The SDK ``Record`` of a WIT ``source-record`` (what ``to-envelopes`` is given)."""
    p = r.provenance
    return Record(
        id=r.id,
        raw=r.raw,
        provenance=Provenance(uri=p.uri, etag=p.etag, last_modified=p.last_modified, author=p.author),
    )


def page_to_wit(page: Any, call: str) -> Any:
    """A WIT ``page`` of what ``list_records`` returned."""
    if not isinstance(page, Page):
        raise TypeError(f"{call} returned {type(page).__name__}, expected connector_sdk.Page")
    records = [record_to_wit(r, f"record {i}") for i, r in enumerate(_list(page.records, "records"))]
    return _host.types.Page(
        records=records,
        next_cursor=_opt_text(page.next_cursor, "next_cursor"),
        skipped=_skipped(page.skipped, "skipped"),
    )


def _encodable(text: str) -> bool:
    """Whether ``text`` (a ``str``) can be lowered: valid Unicode, no lone surrogate."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _fast_draft(d: Any) -> Any:
    """The WIT draft of ``d`` when every field already has its exact type and every
    text can be lowered; ``None`` otherwise (``draft_to_wit`` then says what is wrong)."""
    if type(d) is not Draft:
        return None
    p = d.provenance
    record_type = d.record_type
    if type(p) is not Provenance or type(record_type) is not RecordType or d.acl_tags:
        return None
    wit_type = _RECORD_TYPES.get(record_type)
    if wit_type is None:
        wit_type = _record_type(record_type, "record_type")  # a member: always a case
    record_id, source_instance, raw, metadata = d.record_id, d.source_instance, d.raw, d.metadata
    uri, etag, last_modified, author = p.uri, p.etag, p.last_modified, p.author
    if (
        type(record_id) is not str
        or type(source_instance) is not str
        or type(uri) is not str
        or type(raw) is not str
        or not (etag is None or type(etag) is str)
        or not (last_modified is None or type(last_modified) is str)
        or not (author is None or type(author) is str)
        or not (metadata is None or type(metadata) is str)
    ):
        return None
    # str.isascii() is O(1); the rest (often `raw`) is encoded once to find a surrogate.
    if not (
        (record_id.isascii() or _encodable(record_id))
        and (source_instance.isascii() or _encodable(source_instance))
        and (uri.isascii() or _encodable(uri))
        and (raw.isascii() or _encodable(raw))
        and (etag is None or etag.isascii() or _encodable(etag))
        and (last_modified is None or last_modified.isascii() or _encodable(last_modified))
        and (author is None or author.isascii() or _encodable(author))
        and (metadata is None or metadata.isascii() or _encodable(metadata))
    ):
        return None
    t = _host.types
    return t.EnvelopeDraft(
        record_id, wit_type, source_instance, t.Provenance(uri, etag, last_modified, author), [], raw, metadata
    )


def draft_to_wit(d: Any, what: str) -> Any:
    """A WIT ``envelope-draft`` of an SDK ``Draft``."""
    fast = _fast_draft(d)
    if fast is not None:
        return fast
    if not isinstance(d, Draft):
        raise TypeError(f"{what} is {type(d).__name__}, expected connector_sdk.Draft")
    metadata = d.metadata
    if metadata is not None and not isinstance(metadata, str):
        if not isinstance(metadata, dict):
            raise TypeError(f"{what}.metadata is {type(metadata).__name__}, expected a dict or JSON object text")
        metadata = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _host.types.EnvelopeDraft(
        record_id=_text(d.record_id, what + ".record_id"),
        record_type=_record_type(d.record_type, what + ".record_type"),
        source_instance=_text(d.source_instance, what + ".source_instance"),
        provenance=_provenance(d.provenance, what + ".provenance"),
        acl_tags=[_text(tag, f"{what}.acl_tags[{i}]") for i, tag in enumerate(_list(d.acl_tags, what + ".acl_tags"))]
        if d.acl_tags
        else [],
        raw=_raw(d.raw, what + ".raw"),
        metadata=_opt_text(metadata, what + ".metadata"),
    )


def drafts_to_wit(drafts: Any, call: str, expected: int) -> List[Any]:
    """The WIT drafts of what ``to_envelopes`` returned for ``expected`` records."""
    if not isinstance(drafts, (list, tuple)):
        raise TypeError(f"{call} returned {type(drafts).__name__}, expected a list of connector_sdk.Draft")
    if len(drafts) != expected:
        raise TypeError(f"{call} returned {len(drafts)} drafts for {expected} records; the contract is one per record")
    return _drafts(drafts)


def _drafts(drafts: Any) -> List[Any]:
    """The WIT drafts of a list of SDK drafts; a wrong one is a ``TypeError`` naming it."""
    fast = _fast_draft
    out = [fast(d) for d in drafts]
    if not all(out):  # one needs converting, or is wrong: say which (a WIT draft is always true)
        out = [w if w is not None else draft_to_wit(d, f"draft {i}") for i, (d, w) in enumerate(zip(drafts, out))]
    return out


def draft_page_to_wit(page: Any, call: str) -> Any:
    """A WIT ``draft-page`` of what ``list_drafts`` returned."""
    if not isinstance(page, DraftPage):
        raise TypeError(f"{call} returned {type(page).__name__}, expected connector_sdk.DraftPage")
    return _host.types.DraftPage(
        drafts=_drafts(_list(page.drafts, "drafts")),
        next_cursor=_opt_text(page.next_cursor, "next_cursor"),
        skipped=_skipped(page.skipped, "skipped"),
    )


# --- pages as columns ----------------------------------------------------------------

#: What ends each text of a column, and what stands for none (``texts`` in the WIT).
_END = b"\xff"
_NONE = b"\xfe"


def _texts(column: Any, what: str, count: int) -> bytes:
    """``column`` (``count`` texts) as a WIT ``texts``: each text's UTF-8 followed by
    0xFF. componentize-py lowers each item of a list on its own, at microseconds an
    item, and a ``bytes`` in one copy; so the column is encoded and joined by ``map``
    and ``join``, in C, without a Python step a text. Anything but plain text goes
    item by item, which names the wrong one."""
    if type(column) is not list:
        column = _list(column, what)
    if len(column) != count:
        raise TypeError(f"{what} has {len(column)} entries for {count} record ids")
    try:
        encoded = list(map(str.encode, column))
    except (TypeError, UnicodeEncodeError):
        encoded = [_text(v, f"{what}[{i}]").encode() for i, v in enumerate(column)]
    encoded.append(b"")
    return _END.join(encoded)


def _opt_texts(column: Any, what: str, count: int) -> bytes:
    """``column`` (``count`` optional texts, or none at all) as a WIT ``texts``; a
    column of nothing but ``None`` is sent empty (none for every draft)."""
    if type(column) is not list:
        column = _list(column, what)
    nones = column.count(None)
    if nones == len(column) and (nones == count or nones == 0):
        return b""
    if len(column) != count:
        raise TypeError(f"{what} has {len(column)} entries for {count} record ids (or none, for none of them)")
    if nones == 0:
        return _texts(column, what, count)
    encoded = [_NONE if v is None else _text(v, f"{what}[{i}]").encode() for i, v in enumerate(column)]
    encoded.append(b"")
    return _END.join(encoded)


def _block(b: Any, what: str) -> Any:
    if not isinstance(b, Columns):
        raise TypeError(f"{what} is {type(b).__name__}, expected connector_sdk.Columns")
    ids = b.record_ids
    count = len(ids) if isinstance(ids, (list, tuple)) else 0
    return _host.columnar.DraftBlock(
        record_type=_record_type(b.record_type, what + ".record_type"),
        source_instance=_text(b.source_instance, what + ".source_instance"),
        acl_tags=[_text(tag, f"{what}.acl_tags[{i}]") for i, tag in enumerate(_list(b.acl_tags, what + ".acl_tags"))],
        record_ids=_texts(ids, what + ".record_ids", count),
        raws=_texts(b.raws, what + ".raws", count),
        uris=_texts(b.uris, what + ".uris", count),
        etags=_opt_texts(b.etags, what + ".etags", count),
        last_modified=_opt_texts(b.last_modified, what + ".last_modified", count),
        authors=_opt_texts(b.authors, what + ".authors", count),
        metadata=_opt_texts(b.metadata, what + ".metadata", count),
    )


def columns_page_to_wit(page: Any, call: str) -> Any:
    """A WIT ``draft-columns`` of what ``list_draft_columns`` returned."""
    if not isinstance(page, ColumnsPage):
        raise TypeError(f"{call} returned {type(page).__name__}, expected connector_sdk.ColumnsPage")
    blocks = [_block(b, f"block {i}") for i, b in enumerate(_list(page.blocks, "blocks"))]
    return _host.columnar.DraftColumns(
        blocks=blocks,
        next_cursor=_opt_text(page.next_cursor, "next_cursor"),
        skipped=_skipped(page.skipped, "skipped"),
    )


def _metadata_text(value: Any, what: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"{what}.metadata is {type(value).__name__}, expected a dict or JSON object text")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def columns_of(page: Any, call: str) -> ColumnsPage:
    """The drafts of a ``DraftPage`` as columns: one block for each run of drafts
    that share their record type, source instance and tags (on most pages, one)."""
    if not isinstance(page, DraftPage):
        raise TypeError(f"{call} returned {type(page).__name__}, expected connector_sdk.DraftPage")
    blocks: List[Columns] = []
    block: Optional[Columns] = None
    key: Any = None
    for i, d in enumerate(_list(page.drafts, "drafts")):
        if not isinstance(d, Draft):
            raise TypeError(f"draft {i} is {type(d).__name__}, expected connector_sdk.Draft")
        p = d.provenance
        if not isinstance(p, Provenance):
            raise TypeError(f"draft {i}.provenance is {type(p).__name__}, expected connector_sdk.Provenance")
        tags = tuple(_list(d.acl_tags, f"draft {i}.acl_tags")) if d.acl_tags else ()
        here = (d.record_type, d.source_instance, tags)
        if block is None or here != key:
            block, key = Columns(d.record_type, d.source_instance, tags), here
            blocks.append(block)
        raw = d.raw if type(d.raw) is str else _raw(d.raw, f"draft {i}.raw")
        block.add(d.record_id, raw, p.uri, p.etag, p.last_modified, p.author, _metadata_text(d.metadata, f"draft {i}"))
    return ColumnsPage(blocks=blocks, next_cursor=page.next_cursor, skipped=list(page.skipped))
