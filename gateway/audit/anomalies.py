"""Flags for the privacy desk's review (``gateway audit anomalies``).

A flag is a reason to look, not a verdict. The rules, each with why:

``volume`` — a reseller received far more distinct customers in a day than its norm: more
  than :data:`VOLUME_FACTOR` times its daily mean over the :data:`BASELINE_DAYS` days before
  (days without access count as zero), and at least :data:`VOLUME_FLOOR` customers. A bulk
  pull is what a leak in progress, or a scraper behind a stolen client, looks like; the floor
  keeps small resellers' ordinary days quiet. A first-ever day with a big pull is flagged too:
  an initial sync is worth a glance.

``denials`` — one client refused :data:`DENIAL_BURST` times or more within
  :data:`DENIAL_SPAN`. A working integration is rarely refused; bursts mean probing for
  customers who did not designate the reseller, a revoked client still trying, or a broken
  integration to fix.

``off_hours`` — single-customer look-ups (``customers.read``) outside weekday business hours
  in Japan (:data:`BUSINESS_HOURS` JST, Monday to Friday). Look-ups happen when a customer
  calls; customers call in business hours (the privacy desk itself, paragraph 7, answers
  weekdays 10:00–17:00; resellers' call centres keep longer hours, hence the wider window).
  Incremental syncs (``customers.list``) are machine work that runs at any hour and are not
  flagged. Public holidays are not known to the gateway and count as weekdays.

``withheld`` — a reseller asked for a customer who is withheld (refused by rule
  ``customer_in_use``, logged as ``customer_not_withheld`` before: stop of use under
  paragraph 6, or contract ended). Its system
  should have dropped the customer; asking again suggests a stale copy the reseller keeps.
  Every such pair (reseller, customer) is flagged, with how often and when.

``first_load`` — the day a reseller first received data (its first sync after its first
  designation): labelled as what it is, not flagged as a volume anomaly against a mean of 0.

**Sandbox traffic** — the accesses of a sandbox reseller (``partners.sandbox``: a reseller's
  integration tests against generated customers, :mod:`gateway.sandbox`) — raises no flag,
  under any rule: a first full load, deliberate error tests and look-ups at 05:00 are what
  testing looks like. An entry is sandbox traffic when its ``partner`` subject is a sandbox
  reseller or, lacking one, its actor is a sandbox reseller's client. :func:`sandbox_traffic`
  counts it apart, for the desk to see how much there was. The entries themselves stay in the
  log, and the customer and leak reports count them like any other.

Every rule counts days — and business hours — in the company's calendar (``GATEWAY_TIMEZONE``,
Asia/Tokyo by default). Each flag has a stable ``id`` (its rule, reseller, client, customer
and first instant), names the customers where it concerns a few, and may be marked reviewed
by the desk (:func:`review`): who, when, a note.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gateway.audit.actions import DATA_ACTIONS
from gateway.audit.models import AnomalyReview, AuditEntry
from gateway.audit.reports import first_disclosure
from gateway.audit.spine import Actor, Event, Subject, record
from gateway.audit.window import Window
from gateway.clock import COMPANY_ZONE, Clock, isoformat
from gateway.errors import InvalidInput, NotFound
from gateway.oauth.models import OAuthClient
from gateway.partners.models import Partner
from gateway.policy import rule_names
from gateway.removals.service import pending

VOLUME_FACTOR = 3
VOLUME_FLOOR = 20
BASELINE_DAYS = 28
DENIAL_BURST = 5
DENIAL_SPAN = timedelta(minutes=10)
BUSINESS_HOURS = (8, 20)  # from 08:00 to 20:00, the company's time
NAMED_CUSTOMERS = 20  # a flag names at most this many customers
MAX_NOTE = 1000
# The rule that refuses a withheld customer, under every name it was logged under.
WITHHELD_RULES = rule_names("customer_in_use")
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass
class Flag:
    rule: str
    partner: str | None
    first: str
    last: str
    count: int
    detail: str
    client: str | None = None
    customer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)  # the customers it concerns
    review: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        """Stable for the same flag however often the window is read."""
        key = "\0".join([self.rule, self.partner or "", self.client or "", self.customer or "",
                         self.first])  # fmt: skip
        return f"{self.rule}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "partner": self.partner,
            "client": self.client,
            "customer": self.customer,
            "first": self.first,
            "last": self.last,
            "count": self.count,
            "detail": self.detail,
            "customers": sorted(self.customers)[:NAMED_CUSTOMERS],
            "customers_total": len(self.customers),
            "review": self.review,
        } | self.extra


def _moment(at: str) -> datetime:
    return datetime.strptime(at, _FORMAT).replace(tzinfo=UTC)


def _partner(subjects: list[list[str]]) -> str | None:
    return next((subject_id for kind, subject_id in subjects if kind == "partner"), None)


@dataclass(frozen=True)
class _Sandbox:
    """The sandbox resellers and their clients, read once a report."""

    partners: frozenset[str]
    clients: dict[str, str]  # client id: its sandbox reseller

    @classmethod
    def read(cls, connection: Connection) -> _Sandbox:
        partners = frozenset(connection.scalars(select(Partner.id).where(Partner.sandbox)))
        clients = dict(connection.execute(
            select(OAuthClient.client_id, OAuthClient.partner_id)
            .where(OAuthClient.partner_id.in_(partners))
        ).all()) if partners else {}  # fmt: skip
        return cls(partners, clients)

    def reseller(self, partner: str | None, actor_id: str) -> str | None:
        """The sandbox reseller an entry is traffic of, or None."""
        if partner is not None:
            return partner if partner in self.partners else None
        return self.clients.get(actor_id)


@dataclass
class SandboxTraffic:
    """A sandbox reseller's accesses in a window: test traffic, counted, never flagged."""

    partner: str
    first: str
    last: str
    requests: int = 0
    denied: int = 0
    customers: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"partner": self.partner, "first": self.first, "last": self.last,
                "requests": self.requests, "denied": self.denied,
                "customers_total": len(self.customers)}  # fmt: skip


