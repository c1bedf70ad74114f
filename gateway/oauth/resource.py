"""The resource-server check: one decorator every partner endpoint wears.

Two halves, kept apart on purpose:

1. **The token itself** (RFC 9068 §4, RFC 8725): signed by a published key with ES256 only,
   ``typ`` ``at+jwt``, our issuer, the partner API audience, not expired. This never
   changes for a given token, so the result is cached for the token's remaining lifetime —
   one signature check per token, not per request.
2. **The live state**, read from the database on *every* request: token not revoked, client
   active, partner active, NDA in force today. Nothing of this is cached, so a revocation
   committed on any node stops the very next request everywhere. It is read twice: in the
   request's read snapshot, to refuse early, and again inside the commit that logs the
   request, under the log's head lock (with each disclosed customer's designation and use,
   see ``_recheck``) — a change committed while the request was answered refuses it there.

The decision is :func:`gateway.policy.decide`; a denial is logged, then answered with an
RFC 6750 ``WWW-Authenticate`` challenge and an RFC 9457 problem+json body. An allowed
request's view reads in the snapshot and hands its log entry over; the entry is committed
(with other requests', see :mod:`gateway.audit.group_commit`) before the response leaves.
If that commit fails the answer is 503 and no data leaves.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app, g, request
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.group_commit import FAILED_RULE, Announce, Recheck
from gateway.audit.spine import Actor, ActorKind, Event, Outcome, Scalar, Subject
from gateway.clock import today
from gateway.db import RawTransaction
from gateway.errors import AuditUnavailable
from gateway.keystore import KeystoreError
from gateway.oauth import dpop
from gateway.oauth.clients import partner_scopes
from gateway.oauth.keys import ALGORITHM, SigningKeys
from gateway.oauth.live_state import live_facts
from gateway.oauth.server import Endpoints
from gateway.policy import RULES, AccessFacts, Decision, Rule, decide
from gateway.problems import problem_response
from gateway.ratelimit.service import RULE as RATE_LIMIT_RULE
from gateway.ratelimit.service import Refusal

REALM = "joint-use-gateway"
_CLOCK_SKEW = 60
_CACHE_SIZE = 10_000
UNAUTHENTICATED = "unauthenticated"


@dataclass(frozen=True)
class VerifiedToken:
    """What a valid access token says; authentic, but says nothing of the live state."""

    jti: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    jkt: str | None = None  # the key a DPoP-bound token is bound to (RFC 9449 §6)


@dataclass(frozen=True)
class Access:
    """An allowed caller, for the view: who, with which scopes, and the facts it passed.

    ``session`` reads (a raw transaction on a snapshot, no lock). The view does not write its
    log entry itself: it hands it to :meth:`log`, and the resource check appends it durably
    before the view's response is released.
    """

    token: VerifiedToken
    partner_id: str
    facts: AccessFacts
    session: RawTransaction
    events: list[Event]
    # Writes the view asks for, made by the commit that logs the request, after the caller
    # was judged again there (e.g. a removal event acknowledged): with its entry or not at all.
    writes: list[Callable[[RawTransaction], None]] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.CLIENT, self.token.client_id)

    @property
    def subjects(self) -> tuple[Subject, ...]:
        return (Subject("partner", self.partner_id), Subject("client", self.token.client_id))

    def log(self, event: Event) -> None:
        self.events.append(event)

    def write_on_commit(self, write: Callable[[RawTransaction], None]) -> None:
        self.writes.append(write)

    def deny(self, rule: Rule, *, action: str, subjects: tuple[Subject, ...] = (),
             purpose: str | None = None) -> None:  # fmt: skip
        self.log(refusal(rule, action=action, actor=self.actor,
                         subjects=self.subjects + subjects, purpose=purpose))  # fmt: skip


class TokenVerifier:
    """Verifies access tokens' signatures and claims, remembering each valid token until it
    expires (bounded; least recently used first out)."""

    def __init__(self, keys: SigningKeys, endpoints: Endpoints) -> None:
        self.keys = keys
        self.endpoints = endpoints
        self._cache: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, now: int) -> VerifiedToken | None:
        with self._lock:
            cached = self._cache.get(token)
            if cached is not None:
                if cached.expires_at > now:
                    self._cache.move_to_end(token)
                    return cached
                del self._cache[token]
        verified = self._verify(token, now)
        if verified is not None:
            with self._lock:
                self._cache[token] = verified
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return verified

    def _verify(self, token: str, now: int) -> VerifiedToken | None:
        try:
            decoded = jwt.decode(token, self.keys.verification_keys(now), algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError):
            return None
        header, claims = decoded.header, decoded.claims
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = (
            header.get("typ", "").lower() in ("at+jwt", "application/at+jwt"),  # RFC 9068 §4
            claims.get("iss") == self.endpoints.issuer,
            self.endpoints.api_audience in audiences,
            isinstance(claims.get("exp"), int) and claims["exp"] > now,
            isinstance(claims.get("iat"), int) and claims["iat"] <= now + _CLOCK_SKEW,
            isinstance(claims.get("jti"), str) and 0 < len(claims["jti"]) <= 64,
            isinstance(claims.get("client_id"), str) and claims.get("sub") == claims["client_id"],
            isinstance(claims.get("scope"), str),
        )
        if not all(checks):
            return None
        return VerifiedToken(
            claims["jti"],
            claims["client_id"],
            frozenset(claims["scope"].split()),
            claims["exp"],
            dpop.jkt_of(claims),
        )


BEARER = "Bearer"
DPOP = "DPoP"


def presented_token() -> tuple[str, str] | None:
    """The access token from the Authorization header and its scheme — ``Bearer`` (RFC 6750
    §2.1) or ``DPoP`` (RFC 9449 §7.1); the other ways of sending one (form body, query) are
    not accepted."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    for known in (BEARER, DPOP):
        if scheme.lower() == known.lower() and value.strip():
            return known, value.strip()
    return None


