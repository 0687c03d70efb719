"""The ``Connector`` base class and ``export``, which turns a connector into the WIT
``source`` and ``columnar`` exports that componentize-py looks for.

A connector's app module (the one ``build.sh`` hands componentize-py) ends with::

    Source = connector_sdk.export(MyConnector)

componentize-py imports that module while it *builds* the component and keeps the
interpreter's memory as the component's starting state; it then calls ``Source()``
once per exported function. So the connector itself is made later, on the first
call of a run (the host makes a fresh instance of the component for every run, so
this is once per run), and nothing a run learns survives into the next.

Every export is guarded: a typed SDK error (``InvalidConfig``, ``RateLimited`` …)
becomes the matching case of ``connector-error``; any other exception becomes
``other`` with its type, message and where it was raised (and its traceback goes to
the host's log). Without the guard, componentize-py would trap on it.
"""

from __future__ import annotations

import gc
import sys
import traceback
from typing import Any, Callable, List, Optional, Type, Union

from . import _convert, _host
from .errors import ConnectorError, NotFound, Unsupported, bounded, uncaught
from .records import ColumnsPage, Draft, DraftPage, Page, Record

class Connector:
    """A data connector. Subclass it and implement ``source_name``,
    ``list_records`` and ``to_envelopes``; ``get_record`` is optional."""

    def source_name(self) -> str:
        """The canonical name of the source this connector reads (``file``): 1 to
        64 letters, digits, ``.``, ``_`` or ``-``."""
        raise NotImplementedError("the connector does not say its source_name")

    def list_records(self, cursor: Optional[str], limit: Optional[int]) -> Page:
        """One page of records from ``cursor`` (``None``: the first page), at most
        ``limit`` long (``None``: the connector's default)."""
        raise NotImplementedError("the connector does not implement list_records")

    def get_record(self, id: str) -> Optional[Record]:  # noqa: A002  (the WIT name)
        """The record ``id``, or ``None`` (reported as ``not-found``). By default the
        connector does not offer it (``unsupported``)."""
        raise Unsupported(f"connector `{self.source_name()}` does not offer get-record")

    def to_envelopes(self, records: List[Record]) -> List[Draft]:
        """One envelope draft per record, in order."""
        raise NotImplementedError("the connector does not implement to_envelopes")

    def list_drafts(self, cursor: Optional[str], limit: Optional[int]) -> DraftPage:
        """One page as drafts, in one crossing of the sandbox boundary: by default
        ``to_envelopes`` of ``list_records``. Override only to make it faster; it
        must return what the default returns."""
        page = self.list_records(cursor, limit)
        if not isinstance(page, Page):
            raise TypeError(f"list_records returned {type(page).__name__}, expected connector_sdk.Page")
        drafts = self.to_envelopes(page.records)
        if not isinstance(drafts, (list, tuple)) or len(drafts) != len(page.records):
            count = len(drafts) if isinstance(drafts, (list, tuple)) else type(drafts).__name__
            raise TypeError(
                f"to_envelopes returned {count} drafts for {len(page.records)} records; the contract is one per record"
            )
        return DraftPage(drafts=list(drafts), next_cursor=page.next_cursor, skipped=list(page.skipped))

    def list_draft_columns(self, cursor: Optional[str], limit: Optional[int]) -> ColumnsPage:
        """One page as drafts in columns (``Columns`` blocks), which the host takes
        for ingest instead of ``list_drafts``: by default ``list_drafts``' drafts,
        grouped. Override it to fill the columns directly, for a connector that lists
        many records a page (it skips a ``Draft`` and a ``Provenance`` a record); it
        must give the drafts ``list_drafts`` gives."""
        return _convert.columns_of(self.list_drafts(cursor, limit), "list_drafts")


