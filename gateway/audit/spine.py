"""The audit spine: the one place an access-log entry is written.

Every feature records its events by calling :func:`record` inside the same transaction as the
change it logs, so an event and its entry commit together or not at all. Appends are
serialised by locking the single ``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL;
on SQLite every transaction already holds the write lock, see ``gateway.db``), which keeps the
chain one line across workers and nodes; the primary key on ``seq`` makes a fork impossible
even if that lock were lost.

Actions are ``noun.verb`` names, one of :class:`gateway.audit.actions.Action` (any other is
refused); the vocabulary, which the privacy desk's reports read:

- operators: ``partner.add``, ``partner.nda``, ``partner.revoke``, ``partner.limits``,
  ``partner.destruction``,
  ``client.add``, ``client.constrain``, ``client.disable``, ``client.keys``, ``key.init``,
  ``key.rotate``,
  ``customers.import``, ``customers.stop_use``, ``customers.resume_use``, ``customers.erase``,
  ``customers.readmit``, ``designations.import``, ``designation.add``,
  ``designation.withdraw``;
- resellers (actor: the OAuth client; subjects: ``partner``, ``client`` and, for data, each
  ``customer`` disclosed): ``token.issue``, ``token.introspect``, ``token.revoke``,
  ``customers.list``, ``customers.read``, ``events.poll`` (details: delivered, acks, errors);
- the gateway itself: ``removal.notify`` (a customer's removal made an event for each reseller
  that received the customer; subjects: the customer and those resellers);
- the privacy desk and the system: ``audit.checkpoint`` (details ``trigger``: ``first``,
  ``manual``, ``export``, ``entries`` or ``interval``; subject the signing ``key``),
  ``audit.verify`` (details: the verdict), ``audit.export`` (details: filters and format;
  subjects: the partner or customer filtered on), ``audit.report`` (details ``report``:
  ``customer``, ``breach`` or ``anomalies``, and the window), ``anomaly.review`` (subject the
  ``flag``, details its rule), ``rights.open``, ``rights.act`` and ``rights.close`` (subjects:
  the customer and the ``request``); the checkpoint key's ``key.init`` and ``key.rotate`` carry
  ``{"use": "checkpoint"}``;
- staff in the web console (actor: ``operator`` ``staff:NAME``): ``staff.add``,
  ``staff.disable``, ``console.login``, ``console.logout``, ``console.view``,
  ``console.refused``, ``audit.browse`` (a page of the log, with its filters), and the same
  ``audit.*`` and ``partner.revoke`` actions as the CLI.

Entries carry names and ids, never personal data values: ``items`` are allowlist item names,
``subjects`` are ids, ``details`` are short scalars chosen by the caller for operators.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.audit.actions import Action
from gateway.audit.chain import HASHED_FIELDS, canonical_json, chain_hash
from gateway.audit.models import AuditEntry, AuditHead, AuditSubject
from gateway.audit.verifier import fast_entry_body
from gateway.clock import Clock, isoformat
from gateway.db import Prepared, RawTransaction
from gateway.errors import AuditUnavailable

HEAD_ROW_ID = 1

_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}\Z")
_ACTIONS = frozenset(Action)
_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}\Z")
_MAX_DETAIL_TEXT = 500

Scalar = str | int | bool | None


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class ActorKind(StrEnum):
    OPERATOR = "operator"  # a person at the company, through the CLI or the console
    CLIENT = "client"  # a reseller's OAuth client
    SYSTEM = "system"  # the gateway itself (scheduled checkpoints, migrations)


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str


@dataclass(frozen=True)
class Subject:
    """Who or what an event is about: ``partner``, ``client``, ``customer``, ``key`` …"""

    kind: str
    id: str


@dataclass(frozen=True)
class Event:
    action: str
    actor: Actor
    outcome: Outcome = Outcome.ALLOWED
    rule: str | None = None  # for a denial: the rule that failed
    subjects: tuple[Subject, ...] = ()
    purpose: str | None = None
    items: tuple[str, ...] = ()  # item names disclosed, never values
    allowlist_version: str | None = None
    request_id: str | None = None
    details: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEntry:
    seq: int
    at: str
    entry_hash: str


def record(session: Session, event: Event, *, clock: Clock) -> RecordedEntry:
    """Append ``event`` to the log inside the caller's transaction.

    Raises :class:`AuditUnavailable` when the log cannot be written; the caller's transaction
    must then be rolled back, and nothing it did may take effect.
    """
    try:
        session.flush()  # the event's own changes go first, in the same transaction
    except SQLAlchemyError as error:
        raise AuditUnavailable("the access log could not be written") from error
    return append(session.connection(), (event,), clock=clock)[0]


_ENTRIES = AuditEntry.__table__
_SUBJECTS = AuditSubject.__table__
_HEAD = AuditHead.__table__
# Statements built once (the append path runs on every request).
_LOCK_HEAD = Prepared(
    select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == HEAD_ROW_ID).with_for_update()
)
_INSERT_ENTRIES = Prepared(insert(_ENTRIES))
_INSERT_SUBJECTS = Prepared(insert(_SUBJECTS))
_MOVE_HEAD = Prepared(
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ROW_ID)
    .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
)

Head = tuple[int, str]  # the last entry's seq and hash


def lock_head(connection: Connection | RawTransaction) -> Head:
    """Take the log's head lock for the rest of the transaction (appends serialise on it);
    returns the head, for :func:`append`."""
    try:
        head = _LOCK_HEAD.one_or_none(connection)
    except SQLAlchemyError as error:
        raise AuditUnavailable("the access log could not be written") from error
    if head is None:
        raise AuditUnavailable("the access log has no head row")
    return head[0], head[1]


@dataclass(frozen=True)
class PreparedEntry:
    """An event checked and encoded, all but what only the head lock can give (its number,
    time and place in the chain): :func:`prepare` runs outside the lock, :func:`append`
    inside it."""

    fields: Mapping[str, str | None]
    subjects: tuple[tuple[str, str], ...]


def prepare(event: Event) -> PreparedEntry:
    """Check and encode ``event``; raises ``ValueError`` for a malformed one."""
    _check(event)
    subjects = tuple(sorted({(s.kind, s.id) for s in event.subjects}))
    return PreparedEntry(
        {
            "actor_kind": str(event.actor.kind),
            "actor_id": event.actor.id,
            "action": event.action,
            "outcome": str(event.outcome),
            "rule": event.rule,
            "purpose": event.purpose,
            "items": _items_json(frozenset(event.items)),
            "allowlist_version": event.allowlist_version,
            "request_id": event.request_id,
            "subjects": canonical_json([list(s) for s in subjects]),
            "details": _details_json(
                tuple(sorted((k, type(v), v) for k, v in event.details.items()))
            ),
        },
        subjects,
    )


def append(connection: Connection | RawTransaction, events: Sequence[Event | PreparedEntry],
           *, clock: Clock, head: Head | None = None) -> list[RecordedEntry]:  # fmt: skip
    """Append ``events``, in order, inside the connection's transaction: one head-row lock
    and one batch of inserts for all of them (several requests' entries share one commit).
    ``head`` is what :func:`lock_head` returned, when the caller took the lock already."""
    prepared = [e if isinstance(e, PreparedEntry) else prepare(e) for e in events]
    if not prepared:
        return []
    head_seq, head_hash = head if head is not None else lock_head(connection)
    try:
        at = isoformat(clock.now())
        entries, subject_rows, recorded = [], [], []
        for entry in prepared:
            fields = {"seq": head_seq + 1, "at": at, **entry.fields, "prev_hash": head_hash}
            body = fast_entry_body([fields[name] for name in HASHED_FIELDS])
            fields["entry_hash"] = chain_hash(head_hash, body)
            head_seq, head_hash = fields["seq"], fields["entry_hash"]
            entries.append(fields)
            subject_rows += [{"kind": k, "subject_id": i, "seq": head_seq}
                             for k, i in entry.subjects]  # fmt: skip
            recorded.append(RecordedEntry(head_seq, at, head_hash))
        _INSERT_ENTRIES.executemany(connection, entries)
        if subject_rows:
            _INSERT_SUBJECTS.executemany(connection, subject_rows)
        _MOVE_HEAD.execute(connection, {"new_seq": head_seq, "new_hash": head_hash}).close()
    except SQLAlchemyError as error:
        raise AuditUnavailable("the access log could not be written") from error
    return recorded


# Most entries carry one of a few item sets and details: each encoded once.
@functools.lru_cache(maxsize=1024)
def _items_json(items: frozenset[str]) -> str:
    return canonical_json(sorted(items))


@functools.lru_cache(maxsize=1024)
def _details_json(details: tuple[tuple[str, type, Scalar], ...]) -> str:
    # The type is part of the key: True == 1, but they encode as true and 1.
    return canonical_json({key: value for key, _, value in details})


def _check(event: Event) -> None:
    """Refuse malformed events loudly: they are programming errors, not user input."""
    if event.action not in _ACTIONS:
        raise ValueError(f"unknown audit action {event.action!r}: add it to Action first")
    if not _ID.match(event.actor.id):
        raise ValueError("bad audit actor id")
    if (event.outcome is Outcome.DENIED) != (event.rule is not None):
        raise ValueError("a denial names the rule that failed, and only a denial does")
    for name in event.items:
        if not _NAME.match(name):
            raise ValueError(f"bad audit item name {name!r}")
    for subject in event.subjects:
        if not _NAME.match(subject.kind) or not _ID.match(subject.id):
            raise ValueError("bad audit subject")
    for key, value in event.details.items():
        if not _NAME.match(key):
            raise ValueError(f"bad audit detail key {key!r}")
        if not isinstance(value, Scalar) or (
            isinstance(value, str) and len(value) > _MAX_DETAIL_TEXT
        ):
            raise ValueError(f"audit detail {key!r} must be a short scalar")


def entry_as_dict(entry: AuditEntry) -> dict[str, object]:
    return {name: getattr(entry, name) for name in _COLUMNS}


_COLUMNS = tuple(column.name for column in AuditEntry.__table__.columns)
