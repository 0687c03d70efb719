"""Logging into the host's log, attributed to this connector. The host rate-limits
and truncates lines (``[limits] log_lines_per_second``, ``log_line_bytes``).

``print`` works too (the guest's stdout and stderr go to the host's log), and
``HostLogHandler`` routes Python's ``logging`` module there.
"""

from __future__ import annotations

import logging

from . import _host
from .errors import bounded

#: The longest line the SDK sends; the host cuts it further.
MAX_LINE = 8000


def _log(level: str, message: str) -> None:
    _host.log.log(getattr(_host.log.Level, level), bounded(str(message), MAX_LINE))


def trace(message: str) -> None:
    """Very detailed tracing."""
    _log("TRACE", message)


def debug(message: str) -> None:
    """Debugging detail."""
    _log("DEBUG", message)


def info(message: str) -> None:
    """Normal progress."""
    _log("INFO", message)


def warn(message: str) -> None:
    """Something unexpected that the connector handled."""
    _log("WARN", message)


def error(message: str) -> None:
    """Something failed."""
    _log("ERROR", message)


class HostLogHandler(logging.Handler):
    """A ``logging`` handler that writes to the host's log:
    ``logging.getLogger().addHandler(HostLogHandler())``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                error(message)
            elif record.levelno >= logging.WARNING:
                warn(message)
            elif record.levelno >= logging.INFO:
                info(message)
            else:
                debug(message)
        except Exception:  # a log line must never fail a call
            self.handleError(record)
