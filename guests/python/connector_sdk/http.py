"""HTTP through the host: a small ``requests``-like API over the WIT ``http`` import.

::

    from connector_sdk import http

    resp = http.get(f"{base}/items", params={"page": 2}, headers={"Accept": "application/json"})
    items = resp.json()

This is the only network a connector has. A component has no sockets and no
``wasi:http``: the host links ``wasi:sockets`` with every call denied, so
``urllib.request``, ``http.client``, ``socket`` and libraries built on them
(``requests``, ``httpx``, ``urllib3``) fail with an access-denied ``OSError``.
Every request made here goes through the operator's egress policy instead: only to
origins the manifest's ``[http] allow`` lists, with secrets the host injects
(``[[http.secrets]]``: never set ``Authorization`` yourself, and the connector never
sees the token), retries with backoff and ``Retry-After``, a circuit breaker per
upstream, a rate limit, and ``--record``/``--replay`` for offline tests.

Errors are the SDK's typed exceptions: the host's verdict comes back as the
matching one (``Denied`` for an origin that is not granted, ``Auth`` for 401/403,
``NotFound`` for 404, ``RateLimited`` for a 429 the host did not wait out, ``Api``
with the status for other error statuses, ``Timeout``, ``Network``,
``CircuitOpen``), and a status the host passes on that the caller did not expect
(by default: anything but 2xx, such as a 304) is an ``Api`` error. Left uncaught, each
becomes the same case of the run's ``connector-error``.
"""

from __future__ import annotations

import json as _json
from typing import Any, Container, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _host
from ._convert import error_from_wit
from .errors import Api, Parse, bounded
from .paging import Params, with_params

#: The statuses a request accepts unless told otherwise.
SUCCESS = range(200, 300)

HeadersArg = Union[Mapping[str, str], Sequence[Tuple[str, str]], None]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class Headers:
    """Response headers: looked up case-insensitively; the host gives names in
    lower case and keeps repeated headers."""

    def __init__(self, pairs: Iterable[Tuple[str, str]]) -> None:
        self._pairs: List[Tuple[str, str]] = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name``, or ``default``."""
        lower = name.lower()
        for key, value in self._pairs:
            if key == lower:
                return value
        return default

    def get_all(self, name: str) -> List[str]:
        """Every value of header ``name``, in order."""
        lower = name.lower()
        return [v for k, v in self._pairs if k == lower]

    def items(self) -> List[Tuple[str, str]]:
        """Every (name, value), names in lower case."""
        return list(self._pairs)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class Response:
    """What the upstream answered (after the host's redirects and retries)."""

    def __init__(self, method: str, url: str, status: int, headers: Iterable[Tuple[str, str]], body: bytes) -> None:
        self.method = method
        #: The URL that was requested.
        self.url = url
        self.status = status
        self.headers = Headers(headers)
        #: The body, decompressed by the host.
        self.body = bytes(body)

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text: UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON, as strictly as the host parses ``raw`` (no
        ``NaN``, no infinite numbers); a ``Parse`` error naming the request if it is not."""
        try:
            # Not the `utf-8-sig` codec: a component can use only the codecs it imported
            # while it was built, and UTF-8 is the one always there.
            text = self.body.decode("utf-8")
            return _STRICT.decode(text[1:] if text.startswith("\ufeff") else text)
        except ValueError as e:  # UnicodeDecodeError and JSONDecodeError included
            raise Parse(f"{self.method} {self.url}: the response body is not JSON ({e})") from None

    def __repr__(self) -> str:
        return f"<Response {self.method} {self.url}: {self.status}, {len(self.body)} bytes>"


def _no_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number `{text}` is out of range")
    return value


_STRICT = _json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def request(
    method: str,
    url: str,
    *,
    params: Optional[Params] = None,
    headers: HeadersArg = None,
    body: Union[bytes, str, None] = None,
    json: Any = None,
    timeout_ms: Optional[int] = None,
    ok: Container[int] = SUCCESS,
) -> Response:
    """Sends one request through the host and returns its response.

    ``params`` are added to the URL's query; ``json`` is sent as the body with
    ``Content-Type: application/json``; ``timeout_ms`` may shorten the operator's
    timeout, never lengthen it. A status not in ``ok`` is an ``Api`` error; the
    host's own failures are raised as the matching SDK error.
    """
    verb = method.upper()
    if verb not in _METHODS:
        raise ValueError(f"HTTP method {method!r} is not one of {', '.join(_METHODS)}")
    full_url = with_params(url, params)
    header_list = _header_list(headers)
    if json is not None:
        if body is not None:
            raise ValueError("give `body` or `json`, not both")
        body = _json.dumps(json, ensure_ascii=False, separators=(",", ":"))
        if not any(k.lower() == "content-type" for k, _ in header_list):
            header_list.append(("Content-Type", "application/json"))
    data = body.encode("utf-8") if isinstance(body, str) else body
    if timeout_ms is not None and not (isinstance(timeout_ms, int) and 0 <= timeout_ms <= 0xFFFF_FFFF):
        raise ValueError(f"timeout_ms must be a whole number of milliseconds from 0 to 4294967295, not {timeout_ms!r}")
    req = _host.http.Request(
        method=getattr(_host.http.Method, verb),
        url=full_url,
        headers=header_list,
        body=None if data is None else bytes(data),
        timeout_ms=timeout_ms,
    )
    context = f"{verb} {full_url}"
    try:
        answer = _host.http.send(req)
    except _host.Err as e:
        raise error_from_wit(e.value).with_context(bounded(context, 2000)) from None
    response = Response(verb, full_url, answer.status, answer.headers, answer.body)
    if response.status not in ok:
        raise Api(response.status, bounded(f"{context}: unexpected status {response.status}{_expected(ok)}{_snippet(response)}"))
    return response


def get(url: str, **kwargs: Any) -> Response:
    """``request("GET", url, …)``."""
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> Response:
    """``request("HEAD", url, …)``."""
    return request("HEAD", url, **kwargs)


def post(url: str, **kwargs: Any) -> Response:
    """``request("POST", url, …)``. The host retries a POST only when the manifest
    says ``[http.retry] retry_non_idempotent = true``."""
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> Response:
    """``request("PUT", url, …)``."""
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Any) -> Response:
    """``request("PATCH", url, …)``."""
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs: Any) -> Response:
    """``request("DELETE", url, …)``."""
    return request("DELETE", url, **kwargs)


def _header_list(headers: HeadersArg) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header {name!r}: names and values must be str")
        out.append((name, value))
    return out


def _expected(ok: Container[int]) -> str:
    if ok is SUCCESS or ok == SUCCESS:
        return " (expected 2xx)"
    return ""


def _snippet(response: Response) -> str:
    text = response.text.strip()
    if not text:
        return ""
    return ": " + (text if len(text) <= 200 else text[:200] + "…")


__all__ = ["Headers", "Response", "SUCCESS", "request", "get", "head", "post", "put", "patch", "delete"]
