"""A fake of the host, for unit tests of connectors on plain CPython.

Inside a component the SDK calls the host through the bindings componentize-py
generates (``wit_world``). On a build machine there are none, so the SDK installs
the fakes below in their place (``install_bindings``): the same module names, the
same record and variant classes, with the imports answered by the current
``FakeHost``::

    from connector_sdk.testing import FakeHost, drain

    with FakeHost(config={"path": "tests/data/feed.jsonl"}) as host:
        source = sdk.export(MyConnector)()
        drafts, skipped = drain(source)
        assert host.logs == []

The fake's HTTP answers requests with ``host.reply`` (a function of the request)
and applies a simplified egress policy (``allow``): an origin that is not allowed
is ``denied``; 401/403, 404, 429 and other error statuses come back as ``auth``,
``not-found``, ``rate-limited`` and ``api``, as the host does (without its retries).
The test ``tests/test_bindings.py`` checks these fakes against the bindings
componentize-py generates, when it is installed.

This module is never imported inside a component.
"""

from __future__ import annotations

import enum
import sys
import types as _types
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Optional, Tuple, TypeVar, Union
from urllib.parse import urlsplit

# --- the fake bindings: the shapes componentize-py 0.25.1 generates -------------------

_S = TypeVar("_S")
_T = TypeVar("_T")
_E = TypeVar("_E")


@dataclass
class Some(Generic[_S]):
    """The present case of a nested option."""

    value: _S


@dataclass
class Ok(Generic[_T]):
    """The success case of a result."""

    value: _T


@dataclass(frozen=True)
class Err(Generic[_E], Exception):
    """The failure case of a result, raised."""

    value: _E


def _wit_types() -> _types.ModuleType:
    m = _types.ModuleType("wit_world.imports.partner_connector_types")

    class RecordType(enum.Enum):
        DOCUMENT = 0
        EVENT = 1
        ENTITY = 2
        CLAIM = 3
        METRIC = 4

    @dataclass
    class Provenance:
        uri: str
        etag: Optional[str]
        last_modified: Optional[str]
        author: Optional[str]

    @dataclass
    class SourceRecord:
        id: str
        raw: str
        provenance: Provenance

    @dataclass
    class PageRequest:
        cursor: Optional[str]
        limit: Optional[int]

    @dataclass
    class SkippedRecord:
        locator: str
        reason: str

    @dataclass
    class Page:
        records: List[SourceRecord]
        next_cursor: Optional[str]
        skipped: List[SkippedRecord]

    @dataclass
    class EnvelopeDraft:
        record_id: str
        record_type: RecordType
        source_instance: str
        provenance: Provenance
        acl_tags: List[str]
        raw: str
        metadata: Optional[str]

    @dataclass
    class DraftPage:
        drafts: List[EnvelopeDraft]
        next_cursor: Optional[str]
        skipped: List[SkippedRecord]

    @dataclass
    class RetryInfo:
        retry_after_ms: Optional[int]
        message: str

    @dataclass
    class ApiError:
        status: int
        message: str

    for cls in (RecordType, Provenance, SourceRecord, PageRequest, SkippedRecord, Page, EnvelopeDraft, DraftPage):
        _publish(m, cls)
    for cls in (RetryInfo, ApiError):
        _publish(m, cls)
    cases = []
    for case, payload in CASES:
        cls = dataclass(type(f"ConnectorError_{case}", (), {"__annotations__": {"value": payload}}))
        _publish(m, cls)
        cases.append(cls)
    m.ConnectorError = Union[tuple(cases)]  # type: ignore[attr-defined]
    return m


def _publish(module: _types.ModuleType, cls: type) -> None:
    cls.__module__ = module.__name__
    cls.__qualname__ = cls.__name__
    setattr(module, cls.__name__, cls)


def _function(module: _types.ModuleType, name: str, f: Callable[..., Any]) -> None:
    f.__module__ = module.__name__
    f.__name__ = f.__qualname__ = name
    setattr(module, name, f)


