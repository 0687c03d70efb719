"""The guest side of the connector contract (``partner:connector@1.1.0``) for Python
connectors built with componentize-py.

A connector subclasses ``Connector`` and exports it from its app module::

    import connector_sdk as sdk

    class MyConnector(sdk.Connector):
        def source_name(self):
            return "my-source"

        def list_records(self, cursor, limit):
            ...
            return sdk.Page(records, next_cursor, skipped)

        def to_envelopes(self, records):
            return [r.draft(sdk.RecordType.DOCUMENT, "my-instance") for r in records]

    Source = sdk.export(MyConnector)
    Columnar = Source.Columnar

The SDK implements ``list-drafts`` from ``list_records`` and ``to_envelopes`` (one
crossing of the sandbox boundary per page), and ``list-draft-columns`` (the same page
as columns, which the host takes for ingest) from ``list-drafts``; it turns every
exception into a ``connector-error`` case. ``settings`` reads the configuration, ``http`` is the
network (the only one: there are no sockets), ``log`` and ``state`` reach the host's
log and key-value state, ``paging`` has cursor and ``Link`` helpers, and ``testing``
fakes the host for unit tests on plain CPython.
"""

from . import http, log, paging, settings, state
from .connector import Connector, export
from .errors import (
    Api,
    Auth,
    CircuitOpen,
    ConnectorError,
    Denied,
    InvalidConfig,
    Network,
    NotFound,
    Other,
    Parse,
    Quota,
    RateLimited,
    Timeout,
    Unsupported,
)
from .records import Columns, ColumnsPage, Draft, DraftPage, Page, Provenance, Record, RecordType, Skipped
from .settings import ConfigReader, SettingsCell

__version__ = "0.1.0"

__all__ = [
    "Api",
    "Auth",
    "CircuitOpen",
    "Columns",
    "ColumnsPage",
    "ConfigReader",
    "Connector",
    "ConnectorError",
    "Denied",
    "Draft",
    "DraftPage",
    "InvalidConfig",
    "Network",
    "NotFound",
    "Other",
    "Page",
    "Parse",
    "Provenance",
    "Quota",
    "RateLimited",
    "Record",
    "RecordType",
    "SettingsCell",
    "Skipped",
    "Timeout",
    "Unsupported",
    "export",
    "http",
    "log",
    "paging",
    "settings",
    "state",
]
