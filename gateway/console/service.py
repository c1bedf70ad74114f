"""What the console does, without the request: staff accounts and sign-in, the roles matrix,
browsing the access log, the resellers' NDA states and the joint-use notice.

Functions take a session (or a read-only connection) and a clock and return values; the views
render them. Every staff action is logged through the audit spine in the same transaction as
its effect (DESIGN: the log comes first).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, aliased

from gateway import allowlist
from gateway.audit.actions import Action
from gateway.audit.models import AuditCheckpoint, AuditEntry, AuditSubject
from gateway.audit.reports import rule_view
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Subject, record
from gateway.clock import Clock, isoformat, today
from gateway.config import Config
from gateway.console.models import (
    ACTIVE,
    DISABLED,
    OPERATOR,
    PRIVACY_DESK,
    ROLES,
    NoticeRevision,
    StaffAccount,
)
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.notice import PURPOSES, notice_items
from gateway.oauth.clients import list_clients
from gateway.oauth.models import OAuthClient
from gateway.oauth.secrets import hash_secret, verify_secret
from gateway.partners.models import ACTIVE as PARTNER_ACTIVE
from gateway.partners.models import Partner
from gateway.partners.service import list_partners
from gateway.policy import JOINT_USE_PURPOSES

# --- the roles matrix -------------------------------------------------------------------------
#
# Paragraph 5 (safety measures): access control limits who sees what. The privacy desk reads
# the log and its reports; operators manage resellers. Operators do not read the log: it names
# customers, and running the resellers needs none of that. The desk may see the resellers (to
# size a leak it must know who they are) but not revoke them: a revocation is an operator's
# decision, and keeping the two apart means no one both acts and reviews the record of it.
PERMISSIONS: dict[str, frozenset[str]] = {
    PRIVACY_DESK: frozenset(
        {"log.read", "report.customer", "report.breach", "anomalies", "verify", "resellers.read",
         "rights"}
    ),
    OPERATOR: frozenset({"resellers.read", "resellers.revoke"}),
}

# Lock-out: this many failures in a row lock the account for LOCK_TIME; a success resets
# the count. Stored in the database, so it holds on every worker and node.
MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
LAPSING_WITHIN = timedelta(days=30)


def allowed(role: str, permission: str) -> bool:
    return permission in PERMISSIONS.get(role, frozenset())


def staff_actor(name: str) -> Actor:
    """The actor of a console action in the log: an operator, named as staff."""
    return Actor(ActorKind.OPERATOR, f"staff:{name}")


ANONYMOUS = Actor(ActorKind.OPERATOR, "staff:(unknown)")


# --- staff accounts ---------------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInput("name: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        raise InvalidInput("password: no control characters")
    return password


def add_staff(
    session: Session, clock: Clock, actor: Actor, *, name: str, role: str, password: str,
    request_id: str | None = None,
) -> StaffAccount:  # fmt: skip
    _check_name(name)
    if role not in ROLES:
        raise InvalidInput(f"role: one of {', '.join(ROLES)}")
    check_password(password)
    if session.get(StaffAccount, name) is not None:
        raise Conflict(f"staff account {name!r} already exists")
    account = StaffAccount(
        name=name, role=role, password_hash=hash_secret(password), status=ACTIVE,
        created_at=isoformat(clock.now()), failed_logins=0, session_generation=0,
    )  # fmt: skip
    session.add(account)
    record(
        session,
        Event(action="staff.add", actor=actor, subjects=(Subject("staff", name),),
              details={"role": role}, request_id=request_id),
        clock=clock,
    )  # fmt: skip
    return account


def disable_staff(
    session: Session, clock: Clock, actor: Actor, *, name: str, request_id: str | None = None
) -> StaffAccount:
    account = session.get(StaffAccount, name)
    if account is None:
        raise NotFound(f"no staff account {name!r}")
    if account.status == DISABLED:
        raise Conflict(f"staff account {name!r} is already disabled")
    account.status = DISABLED
    account.disabled_at = isoformat(clock.now())
    account.session_generation += 1  # every open session ends with it
    record(
        session,
        Event(action="staff.disable", actor=actor, subjects=(Subject("staff", name),),
              request_id=request_id),
        clock=clock,
    )  # fmt: skip
    return account


def list_staff(session: Session) -> list[dict[str, Any]]:
    accounts = session.scalars(select(StaffAccount).order_by(StaffAccount.name))
    return [
        {
            "name": a.name,
            "role": a.role,
            "status": a.status,
            "created_at": a.created_at,
            "last_login_at": a.last_login_at,
            "locked_until": a.locked_until,
        }
        for a in accounts
    ]


# --- signing in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    ok: bool
    account: StaffAccount | None = None
    rule: str | None = None  # why it failed, for the log; never shown apart to the caller


def password_matches(session: Session, name: str, password: str) -> bool:
    """Check a password against the stored hash, outside any write transaction: the slow
    hash must not hold the database's write lock. An unknown name costs the same hash."""
    account = session.get(StaffAccount, name) if NAME_PATTERN.match(name) else None
    return verify_secret(password, account.password_hash if account else None)


