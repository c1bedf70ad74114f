"""Group commit: several requests' log entries made durable by one commit.

A durable commit costs an fsync (a millisecond or more on ordinary disks) and commits are
serialised by the log's head lock, so one commit per request caps a worker at a few hundred
requests a second whatever else is done. Here the concurrent requests of one process hand
their entries to whichever of them is committing; it writes every waiting request's entries in
one transaction through :func:`gateway.audit.spine.append`, and each request is released only
once the commit that holds its entries has returned. Nothing is released earlier and no
request's entries are split across commits.

One request's failure is its own: if a commit fails — a value one caller sent that the
database refuses, a re-check that raises — its requests are committed again one by one, so
every other request commits with its entry, and the one that cannot commit is logged as
refused (``internal_error``) without its writes. Only when even that refusal cannot be written
is the log unavailable, and the request fails with :class:`AuditUnavailable` (503).

No background thread is needed (safe across ``fork``): the first waiting request leads a
batch; when it is done it hands the lead to the next waiting request, if any.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.audit.spine import Event, Outcome, PreparedEntry, append, lock_head, prepare
from gateway.db import RawTransaction
from gateway.errors import AuditUnavailable
from gateway.runtime import Runtime

# Runs inside the commit, under the head lock. The dict is shared by every request of the
# commit: a recheck may keep there what it read, for the others (one token's live state is
# read once per commit, however many of its requests the commit holds).
Recheck = Callable[[RawTransaction, dict], Event | None]
# Runs first, for every request of the commit, before any recheck: puts in the shared dict
# what its recheck will need, so the first recheck to read can read for all.
Announce = Callable[[dict], None]
# The rule of a request that could not be committed with its own entries.
FAILED_RULE = "internal_error"

_log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Slot:
    source: Sequence[Event]
    events: Sequence[PreparedEntry]
    recheck: Recheck | None = None
    announce: Announce | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    committed: bool = False
    error: BaseException | None = None
    refused: Event | None = None


class GroupCommit:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._leading = False

    @property
    def queued(self) -> int:
        """How many requests wait for the next commit (for health reports and tests)."""
        with self._lock:
            return len(self._waiting)

    def write(
        self,
        events: Sequence[Event],
        recheck: Recheck | None = None,
        announce: Announce | None = None,
    ) -> Event | None:
        """Return once ``events`` are committed; raise :class:`AuditUnavailable` if not
        (``ValueError``, before anything is queued, for a malformed event).

        ``recheck`` runs inside the commit, after the log's head lock is taken; if it returns
        a refusal, that refusal is logged instead of ``events`` and returned: the request must
        then release nothing but the refusal. ``announce`` runs before any recheck of the
        commit (see :data:`Announce`). A request that cannot be committed with its entries is
        logged and returned as a refusal whose rule is :data:`FAILED_RULE`."""
        # Checked and encoded here, in the request's own thread: the commit holds the log's
        # lock, and does under it only what needs it.
        if not events:
            raise ValueError("a request commits at least one log entry")
        slot = _Slot(events, [prepare(event) for event in events], recheck, announce)
        with self._lock:
            self._waiting.append(slot)
            if not self._leading:
                self._leading = True
                slot.wake.set()
        slot.wake.wait()
        if not slot.committed:
            self._lead()
        if slot.error is not None:
            raise AuditUnavailable("the access log could not be written") from slot.error
        return slot.refused

    def _lead(self) -> None:
        batch: list[_Slot] = []
        error: BaseException | None = None
        try:
            try:
                # The batch is taken once the write lock is held, not before: requests that
                # arrive while the leader waits for another process's commit join this one.
                self._commit(lambda: self._take_into(batch))
            except Exception:  # noqa: BLE001 - one request's failure must stay its own
                _log.warning("a group commit failed; committing its requests one by one")
                if not batch:  # the write lock was never had: the log cannot be written
                    raise
                self._commit_alone(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to every request in the batch
            error = exc
        finally:
            if not batch:  # the write lock was never had: everyone waiting fails with it
                batch = self._take()
            for slot in batch:
                if slot.error is None:
                    slot.error = error
                slot.committed = True
                slot.wake.set()
            with self._lock:
                if self._waiting:
                    self._waiting[0].wake.set()  # the next request leads the next batch
                else:
                    self._leading = False

    def _commit(self, slots: Callable[[], list[_Slot]]) -> None:
        """One transaction under the head lock: every slot's announce, its re-check, then all
        their entries (or a slot's refusal) in one append."""
        with self.runtime.writing() as connection:
            batch = slots()
            head = lock_head(connection)
            shared: dict = {}
            for slot in batch:
                slot.refused = None
                if slot.announce is not None:
                    slot.announce(shared)
            for slot in batch:
                slot.refused = slot.recheck(connection, shared) if slot.recheck else None
            append(
                connection,
                [event for slot in batch
                 for event in ((slot.refused,) if slot.refused else slot.events)],
                clock=self.runtime.clock,
                head=head,
            )  # fmt: skip

    def _commit_alone(self, batch: list[_Slot]) -> None:
        """After a failed commit: each request in a commit of its own; one that still fails is
        logged as refused, without its writes. Raises only when the log cannot be written."""
        for slot in batch:
            try:
                self._commit(lambda slot=slot: [slot])
                continue
            except Exception:  # noqa: BLE001 - this request's own failure
                _log.exception("a request could not be committed with its entries")
            refusal = dataclasses.replace(
                slot.source[0], outcome=Outcome.DENIED, rule=FAILED_RULE, purpose=None,
                items=(), allowlist_version=None, details={},
            )  # fmt: skip
            slot.recheck = slot.announce = None
            slot.events = [prepare(refusal)]
            try:
                self._commit(lambda slot=slot: [slot])
            except Exception as error:  # noqa: BLE001 - not even a refusal can be written
                slot.error = error
                raise
            slot.refused = refusal

    def _take_into(self, batch: list[_Slot]) -> list[_Slot]:
        batch[:] = self._take()
        return batch

    def _take(self) -> list[_Slot]:
        with self._lock:
            batch, self._waiting = self._waiting, []
        return batch
