"""Small key-value state the host keeps for this connector across runs (cursors,
ETags). The host bounds its size (``[limits] state_bytes``)."""

from __future__ import annotations

import json
from typing import Any, Optional

from . import _host


def get(key: str) -> Optional[str]:
    """The value stored under ``key``, if any."""
    return _host.state.get(key)


def set(key: str, value: str) -> None:  # noqa: A001  (the WIT name)
    """Stores ``value`` under ``key``, replacing any earlier value."""
    _host.state.set(key, value)


def delete(key: str) -> None:
    """Removes ``key``, if present."""
    _host.state.delete(key)


def get_json(key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key`` by ``set_json``, or ``default`` when
    there is none or it is not JSON."""
    text = _host.state.get(key)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def set_json(key: str, value: Any) -> None:
    """Stores ``value`` as compact JSON under ``key``."""
    _host.state.set(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))