def sign_in(
    session: Session, clock: Clock, *, name: str, password_ok: bool,
    request_id: str | None = None,
) -> SignIn:  # fmt: skip
    """Apply a password check (:func:`password_matches`) to the account and log the attempt,
    successful or not, in the caller's transaction (which must be committed either way: a
    failure counts towards the lock-out).

    A locked or disabled account is refused even with the right password, and a failure while
    locked does not extend the lock.
    """
    now = clock.now()
    # Locked for the update, so that attempts in parallel on other workers each count.
    account = (
        session.get(StaffAccount, name, with_for_update=True) if NAME_PATTERN.match(name) else None
    )
    if account is not None and account.locked_until and account.locked_until <= isoformat(now):
        account.locked_until = None  # the lock ran out
    if account is None:
        # The typed name is not logged: people type passwords into name fields.
        result = SignIn(False, None, "unknown_account")
    elif account.status != ACTIVE:
        result = SignIn(False, account, "account_disabled")
    elif account.locked_until is not None and account.locked_until > isoformat(now):
        result = SignIn(False, account, "account_locked")
    elif not password_ok:
        account.failed_logins += 1
        if account.failed_logins >= MAX_FAILURES:
            account.locked_until = isoformat(now + LOCK_TIME)
            account.failed_logins = 0
        result = SignIn(False, account, "bad_password")
    else:
        account.failed_logins = 0
        account.locked_until = None
        account.last_login_at = isoformat(now)
        result = SignIn(True, account)
    details: dict[str, Any] = {}
    if result.rule == "bad_password" and account is not None and account.locked_until:
        details["locked_until"] = account.locked_until
    record(
        session,
        Event(
            action="console.login",
            actor=staff_actor(account.name) if account else ANONYMOUS,
            outcome=Outcome.ALLOWED if result.ok else Outcome.DENIED,
            rule=result.rule,
            subjects=(Subject("staff", account.name),) if account else (),
            details=details,
            request_id=request_id,
        ),
        clock=clock,
    )
    return result


def sign_in_refused(session: Session, clock: Clock, *, rule: str, details: dict[str, Any],
                    request_id: str | None) -> None:  # fmt: skip
    """Log a sign-in refused before any account was looked at (a rate limit)."""
    record(
        session,
        Event(
            action="console.login",
            actor=ANONYMOUS,
            outcome=Outcome.DENIED,
            rule=rule,
            details=details,
            request_id=request_id,
        ),  # fmt: skip
        clock=clock,
    )


def sign_out(session: Session, clock: Clock, *, name: str, request_id: str | None) -> None:
    account = session.get(StaffAccount, name)
    if account is not None:
        account.session_generation += 1
    record(
        session,
        Event(action="console.logout", actor=staff_actor(name),
              subjects=(Subject("staff", name),), request_id=request_id),
        clock=clock,
    )  # fmt: skip


