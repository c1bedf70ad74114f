"""DPoP (RFC 9449): access tokens bound to a key the reseller holds, so that a token copied
from its host, a proxy or a log reads nothing without that key.

A DPoP proof is a JWT the client signs for each request with its private key, carrying the
public key in its header. The token endpoint binds the token it issues to that key
(``cnf.jkt``, the key's RFC 7638 thumbprint, §6); the partner API then accepts the token only as
``Authorization: DPoP <token>`` with a fresh proof by the same key for that very request
(§7): its method, its URL, the token's hash. Each check that fails has its own rule, named in
the refusal and in the log.

A proof's ``jti`` is used once on any worker of any node: the commit that logs the request
records it (under the log's head lock, beside the client assertion ids), and refuses the
request if another request used it first (:func:`use_up`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import extract_compact
from sqlalchemy import bindparam, delete, insert, select

from gateway.db import Prepared, RawTransaction
from gateway.oauth.models import UsedDPoPProof
from gateway.policy import Rule

# The algorithms a proof may be signed with: those FAPI 2.0 allows (§5.4.1), as for client
# assertions; never "none", never HMAC (RFC 9449 §4.3 step 5).
ALGORITHMS = ("ES256", "PS256", "EdDSA", "Ed25519")
PROOF_TYPE = "dpop+jwt"
# A proof is accepted this many seconds either side of the gateway's clock (RFC 9449 §11.1:
# a short window limits the use of a pre-generated proof).
WINDOW = 60
MAX_PROOF_LENGTH = 8192
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Used proof ids are purged by about one use in this many.
_PURGE_ONE_IN = 64


def _rule(name: str, error: str, detail: str) -> Rule:
    return Rule(name, 401, error, detail, lambda a, d: False)


# Each check of RFC 9449 §4.3 and §7, by name (the partner API's refusals; the token endpoint
# answers the same failures as ``invalid_dpop_proof``, RFC 9449 §5).
PROOF_PRESENT = _rule(
    "dpop_proof_present",
    "invalid_dpop_proof",
    "send a DPoP proof: one DPoP header signed by the client's key",
)
PROOF_VALID = _rule(
    "dpop_proof_valid",
    "invalid_dpop_proof",
    "the DPoP proof is not a valid dpop+jwt signed by the public key it carries",
)
PROOF_METHOD = _rule(
    "dpop_proof_method", "invalid_dpop_proof", "the DPoP proof's htm is not this request's method"
)
PROOF_URL = _rule(
    "dpop_proof_url", "invalid_dpop_proof", "the DPoP proof's htu is not this request's URL"
)
PROOF_FRESH = _rule(
    "dpop_proof_fresh",
    "invalid_dpop_proof",
    f"the DPoP proof's iat must be within {WINDOW} seconds of now",
)
PROOF_TOKEN = _rule(
    "dpop_proof_token",
    "invalid_dpop_proof",
    "the DPoP proof's ath is not the hash of this access token",
)
PROOF_UNUSED = _rule(
    "dpop_proof_unused",
    "invalid_dpop_proof",
    "this DPoP proof was used already: sign a new one for every request",
)
KEY_BOUND = _rule(
    "dpop_key_bound",
    "invalid_token",
    "the DPoP proof is signed by another key than the one the token is bound to",
)
TOKEN_AS_DPOP = _rule(
    "token_dpop_scheme",
    "invalid_token",
    "this access token is DPoP-bound: send it as Authorization: DPoP, with a proof",
)
TOKEN_AS_BEARER = _rule(
    "token_bearer_scheme",
    "invalid_token",
    "this access token is not DPoP-bound: send it as Authorization: Bearer",
)
RULES = (
    PROOF_PRESENT,
    PROOF_VALID,
    PROOF_METHOD,
    PROOF_URL,
    PROOF_FRESH,
    PROOF_TOKEN,
    PROOF_UNUSED,
    KEY_BOUND,
    TOKEN_AS_DPOP,
    TOKEN_AS_BEARER,
)


class ProofRefused(Exception):
    def __init__(self, rule: Rule) -> None:
        super().__init__(rule.detail)
        self.rule = rule


@dataclass(frozen=True)
class Proof:
    """A verified proof: the thumbprint of the key that signed it, and its id."""

    jkt: str
    jti: str
    iat: int

    @property
    def replay_key(self) -> dict[str, Any]:
        """Its row in the used-proof table: one id per key and ``jti``, kept while the
        proof could still be accepted."""
        proof_id = hashlib.sha256(f"{self.jkt}\0{self.jti}".encode()).hexdigest()
        return {"proof_id": proof_id, "expires_at": self.iat + 2 * WINDOW}


def token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url of the SHA-256 of the token's ASCII text."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(
    values: list[str], *, method: str, url: str, now: int, access_token: str | None = None
) -> Proof:
    """Check the request's DPoP header values against RFC 9449 §4.3; returns the proof, or
    raises :class:`ProofRefused` naming the first check that failed. ``url`` is the request's
    URL under the issuer, without query or fragment."""
    if not values:
        raise ProofRefused(PROOF_PRESENT)
    if len(values) != 1 or len(values[0]) > MAX_PROOF_LENGTH:
        raise ProofRefused(PROOF_VALID)
    header, claims, key = _verified(values[0])
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise ProofRefused(PROOF_VALID)
    if claims.get("htm") != method:
        raise ProofRefused(PROOF_METHOD)
    if not isinstance(claims.get("htu"), str) or not _same_url(claims["htu"], url):
        raise ProofRefused(PROOF_URL)
    iat = claims.get("iat")
    if not _instant(iat) or abs(now - iat) > WINDOW:
        raise ProofRefused(PROOF_FRESH)
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not secrets.compare_digest(ath, token_hash(access_token)):
            raise ProofRefused(PROOF_TOKEN)
    return Proof(key.thumbprint(), jti, math.floor(iat))


def _verified(proof: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The proof's header, claims and public key, once its signature held (§4.3 steps 2–7)."""
    try:
        header = extract_compact(proof.encode("ascii")).headers()
        jwk = header.get("jwk")
        if (
            str(header.get("typ", "")).lower() != PROOF_TYPE
            or header.get("alg") not in ALGORITHMS
            or not isinstance(jwk, dict)
            or _PRIVATE_MEMBERS & jwk.keys()
            or jwk.get("kty") not in ("EC", "RSA", "OKP")
        ):
            raise ProofRefused(PROOF_VALID)
        key = JWKRegistry.import_key(jwk)
        if jwk["kty"] == "RSA" and len(jwk.get("n", "")) * 6 < 2048:
            raise ProofRefused(PROOF_VALID)
        decoded = jwt.decode(proof, key, algorithms=[header["alg"]])
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as error:
        raise ProofRefused(PROOF_VALID) from error
    return header, decoded.claims, key


