"""The live state behind an access token — the token not revoked, its client active, its
partner active, an NDA in force today — read from the database in one statement.

Never cached: it is read on every partner request, again inside the commit that releases the
request's data, and by introspection, so a revocation committed anywhere takes effect at once.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, Date, and_, bindparam, exists, select
from sqlalchemy.orm import Session

from gateway.clock import Clock, today
from gateway.db import Prepared, RawTransaction
from gateway.oauth.models import ACTIVE, AccessToken, OAuthClient
from gateway.partners.models import ACTIVE as PARTNER_ACTIVE
from gateway.partners.models import Nda, Partner
from gateway.policy import AccessFacts


class LiveState(NamedTuple):
    facts: AccessFacts
    partner_id: str | None
    per_minute: int | None  # the reseller's own rate limit, if the operator set one


def live_facts(
    session: Session | Connection | RawTransaction, jti: str, client_id: str, clock: Clock
) -> LiveState:
    """A token's live state in one statement: the facts, the partner and its rate limit."""
    row = _LIVE_STATE.one_or_none(
        session, {"jti": jti, "client_id": client_id, "day": today(clock)}
    )
    if row is None:
        return LiveState(AccessFacts(False, False, False, False, False), None, None)
    revoked_at, partner_id, per_minute, *client_state = row
    return LiveState(_facts(revoked_at is not None, *client_state), partner_id, per_minute)


def client_facts(session: Session | Connection | RawTransaction, client_id: str,
                 clock: Clock) -> AccessFacts:  # fmt: skip
    """A client's live state before it holds a token (the token endpoint's last check): the
    facts of a new, unrevoked token of that client."""
    row = _CLIENT_STATE.one_or_none(session, {"client_id": client_id, "day": today(clock)})
    if row is None:
        return AccessFacts(False, False, False, False, False)
    return _facts(False, *row)


def _facts(revoked: bool, client_status: str, partner_status: str, nda: object) -> AccessFacts:
    """The facts of an authentic token from the live state's columns."""
    return AccessFacts(
        token_authentic=True,
        token_revoked=revoked,
        client_active=client_status == ACTIVE,
        partner_active=partner_status == PARTNER_ACTIVE,
        nda_in_force=bool(nda),
    )


# Built once; every request runs them with its own ids and day.
_DAY = bindparam("day", type_=Date)
_NDA_IN_FORCE = exists().where(
    and_(Nda.partner_id == Partner.id, Nda.signed_on <= _DAY, Nda.expires_on >= _DAY)
)
_CLIENT_STATE = Prepared(
    select(OAuthClient.status, Partner.status, _NDA_IN_FORCE)
    .join(Partner, Partner.id == OAuthClient.partner_id)
    .where(OAuthClient.client_id == bindparam("client_id"))
)
_LIVE_STATE = Prepared(
    select(
        AccessToken.revoked_at,
        AccessToken.partner_id,
        Partner.rate_limit_per_minute,
        OAuthClient.status,
        Partner.status,
        _NDA_IN_FORCE,
    )
    .join(OAuthClient, OAuthClient.client_id == AccessToken.client_id)
    .join(Partner, Partner.id == AccessToken.partner_id)
    .where(AccessToken.jti == bindparam("jti"), AccessToken.client_id == bindparam("client_id"))
)
