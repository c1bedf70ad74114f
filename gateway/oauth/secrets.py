"""Client secrets: generated strong, shown once, stored only as a slow salted hash.

scrypt (RFC 7914) from the standard library, with a random 16-byte salt per secret; the
comparison is constant-time. An unknown client id costs the same hash as a known one, so the
response time does not tell which client ids exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# RFC 7914 §2 parameters: N=2^15, r=8, p=1 — about 64 MiB-seconds of work per check.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_SCHEME = "scrypt"
_DUMMY = None


def generate_secret() -> str:
    """256 bits from the operating system's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32
    )


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(secret, salt, _N, _R, _P)
    encode = base64.urlsafe_b64encode
    return f"{_SCHEME}${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """True only when ``secret`` matches ``stored``; a missing hash is checked against a
    dummy so the time taken is the same."""
    global _DUMMY
    if stored is None:
        if _DUMMY is None:
            _DUMMY = hash_secret(generate_secret())
        stored, expected_result = _DUMMY, False
    else:
        expected_result = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        decode = base64.urlsafe_b64decode
        candidate = _derive(secret, decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(candidate, decode(digest)) and expected_result
    except (ValueError, TypeError):
        return False