def sandbox_traffic(connection: Connection, window: Window) -> list[SandboxTraffic]:
    """The sandbox traffic of ``window`` (token requests and data requests), a line a sandbox
    reseller: what the anomaly rules left out, counted apart."""
    sandbox = _Sandbox.read(connection)
    if not sandbox.partners:
        return []
    traffic: dict[str, SandboxTraffic] = {}
    for row in _rows(connection, window.start, window.end):
        subjects = json.loads(row.subjects)
        reseller = sandbox.reseller(_partner(subjects), row.actor_id)
        if reseller is None:
            continue
        line = traffic.setdefault(reseller, SandboxTraffic(reseller, row.at, row.at))
        line.last, line.requests = row.at, line.requests + 1
        line.denied += row.outcome == "denied"
        line.customers.update(subject_id for kind, subject_id in subjects if kind == "customer")
    return sorted(traffic.values(), key=lambda line: line.partner)


def _rows(connection: Connection, start: datetime, end: datetime) -> Iterator[Any]:
    """Reseller data requests in ``[start, end)``, by the time index, in log order."""
    query = (
        select(
            AuditEntry.at,
            AuditEntry.actor_id,
            AuditEntry.action,
            AuditEntry.outcome,
            AuditEntry.rule,
            AuditEntry.subjects,
        )
        .where(AuditEntry.at >= start.strftime(_FORMAT), AuditEntry.at < end.strftime(_FORMAT))
        .where(AuditEntry.action.in_((*DATA_ACTIONS, "token.issue")))
        .order_by(AuditEntry.seq)
    )
    yield from connection.execution_options(yield_per=10_000).execute(query)


def find_anomalies(connection: Connection, window: Window, zone: ZoneInfo = COMPANY_ZONE,
                   removal_due_days: int = 7, today: date | None = None) -> list[Flag]:  # fmt: skip
    """The flags of ``window`` — and the removals overdue on ``today`` (by default the window's
    last day) — each with its review if the desk marked it."""
    day = today or (window.end - timedelta(microseconds=1)).astimezone(zone).date()
    flags = _find(connection, window, zone) + _overdue_removals(connection, zone,
                                                                 removal_due_days, day)  # fmt: skip
    reviews = {r.flag_id: r for r in connection.execute(
        select(AnomalyReview).where(AnomalyReview.flag_id.in_([f.id for f in flags]))
    )} if flags else {}  # fmt: skip
    for flag in flags:
        reviewed = reviews.get(flag.id)
        if reviewed is not None:
            flag.review = {"by": reviewed.reviewed_by, "at": reviewed.reviewed_at,
                           "note": reviewed.note}  # fmt: skip
    return flags