def challenge(rule: Rule | None, detail: str, status: int, scope: str | None = None) -> Response:
    """An RFC 6750 §3 / RFC 9449 §7.1 challenge with an RFC 9457 body: in the scheme the
    token was sent in (``DPoP`` for a proof's failure), both schemes when none was sent."""
    presented = presented_token()
    scheme = DPOP if (rule in dpop.RULES or (presented and presented[0] == DPOP)) else BEARER
    dpop_challenge = f'DPoP realm="{REALM}", algs="{" ".join(dpop.ALGORITHMS)}"'
    parts = [f'Bearer realm="{REALM}"' if scheme == BEARER else dpop_challenge]
    if rule is not None and rule.error:
        parts.append(f'error="{rule.error}"')
        parts.append(f'error_description="{rule.detail}"')
    if scope:
        parts.append(f'scope="{scope}"')
    if rule is None and presented is None:
        parts.append(dpop_challenge)
    headers = {"WWW-Authenticate": ", ".join(parts)} if status in (401, 403) else None
    return problem_response(status, rule.name if rule else MISSING.name, detail, headers=headers)


MISSING = Rule("token_present", 401, None,
               "send an access token: Authorization: DPoP … with a DPoP proof, or Bearer …",
               lambda a, d: False)  # fmt: skip
INSUFFICIENT = Rule("token_scope", 403, "insufficient_scope",
                    "the access token has none of the scopes this endpoint needs",
                    lambda a, d: False)  # fmt: skip


def refusal(rule: Rule, *, action: str, actor: Actor, subjects: tuple[Subject, ...],
            purpose: str | None = None, request_id: str | None = None,
            details: Mapping[str, Scalar] | None = None) -> Event:  # fmt: skip
    """The log entry of a refused request (``request_id``: when built outside the request's
    own thread, the id it had)."""
    return Event(
        action=action,
        actor=actor,
        outcome=Outcome.DENIED,
        rule=rule.name,
        subjects=subjects,
        purpose=purpose,
        request_id=request_id or g.get("request_id"),
        details=details or {},
    )


RATE_LIMITED = Rule(RATE_LIMIT_RULE, 429, None,
                    "too many requests from this client: retry after the time Retry-After gives",
                    lambda a, d: False)  # fmt: skip


def too_many_requests(limited: Refusal) -> Response:
    """429 (RFC 6585 §4) with ``Retry-After`` and an RFC 9457 body naming the rule."""
    return problem_response(
        429, RATE_LIMITED.name,
        f"at most {limited.limit} requests a minute; retry after {limited.retry_after} s",
        headers={"Retry-After": str(limited.retry_after)},
    )  # fmt: skip


