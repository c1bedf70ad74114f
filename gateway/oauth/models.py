"""Tables of OAuth clients, issued access tokens and used client-assertion ids."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base

ACTIVE = "active"
DISABLED = "disabled"

# A client's sender constraint (RFC 9449): its tokens are DPoP-bound, or — an operator's
# explicit opt-out, for a reseller that cannot sign proofs yet — plain bearer tokens.
DPOP = "dpop"
NONE = "none"
SENDER_CONSTRAINTS = (DPOP, NONE)

PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name, not a secret


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, RFC 6749 §3.3
    auth_method: Mapped[str] = mapped_column(String(32))
    jwks: Mapped[str | None] = mapped_column(Text)  # the reseller's public JWK set
    # Or where the reseller publishes it (fetched and cached a bounded time), instead of jwks.
    jwks_uri: Mapped[str | None] = mapped_column(String(500))
    secret_hash: Mapped[str | None] = mapped_column(String(200))  # never the secret itself
    sender_constraint: Mapped[str] = mapped_column(String(8), default=DPOP)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created_at: Mapped[str] = mapped_column(String(27))
    disabled_at: Mapped[str | None] = mapped_column(String(27))


class AccessToken(Base):
    """Every access token issued, by its ``jti``: the live state a JWT cannot carry."""

    __tablename__ = "access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_access_tokens_partner_id_revoked_at", "partner_id", "revoked_at"),)


class UsedAssertion(Base):
    """Client-assertion ``jti`` values already used (RFC 7523 §3, item 7): a second use is a
    replay. Kept until the assertion expires; the primary key makes two concurrent uses
    impossible on any number of nodes."""

    __tablename__ = "used_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class UsedDPoPProof(Base):
    """DPoP proofs already used (RFC 9449 §11.1), by a hash of the signing key's thumbprint
    and the proof's ``jti``; kept while the proof could still be accepted."""

    __tablename__ = "used_dpop_proofs"

    proof_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