def _instant(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same_url(htu: str, expected: str) -> bool:
    """RFC 9449 §4.3 step 9: the same URI, ignoring query and fragment, compared after
    RFC 3986 §6.2.2–6.2.3 normalisation (scheme and host case, default port, empty path)."""
    try:
        return _normal(htu) == _normal(expected)
    except ValueError:
        return False


def _normal(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (
        scheme,
        (parts.hostname or "").lower(),
        parts.port or _DEFAULT_PORTS.get(scheme),
        parts.path or "/",
    )


def jkt_of(claims: dict[str, Any]) -> str | None:
    """The key an access token is bound to (RFC 9449 §6.1), or ``None`` for a Bearer token."""
    confirmation = claims.get("cnf")
    if isinstance(confirmation, dict) and isinstance(confirmation.get("jkt"), str):
        return confirmation["jkt"]
    return None


def use_up(connection: RawTransaction, proof: Proof, now: int) -> bool:
    """Record ``proof`` as used, inside the commit that logs its request (under the log's
    head lock, so no two requests on any node can both find it unused). ``False`` if it was
    used before."""
    row = proof.replay_key
    if _PROOF_USED.one_or_none(connection, {"proof_id": row["proof_id"]}) is not None:
        return False
    _USE_PROOF.execute(connection, row).close()
    if secrets.randbelow(_PURGE_ONE_IN) == 0:  # housekeeping, now and then
        _PURGE_PROOFS.execute(connection, {"now": now}).close()
    return True


_PROOFS = UsedDPoPProof.__table__
_PROOF_USED = Prepared(
    select(_PROOFS.c.proof_id).where(_PROOFS.c.proof_id == bindparam("proof_id"))
)
_USE_PROOF = Prepared(insert(_PROOFS))
_PURGE_PROOFS = Prepared(delete(_PROOFS).where(_PROOFS.c.expires_at < bindparam("now")))
