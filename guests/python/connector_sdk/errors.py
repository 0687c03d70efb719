"""The connector's errors: one exception class per case of the WIT `connector-error`.

Raise them anywhere in a connector; the SDK turns each into the matching case when
the call returns to the host::

    raise sdk.InvalidConfig("config `path` is required: the feed file to read")
    raise sdk.RateLimited("slow down", retry_after_ms=5000)
    raise sdk.Api(503, "the upstream is down")

Any other exception that escapes an export is not a trap: the SDK reports it as
`other`, naming the exception's type, its message and where it was raised (see
``uncaught``). Messages are cut to ``MAX_MESSAGE`` characters; the host bounds and
escapes them again.
"""

from __future__ import annotations

from typing import Optional

#: The longest message the SDK hands the host, in characters.
MAX_MESSAGE = 4000


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut: {len(text)} characters in all)"


class ConnectorError(Exception):
    """A failure the connector reports to the host. Use a subclass: this base class
    is reported as `other`."""

    #: The WIT case this class stands for.
    case = "other"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = str(message)

    def __str__(self) -> str:
        return self.message

    def with_context(self, context: str) -> "ConnectorError":
        """The same error with ``context`` before its message (``GET https://…: 404``),
        unless the message already starts with it."""
        if not self.message.startswith(context):
            self.message = f"{context}: {self.message}" if self.message else context
            self.args = (self.message,)
        return self


class Auth(ConnectorError):
    """Authentication or authorisation failed (bad or missing credentials)."""

    case = "auth"


class RateLimited(ConnectorError):
    """The source is rate limiting; wait ``retry_after_ms`` (when known) before
    trying again. ``RateLimited(5000)`` is short for ``RateLimited("rate limited",
    retry_after_ms=5000)``."""

    case = "rate-limited"

    def __init__(self, message: "str | int" = "rate limited", retry_after_ms: Optional[int] = None) -> None:
        if isinstance(message, int) and not isinstance(message, bool) and retry_after_ms is None:
            message, retry_after_ms = "rate limited", message
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class Timeout(ConnectorError):
    """A request timed out."""

    case = "timeout"


class Network(ConnectorError):
    """The network failed (connection refused or reset, name not found)."""

    case = "network"


class NotFound(ConnectorError):
    """The record or resource does not exist."""

    case = "not-found"


class Api(ConnectorError):
    """The source returned an error status."""

    case = "api"

    def __init__(self, status: int, message: Optional[str] = None) -> None:
        super().__init__(message if message is not None else f"the source answered with status {status}")
        self.status = status


class InvalidConfig(ConnectorError):
    """The connector's configuration (or a cursor it was handed) is missing or wrong."""

    case = "invalid-config"


class Parse(ConnectorError):
    """The source's data could not be parsed."""

    case = "parse"


class Quota(ConnectorError):
    """A quota of the source is used up."""

    case = "quota"


class CircuitOpen(ConnectorError):
    """The host's circuit breaker for this upstream is open; no request was sent."""

    case = "circuit-open"

    def __init__(self, message: str = "circuit open", retry_after_ms: Optional[int] = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class Denied(ConnectorError):
    """The operator did not grant what the connector asked for (a host, a file)."""

    case = "denied"


class Unsupported(ConnectorError):
    """The connector does not offer this operation."""

    case = "unsupported"


class Other(ConnectorError):
    """Anything else."""

    case = "other"


#: Every case, by its WIT name.
BY_CASE = {
    cls.case: cls
    for cls in (
        Auth,
        RateLimited,
        Timeout,
        Network,
        NotFound,
        Api,
        InvalidConfig,
        Parse,
        Quota,
        CircuitOpen,
        Denied,
        Unsupported,
        Other,
    )
}


def uncaught(call: str, error: BaseException) -> Other:
    """The `other` error for an exception that escaped the connector's ``call``:
    ``list-records: uncaught ValueError: boom (at /0/app.py:12, in list_records)``."""
    kind = type(error).__qualname__
    module = type(error).__module__
    if module not in ("builtins", "__main__"):
        kind = f"{module}.{kind}"
    text = str(error)
    where = _origin(error)
    message = f"{call}: uncaught {kind}: {text}" if text else f"{call}: uncaught {kind}"
    return Other(bounded(f"{message} ({where})" if where else message))


def _origin(error: BaseException) -> str:
    """Where ``error`` was raised: the innermost frame of its traceback."""
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"at {code.co_filename}:{tb.tb_lineno}, in {code.co_name}"