def active_account(session: Session, name: str, generation: int) -> StaffAccount | None:
    """The account behind a session cookie, if the session still stands."""
    account = session.get(StaffAccount, name)
    if account is None or account.status != ACTIVE or account.session_generation != generation:
        return None
    return account


# --- the log, page by page --------------------------------------------------------------------

PAGE_SIZE = 50
OUTCOMES = tuple(str(o) for o in Outcome)


@dataclass(frozen=True)
class LogFilter:
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    partner: str | None = None
    customer: str | None = None
    action: str | None = None
    outcome: str | None = None
    purpose: str | None = None

    def as_details(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in (
                ("since", isoformat(self.since) if self.since else None),
                ("until", isoformat(self.until) if self.until else None),
                ("action", self.action),
                ("outcome", self.outcome),
                ("purpose", self.purpose),
            )
            if value
        }

    def subjects(self) -> tuple[Subject, ...]:
        return tuple(
            Subject(kind, value)
            for kind, value in (("partner", self.partner), ("customer", self.customer))
            if value
        )


@dataclass
class LogPage:
    entries: list[dict[str, Any]] = field(default_factory=list)
    older: int | None = None  # the ``before`` cursor of the next (older) page


def _seq_bounds(connection: Connection, filt: LogFilter) -> tuple[int | None, int | None] | None:
    """The window as a range of entry numbers, by the index on ``at`` (entries are numbered
    and timestamped under one lock, so times rise with numbers); None when it is empty."""
    low = high = None
    if filt.since is not None:
        first_at = connection.scalar(
            select(func.min(AuditEntry.at)).where(AuditEntry.at >= isoformat(filt.since))
        )
        if first_at is None:
            return None
        low = connection.scalar(select(func.min(AuditEntry.seq)).where(AuditEntry.at == first_at))
    if filt.until is not None:
        last_at = connection.scalar(
            select(func.max(AuditEntry.at)).where(AuditEntry.at < isoformat(filt.until))
        )
        if last_at is None:
            return None
        high = connection.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.at == last_at))
    if low is not None and high is not None and low > high:
        return None
    return low, high


def log_page(
    connection: Connection, filt: LogFilter, *, before: int | None = None, size: int = PAGE_SIZE
) -> LogPage:
    """One page of entries, newest first, older than entry ``before``.

    Keyset paging on ``seq`` (never OFFSET): a page costs the same on page one and page ten
    thousand. A reseller or customer filter reads the subject index
    ``audit_subjects (kind, subject_id, seq)`` backwards; otherwise the log's primary key.
    """
    bounds = _seq_bounds(connection, filt)
    if bounds is None:
        return LogPage()
    rows = connection.execute(log_query(filt, before=before, bounds=bounds, size=size)).all()
    page = LogPage([_entry_view(row, filt.customer) for row in rows[:size]])
    if len(rows) > size:
        page.older = page.entries[-1]["seq"]
    return page


def log_query(
    filt: LogFilter,
    *,
    before: int | None = None,
    bounds: tuple[int | None, int | None] = (None, None),
    size: int = PAGE_SIZE,
):  # type: ignore[no-untyped-def]
    """The statement of one page: ``size + 1`` entries, to know whether there is another."""
    low, high = bounds
    if filt.customer or filt.partner:
        first_kind, first_id = (
            ("customer", filt.customer) if filt.customer else ("partner", filt.partner)
        )
        index = aliased(AuditSubject)
        seq = index.seq
        query = (
            select(AuditEntry)
            .select_from(index)
            .join(AuditEntry, AuditEntry.seq == index.seq)
            .where(index.kind == first_kind, index.subject_id == first_id)
        )
        if filt.customer and filt.partner:
            other = aliased(AuditSubject)
            query = query.join(
                other,
                (other.seq == index.seq)
                & (other.kind == "partner")
                & (other.subject_id == filt.partner),
            )
    else:
        seq = AuditEntry.seq
        query = select(AuditEntry)
    if before is not None:
        query = query.where(seq < before)
    if low is not None:
        query = query.where(seq >= low)
    if high is not None:
        query = query.where(seq <= high)
    if filt.since is not None:
        query = query.where(AuditEntry.at >= isoformat(filt.since))
    if filt.until is not None:
        query = query.where(AuditEntry.at < isoformat(filt.until))
    for column, value in (
        (AuditEntry.action, filt.action),
        (AuditEntry.outcome, filt.outcome),
        (AuditEntry.purpose, filt.purpose),
    ):
        if value:
            query = query.where(column == value)
    return query.order_by(seq.desc()).limit(size + 1)