def require_token(action: str, scopes_any: Iterable[str] | None = None) -> Callable:
    """Protect a partner endpoint; ``action`` names it in the log. The token needs one of
    ``scopes_any`` (default: any partner scope)."""
    fixed = frozenset(scopes_any) if scopes_any is not None else None

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Response:
            runtime = current_app.extensions["gateway"]
            verifier: TokenVerifier = current_app.extensions["oauth"].verifier
            now = int(runtime.clock.now().timestamp())
            needed = fixed if fixed is not None else frozenset(partner_scopes())
            events: list[Event] = []
            try:
                try:
                    with runtime.read_snapshot() as connection:
                        response = _guarded(connection, events, verifier, runtime, now, action,
                                            needed, lambda: view(*args, **kwargs))  # fmt: skip
                except (AuditUnavailable, SQLAlchemyError):
                    raise
                except Exception as error:  # noqa: BLE001 - refused and logged, never a traceback
                    current_app.logger.exception("partner request failed")
                    events[:] = [_internal_refusal(action)]
                    # Keys missing or unreadable (a node whose key directory is being synced):
                    # temporarily unavailable; anything else: an internal error.
                    status = 503 if isinstance(error, KeystoreError) else 500
                    response = problem_response(status, INTERNAL.name, INTERNAL.detail)
                # The log comes first: the response is released only once its entries are
                # committed (with other requests' entries, in one commit), and only if the
                # caller's state still allows it at that commit (see ``_recheck``).
                if not events:  # a refusal over a rate limit that was counted, not logged
                    return response
                recheck, announce = (
                    _recheck(events, runtime) if response.status_code < 300 else None
                ) or (None, None)
                access: Access | None = g.get("access")
                if access is not None and access.writes and recheck is not None:
                    recheck = _then_writing(recheck, access.writes)
                proof: dpop.Proof | None = g.get("dpop_proof")
                if proof is not None:
                    recheck = _using_up(proof, recheck, events, now)
                refused = current_app.extensions["group_commit"].write(
                    events, recheck=recheck, announce=announce
                )
                if refused is not None:
                    return refused_response(refused)
                return response
            except (AuditUnavailable, SQLAlchemyError):
                current_app.logger.exception("access log unavailable; request refused")
                return AuditUnavailable(
                    "the access log cannot be written; nothing was disclosed"
                ).response()

        return guarded

    return decorate


INTERNAL = Rule(FAILED_RULE, 500, None, "the gateway could not answer this request",
                lambda a, d: False)  # fmt: skip
CHANGED = Rule("customers_unchanged", 409, None,
               "the customers' sharing changed while the request was answered; ask again",
               lambda a, d: False)  # fmt: skip
_RULES_BY_NAME = {
    rule.name: rule
    for rule in (*RULES, *dpop.RULES, INTERNAL, CHANGED, MISSING, INSUFFICIENT, RATE_LIMITED)
}
_GONE = _RULES_BY_NAME["customer_designated"]  # one customer no longer shareable: a plain 404


def _internal_refusal(action: str) -> Event:
    access: Access | None = g.get("access")
    if access is not None:
        return refusal(INTERNAL, action=action, actor=access.actor, subjects=access.subjects)
    return refusal(INTERNAL, action=action, actor=Actor(ActorKind.CLIENT, UNAUTHENTICATED),
                   subjects=())  # fmt: skip


def _recheck(events: list[Event], runtime) -> tuple[Recheck, Announce] | None:  # type: ignore[no-untyped-def]
    """Judge the caller again inside the commit that releases its data, after the log's head
    lock is taken: a revocation, a client disabled, an NDA lapsed, a designation withdrawn or a
    stop of use committed while the request was being answered is seen here, and the request
    is refused instead — so no data leaves after such a change has been logged.

    The requests of one commit share their reads: each token's live state is read once, and
    each partner's disclosed customers — announced by every request first — are checked in one
    statement for all of them."""
    access: Access | None = g.get("access")
    if access is None:
        return None
    disclosed = sorted(
        {s.id for e in events if e.outcome is Outcome.ALLOWED for s in e.subjects
         if s.kind == "customer"}
    )  # fmt: skip
    action = events[-1].action if events else "request"
    partner = access.partner_id
    # The recheck runs in whichever request's thread leads the commit: this request's id is
    # taken now, not read from the leader's context then.
    request_id = g.get("request_id")

    def announce(shared: dict) -> None:
        shared.setdefault(("disclosed", partner), set()).update(disclosed)

    def recheck(connection: RawTransaction, shared: dict) -> Event | None:
        key = ("live_facts", access.token.jti, access.token.client_id)
        facts = shared.get(key)
        if facts is None:
            facts = live_facts(connection, access.token.jti, access.token.client_id,
                               runtime.clock).facts  # fmt: skip
            shared[key] = facts
        decision = decide(facts)
        if not decision.allowed:
            return refusal(decision.rule, action=action, actor=access.actor,
                           subjects=access.subjects, request_id=request_id)  # fmt: skip
        if disclosed:
            from gateway.sharing.service import shareable_now

            still = shared.get(("shareable", partner))
            if still is None:
                announced = sorted(shared[("disclosed", partner)])
                still = shareable_now(connection, partner, announced, today(runtime.clock))
                shared[("shareable", partner)] = still
            if set(disclosed) - still:
                rule = CHANGED if len(disclosed) > 1 else _GONE
                return refusal(rule, action=action, actor=access.actor,
                               subjects=access.subjects
                               + tuple(Subject("customer", c) for c in disclosed),
                               request_id=request_id)  # fmt: skip
        return None

    return recheck, announce