def review(session: Session, clock: Clock, actor: Actor, *, flag_id: str, note: str,
           request_id: str | None = None) -> AnomalyReview:  # fmt: skip
    """Mark a flag reviewed: by whom, when, a note (kept here, not in the log: a note may
    name a person). The review is logged, with the flag's id and rule."""
    rule, _, digest = flag_id.rpartition("-")
    if rule not in RULE_NAMES or len(digest) != 12 or not digest.isalnum():
        raise NotFound(f"no anomaly flag {flag_id[:64]!r}")
    text = note.strip()
    if not 1 <= len(text) <= MAX_NOTE or any(ord(c) < 0x20 and c not in "\n\t" for c in text):
        raise InvalidInput(f"note: 1 to {MAX_NOTE} characters of text")
    reviewed = session.get(AnomalyReview, flag_id) or AnomalyReview(flag_id=flag_id, rule=rule)
    reviewed.reviewed_by = actor.id
    reviewed.reviewed_at = isoformat(clock.now())
    reviewed.note = text
    session.add(reviewed)
    record(session, Event(action="anomaly.review", actor=actor,
                          subjects=(Subject("flag", flag_id),),
                          details={"rule": rule}, request_id=request_id), clock=clock)  # fmt: skip
    return reviewed


RULE_NAMES = ("volume", "first_load", "denials", "off_hours", "withheld", "removal_overdue")


def _overdue_removals(connection: Connection, zone: ZoneInfo, due_days: int,
                      today: date) -> list[Flag]:  # fmt: skip
    """``removal_overdue`` — a reseller has not acknowledged removal events past their
    erase-by day: its copy of those customers may live on (paragraph 6). One flag a reseller."""
    flags: dict[str, Flag] = {}
    sandbox = _Sandbox.read(connection).partners  # generated customers: no copy to chase
    for event in pending(connection, zone, due_days):
        if not event.overdue(today) or event.partner_id in sandbox:
            continue
        flag = flags.get(event.partner_id)
        if flag is None:
            flag = flags[event.partner_id] = Flag(
                "removal_overdue", event.partner_id, event.effective_at, event.effective_at, 0,
                f"removal events not acknowledged past their erase-by day ({due_days} days)",
            )  # fmt: skip
        flag.last, flag.count = event.effective_at, flag.count + 1
        flag.customers.add(event.customer_id)
    return list(flags.values())


def _find(connection: Connection, window: Window, zone: tzinfo) -> list[Flag]:
    flags: list[Flag] = []
    daily: dict[tuple[str, date], set[str]] = {}
    volume_first: dict[tuple[str, date], tuple[str, str]] = {}
    denials: dict[str, deque[tuple[datetime, str, str | None, str]]] = {}
    open_bursts: dict[str, Flag] = {}
    off_hours: dict[tuple[str, date], Flag] = {}
    withheld: dict[tuple[str, str], Flag] = {}

    sandbox = _Sandbox.read(connection)
    baseline_start = window.start - timedelta(days=BASELINE_DAYS + 1)
    for row in _rows(connection, baseline_start, window.end):
        moment = _moment(row.at)
        subjects = json.loads(row.subjects)
        partner = _partner(subjects)
        if sandbox.reseller(partner, row.actor_id) is not None:
            continue  # test traffic: counted apart (sandbox_traffic), never flagged
        customers = [subject_id for kind, subject_id in subjects if kind == "customer"]
        local = moment.astimezone(zone)
        if row.outcome == "allowed" and row.action in DATA_ACTIONS and partner is not None:
            key = (partner, local.date())
            daily.setdefault(key, set()).update(customers)
            first, _ = volume_first.get(key, (row.at, row.at))
            volume_first[key] = (first, row.at)
        if moment < window.start:
            continue  # before the window: baseline only
        if row.outcome == "denied":
            _denial(row, moment, partner, denials, open_bursts, flags, customers)
            if row.rule in WITHHELD_RULES and partner is not None:
                for customer in customers:
                    flag = withheld.get((partner, customer))
                    if flag is None:
                        flag = withheld[(partner, customer)] = Flag(
                            "withheld", partner, row.at, row.at, 0,
                            "requests for a withheld customer (stop of use or contract ended)",
                            client=row.actor_id, customer=customer,
                        )  # fmt: skip
                    flag.last, flag.count = row.at, flag.count + 1
                    flag.customers.add(customer)
        elif row.action == "customers.read" and partner is not None and _off_hours(local):
            key = (partner, local.date())
            flag = off_hours.get(key)
            if flag is None:
                flag = off_hours[key] = Flag(
                    "off_hours", partner, row.at, row.at, 0,
                    f"single-customer look-ups outside weekdays "
                    f"{BUSINESS_HOURS[0]:02d}:00-{BUSINESS_HOURS[1]:02d}:00 "
                    f"({local.tzname()})",
                    client=row.actor_id,
                )  # fmt: skip
            flag.last, flag.count = row.at, flag.count + 1
            flag.customers.update(customers)
    firsts = {p: first_disclosure(connection, p) for p, _ in daily}
    flags.extend(_volume_flags(daily, volume_first, window, zone, firsts))
    flags.extend(off_hours.values())
    flags.extend(withheld.values())
    return sorted(flags, key=lambda f: (f.first, f.rule, f.partner or "", f.customer or ""))


