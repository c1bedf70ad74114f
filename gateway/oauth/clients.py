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
from gateway.oauth.reseller_keys import (
    KeySetUnavailable,
    check_jwks_uri,
    fetch,
    key_ids,
    parse_public_jwks,
)
from gateway.oauth.secrets import generate_secret, hash_secret
from gateway.partners.models import ACTIVE as PARTNER_ACTIVE
from gateway.partners.service import get_partner


def partner_scopes() -> tuple[str, ...]:
    """The partner API's scopes, as the allowlist groups its fields (DESIGN, data contract)."""
    return allowlist.current().scopes


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


def replace_keys(
    session: Session,
    clock: Clock,
    actor: Actor,
    *,
    client_id: str,
    jwks_text: str | None = None,
    add: bool = False,
    jwks_uri: str | None = None,
    request_id: str | None = None,
) -> tuple[OAuthClient, list[tuple[str | None, str]]]:
    """Register a ``private_key_jwt`` client's new public keys: a set instead of the
    registered one, or added to it (``add``, for a rotation in two steps), or the ``jwks_uri``
    where the reseller publishes its set (fetched now, to check it) — each replaces the other.
    Tokens already issued stay valid: the gateway signed them, not the reseller's keys.
    Returns the client and each of its keys' ``kid`` and RFC 7638 thumbprint (for a
    ``jwks_uri``, as fetched now: the token endpoint fetches it itself, and follows its
    changes)."""
    if (jwks_text is None) == (jwks_uri is None):
        raise InvalidInput("give exactly one of --jwks FILE or --jwks-uri URL")
    if add and jwks_text is None:
        raise InvalidInput("--add adds the keys of a --jwks FILE; not a --jwks-uri")
    client = get_client(session, client_id)
    if client.status != ACTIVE:
        raise Conflict(f"client {client_id!r} is disabled")
    if client.auth_method != PRIVATE_KEY_JWT:
        raise Conflict(f"client {client_id!r} authenticates with a secret, not with keys")
    previous = key_ids(json.loads(client.jwks)) if client.jwks else []
    if jwks_uri is not None:
        uri = check_jwks_uri(jwks_uri)
        if uri == client.jwks_uri:
            raise Conflict(f"client {client_id!r} has this jwks_uri already")
        try:
            jwks = fetch(uri).jwks
        except KeySetUnavailable as failure:
            raise InvalidInput(f"jwks_uri: {failure.detail}") from None
        client.jwks, client.jwks_uri = None, uri
    else:
        jwks = parse_public_jwks(jwks_text or "")
        if add:
            if client.jwks is None:
                raise Conflict(f"client {client_id!r} has its keys at a jwks_uri; "
                               "give the whole set without --add")  # fmt: skip
            jwks = _joined(json.loads(client.jwks), jwks)
        stored = json.dumps(jwks, sort_keys=True)
        if stored == client.jwks:
            raise Conflict(f"client {client_id!r} has these keys already")
        client.jwks, client.jwks_uri = stored, None
    keys = key_ids(jwks)
    record(
        session,
        Event(
            action="client.keys",
            actor=actor,
            subjects=(Subject("partner", client.partner_id), Subject("client", client_id)),
            request_id=request_id,
            details={
                "source": "jwks_uri" if jwks_uri is not None else "jwks",
                "added": add,
                "jwks_uri": client.jwks_uri,
                "kids": " ".join(kid for kid, _ in keys if kid),
                "thumbprints": " ".join(jkt for _, jkt in keys),
                "previous_thumbprints": " ".join(jkt for _, jkt in previous),
            },
        ),
        clock=clock,
    )
    return client, keys


def _joined(registered: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """The registered keys and the added ones, as one set held to the same rules."""
    try:
        return parse_public_jwks(json.dumps({"keys": registered["keys"] + added["keys"]}))
    except InvalidInput as error:
        raise InvalidInput(
            f"with --add, the registered keys and the new ones: {error.detail}"
        ) from None


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
        "jwks_uri": client.jwks_uri,
        "status": client.status,
        "created_at": client.created_at,
        "disabled_at": client.disabled_at,
    }