def _using_up(proof: dpop.Proof, recheck: Recheck | None, events: list[Event],
              now: int) -> Recheck:  # fmt: skip
    """The request's DPoP proof is used up by the commit that logs it, allowed or not; if
    another request, on any node, used it first, an allowed request is refused instead.
    (Runs in whichever request's thread leads the commit: all it needs is taken now.)"""
    access: Access | None = g.get("access")
    last = events[-1]

    def commit(connection: RawTransaction, shared: dict) -> Event | None:
        first_use = dpop.use_up(connection, proof, now)
        if not first_use and access is not None and last.outcome is Outcome.ALLOWED:
            return refusal(dpop.PROOF_UNUSED, action=last.action, actor=access.actor,
                           subjects=access.subjects, request_id=last.request_id)  # fmt: skip
        return recheck(connection, shared) if recheck is not None else None

    return commit


def _then_writing(recheck: Recheck, writes: list[Callable[[RawTransaction], None]]) -> Recheck:
    """The view's writes, made only if the caller still passes at the commit."""

    def commit(connection: RawTransaction, shared: dict) -> Event | None:
        refused = recheck(connection, shared)
        if refused is None:
            for write in writes:
                write(connection)
        return refused

    return commit


def not_found(rule: Rule) -> Response:
    """A customer not designated, withheld or absent: one answer, so nothing is revealed
    (the log keeps which)."""
    return problem_response(404, rule.name, "no such customer is available to you")


def refused_response(event: Event) -> Response:
    """The answer to a request refused at its commit."""
    rule = _RULES_BY_NAME[event.rule]
    if rule.status == 404:
        return not_found(rule)
    return challenge(rule, rule.detail, rule.status)


def _guarded(session, events, verifier, runtime, now, action, needed, view) -> Response:  # type: ignore[no-untyped-def]
    presented = presented_token()
    anonymous = Actor(ActorKind.CLIENT, UNAUTHENTICATED)
    if presented is None:
        events.append(refusal(MISSING, action=action, actor=anonymous, subjects=()))
        return challenge(None, MISSING.detail, 401)
    scheme, token_string = presented
    token = verifier.verify(token_string, now)
    if token is None:
        facts, partner_id, per_minute = AccessFacts(False, False, False, False, False), None, None
    else:
        facts, partner_id, per_minute = live_facts(session, token.jti, token.client_id,
                                                   runtime.clock)  # fmt: skip
    decision: Decision = decide(facts)
    actor = Actor(ActorKind.CLIENT, token.client_id) if token and partner_id else anonymous
    subjects = (
        (Subject("partner", partner_id), Subject("client", token.client_id))
        if token and partner_id
        else ()
    )
    if not decision.allowed:
        events.append(refusal(decision.rule, action=action, actor=actor, subjects=subjects))
        return challenge(decision.rule, decision.rule.detail, decision.rule.status)
    try:
        g.dpop_proof = _sender_check(token, scheme, token_string, now)
    except dpop.ProofRefused as refused:
        events.append(refusal(refused.rule, action=action, actor=actor, subjects=subjects))
        return challenge(refused.rule, refused.rule.detail, refused.rule.status)
    limited = current_app.extensions["rate_limits"].partner_request(token.client_id, per_minute)
    if limited is not None:
        if limited.logged:  # the first refusal of this client this minute; the rest are counted
            events.append(refusal(RATE_LIMITED, action=action, actor=actor, subjects=subjects,
                                  details=limited.details("client")))  # fmt: skip
        return too_many_requests(limited)
    if not token.scopes & needed:
        events.append(refusal(INSUFFICIENT, action=action, actor=actor, subjects=subjects))
        return challenge(INSUFFICIENT, INSUFFICIENT.detail, 403, scope=" ".join(sorted(needed)))
    g.access = Access(token=token, partner_id=partner_id, facts=facts, session=session,
                      events=events)  # fmt: skip
    return view()


def _sender_check(token: VerifiedToken, scheme: str, token_string: str,
                  now: int) -> dpop.Proof | None:  # fmt: skip
    """RFC 9449 §7: a DPoP-bound token only as ``DPoP``, with a proof for this very request
    (method, URL under the issuer, the token's hash) by the key the token is bound to; an
    unbound token only as ``Bearer``. Raises :class:`dpop.ProofRefused` naming the check."""
    if token.jkt is None:
        if scheme != BEARER:
            raise dpop.ProofRefused(dpop.TOKEN_AS_BEARER)
        return None
    if scheme != DPOP:
        raise dpop.ProofRefused(dpop.TOKEN_AS_DPOP)
    issuer = current_app.extensions["oauth"].endpoints.issuer
    proof = dpop.verify(request.headers.getlist("DPoP"), method=request.method,
                        url=issuer + request.path, now=now, access_token=token_string)  # fmt: skip
    if proof.jkt != token.jkt:
        raise dpop.ProofRefused(dpop.KEY_BOUND)
    return proof
