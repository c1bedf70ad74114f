"""``gateway audit export``: the log, or a filtered part of it, with what proves it.

JSON lines (the default) are verifiable offline (``gateway.audit.verifier.verify_export``):

1. a ``header`` line: the format, the filters, and the *anchor* — a checkpoint sealed for
   this export, covering every entry up to and including the export's own ``audit.export``
   entry;
2. one ``checkpoint`` line for every earlier checkpoint;
3. in log order, one ``entry`` line for each entry the filters select — every stored column,
   ``prev_hash`` and ``entry_hash`` included — and, in place of each run of entries they leave
   out, ``subtree`` lines: the RFC 9162 hashes of the largest subtrees covering that run.

What an auditor can prove from it, with only the published public key:

- a **full** export (no filters): the log itself, as the live verifier does — every entry
  unaltered, nothing removed, inserted, reordered or cut off up to the anchor, and every
  checkpoint matching the log at its size;
- a **filtered** export: each entry present is exactly the entry at its position in the signed
  log (its own hash, and the entries and subtrees together rebuild the anchor's signed Merkle
  root). It cannot prove that the filter was applied honestly — that no other entry matching
  it was left out — since what the omitted entries say is, by design, not in the export;
  for that, take a full export and filter it yourself.

CSV (``--format csv``) is for reading: one row an entry with its ``prev_hash`` and
``entry_hash``; each row can be checked against its own hash, but the proof of position
(subtrees, signed anchor) is only in JSON lines.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, select

from gateway.audit import merkle
from gateway.audit.checkpoint import CheckpointKeys
from gateway.audit.models import AuditEntry, AuditSubject
from gateway.audit.reading import STREAM_BATCH, snapshot
from gateway.audit.sealing import LogBroken, seal
from gateway.audit.service import (
    ENTRY_SELECT_COLUMNS,
    checkpoint_of,
    record_reading,
    stored_checkpoints,
)
from gateway.audit.spine import Actor, Scalar, Subject
from gateway.audit.verifier import ENTRY_COLUMNS, EXPORT_FORMAT, Checkpoint
from gateway.clock import isoformat
from gateway.runtime import Runtime

FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class ExportFilter:
    """Which entries to export; every condition given must hold. ``since`` is inclusive,
    ``until`` exclusive (see ``gateway.audit.window``)."""

    since: datetime | None = None
    until: datetime | None = None
    partner: str | None = None
    customer: str | None = None
    action: str | None = None
    outcome: str | None = None

    @property
    def everything(self) -> bool:
        return all(value is None for value in self.as_dict().values())

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": isoformat(self.since) if self.since else None,
            "until": isoformat(self.until) if self.until else None,
            "partner": self.partner,
            "customer": self.customer,
            "action": self.action,
            "outcome": self.outcome,
        }

    def query(self, size: int) -> Select[Any]:
        """The selected entries up to ``size``, in log order, by the subject index where a
        partner or customer is named."""
        query = select(*ENTRY_SELECT_COLUMNS).where(AuditEntry.seq <= size)
        for kind, subject_id in (("partner", self.partner), ("customer", self.customer)):
            if subject_id is not None:
                subject = AuditSubject.__table__.alias(f"{kind}_subject")
                query = query.join(
                    subject,
                    (subject.c.seq == AuditEntry.seq)
                    & (subject.c.kind == kind)
                    & (subject.c.subject_id == subject_id),
                )
        if self.since is not None:
            query = query.where(AuditEntry.at >= isoformat(self.since))
        if self.until is not None:
            query = query.where(AuditEntry.at < isoformat(self.until))
        if self.action is not None:
            query = query.where(AuditEntry.action == self.action)
        if self.outcome is not None:
            query = query.where(AuditEntry.outcome == self.outcome)
        return query.order_by(AuditEntry.seq)


@dataclass
class ExportCount:
    entries: int = 0
    subtrees: int = 0


def export_log(
    runtime: Runtime,
    actor: Actor,
    keys: CheckpointKeys,
    selection: ExportFilter,
    fmt: str,
    *,
    request_id: str | None = None,
    details: Mapping[str, Scalar] | None = None,
) -> tuple[Checkpoint, ExportCount, Iterator[str]]:
    """An export, for the CLI and the console alike: logged first (``audit.export``, with its
    filters), then anchored by a checkpoint sealed for it, then streamed — in one snapshot —
    as the returned text chunks. Returns the anchor, the count (complete once the chunks are
    consumed) and the chunks."""
    about = tuple(
        Subject(kind, value)
        for kind, value in (("partner", selection.partner), ("customer", selection.customer))
        if value
    )
    filters = {
        k: v for k, v in selection.as_dict().items() if v and k not in ("partner", "customer")
    }
    record_reading(
        runtime, actor, "audit.export", subjects=about, request_id=request_id,
        details=filters | {"format": fmt} | dict(details or {}),
    )  # fmt: skip
    with runtime.transaction() as session:
        sealed = seal(session, runtime.clock, keys, actor=actor, trigger="export",
                      request_id=request_id)  # fmt: skip
        assert sealed is not None  # without a schedule, seal always returns the checkpoint
        anchor = checkpoint_of(sealed)
    count = ExportCount()
    render = render_csv if fmt == "csv" else render_jsonl

    def chunks() -> Iterator[str]:
        with snapshot(runtime.engine) as connection:
            records = export_records(connection, anchor, selection,
                                     exported_at=anchor.statement.at, count=count)  # fmt: skip
            with contextlib.closing(records), contextlib.closing(render(records)) as rendered:
                yield from rendered

    return anchor, count, chunks()


def export_records(
    connection: Connection,
    anchor: Checkpoint,
    selection: ExportFilter,
    *,
    exported_at: str,
    count: ExportCount | None = None,
) -> Iterator[dict[str, Any]]:
    """The export's records, streamed: memory stays bounded on any log size."""
    count = count if count is not None else ExportCount()
    size = anchor.statement.size
    yield {
        "type": "header",
        "format": EXPORT_FORMAT,
        "exported_at": exported_at,
        "filters": selection.as_dict(),
        "checkpoint": anchor.as_dict(),
    }
    for checkpoint in stored_checkpoints(connection, up_to=size - 1):
        yield {"type": "checkpoint"} | checkpoint.as_dict()
    streaming = connection.execution_options(yield_per=STREAM_BATCH)
    selected = streaming.execute(selection.query(size))
    hashes = None
    if not selection.everything:
        hashes = iter(
            streaming.execute(
                select(AuditEntry.seq, AuditEntry.entry_hash)
                .where(AuditEntry.seq <= size)
                .order_by(AuditEntry.seq)
            )
        )
    position = 0  # leaves [0, position) are accounted for
    try:
        for row in selected:
            index = row[0] - 1
            if hashes is not None:
                yield from _subtrees(position, index, size, hashes, count)
                _leaves(hashes, index, 1)
            count.entries += 1
            yield {"type": "entry"} | dict(zip(ENTRY_COLUMNS, row, strict=True))
            position = index + 1
        if hashes is not None:
            yield from _subtrees(position, size, size, hashes, count)
    finally:
        selected.close()


