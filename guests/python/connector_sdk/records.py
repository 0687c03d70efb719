"""The SDK's own types for what a connector hands the host: records, pages, drafts.

They mirror the WIT types (``source-record``, ``page``, ``envelope-draft`` …) but
are plain Python, so that connector code and its unit tests never touch the
generated bindings; the SDK converts them at the boundary (``connector_sdk.export``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Union


class RecordType(enum.Enum):
    """What kind of thing a record describes; written in envelopes as the
    capitalised name (``Claim``)."""

    DOCUMENT = "document"
    EVENT = "event"
    ENTITY = "entity"
    CLAIM = "claim"
    METRIC = "metric"

    @classmethod
    def parse(cls, text: str) -> "RecordType":
        """``document``/``Document`` … to a record type; ``ValueError`` otherwise."""
        for member in cls:
            if text in (member.value, member.value.capitalize()):
                return member
        raise ValueError(f"not a record type: {text!r}")


@dataclass
class Provenance:
    """Where a record came from."""

    #: The record's address at the source, with a scheme (``https://…``, ``file://…``).
    uri: str
    #: The source's version identifier for the record, if any.
    etag: Optional[str] = None
    #: When the source last changed the record (its own text, ideally RFC 3339).
    last_modified: Optional[str] = None
    #: Who wrote or last changed the record.
    author: Optional[str] = None


#: A record's ``raw``: JSON text, or a value the SDK serialises (a dict, a list …).
Raw = Union[str, Any]


def json_text(value: Raw) -> str:
    """``value`` as JSON text: a ``str`` is taken to be JSON text already (passed
    through untouched, as the contract asks); anything else is serialised."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass
class Record:
    """One record as the source delivered it."""

    #: The record's identifier at the source; unique within the source instance.
    id: str
    #: The record as JSON text (pass the source's text through untouched), or a
    #: JSON-serialisable value.
    raw: Raw
    #: Where it came from.
    provenance: Provenance

    def draft(
        self,
        record_type: "RecordType | str",
        source_instance: str,
        acl_tags: Sequence[str] = (),
        metadata: "Optional[Raw]" = None,
    ) -> "Draft":
        """The envelope draft of this record: its id, raw and provenance, with the
        rest given here."""
        return Draft(
            record_id=self.id,
            record_type=record_type,
            source_instance=source_instance,
            provenance=self.provenance,
            raw=self.raw,
            acl_tags=list(acl_tags),
            metadata=metadata,
        )


@dataclass
class Skipped:
    """An item the connector could not read as a record; reported, not fatal."""

    #: Where it is in the source, for a person to find it (``line 17``).
    locator: str
    #: Why it was skipped.
    reason: str


@dataclass
class Page:
    """One page of records: what ``list_records`` returns."""

    records: List[Record] = field(default_factory=list)
    #: Where the next page starts; ``None`` when this is the last page.
    next_cursor: Optional[str] = None
    skipped: List[Skipped] = field(default_factory=list)


@dataclass
class Draft:
    """A connector's description of one record; the host seals it into an envelope
    (it sets ``envelope_version``, ``source``, ``collected_at`` and the hashes)."""

    record_id: str
    record_type: "RecordType | str"
    source_instance: str
    provenance: Provenance
    raw: Raw
    acl_tags: List[str] = field(default_factory=list)
    #: Connector metadata: a JSON object as text or as a dict; ``None`` for none.
    metadata: "Optional[Raw]" = None


@dataclass
class DraftPage:
    """One page of drafts: what ``list_drafts`` returns."""

    drafts: List[Draft] = field(default_factory=list)
    next_cursor: Optional[str] = None
    skipped: List[Skipped] = field(default_factory=list)


class Columns:
    """Drafts that share their record type, source instance and tags, as columns:
    the i-th draft is the i-th entry of every list. For a connector that lists many
    records a page: ``list_draft_columns`` fills these lists instead of making a
    ``Draft`` (and a ``Provenance``) a record, and the host receives each list in
    one step (the WIT ``draft-block``).

    Append to every per-draft list for every draft (``add`` does it), or leave an
    optional list (``etags``, ``last_modified``, ``authors``, ``metadata``) empty:
    none for every draft. ``raws`` and ``metadata`` hold JSON text.
    """

    __slots__ = (
        "record_type",
        "source_instance",
        "acl_tags",
        "record_ids",
        "raws",
        "uris",
        "etags",
        "last_modified",
        "authors",
        "metadata",
    )

    def __init__(self, record_type: "RecordType | str", source_instance: str, acl_tags: Sequence[str] = ()) -> None:
        self.record_type = record_type
        self.source_instance = source_instance
        self.acl_tags: List[str] = list(acl_tags)
        self.record_ids: List[str] = []
        self.raws: List[str] = []
        self.uris: List[str] = []
        self.etags: List[Optional[str]] = []
        self.last_modified: List[Optional[str]] = []
        self.authors: List[Optional[str]] = []
        self.metadata: List[Optional[str]] = []

    def __len__(self) -> int:
        return len(self.record_ids)

    def add(
        self,
        record_id: str,
        raw: str,
        uri: str,
        etag: Optional[str] = None,
        last_modified: Optional[str] = None,
        author: Optional[str] = None,
        metadata: Optional[str] = None,
    ) -> None:
        """Appends one draft to every list."""
        self.record_ids.append(record_id)
        self.raws.append(raw)
        self.uris.append(uri)
        self.etags.append(etag)
        self.last_modified.append(last_modified)
        self.authors.append(author)
        self.metadata.append(metadata)

    def drafts(self) -> List[Draft]:
        """The drafts these columns hold (for tests; the host never needs them)."""
        n = len(self.record_ids)

        def column(values: List[Optional[str]]) -> List[Optional[str]]:
            return values if values else [None] * n

        return [
            Draft(
                record_id=i,
                record_type=self.record_type,
                source_instance=self.source_instance,
                provenance=Provenance(uri=u, etag=e, last_modified=m, author=a),
                raw=r,
                acl_tags=list(self.acl_tags),
                metadata=md,
            )
            for i, r, u, e, m, a, md in zip(
                self.record_ids,
                self.raws,
                self.uris,
                column(self.etags),
                column(self.last_modified),
                column(self.authors),
                column(self.metadata),
            )
        ]


@dataclass
class ColumnsPage:
    """One page of drafts as column blocks, in source order: what
    ``list_draft_columns`` returns."""

    blocks: List[Columns] = field(default_factory=list)
    next_cursor: Optional[str] = None
    skipped: List[Skipped] = field(default_factory=list)

    def drafts(self) -> List[Draft]:
        """Every draft of the page, in order (for tests)."""
        return [d for b in self.blocks for d in b.drafts()]
