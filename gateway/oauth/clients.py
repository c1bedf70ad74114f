"""Registering resellers' OAuth clients, disabling them, and cutting a revoked partner off.

A client belongs to one partner and is granted a subset of the partner scopes. It
authenticates at the token endpoint either with a JWT signed by a key of its registered
public JWK set (``private_key_jwt``, RFC 7523 §2.2) or with a generated secret over HTTP Basic
(``client_secret_basic``, RFC 6749 §2.3.1).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway import allowlist
from gateway.audit.spine import Actor, Event, Subject, record
from gateway.clock import Clock, isoformat
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.oauth.models import (
    ACTIVE,
    CLIENT_SECRET_BASIC,
    DISABLED,
    DPOP,
    PRIVATE_KEY_JWT,
    SENDER_CONSTRAINTS,
    AccessToken,
    OAuthClient,
)
from gateway.oauth.secrets import generate_secret, hash_secret
from gateway.partners.models import ACTIVE as PARTNER_ACTIVE
from gateway.partners.service import get_partner


def partner_scopes() -> tuple[str, ...]:
    """The partner API's scopes, as the allowlist groups its fields (DESIGN, data contract)."""
    return allowlist.current().scopes


_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
_ASYMMETRIC = {"EC", "RSA", "OKP"}
_MAX_KEYS = 10


def parse_scopes(raw: str) -> tuple[str, ...]:
    """A space-separated scope list (RFC 6749 §3.3), each one a partner scope."""
    known = partner_scopes()
    scopes = tuple(dict.fromkeys(raw.split()))
    if not scopes:
        raise InvalidInput("scopes: give at least one of " + " ".join(known))
    unknown = [s for s in scopes if s not in known]
    if unknown:
        raise InvalidInput(f"scopes: unknown {' '.join(unknown)}; choose from {' '.join(known)}")
    return tuple(s for s in known if s in scopes)


def parse_public_jwks(text: str) -> dict[str, Any]:
    """A reseller's public JWK set; refuses private or symmetric key material outright."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidInput("jwks: not valid JSON") from None
    if isinstance(raw, dict) and "kty" in raw:
        raw = {"keys": [raw]}
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list) or not raw["keys"]:
        raise InvalidInput('jwks: expected a JWK set {"keys": [...]} with at least one key')
    if len(raw["keys"]) > _MAX_KEYS:
        raise InvalidInput(f"jwks: at most {_MAX_KEYS} keys")
    for key in raw["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in _ASYMMETRIC:
            raise InvalidInput("jwks: every key must be an EC, RSA or OKP public key")
        if _PRIVATE_MEMBERS & key.keys():
            raise InvalidInput(
                "jwks: the set contains private key material; register only the public keys"
            )
        if key.get("kty") == "RSA" and len(key.get("n", "")) * 6 < 2048:
            raise InvalidInput("jwks: RSA keys must be at least 2048 bits")
    try:
        KeySet.import_key_set(raw)
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidInput(f"jwks: not a usable key set ({error})") from None
    return raw


def add_client(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    partner_id: str,
    scopes: str,
    jwks_text: str | None = None,
    with_secret: bool = False,
    sender_constraint: str = DPOP,
    request_id: str | None = None,
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and, for a secret client, the secret — the only time
    it is ever available. Its tokens are DPoP-bound unless ``sender_constraint`` is
    ``none``."""
    if (jwks_text is None) == (not with_secret):
        raise InvalidInput("give exactly one of --jwks FILE or --secret")
    _check_sender_constraint(sender_constraint)
    granted = parse_scopes(scopes)
    jwks = parse_public_jwks(jwks_text) if jwks_text is not None else None
    partner = get_partner(session, partner_id)
    if partner.status != PARTNER_ACTIVE:
        raise Conflict(f"partner {partner.id!r} is revoked")
    secret = generate_secret() if with_secret else None
    client = OAuthClient(
        client_id="cl_" + secrets.token_urlsafe(12),
        partner_id=partner.id,
        scopes=" ".join(granted),
        auth_method=CLIENT_SECRET_BASIC if with_secret else PRIVATE_KEY_JWT,
        jwks=json.dumps(jwks, sort_keys=True) if jwks else None,
        secret_hash=hash_secret(secret) if secret else None,
        sender_constraint=sender_constraint,
        status=ACTIVE,
        created_at=isoformat(clock.now()),
    )
    session.add(client)
    record(
        session,
        Event(
            action="client.add",
            actor=actor,
            subjects=(Subject("partner", partner.id), Subject("client", client.client_id)),
            request_id=request_id,
            details={
                "scopes": client.scopes,
                "auth_method": client.auth_method,
                "sender_constraint": sender_constraint,
            },  # fmt: skip
        ),
        clock=clock,
    )
    return client, secret


