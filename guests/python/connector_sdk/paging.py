"""Paging helpers: page sizes, versioned cursors, in-memory pages, ``Link`` headers
and URLs. Pure Python; nothing here calls the host.

A cursor is opaque to the host but it is stored and handed back in later runs (and
typed by operators into ``host run --cursor``), so the helpers version it (``v1:…``)
and refuse one they did not issue with an ``InvalidConfig`` naming it, which the
host reports with a hint to reset it.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union
from urllib.parse import urlencode, urljoin

from .errors import InvalidConfig

T = TypeVar("T")

#: The most records a page may hold unless a connector says otherwise (the host's
#: default ``max_records_per_page``).
MAX_PAGE = 10_000


def page_size(limit: Optional[int], default: int, maximum: int = MAX_PAGE) -> int:
    """How many records to return: the host's ``limit`` (or ``default`` when it did
    not say), at least 1 and at most ``maximum``."""
    size = default if limit is None else limit
    return max(1, min(int(size), maximum))


def encode_cursor(value: Any, version: str = "v1") -> str:
    """``value`` (any JSON value) as a cursor: ``v1:{"page":3}``."""
    return f"{version}:" + json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def decode_cursor(cursor: Optional[str], version: str = "v1", start: Any = None) -> Any:
    """The value of a cursor ``encode_cursor`` made, or ``start`` when there is none
    (the first page). A cursor of another version or shape is an ``InvalidConfig``."""
    if cursor is None:
        return start
    prefix = f"{version}:"
    if cursor.startswith(prefix):
        try:
            return json.loads(cursor[len(prefix):])
        except ValueError:
            pass
    raise bad_cursor(cursor, f"`{version}:<json>`")


def bad_cursor(cursor: str, expected: str) -> InvalidConfig:
    """The error for a cursor this connector did not issue."""
    shown = cursor if len(cursor) <= 200 else cursor[:200] + "…"
    return InvalidConfig(f"cursor `{shown}` was not issued by this connector (expected {expected})")


def offset_page(items: Sequence[T], cursor: Optional[str], limit: int) -> Tuple[List[T], Optional[str]]:
    """One page of an in-memory sequence: the items from the cursor's offset, at most
    ``limit`` of them, and the cursor of the rest (``None`` at the end)."""
    offset = decode_cursor(cursor, start=0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad_cursor(str(cursor), "`v1:<offset>`")
    end = min(offset + max(1, limit), len(items))
    page = list(items[offset:end])
    return page, (encode_cursor(end) if end < len(items) else None)


def header(headers: Iterable[Tuple[str, str]], name: str) -> Optional[str]:
    """The value of the first header called ``name``, compared case-insensitively."""
    lower = name.lower()
    for key, value in headers:
        if key.lower() == lower:
            return value
    return None


def link_next(headers: Iterable[Tuple[str, str]]) -> Optional[str]:
    """The ``rel="next"`` target among the ``Link`` headers, as written (resolve it
    with ``resolve_url`` against the URL that was fetched)."""
    for key, value in headers:
        if key.lower() == "link":
            target = parse_link_next(value)
            if target is not None:
                return target
    return None


def parse_link_next(value: str) -> Optional[str]:
    """The target of the link with relation ``next`` in one ``Link`` header value
    (RFC 8288): ``<https://api.example.com/items?page=2>; rel="next", <…>; rel="last"``.
    The relation may be quoted or not, in any case, and one of several; a quoted
    parameter may hold commas and semicolons. A malformed link is passed over: the
    header is advice."""
    rest = value
    while True:
        rest = rest.lstrip(", \t")
        if not rest:
            return None
        if not rest.startswith("<"):
            # Not a link: skip to the next comma outside quotes.
            parts = _split_outside_quotes(rest, ",", 1)
            if len(parts) < 2:
                return None
            rest = parts[1]
            continue
        end = rest.find(">")
        if end < 0:
            return None
        target = rest[1:end].strip()
        parts = _split_outside_quotes(rest[end + 1:], ",", 1)
        rest = parts[1] if len(parts) > 1 else ""
        for param in _split_outside_quotes(parts[0], ";"):
            name, eq, rel = param.partition("=")
            if not eq or name.strip().lower() != "rel":
                continue
            rel = rel.strip()
            if len(rel) >= 2 and rel.startswith('"') and rel.endswith('"'):
                rel = rel[1:-1]
            if "next" in rel.lower().split() and target:
                return target


def _split_outside_quotes(text: str, sep: str, limit: int = -1) -> List[str]:
    """``text`` split at ``sep`` outside double quotes, at most ``limit`` times."""
    parts, current, quoted, escaped = [], [], False, False
    for i, c in enumerate(text):
        if limit >= 0 and len(parts) == limit:
            parts.append(text[i:])
            return parts
        if escaped:
            escaped = False
        elif quoted and c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return parts


def resolve_url(base: str, reference: str) -> str:
    """``reference`` (absolute, ``/path``, ``?query`` or relative) resolved against
    the absolute URL ``base``."""
    return urljoin(base, reference.strip())


Params = Union[Mapping[str, Any], Sequence[Tuple[str, Any]]]


def with_params(url: str, params: Optional[Params]) -> str:
    """``url`` with ``params`` added to its query string (percent-encoded; a value of
    ``None`` is left out)."""
    if not params:
        return url
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [(k, _param_text(v)) for k, v in items if v is not None]
    if not pairs:
        return url
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith("?") or base.endswith("&"):
        joiner = ""
    return f"{base}{joiner}{urlencode(pairs)}{hash_}{fragment}"


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
