"""A connector's settings: read from the host's ``config`` interface once per run,
with the same rules and the same error wording as the Rust SDK.

A connector writes one function that builds its settings from a ``ConfigReader`` and
keeps them in a ``SettingsCell``::

    def read(cfg: ConfigReader) -> Settings:
        return Settings(
            path=cfg.required("path", "the feed file to read"),
            page_size=cfg.positive_int("page_size") or 1000,
            verbose=cfg.bool("verbose", False),
        )

    SETTINGS = SettingsCell(read)
    # in the connector:  settings = SETTINGS.get()
    # in a unit test:    from_pairs(read, {"path": "/data/feed.jsonl"})

Every error is an ``InvalidConfig`` naming the key, worded by ``missing`` ("config
`path` is required: the feed file to read") or ``bad_value`` ("config `page_size`
is `0`; expected a positive whole number").

Values are trimmed and an empty one counts as not set, so a manifest can blank a key
to get the default. Never read settings at import time: componentize-py imports the
app while it builds the component, where the host's imports do not exist.
"""

from __future__ import annotations

from typing import Callable, Dict, Generic, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from . import _host
from .errors import InvalidConfig
from .records import RecordType

T = TypeVar("T")

#: How a lookup returns the raw value of a key.
Lookup = Callable[[str], Optional[str]]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def missing(key: str, what: str) -> InvalidConfig:
    """The error for a required ``key`` that is not set."""
    return InvalidConfig(f"config `{key}` is required: {what}")


def bad_value(key: str, value: str, expected: str) -> InvalidConfig:
    """The error for a ``value`` of ``key`` that is not what was ``expected``."""
    return InvalidConfig(f"config `{key}` is `{value}`; expected {expected}")


class ConfigReader:
    """Reads config values by key through ``lookup`` (the host's ``config.get`` in a
    connector, fixed pairs in a test)."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    def opt(self, key: str) -> Optional[str]:
        """The value of ``key``, trimmed; ``None`` when it is not set or empty."""
        value = self._lookup(key)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def opt_or(self, key: str, default: str) -> str:
        """The value of ``key``, or ``default`` when it is not set."""
        value = self.opt(key)
        return default if value is None else value

    def str(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The value of ``key`` as text, or ``default`` when it is not set."""
        value = self.opt(key)
        return default if value is None else value

    def required(self, key: str, what: str) -> str:
        """The value of ``key``; when it is not set, an error saying it is required
        and ``what`` it is for."""
        value = self.opt(key)
        if value is None:
            raise missing(key, what)
        return value

    def one_of(self, key: str, allowed: Sequence[str], default: Optional[str] = None) -> Optional[str]:
        """The value of ``key``, which must be one of ``allowed``, or ``default``."""
        value = self.opt(key)
        if value is None:
            return default
        if value not in allowed:
            raise bad_value(key, value, "one of " + ", ".join(allowed))
        return value

    def int(
        self,
        key: str,
        default: Optional[int] = None,
        *,
        min: Optional[int] = None,  # noqa: A002  (the natural names here)
        max: Optional[int] = None,  # noqa: A002
    ) -> Optional[int]:
        """The value of ``key`` as a whole number within ``min``..``max`` (each
        optional), or ``default`` when it is not set."""
        value = self.opt(key)
        if value is None:
            return default
        number = _whole(value)
        if number is None or (min is not None and number < min) or (max is not None and number > max):
            raise bad_value(key, value, _range_text(min, max))
        return number

    def required_int(self, key: str, what: str, *, min: Optional[int] = None, max: Optional[int] = None) -> int:  # noqa: A002
        """``int`` for a key that must be set."""
        number = self.int(key, min=min, max=max)
        if number is None:
            raise missing(key, what)
        return number

    def positive_int(self, key: str) -> Optional[int]:
        """The value of ``key`` as a number from 1 to 4294967295 (a WIT ``u32``), or
        ``None``: the Rust SDK's ``positive_u32``, with its wording."""
        value = self.opt(key)
        if value is None:
            return None
        number = _whole(value)
        if number is None or not 0 < number <= 0xFFFF_FFFF:
            raise bad_value(key, value, "a positive whole number")
        return number

    def bool(self, key: str, default: bool = False) -> bool:
        """The value of ``key`` as ``true``/``false`` (also ``yes``/``no``,
        ``on``/``off``, ``1``/``0``, in any case), or ``default``."""
        value = self.opt(key)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise bad_value(key, value, "`true` or `false`")

    def list(self, key: str) -> List[str]:
        """The value of ``key`` as a comma-separated list, items trimmed and empty
        ones dropped; empty when it is not set."""
        value = self.opt(key)
        if value is None:
            return []
        return [item.strip() for item in value.split(",") if item.strip()]

    def record_type(self, key: str, default: RecordType) -> RecordType:
        """The value of ``key`` as a record type (``claim`` or ``Claim`` …), or
        ``default``."""
        value = self.opt(key)
        if value is None:
            return default
        try:
            return RecordType.parse(value)
        except ValueError:
            raise bad_value(key, value, "one of document, event, entity, claim, metric") from None

    def http_url(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The value of ``key`` as an ``http://`` or ``https://`` URL without a
        trailing ``/``, or ``default``."""
        value = self.opt(key)
        if value is None:
            return default
        if not (value.startswith("http://") or value.startswith("https://")):
            raise bad_value(key, value, "an `http://` or `https://` URL")
        return value.rstrip("/")


def _whole(text: str) -> "Optional[int]":
    """``text`` as a whole number (digits with an optional sign), or ``None``."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        return None
    return int(text)


def _range_text(low: Optional[int], high: Optional[int]) -> str:
    if low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if low is not None:
        return f"a whole number of at least {low}"
    if high is not None:
        return f"a whole number of at most {high}"
    return "a whole number"


Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


def pairs_lookup(pairs: Pairs) -> Lookup:
    """A lookup over ``pairs`` (a dict, or (key, value) pairs, the last of a key
    winning), as the host would read a manifest's ``[config]``."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    table: Dict[str, str] = {}
    for key, value in items:
        table[key] = value
    return table.get


def from_pairs(read: Callable[[ConfigReader], T], pairs: Pairs) -> T:
    """Builds settings with ``read`` from fixed pairs: how a unit test reads a
    connector's settings without the host."""
    return read(ConfigReader(pairs_lookup(pairs)))


class SettingsCell(Generic[T]):
    """The settings of the current run, read from the host on first use and kept.

    The host makes a fresh instance of the component for every run, so the cell is
    per run: a changed manifest is seen by the next run. A failed read is kept too,
    so every call of the run reports the same ``InvalidConfig``.
    """

    def __init__(self, read: Callable[[ConfigReader], T]) -> None:
        self._read = read
        self._value: Optional[T] = None
        self._error: Optional[BaseException] = None
        self._done = False
        _CELLS.append(self)

    def get(self, lookup: Optional[Lookup] = None) -> T:
        """The settings of this run (read with ``lookup``, by default the host's
        ``config.get``, on the first call)."""
        if not self._done:
            try:
                self._value = self._read(ConfigReader(lookup or _host.config.get))
            except InvalidConfig as e:
                self._error = e
            self._done = True
        if self._error is not None:
            raise InvalidConfig(str(self._error))
        return self._value  # type: ignore[return-value]

    def reset(self) -> None:
        """Forgets what was read (for tests, which run many "runs" in one process)."""
        self._value, self._error, self._done = None, None, False


#: Every cell, so that ``connector_sdk.testing`` can reset them between tests.
_CELLS: List["SettingsCell"] = []