# A bulk entry names this many customers inline at most; more are folded behind a count.
FOLD_CUSTOMERS_OVER = 3


def _entry_view(row: Any, customer: str | None = None) -> dict[str, Any]:
    """An entry as the log page shows it. A bulk read names thousands of customers: they are
    folded behind their count (the filtered customer's own line kept in view)."""
    subjects = json.loads(row.subjects)
    customers = [subject_id for kind, subject_id in subjects if kind == "customer"]
    others = [f"{kind}:{subject_id}" for kind, subject_id in subjects if kind != "customer"]
    folded = len(customers) > FOLD_CUSTOMERS_OVER
    shown = [] if folded else [f"customer:{c}" for c in customers]
    if folded and customer in customers:
        shown = [f"customer:{customer}"]
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": f"{row.actor_kind}:{row.actor_id}",
        "action": row.action,
        "outcome": row.outcome,
        **rule_view(row.rule),
        "purpose": row.purpose,
        "items": json.loads(row.items),
        "subjects": others + shown,
        "customers": len(customers),
        "folded": customers if folded else [],
        "details": json.loads(row.details),
        "allowlist_version": row.allowlist_version,
        "request_id": row.request_id,
    }


# The log's actions, offered as choices (a fixed list: asking the log for its distinct actions
# reads all of it).
KNOWN_ACTIONS = tuple(Action)


# --- verification status ----------------------------------------------------------------------


def verification_status(connection: Connection) -> dict[str, Any]:
    """What the seals cover: the last checkpoint, the unsealed tail since it (protected by the
    hash chain only), and the last verification. ``sealed`` is ``never`` while no checkpoint
    exists — nothing signed vouches for such a log, whatever the chain says."""
    checkpoint = connection.execute(
        select(AuditCheckpoint.size, AuditCheckpoint.at, AuditCheckpoint.key_id,
               AuditCheckpoint.head_hash, AuditCheckpoint.merkle_root)
        .order_by(AuditCheckpoint.size.desc()).limit(1)
    ).first()  # fmt: skip
    verified = connection.execute(
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor_id, AuditEntry.details)
        .where(AuditEntry.action == "audit.verify")
        .order_by(AuditEntry.seq.desc()).limit(1)
    ).first()  # fmt: skip
    head = connection.scalar(select(func.max(AuditEntry.seq))) or 0
    sealed_size = checkpoint.size if checkpoint else 0
    tail_since = None
    if head > sealed_size:
        tail_since = connection.scalar(
            select(AuditEntry.at).where(AuditEntry.seq == sealed_size + 1)
        )
    return {
        "head": head,
        "sealed": "never" if checkpoint is None else ("all" if head == sealed_size else "tail"),
        "checkpoint": dict(checkpoint._mapping) if checkpoint else None,
        "unsealed": head - sealed_size,
        "unsealed_since": tail_since,
        "last_verification": (
            {"seq": verified.seq, "at": verified.at, "by": verified.actor_id}
            | json.loads(verified.details)
            if verified
            else None
        ),
    }


# --- resellers --------------------------------------------------------------------------------