#: The cases of `connector-error` and their payloads, as componentize-py names them.
CASES: List[Tuple[str, str]] = [
    ("Auth", "str"),
    ("RateLimited", "RetryInfo"),
    ("Timeout", "str"),
    ("Network", "str"),
    ("NotFound", "str"),
    ("Api", "ApiError"),
    ("InvalidConfig", "str"),
    ("Parse", "str"),
    ("Quota", "str"),
    ("CircuitOpen", "RetryInfo"),
    ("Denied", "str"),
    ("Unsupported", "str"),
    ("Other", "str"),
]


def _wit_http() -> _types.ModuleType:
    m = _types.ModuleType("wit_world.imports.http")

    class Method(enum.Enum):
        GET = 0
        HEAD = 1
        POST = 2
        PUT = 3
        PATCH = 4
        DELETE = 5
        OPTIONS = 6

    @dataclass
    class Request:
        method: Method
        url: str
        headers: List[Tuple[str, str]]
        body: Optional[bytes]
        timeout_ms: Optional[int]

    @dataclass
    class Response:
        status: int
        headers: List[Tuple[str, str]]
        body: bytes

    for cls in (Method, Request, Response):
        _publish(m, cls)
    _function(m, "send", lambda req: _current().send(req))
    return m


def _wit_log() -> _types.ModuleType:
    m = _types.ModuleType("wit_world.imports.log")

    class Level(enum.Enum):
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    _publish(m, Level)
    _function(m, "log", lambda level, message: _current().logs.append((level.name.lower(), message)))
    return m


def _wit_config() -> _types.ModuleType:
    m = _types.ModuleType("wit_world.imports.config")
    _function(m, "get", lambda key: _current().config_get(key))
    return m


def _wit_state() -> _types.ModuleType:
    m = _types.ModuleType("wit_world.imports.state")
    _function(m, "get", lambda key: _current().state.get(key))
    _function(m, "set", lambda key, value: _current().state.__setitem__(key, value))
    _function(m, "delete", lambda key: _current().state.pop(key, None) and None)
    return m


def _wit_columnar(types: _types.ModuleType) -> _types.ModuleType:
    """The export types of ``partner:connector/columnar`` (what a page as columns
    is lowered from)."""
    m = _types.ModuleType("wit_world.exports.columnar")

    @dataclass
    class DraftBlock:
        record_type: Any
        source_instance: str
        acl_tags: List[str]
        record_ids: bytes
        raws: bytes
        uris: bytes
        etags: bytes
        last_modified: bytes
        authors: bytes
        metadata: bytes

    @dataclass
    class DraftColumns:
        blocks: List[DraftBlock]
        next_cursor: Optional[str]
        skipped: List[Any]

    m.DraftBlock = DraftBlock  # type: ignore[attr-defined]
    m.DraftColumns = DraftColumns  # type: ignore[attr-defined]
    return m


def install_bindings() -> None:
    """Puts the fake bindings in ``sys.modules`` (``wit_world…`` and
    ``componentize_py_types``), unless real ones are already importable."""
    if "wit_world" in sys.modules:
        return
    world = _types.ModuleType("wit_world")
    world.__path__ = []  # type: ignore[attr-defined]  (a package)
    imports = _types.ModuleType("wit_world.imports")
    imports.__path__ = []  # type: ignore[attr-defined]
    exports = _types.ModuleType("wit_world.exports")
    modules = {
        "partner_connector_types": _wit_types(),
        "http": _wit_http(),
        "config": _wit_config(),
        "log": _wit_log(),
        "state": _wit_state(),
    }
    for name, module in modules.items():
        setattr(imports, name, module)
        sys.modules[f"wit_world.imports.{name}"] = module
    columnar = _wit_columnar(modules["partner_connector_types"])
    exports.columnar = columnar  # type: ignore[attr-defined]
    sys.modules["wit_world.exports.columnar"] = columnar
    world.imports = imports  # type: ignore[attr-defined]
    world.exports = exports  # type: ignore[attr-defined]
    sys.modules["wit_world"] = world
    sys.modules["wit_world.imports"] = imports
    sys.modules["wit_world.exports"] = exports
    cpt = _types.ModuleType("componentize_py_types")
    for cls in (Some, Ok, Err):
        cls.__module__ = cpt.__name__
        setattr(cpt, cls.__name__, cls)
    sys.modules["componentize_py_types"] = cpt