def _leaves(hashes: Iterator[Any], start: int, number: int) -> Iterator[bytes]:
    """Take ``number`` entry hashes from the stream, which must be at leaf ``start``."""
    taken = []
    for expected in range(start + 1, start + number + 1):
        row = next(hashes, None)
        if row is None or row[0] != expected:
            raise LogBroken(f"entry {expected} is missing: run 'gateway audit verify'")
        taken.append(bytes.fromhex(row[1]))
    return iter(taken)


def _subtrees(
    start: int, end: int, size: int, hashes: Iterator[Any], count: ExportCount
) -> Iterator[dict[str, Any]]:
    for low, high in merkle.covering_subtrees(start, end, size):
        frontier = merkle.Frontier()
        position = low
        while position < high:  # in slices, so a huge subtree never sits in memory
            step = min(high - position, STREAM_BATCH)
            for leaf in _leaves(hashes, position, step):
                frontier.append(leaf)
            position += step
        count.subtrees += 1
        yield {"type": "subtree", "start": low, "end": high, "hash": frontier.root().hex()}


def render_jsonl(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    for item in records:
        yield json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"


def render_csv(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ENTRY_COLUMNS)
    for item in records:
        if item["type"] != "entry":
            continue
        writer.writerow(["" if item[name] is None else item[name] for name in ENTRY_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