def _off_hours(local: datetime) -> bool:
    return local.weekday() >= 5 or not (BUSINESS_HOURS[0] <= local.hour < BUSINESS_HOURS[1])


def _denial(row, moment, partner, denials, open_bursts, flags, customers) -> None:  # type: ignore[no-untyped-def]
    """Slide a :data:`DENIAL_SPAN` window over each client's denials; one flag a burst,
    growing while the burst goes on."""
    recent = denials.setdefault(row.actor_id, deque())
    recent.append((moment, row.at, partner, row.rule, tuple(customers)))
    while moment - recent[0][0] > DENIAL_SPAN:
        recent.popleft()
    burst = open_bursts.get(row.actor_id)
    if burst is not None and moment - _moment(burst.last) <= DENIAL_SPAN:
        burst.last, burst.count = row.at, burst.count + 1
        burst.extra["rules"] = sorted(set(burst.extra["rules"]) | {row.rule})
        burst.customers.update(customers)
        return
    if len(recent) >= DENIAL_BURST:
        burst = Flag(
            "denials", partner, recent[0][1], row.at, len(recent),
            f"{DENIAL_BURST} or more refusals within {int(DENIAL_SPAN.total_seconds() // 60)} "
            "minutes",
            client=row.actor_id, extra={"rules": sorted({r[3] for r in recent})},
            customers={c for r in recent for c in r[4]},
        )  # fmt: skip
        open_bursts[row.actor_id] = burst
        flags.append(burst)


def _volume_flags(daily, volume_first, window: Window, zone: tzinfo,
                  firsts: dict[str, str | None]) -> Iterator[Flag]:  # type: ignore[no-untyped-def]  # fmt: skip
    first_day = window.start.astimezone(zone).date()
    last_day = (window.end - timedelta(microseconds=1)).astimezone(zone).date()
    for (partner, day), customers in sorted(daily.items()):
        if not first_day <= day <= last_day:
            continue
        before = [
            len(daily.get((partner, day - timedelta(days=back)), ()))
            for back in range(1, BASELINE_DAYS + 1)
        ]
        mean = sum(before) / BASELINE_DAYS
        first, last = volume_first[(partner, day)]
        if firsts.get(partner) == first:  # the reseller's first data ever: its first load
            yield Flag(
                "first_load", partner, first, last, len(customers),
                f"the reseller's first load: {len(customers)} customers on {day.isoformat()} "
                "(its first sync after its first designation; not a volume anomaly)",
                extra={"day": day.isoformat()},
            )  # fmt: skip
            continue
        if len(customers) >= VOLUME_FLOOR and len(customers) > VOLUME_FACTOR * mean:
            yield Flag(
                "volume", partner, first, last, len(customers),
                f"{len(customers)} customers on {day.isoformat()}, against a daily mean "
                f"of {mean:.1f} over the {BASELINE_DAYS} days before",
                extra={"day": day.isoformat(), "baseline": round(mean, 1)},
            )  # fmt: skip
