"""The import door: customer records in, only allowlisted content stored.

``gateway customers import FILE.jsonl`` reads one source record a line, in the data
contract's names, as the company's customer system exports it:

- fields outside the allowlist are split off **before** validation, counted and named in the
  summary (names only, never values) and never stored — not even in a rejected record;
- the rest is validated by the input schema generated from the allowlist (strict: types,
  lengths, the usage-status vocabulary, a ``customer_id`` and ``contract.usage_status`` in
  every record);
- a ``customer_id`` starting ``SANDBOX-`` (in any case) is reserved for the generated
  customers of the sandbox (:mod:`gateway.sandbox`): such a record is a bad record here, and
  the sandbox generator (``generated=True``) may import nothing else;
- records are upserted by ``customer_id``; ``updated_at`` moves only when the stored content
  (its SHA-256) changes. A ``customer_id`` repeated in a file: the later line wins (counted
  as ``repeated``; a repeat more than a batch apart is applied in turn, like a later import).

Bad records: **the file is applied whole or not at all.** DESIGN: "bad input gets a clear
error and changes nothing" — a partial customer file would leave resellers seeing a mix of
old and new data with no one knowing which. The whole file is read (so every bad line is
listed by number and reason, up to :data:`gateway.jsonlines.MAX_LISTED_BAD`, the rest
counted), and if any line is bad the transaction is rolled back. A malformed JSON line, a line over
:data:`MAX_LINE_BYTES`, a non-object, a wrong type or a missing required field are all bad
records; blank lines are skipped.

Streaming: the file is read line by line (an oversized line is skipped in chunks, never held
whole) and applied in batches of :data:`BATCH_SIZE` inside one transaction, so memory stays
bounded by the batch, not the file. On SQLite that one transaction holds the write lock for
the whole import — the price of all-or-nothing; see the README.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from marshmallow import ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway.allowlist import Allowlist
from gateway.audit.spine import Actor, Event, record
from gateway.clock import Clock
from gateway.customers.models import Customer, ErasedCustomer
from gateway.customers.service import contract_ended
from gateway.designations import sync_key
from gateway.designations.models import Designation
from gateway.jsonlines import REFUSED, ImportRefused, ImportTally, read_lines
from gateway.removals import service as removals
from gateway.removals.models import CONTRACT_ENDED
from gateway.sandbox import CUSTOMER_PREFIX, is_generated
from gateway.validation import describe

MAX_LINE_BYTES = 1 << 20  # 1 MiB: far above any real record, far below a memory problem
BATCH_SIZE = 1000
_MAX_DROPPED_NAMES = 100
_MAX_NAME = 64


@dataclass
class ImportSummary(ImportTally):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repeated: int = 0  # lines whose customer_id an earlier line of the same batch had
    dropped_fields: Counter[str] = field(default_factory=Counter)
    file_sha256: str = ""
    # Customers whose contract ended with this import: each reseller that received them is
    # told (gateway.removals), once the import is applied.
    contracts_ended: list[str] = field(default_factory=list)

    def applied_counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "repeated": self.repeated}  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "dropped_fields": dict(sorted(self.dropped_fields.items())),
            "file_sha256": self.file_sha256,
        }

    def line(self) -> str:
        """The one summary line."""
        dropped = _dropped_text(self.dropped_fields)
        if not self.applied:
            return (
                f"{REFUSED}: {self.bad} bad of {self.lines} lines; "
                f"{self.records} good records not applied{dropped}"
            )
        return (
            f"imported {self.records} records from {self.lines} lines: {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged"
            + (f", {self.repeated} repeated (the later line won)" if self.repeated else "")
            + dropped
        )


class _BadLine(Exception):
    pass


def import_customers(
    session: Session,
    clock: Clock,
    actor: Actor,
    source: BinaryIO,
    *,
    allowlist: Allowlist,
    progress: Callable[[int], None] | None = None,
    request_id: str | None = None,
    generated: bool = False,
) -> ImportSummary:
    """Stream ``source`` (JSON Lines, bytes) into the store inside the caller's transaction.

    Raises :class:`gateway.jsonlines.ImportRefused` (with the summary) when any record is bad;
    the caller's transaction must then be rolled back. ``progress`` is called with the bytes
    consumed. ``generated``: the sandbox generator's import, of generated customers only.
    """
    summary = ImportSummary()
    digest = hashlib.sha256()
    # Also the sync key of changed customers, moved to the commit's instant when it commits.
    now = sync_key.stamp(session, clock)
    # Erased customers come back only when an operator readmits them (paragraph 6).
    erased = set(session.scalars(select(ErasedCustomer.customer_id)))
    batch: dict[str, tuple[str, str, bool]] = {}

    for number, raw, consumed in read_lines(source, MAX_LINE_BYTES, digest):
        summary.lines = number
        if progress:
            progress(consumed)
        try:
            if raw is None:
                raise _BadLine(f"longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip():
                continue
            customer_id, content, dropped = _parse(raw, allowlist, first=number == 1)
            if customer_id in erased:
                raise _BadLine(f"customer {customer_id!r} was erased (paragraph 6): "
                               "readmit it first (gateway customers readmit)")  # fmt: skip
            if is_generated(customer_id) != generated:
                raise _BadLine(_reserved(customer_id, generated))
        except _BadLine as bad:
            summary.refuse_line(number, str(bad))
            continue
        summary.records += 1
        _count_dropped(summary.dropped_fields, dropped)
        if summary.bad:
            continue  # nothing will be applied; keep reading to list every bad line
        if customer_id in batch:
            summary.repeated += 1  # the later line wins
        elif len(batch) >= BATCH_SIZE:
            _apply(session, batch, now, summary)
        text = _canonical(content)
        batch[customer_id] = (
            text,
            hashlib.sha256(text.encode()).hexdigest(),
            contract_ended(content),
        )

    summary.file_sha256 = digest.hexdigest()
    if summary.bad:
        raise ImportRefused(summary, summary.line())
    _apply(session, batch, now, summary)
    for customer_id in summary.contracts_ended:
        removals.notify(session, clock, customer_id=customer_id, reason=CONTRACT_ENDED,
                        request_id=request_id)  # fmt: skip
    record(
        session,
        Event(
            action="customers.import",
            actor=actor,
            request_id=request_id,
            details={
                "lines": summary.lines,
                "records": summary.records,
                "created": summary.created,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "repeated": summary.repeated,
                "dropped_fields": sum(summary.dropped_fields.values()),
                "dropped_names": ",".join(sorted(summary.dropped_fields))[:500],
                "file_sha256": summary.file_sha256,
            },
        ),
        clock=clock,
    )
    return summary


def _reserved(customer_id: str, generated: bool) -> str:
    if generated:
        return f"customer {customer_id!r} is not a generated sandbox customer id"
    return (f"customer {customer_id!r}: ids starting {CUSTOMER_PREFIX} are reserved for the "
            "sandbox's generated customers (gateway demo, gateway sandbox tick)")  # fmt: skip


def _reject_constant(name: str) -> Any:
    raise _BadLine(f"malformed JSON ({name} is not a JSON number)")


def _parse(raw: bytes, allowlist: Allowlist, *, first: bool) -> tuple[str, dict, set[str]]:
    """One line to (customer_id, stored content, dropped field names), or :class:`_BadLine`.
    Reasons never quote the line's values."""
    if first and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark some exporters write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadLine("not UTF-8 text") from None
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise _BadLine(f"malformed JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise _BadLine("malformed JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise _BadLine("not a JSON object")
    kept, dropped = allowlist.split_source(value)
    try:
        loaded = allowlist.input_schema.load(kept)
    except ValidationError as error:
        raise _BadLine(describe(error.messages)) from None
    customer_id = loaded.pop("customer_id")
    return customer_id, allowlist.stored_content(loaded), dropped


def _canonical(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _apply(
    session: Session,
    batch: dict[str, tuple[str, str, bool]],
    now: str,
    summary: ImportSummary,
) -> None:
    """Upsert one batch by customer_id; clears ``batch``."""
    if not batch:
        return
    existing = {
        customer_id: (content_hash, was_ended)
        for customer_id, content_hash, was_ended in session.execute(
            select(Customer.customer_id, Customer.content_hash, Customer.contract_ended).where(
                Customer.customer_id.in_(list(batch))
            )
        )
    }
    inserts, updates = [], []
    for customer_id, (text, content_hash, ended) in batch.items():
        row = {
            "customer_id": customer_id,
            "content": text,
            "content_hash": content_hash,
            "updated_at": now,
            "contract_ended": ended,
        }
        if customer_id not in existing:
            inserts.append({**row, "stop_use": False, "stop_use_at": None})
        elif existing[customer_id][0] != content_hash:
            updates.append(row)
            if ended and not existing[customer_id][1]:
                summary.contracts_ended.append(customer_id)
        else:
            summary.unchanged += 1
    if inserts:
        session.execute(insert(Customer), inserts)
        summary.created += len(inserts)
    if updates:
        session.execute(update(Customer), updates)
        # The resellers of a changed customer see it change now (their sync key).
        session.execute(
            update(Designation)
            .where(Designation.customer_id.in_([row["customer_id"] for row in updates]))
            .values(changed_at=now)
            .execution_options(synchronize_session=False)
        )
        summary.updated += len(updates)
    batch.clear()


def _count_dropped(counter: Counter[str], names: set[str]) -> None:
    for name in names:
        safe = "".join(c if c.isprintable() else "?" for c in name)[:_MAX_NAME]
        if safe in counter or len(counter) < _MAX_DROPPED_NAMES:
            counter[safe] += 1
        else:
            counter["(other names)"] += 1


def _dropped_text(dropped: Counter[str]) -> str:
    if not dropped:
        return "; no fields dropped"
    names = ", ".join(f"{name} ×{count}" for name, count in sorted(dropped.items()))
    return f"; fields outside the allowlist dropped at the door: {names}"