IN_FORCE = "in_force"
LAPSING = "lapsing"
LAPSED = "lapsed"


def nda_state(partner: Partner, day: date) -> tuple[str, Any]:
    """In force, lapsing within :data:`LAPSING_WITHIN`, or lapsed (or never signed)."""
    nda = partner.nda_in_force(day)
    if nda is None:
        return LAPSED, None
    if nda.expires_on - day < LAPSING_WITHIN:
        return LAPSING, nda
    return IN_FORCE, nda


def partner_clients(connection: Connection, partner_id: str) -> list[str]:
    """A reseller's client ids, for narrowing a leak to one of them."""
    return list(connection.scalars(
        select(OAuthClient.client_id).where(OAuthClient.partner_id == partner_id)
        .order_by(OAuthClient.client_id)
    ))  # fmt: skip


def reseller_overview(session: Session, clock: Clock) -> list[dict[str, Any]]:
    day = today(clock)
    clients: dict[str, list[Any]] = {}
    for client in list_clients(session):
        clients.setdefault(client.partner_id, []).append(
            {"client_id": client.client_id, "scopes": client.scopes.split(),
             "auth_method": client.auth_method, "status": client.status,
             "sender_constraint": client.sender_constraint}
        )  # fmt: skip
    overview = []
    for partner in list_partners(session):
        state, nda = nda_state(partner, day)
        overview.append(
            {
                "id": partner.id,
                "name": partner.name,
                "status": partner.status,
                "revoked_at": partner.revoked_at,
                "revoke_reason": partner.revoke_reason,
                "nda_state": state,
                "nda": None if nda is None else {
                    "reference": nda.reference,
                    "signed_on": nda.signed_on.isoformat(),
                    "expires_on": nda.expires_on.isoformat(),
                },
                "clients": clients.get(partner.id, []),
            }
        )  # fmt: skip
    return overview


# --- the public joint-use notice --------------------------------------------------------------

def notice_fingerprint(config: Config) -> str:
    """What the notice says, but for the day's list of resellers: items, purposes, the
    responsible party. Its revision changes when this does."""
    current = allowlist.current()
    said = {
        "items": [[s.item, [c.item for c in s.children]] for s in current.fields if s.item],
        "purposes": sorted(JOINT_USE_PURPOSES),
        "terms": current.definition.terms,
        "controller": [config.controller_name, config.controller_address,
                       config.controller_representative, config.privacy_desk_contact],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(said, ensure_ascii=False).encode()).hexdigest()


def publish_notice(session: Session, clock: Clock, config: Config) -> date:
    """The day the notice took its current form: recorded the first time a gateway serves it
    (at start), read back ever after."""
    fingerprint = notice_fingerprint(config)
    revision = session.get(NoticeRevision, fingerprint)
    if revision is None:
        revision = NoticeRevision(
            fingerprint=fingerprint, published_on=clock.now().astimezone(config.zone).date()
        )
        session.add(revision)
    return revision.published_on


def notice_published_on(session: Session, config: Config) -> date | None:
    revision = session.get(NoticeRevision, notice_fingerprint(config))
    return revision.published_on if revision else None


def notice(session: Session, clock: Clock) -> dict[str, Any]:
    """The joint-use notice (APPI's items for joint use: the items, the scope of joint users,
    the purposes, the party responsible), from the allowlist and resellers in force today."""
    current = allowlist.current()
    items = notice_items()
    day = today(clock)
    partners = session.scalars(
        select(Partner).where(Partner.status == PARTNER_ACTIVE).order_by(Partner.name)
    )
    joint_users = [p.name for p in partners if p.nda_in_force(day) is not None]
    return {
        "version": current.version,
        "terms": current.definition.terms,
        "items": items,
        "joint_users": joint_users,
        "purposes": [PURPOSES[name] for name in sorted(JOINT_USE_PURPOSES) if name in PURPOSES],
        "as_of": day.isoformat(),
    }
