"""Sealing the log: signed checkpoints, now or on a schedule.

:func:`seal` writes one checkpoint inside a transaction that holds the log's head row lock
(the same lock every append takes), so:

- the checkpoint covers exactly the entries committed before it, and nothing can be appended
  in between;
- two processes or nodes that both find a checkpoint due cannot both seal: the second one
  waits for the lock, then sees the first one's checkpoint and finds nothing due (and the
  checkpoint table's key, the log size, refuses a duplicate anyway).

Sealing is itself logged: the ``audit.checkpoint`` entry is appended first and the
checkpoint then covers it, so a checkpoint vouches for its own announcement and there is no
recursion — after sealing, the log holds no unsealed entry, so nothing is due until the next
event. Before signing, the entries since the previous checkpoint are checked against the chain
and against that checkpoint's Merkle edge: a checkpoint never signs a broken log.

The schedule (``GATEWAY_CHECKPOINT_EVERY_ENTRIES``, ``GATEWAY_CHECKPOINT_EVERY_SECONDS``):
a checkpoint is due when that many entries, or that many seconds, have passed since the last
one and at least one entry is unsealed — and at once while the log was never sealed. No
daemon is mandatory. Each web worker can run a :class:`Sealer` thread (:func:`init_app`;
started after fork, on the worker's first request) that looks at once, then every few seconds,
with one cheap read; the request path never waits for it except for the few milliseconds the
head lock is held while sealing. Where no web worker runs,
``gateway audit checkpoint --if-due`` from cron does the same.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit import merkle
from gateway.audit.checkpoint import (
    CheckpointKeys,
    Statement,
    encode_public,
    sign,
)
from gateway.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEntry, AuditHead
from gateway.audit.spine import HEAD_ROW_ID, Actor, ActorKind, Event, Subject, record
from gateway.audit.verifier import ENTRY_COLUMNS, LogVerifier
from gateway.clock import Clock, isoformat
from gateway.errors import Conflict, GatewayError
from gateway.runtime import Runtime

log = logging.getLogger("gateway.audit.sealing")

SYSTEM = Actor(ActorKind.SYSTEM, "checkpoint-schedule")
_BATCH = 5_000


class LogBroken(Conflict):
    """The log does not chain from the last checkpoint: it must not be sealed."""

    title = "The access log does not verify"


@dataclass(frozen=True)
class Schedule:
    every_entries: int = 1000  # 0: never by count
    every_seconds: int = 300  # 0: never by time

    @property
    def enabled(self) -> bool:
        return self.every_entries > 0 or self.every_seconds > 0

    def due(self, head_seq: int, last: AuditCheckpoint | None, now: datetime) -> str | None:
        """Why a checkpoint is due (``first``, ``entries`` or ``interval``), or None. A log
        never sealed is sealed at once: nothing proves an unsealed log."""
        sealed = last.size if last is not None else 0
        if head_seq <= sealed:
            return None
        if last is None:
            return "first"
        if self.every_entries and head_seq - sealed >= self.every_entries:
            return "entries"
        if self.every_seconds and (
            last is None or (isoformat(now) >= _after(last.at, self.every_seconds))
        ):
            return "interval"
        return None


def _after(at: str, seconds: int) -> str:
    moment = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")
    return (moment + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def last_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
    ).first()


def seal(
    session: Session,
    clock: Clock,
    keys: CheckpointKeys,
    *,
    actor: Actor,
    trigger: str = "manual",
    schedule: Schedule | None = None,
    request_id: str | None = None,
) -> AuditCheckpoint | None:
    """Seal the log in the caller's transaction.

    With ``schedule``, only when a checkpoint is still due once the lock is held (else None).
    Without, always — unless nothing was appended since the last checkpoint, which is then
    returned as it is.
    """
    signer = keys.current()
    if signer is None:
        raise Conflict("no checkpoint key: run 'gateway audit keys init'")
    key_id, private_key = signer
    head = session.execute(
        select(AuditHead).where(AuditHead.id == HEAD_ROW_ID).with_for_update()
    ).scalar_one()
    last = last_checkpoint(session)
    if schedule is not None:
        reason = schedule.due(head.seq, last, clock.now())
        if reason is None:
            return None
        trigger = reason
    elif last is not None and last.size == head.seq:
        return last
    entry = record(
        session,
        Event(
            action="audit.checkpoint",
            actor=actor,
            subjects=(Subject("key", key_id),),
            request_id=request_id,
            details={"trigger": trigger},
        ),
        clock=clock,
    )
    frontier = _checked_edge(session, last, entry.seq)
    statement = Statement(
        size=entry.seq,
        head_hash=entry.entry_hash,
        merkle_root=frontier.root().hex(),
        at=entry.at,
        key_id=key_id,
    )
    checkpoint = AuditCheckpoint(
        size=statement.size,
        at=statement.at,
        head_hash=statement.head_hash,
        merkle_root=statement.merkle_root,
        key_id=key_id,
        public_key=encode_public(private_key.public_key()),
        signature=sign(private_key, statement),
        frontier=json.dumps([node.hex() for node in frontier.nodes]),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _checked_edge(session: Session, last: AuditCheckpoint | None, size: int) -> merkle.Frontier:
    """The Merkle edge at ``size``, after checking entries since ``last`` chain from it.

    The stored edge of ``last`` is trusted only when it rebuilds ``last``'s signed root;
    otherwise the edge is rebuilt from the first entry."""
    frontier = merkle.Frontier()
    start, start_hash = 0, GENESIS_HASH
    if last is not None:
        stored = merkle.Frontier(last.size, [bytes.fromhex(h) for h in json.loads(last.frontier)])
        if stored.root().hex() == last.merkle_root:
            frontier, start, start_hash = stored, last.size, last.head_hash
        else:
            log.warning("checkpoint %d keeps a wrong Merkle edge; rebuilding", last.size)
    verifier = LogVerifier.resume(start, start_hash, frontier)
    columns = [AuditEntry.__table__.c[name] for name in ENTRY_COLUMNS]
    position = start
    while position < size:
        rows = session.execute(
            select(*columns)
            .where(AuditEntry.seq > position, AuditEntry.seq <= size)
            .order_by(AuditEntry.seq)
            .limit(_BATCH)
        ).all()
        if not rows or not verifier.feed(rows):
            problem = verifier.report.first_break
            where = f" at entry {problem.seq} ({problem.kind})" if problem else ""
            raise LogBroken(f"the log does not verify{where}: run 'gateway audit verify'")
        position = rows[-1][0]
    return frontier


def seal_if_due(
    runtime: Runtime, keys: CheckpointKeys, schedule: Schedule
) -> AuditCheckpoint | None:
    """Seal when due; a cheap unlocked look first, so an idle check costs one small read."""
    if not schedule.enabled or keys.current() is None:
        return None
    with runtime.reading() as session:  # a snapshot: the look takes no lock
        head_seq = session.scalar(select(AuditHead.seq).where(AuditHead.id == HEAD_ROW_ID)) or 0
        if schedule.due(head_seq, last_checkpoint(session), runtime.clock.now()) is None:
            return None
    with runtime.transaction() as session:
        return seal(session, runtime.clock, keys, actor=SYSTEM, schedule=schedule)


class Sealer:
    """A worker's sealing thread: looks every ``poll`` seconds, seals when due."""

    def __init__(
        self, runtime: Runtime, keys: CheckpointKeys, schedule: Schedule, poll: float = 5.0
    ) -> None:
        self.runtime, self.keys, self.schedule, self.poll = runtime, keys, schedule, poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start(self) -> None:
        """Start once per process (a forked worker starts its own)."""
        if self._pid == os.getpid() or not self.schedule.enabled:
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll + 5)

    def _run(self) -> None:
        # A first look at once (a log never sealed is sealed at start), then every poll.
        while True:
            try:
                seal_if_due(self.runtime, self.keys, self.schedule)
            except GatewayError as error:
                log.warning("scheduled checkpoint not sealed: %s", error.detail)
            except Exception:  # noqa: BLE001 - a failed seal must not stop the next one
                log.exception("scheduled checkpoint failed")
            if self._stop.wait(self.poll):
                return


def schedule_of(runtime: Runtime) -> Schedule:
    config = runtime.config
    return Schedule(
        every_entries=config.checkpoint_every_entries,
        every_seconds=config.checkpoint_every_seconds,
    )


def init_app(app, runtime: Runtime) -> Sealer:  # type: ignore[no-untyped-def]
    """Seal on the schedule from every web worker; the thread starts on the worker's first
    request, after gunicorn has forked it."""
    sealer = Sealer(runtime, CheckpointKeys(runtime.config.keys_dir), schedule_of(runtime))
    app.before_request(sealer.start)
    app.extensions["gateway.sealer"] = sealer
    return sealer