# --- the fake host ----------------------------------------------------------------


@dataclass
class Reply:
    """What the fake upstream answers."""

    status: int = 200
    headers: List[Tuple[str, str]] = None  # type: ignore[assignment]
    body: bytes = b""

    @staticmethod
    def json(value: Any, status: int = 200, headers: Optional[List[Tuple[str, str]]] = None) -> "Reply":
        import json as _json

        return Reply(status, [("content-type", "application/json")] + list(headers or []), _json.dumps(value).encode())


_STACK: List["FakeHost"] = []


def _current() -> "FakeHost":
    if not _STACK:
        raise RuntimeError("a host import was called outside `with FakeHost(...)`")
    return _STACK[-1]


class FakeHost:
    """The host's imports for one simulated run: ``config``, ``state``, ``log``
    and ``http`` (answered by ``reply``, within ``allow``)."""

    def __init__(
        self,
        config: Optional[Dict[str, str]] = None,
        state: Optional[Dict[str, str]] = None,
        reply: Optional[Callable[[Any], Reply]] = None,
        allow: Optional[List[str]] = None,
    ) -> None:
        self.config: Dict[str, str] = dict(config or {})
        self.state: Dict[str, str] = dict(state or {})
        self.logs: List[Tuple[str, str]] = []
        #: Every request the connector sent (the WIT ``request`` records).
        self.requests: List[Any] = []
        self.reply = reply
        #: Origins (``http://127.0.0.1:8089``) the fake lets requests go to; ``None``:
        #: every origin.
        self.allow = allow

    def __enter__(self) -> "FakeHost":
        install_bindings()
        from . import settings

        for cell in settings._CELLS:
            cell.reset()
        _STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _STACK.remove(self)

    def config_get(self, key: str) -> Optional[str]:
        return self.config.get(key)

    def send(self, req: Any) -> Any:
        """The fake ``http.send``."""
        from . import _host

        t = _host.types
        self.requests.append(req)
        parts = urlsplit(req.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme not in ("http", "https"):
            raise _host.Err(t.ConnectorError_Denied(f"{req.method.name} {req.url}: only http and https URLs are allowed"))
        if self.allow is not None and origin not in self.allow:
            allowed = ", ".join(self.allow) or "nothing"
            raise _host.Err(
                t.ConnectorError_Denied(f"{req.method.name} {req.url}: HTTP to {origin} is not granted (http.allow: {allowed})")
            )
        if self.reply is None:
            raise _host.Err(t.ConnectorError_Network(f"{req.method.name} {req.url}: the fake host has no upstream"))
        answer = self.reply(req)
        if isinstance(answer, BaseException):
            raise answer
        headers = list(answer.headers or [])
        context = f"{req.method.name} {req.url}: {answer.status}"
        text = answer.body.decode("utf-8", "replace")
        if answer.status in (401, 403):
            raise _host.Err(t.ConnectorError_Auth(f"{context}: {text}"))
        if answer.status == 404:
            raise _host.Err(t.ConnectorError_NotFound(f"{context}: {text}"))
        if answer.status == 429:
            after = next((v for k, v in headers if k.lower() == "retry-after"), None)
            ms = int(after) * 1000 if after and after.isdigit() else None
            raise _host.Err(t.ConnectorError_RateLimited(t.RetryInfo(retry_after_ms=ms, message=f"{context}: {text}")))
        if answer.status >= 400:
            raise _host.Err(t.ConnectorError_Api(t.ApiError(status=answer.status, message=f"{context}: {text}")))
        return _host.http.Response(status=answer.status, headers=[(k.lower(), v) for k, v in headers], body=answer.body)


# --- driving an export --------------------------------------------------------------


def error_case(error: Any) -> Tuple[str, Any]:
    """The case name (``rate-limited``) and payload of a WIT ``connector-error`` (or
    of the ``Err`` raised with it)."""
    from ._convert import _SDK_CASE_BY_WIT

    if isinstance(error, Err) or type(error).__name__ == "Err":
        error = error.value
    name = type(error).__name__.rsplit("_", 1)[-1]
    return _SDK_CASE_BY_WIT[name], error.value


def request(cursor: Optional[str] = None, limit: Optional[int] = None) -> Any:
    """A WIT ``page-request``."""
    from . import _host

    return _host.types.PageRequest(cursor=cursor, limit=limit)


def drain(source: Any, limit: Optional[int] = None, max_pages: int = 10_000) -> Tuple[List[Any], List[Any]]:
    """Every draft and skipped item of a whole pass over ``source`` (an instance of
    the class ``export`` made), page by page through ``list_drafts``, as the host's
    ingest does. An error is raised as the ``Err`` the export raised."""
    drafts: List[Any] = []
    skipped: List[Any] = []
    cursor: Optional[str] = None
    for _ in range(max_pages):
        page = source.list_drafts(request(cursor, limit))
        drafts.extend(page.drafts)
        skipped.extend(page.skipped)
        if page.next_cursor is None:
            return drafts, skipped
        cursor = page.next_cursor
    raise AssertionError(f"no last page after {max_pages} pages")


def texts_of(column: bytes, count: int, optional: bool) -> List[Optional[str]]:
    """The texts of a WIT ``texts`` column, checked as the host checks them."""
    if not column and (optional or count == 0):
        return [None] * count
    assert column.endswith(b"\xff"), "a column of texts ends with 0xFF"
    out: List[Optional[str]] = []
    for text in column[:-1].split(b"\xff"):
        if text == b"\xfe":
            assert optional, "none in a column every draft needs"
            out.append(None)
        else:
            out.append(text.decode("utf-8"))
    assert len(out) == count, f"{len(out)} texts for {count} record ids"
    return out


def drain_columns(source: Any, limit: Optional[int] = None, max_pages: int = 10_000) -> Tuple[List[Any], List[Any]]:
    """``drain`` through ``list_draft_columns`` (the ``Columnar`` export, which the
    host's ingest takes when a component has it), each page's columns turned back
    into WIT drafts as the host turns them: a connector's two exports must give the
    same drafts."""
    types = sys.modules["wit_world.imports.partner_connector_types"]
    columnar = type(source).Columnar()
    drafts: List[Any] = []
    skipped: List[Any] = []
    cursor: Optional[str] = None
    for _ in range(max_pages):
        page = columnar.list_draft_columns(request(cursor, limit))
        for b in page.blocks:
            n = b.record_ids.count(b"\xff")
            ids, raws, uris = (texts_of(getattr(b, c), n, False) for c in ("record_ids", "raws", "uris"))
            etags, modified, authors, metadata = (
                texts_of(getattr(b, c), n, True) for c in ("etags", "last_modified", "authors", "metadata")
            )
            for i in range(n):
                drafts.append(
                    types.EnvelopeDraft(
                        record_id=ids[i],
                        record_type=b.record_type,
                        source_instance=b.source_instance,
                        provenance=types.Provenance(uris[i], etags[i], modified[i], authors[i]),
                        acl_tags=list(b.acl_tags),
                        raw=raws[i],
                        metadata=metadata[i],
                    )
                )
        skipped.extend(page.skipped)
        if page.next_cursor is None:
            return drafts, skipped
        cursor = page.next_cursor
    raise AssertionError(f"no last page after {max_pages} pages")
