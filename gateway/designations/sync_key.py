"""The resellers' sync key, and the sync point the partner API hands out.

``Designation.changed_at`` orders a reseller's view: a change it has not seen has a key at or
after the ``updated_since`` it passes. The gateway, not the reseller's clock, says which
``updated_since`` to pass next (the *sync point*, ``next_updated_since`` on every list page),
and two rules make that safe:

- **A key is the instant its change commits, not the instant it was made.** A writer takes
  a provisional key with :func:`stamp`; just before its transaction commits, the rows still
  carrying it are moved to the commit's own instant (:func:`_settle`). A long import that
  began an hour ago thus lands with keys of now, not of an hour ago, where an earlier sync
  point would already have passed them.
- **A sync point lies :data:`SETTLE` behind the gateway's clock when the paging run began**
  (the cursor carries it from page to page). That margin covers what separates a key from
  its commit — the final statements and the commit itself — and the clock difference
  between nodes (keep them on NTP: far below a second).

So a change committed after a run's first page has a key at or after that run's sync point,
and the next run returns it; one committed before is seen by the run itself (or moves, and is
seen next time). The price is repetition: a next run returns again what changed in the
:data:`SETTLE` before the previous run began, which a reseller's upsert absorbs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from gateway.clock import Clock, isoformat
from gateway.designations.models import Designation
from gateway.partners.models import Partner

SETTLE = timedelta(seconds=60)
_PENDING = "gateway.sync_keys"  # session.info: the provisional keys of this transaction
_CLOCK = "gateway.sync_clock"


def stamp(session: Session, clock: Clock) -> str:
    """A provisional sync key for a change made in ``session``'s transaction; the rows that
    still carry it when the transaction commits get the commit's instant instead."""
    provisional = isoformat(clock.now())
    session.info.setdefault(_PENDING, set()).add(provisional)
    session.info[_CLOCK] = clock
    return provisional


def sync_point(now: datetime) -> str:
    """The ``updated_since`` a paging run that begins at ``now`` hands out."""
    return isoformat(now - SETTLE)


@event.listens_for(Session, "before_commit")
def _settle(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    clock = session.info.pop(_CLOCK, None)
    if not pending or clock is None:
        return
    session.flush()
    final = isoformat(clock.now())
    for provisional in sorted(pending):
        if provisional < final:
            # Through the index (partner_id, changed_at, …): one probe a partner.
            session.execute(
                update(Designation)
                .where(Designation.partner_id.in_(select(Partner.id)),
                       Designation.changed_at == provisional)
                .values(changed_at=final)
                .execution_options(synchronize_session=False)
            )  # fmt: skip


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_CLOCK, None)