def _guarded(call: str, body: Callable[[], Any]) -> Any:
    """Runs ``body``; every error it raises leaves as a WIT ``connector-error``.

    The cyclic garbage collector is paused while it runs: a page allocates thousands
    of objects (parsed values, records, drafts), which would start many collections,
    each of which also walks part of the interpreter's snapshotted heap. Reference
    counting still frees what is not a cycle at once; cycles (an exception's frames)
    wait for the first collection after the call."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return body()
    except _host.Err:
        raise  # already a WIT error (from code that uses the bindings itself)
    except ConnectorError as e:
        raise _host.Err(_convert.error_to_wit(e)) from None
    except BaseException as e:  # noqa: BLE001  (anything else would be a trap)
        other = uncaught(call, e)
        _log_traceback(call, e)
        raise _host.Err(_convert.error_to_wit(other)) from None
    finally:
        if paused:
            gc.enable()


def _log_traceback(call: str, error: BaseException) -> None:
    try:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        _host.log.log(_host.log.Level.ERROR, bounded(f"{call} raised:\n{text}", 8000))
    except BaseException:  # noqa: BLE001  (logging must not turn an error into a trap)
        pass


def export(connector: Union[Type[Connector], Callable[[], Connector]]) -> type:
    """The class componentize-py instantiates for the ``source`` export; its
    ``Columnar`` attribute is the class for the ``columnar`` export. An app module
    says both::

        Source = sdk.export(MyConnector)
        Columnar = Source.Columnar

    ``connector`` is a ``Connector`` subclass (or any function that makes one); it
    is called once, on the first call of a run, and its instance serves every call
    of that run.
    """
    if sys.platform == "wasi":
        # Inside a component this runs while componentize-py builds it: everything
        # imported so far is the snapshot every run starts from. Frozen, the garbage
        # collector never walks it again (as a server does before it forks).
        gc.freeze()
    made: List[Connector] = []

    def instance() -> Connector:
        if not made:
            made.append(connector())
        return made[0]

    class Source:
        """The WIT ``source`` export, implemented from the connector."""

        @staticmethod
        def connector() -> Connector:
            """The connector of this run (made on the first call): for tests."""
            return instance()

        def source_name(self) -> str:
            # `source-name` has no error case; an exception is logged and answered with a
            # name the host refuses, so the run fails naming it instead of trapping.
            try:
                name = instance().source_name()
                if type(name) is not str:
                    raise TypeError(f"source_name returned {type(name).__name__}, expected str")
                name.encode("utf-8")
                return name
            except BaseException as e:  # noqa: BLE001
                _log_traceback("source-name", e)
                return _convert._valid_text(bounded(f"<{uncaught('source-name', e).message}>", 200))

        def list_records(self, req: Any) -> Any:
            return _guarded(
                "list-records",
                lambda: _convert.page_to_wit(instance().list_records(req.cursor, req.limit), "list_records"),
            )

        def get_record(self, id: str) -> Any:  # noqa: A002
            def body() -> Any:
                record = instance().get_record(id)
                if record is None:
                    raise NotFound(f"no record with id `{id}`")
                return _convert.record_to_wit(record, "get_record's record")

            return _guarded("get-record", body)

        def to_envelopes(self, records: Any) -> Any:
            def body() -> Any:
                mine = [_convert.record_from_wit(r) for r in records]
                return _convert.drafts_to_wit(instance().to_envelopes(mine), "to_envelopes", len(mine))

            return _guarded("to-envelopes", body)

        def list_drafts(self, req: Any) -> Any:
            return _guarded(
                "list-drafts",
                lambda: _convert.draft_page_to_wit(instance().list_drafts(req.cursor, req.limit), "list_drafts"),
            )

    class Columnar:
        """The WIT ``columnar`` export: the source's pages as columns, for ingest."""

        def list_draft_columns(self, req: Any) -> Any:
            return _guarded(
                "list-draft-columns",
                lambda: _convert.columns_page_to_wit(
                    instance().list_draft_columns(req.cursor, req.limit), "list_draft_columns"
                ),
            )

    name = getattr(connector, "__name__", "connector")
    Source.__qualname__ = f"Source[{name}]"
    Columnar.__qualname__ = f"Columnar[{name}]"
    # The app module names it too (`Columnar = Source.Columnar`): componentize-py
    # finds each export of the world by its name there.
    Source.Columnar = Columnar  # type: ignore[attr-defined]
    return Source