def get_client(session: Session, client_id: str) -> OAuthClient:
    client = session.get(OAuthClient, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


def list_clients(session: Session, partner_id: str | None = None) -> list[OAuthClient]:
    query = select(OAuthClient).order_by(OAuthClient.partner_id, OAuthClient.created_at)
    if partner_id is not None:
        query = query.where(OAuthClient.partner_id == partner_id)
    return list(session.scalars(query))


def disable_client(
    session: Session, clock: Clock, actor: Actor, *, client_id: str, request_id: str | None = None
) -> OAuthClient:
    """Disable one client and revoke every token it holds."""
    client = get_client(session, client_id)
    if client.status == DISABLED:
        raise Conflict(f"client {client_id!r} is already disabled")
    now = clock.now()
    client.status = DISABLED
    client.disabled_at = isoformat(now)
    session.execute(
        update(AccessToken)
        .where(AccessToken.client_id == client_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=int(now.timestamp()))
    )
    record(
        session,
        Event(
            action="client.disable",
            actor=actor,
            subjects=(Subject("partner", client.partner_id), Subject("client", client_id)),
            request_id=request_id,
        ),
        clock=clock,
    )
    return client


def constrain_client(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    client_id: str,
    sender_constraint: str,
    request_id: str | None = None,
) -> tuple[OAuthClient, int]:
    """Change a client's sender constraint. Binding it to DPoP revokes every token it holds,
    so no bearer token of a DPoP client outlives the change; returns the client and how many
    tokens were revoked."""
    _check_sender_constraint(sender_constraint)
    client = get_client(session, client_id)
    if client.status != ACTIVE:
        raise Conflict(f"client {client_id!r} is disabled")
    if client.sender_constraint == sender_constraint:
        raise Conflict(f"client {client_id!r} is already {sender_constraint}")
    client.sender_constraint = sender_constraint
    revoked = 0
    if sender_constraint == DPOP:
        revoked = session.execute(
            update(AccessToken)
            .where(AccessToken.client_id == client_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=int(clock.now().timestamp()))
        ).rowcount
    record(
        session,
        Event(
            action="client.constrain",
            actor=actor,
            subjects=(Subject("partner", client.partner_id), Subject("client", client_id)),
            request_id=request_id,
            details={"sender_constraint": sender_constraint, "tokens_revoked": revoked},
        ),
        clock=clock,
    )
    return client, revoked


def _check_sender_constraint(value: str) -> None:
    if value not in SENDER_CONSTRAINTS:
        raise InvalidInput(f"sender constraint: choose {' or '.join(SENDER_CONSTRAINTS)}")


def cut_off_partner(session: Session, clock: Clock, partner_id: str) -> dict[str, int]:
    """Disable every client of a partner and revoke every token it holds (part of the
    partner's revocation, in the same transaction)."""
    now = clock.now()
    clients = session.execute(
        update(OAuthClient)
        .where(OAuthClient.partner_id == partner_id, OAuthClient.status == ACTIVE)
        .values(status=DISABLED, disabled_at=isoformat(now))
    ).rowcount
    tokens = session.execute(
        update(AccessToken)
        .where(AccessToken.partner_id == partner_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=int(now.timestamp()))
    ).rowcount
    return {"clients_disabled": clients, "tokens_revoked": tokens}


def describe(client: OAuthClient) -> dict[str, Any]:
    jwks = json.loads(client.jwks) if client.jwks else None
    return {
        "client_id": client.client_id,
        "partner_id": client.partner_id,
        "scopes": client.scopes,
        "auth_method": client.auth_method,
        "sender_constraint": client.sender_constraint,
        "key_ids": [k.get("kid") for k in jwks["keys"]] if jwks else None,
        "status": client.status,
        "created_at": client.created_at,
        "disabled_at": client.disabled_at,
    }
