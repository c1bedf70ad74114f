"""The public keys a reseller's client signs its assertions with (RFC 7523 §2.2): a key set
the operator registers, or one the reseller publishes at a ``jwks_uri`` of its own.

Both are held to the same rules (:func:`parse_public_jwks`): public keys only, of the types
and curves of the algorithms the gateway accepts, at most ten, within 64 KiB, and — when there
is more than one — each named by its own ``kid`` (RFC 7515 §4.1.4), so that an assertion can
say which key signed it.

A published set is fetched on demand by the token endpoint (:class:`ResellerKeys`): over
https (plain http only on a loopback host, as ``GATEWAY_ISSUER``), within 3 seconds, at most
64 KiB, never following a redirect; kept by each process as long as its ``Cache-Control:
max-age`` says, held between 5 minutes and an hour (15 minutes without one). An assertion
naming a ``kid`` the kept set lacks fetches it again — at most once a minute a client, so no
caller can make the gateway hammer the reseller's server. A failed fetch refuses the
assertion, unless a set fetched earlier is still within its lifetime.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.config import loopback_host
from gateway.errors import InvalidInput

# The algorithms a reseller may sign its client assertions with: FAPI 2.0 Security Profile
# §5.4.1 (PS256, ES256, EdDSA — and Ed25519, its fully specified name since RFC 9864); never
# "none" and never HMAC (RFC 8725 §3.1: the verifier fixes the algorithms it accepts).
ASSERTION_ALGORITHMS = ["ES256", "PS256", "EdDSA", "Ed25519"]
# The key each algorithm verifies with: its type, and its curve where it has one.
_KEY_OF = {"ES256": ("EC", "P-256"), "PS256": ("RSA", None), "EdDSA": ("OKP", "Ed25519"),
           "Ed25519": ("OKP", "Ed25519")}  # fmt: skip
_CURVES = {"EC": {"P-256"}, "OKP": {"Ed25519"}}
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
MAX_KEYS = 10
MAX_KEY_SET_BYTES = 64 * 1024
_RSA_BITS = (2048, 8192)
# A kid is printable ASCII without spaces, short enough that ten of them fit a log detail.
_KID = re.compile(r"[\x21-\x7e]{1,48}")

FETCH_TIMEOUT = 3.0
DEFAULT_LIFETIME = 15 * 60
LIFETIME_BOUNDS = (5 * 60, 60 * 60)
REFETCH_INTERVAL = 60
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?=,|$)", re.IGNORECASE)


def parse_public_jwks(text: str) -> dict[str, Any]:
    """A reseller's public JWK set (a single JWK is taken as a set of one); refuses private or
    symmetric key material, keys no accepted algorithm verifies with, and a set of several
    keys that are not each named by their own ``kid``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KEY_SET_BYTES:
        raise InvalidInput(f"jwks: larger than {MAX_KEY_SET_BYTES // 1024} KiB")
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidInput("jwks: not valid JSON") from None
    if isinstance(raw, dict) and "kty" in raw:
        raw = {"keys": [raw]}
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list) or not raw["keys"]:
        raise InvalidInput('jwks: expected a JWK set {"keys": [...]} with at least one key')
    if len(raw["keys"]) > MAX_KEYS:
        raise InvalidInput(f"jwks: at most {MAX_KEYS} keys")
    for key in raw["keys"]:
        _check_public_key(key)
    kids = [key.get("kid") for key in raw["keys"]]
    if len(kids) > 1 and None in kids:
        raise InvalidInput("jwks: every key needs a kid when the set has more than one key")
    if len(set(kids)) != len(kids):
        raise InvalidInput("jwks: two keys have the same kid")
    try:
        keys = KeySet.import_key_set(raw)
    except (JoseError, ValueError, TypeError) as error:
        raise InvalidInput(f"jwks: not a usable key set ({error})") from None
    if len(keys.keys) != len(raw["keys"]):
        raise InvalidInput("jwks: not a usable key set")
    if len({key.thumbprint() for key in keys}) != len(keys.keys):
        raise InvalidInput("jwks: the same key is in the set twice")
    return raw


def _check_public_key(key: Any) -> None:
    if not isinstance(key, dict) or key.get("kty") not in ("EC", "RSA", "OKP"):
        raise InvalidInput("jwks: every key must be an EC, RSA or OKP public key")
    if _PRIVATE_MEMBERS & key.keys():
        raise InvalidInput(
            "jwks: the set contains private key material; register only the public keys"
        )
    kty = key["kty"]
    if kty in _CURVES and key.get("crv") not in _CURVES[kty]:
        raise InvalidInput("jwks: EC keys must be on P-256 (ES256), OKP keys Ed25519 (EdDSA)")
    if kty == "RSA":
        bits = len(str(key.get("n", ""))) * 6
        if not _RSA_BITS[0] <= bits <= _RSA_BITS[1] + 6:
            raise InvalidInput(f"jwks: RSA keys must be {_RSA_BITS[0]} to {_RSA_BITS[1]} bits")
    if "alg" in key and _KEY_OF.get(key["alg"], ("",))[0] != kty:
        raise InvalidInput(
            f"jwks: a key's alg must be one of {', '.join(ASSERTION_ALGORITHMS)}, for its type"
        )
    if key.get("use", "sig") != "sig":
        raise InvalidInput('jwks: a key\'s use must be "sig"')
    if "kid" in key and not (isinstance(key["kid"], str) and _KID.fullmatch(key["kid"])):
        raise InvalidInput("jwks: a kid is 1 to 48 printable ASCII characters, no spaces")


def key_ids(jwks: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Each key's ``kid`` (``None`` where it has none) and RFC 7638 thumbprint, for the log:
    what identifies the key, never the key."""
    keys = KeySet.import_key_set(jwks).keys
    return [(raw.get("kid"), key.thumbprint()) for raw, key in zip(jwks["keys"], keys, strict=True)]


def check_jwks_uri(url: str) -> str:
    """A ``jwks_uri`` the gateway may fetch: https, or plain http on a loopback host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - parsed here to refuse a malformed port
    except ValueError:
        raise InvalidInput("jwks_uri: not a valid URL") from None
    if len(url) > 500 or not host or parts.scheme not in ("https", "http"):
        raise InvalidInput("jwks_uri: give an https URL of at most 500 characters")
    if parts.username or parts.password or parts.fragment:
        raise InvalidInput("jwks_uri: no credentials and no fragment in the URL")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url):
        raise InvalidInput("jwks_uri: spaces and non-ASCII characters must be percent-encoded")
    if parts.scheme == "http" and not loopback_host(host):
        raise InvalidInput("jwks_uri: must be https (plain http only on a loopback host)")
    return url


class KeySetUnavailable(Exception):
    """A published key set could not be fetched or used. ``reason`` is one word of a fixed
    vocabulary (logged, and told to the caller); ``detail`` is for the operator."""

    REASONS = {
        "timeout": f"no answer within {FETCH_TIMEOUT:g} s",
        "unreachable": "the server could not be reached",
        "tls": "the server's TLS certificate could not be verified",
        "status": "the server did not answer 200",
        "redirect": "the server answered with a redirect, which is not followed",
        "too_large": f"the answer is larger than {MAX_KEY_SET_BYTES // 1024} KiB",
        "invalid": "the answer is not a valid public JWK set",
    }

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or self.REASONS[reason])
        self.reason = reason
        self.detail = detail or self.REASONS[reason]

    @property
    def explained(self) -> str:
        return self.REASONS[self.reason]


@dataclass(frozen=True)
class PublishedKeys:
    jwks: dict[str, Any]  # validated by parse_public_jwks
    lifetime: int  # seconds to keep it: its Cache-Control max-age, within LIFETIME_BOUNDS


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # the 3xx is raised as an HTTPError


_OPENER = urllib.request.build_opener(
    _NoRedirects, urllib.request.HTTPSHandler(context=ssl.create_default_context())
)


def fetch(url: str, *, timeout: float = FETCH_TIMEOUT,
          max_bytes: int = MAX_KEY_SET_BYTES) -> PublishedKeys:  # fmt: skip
    """GET a published key set; raises :class:`KeySetUnavailable`."""
    check_jwks_uri(url)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        headers={
            "Accept": "application/jwk-set+json, application/json",
            "User-Agent": "joint-use-gateway",
        },
    )
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise KeySetUnavailable("status", f"the server answered HTTP {response.status}")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise KeySetUnavailable("too_large")
            body = bytearray()
            # read1: one read of the socket at a time, so a server that drips its answer
            # is cut off at the deadline, not after a timeout per byte.
            while chunk := response.read1(max_bytes + 1 - len(body)):
                body += chunk
                if len(body) > max_bytes:
                    raise KeySetUnavailable("too_large")
                if time.monotonic() > deadline:
                    raise KeySetUnavailable("timeout")
            cache_control = response.headers.get("Cache-Control")
    except urllib.error.HTTPError as error:
        reason = "redirect" if 300 <= error.code < 400 else "status"
        raise KeySetUnavailable(reason, f"the server answered HTTP {error.code}") from None
    except TimeoutError:
        raise KeySetUnavailable("timeout") from None
    except urllib.error.URLError as error:
        raise KeySetUnavailable(_failure(error.reason)) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise KeySetUnavailable(_failure(error)) from None
    try:
        jwks = parse_public_jwks(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise KeySetUnavailable("invalid") from None
    except InvalidInput as error:
        raise KeySetUnavailable("invalid", f"the answer is not valid: {error.detail}") from None
    return PublishedKeys(jwks, lifetime(cache_control))


def _failure(error: object) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "tls"
    return "unreachable"


def lifetime(cache_control: str | None) -> int:
    """How long to keep a fetched set: its ``max-age`` (RFC 9111 §5.2.2.1), within bounds;
    ``no-store``/``no-cache`` keep it the shortest time."""
    value = cache_control or ""
    match = _MAX_AGE.search(value)
    seconds = int(match[1]) if match else DEFAULT_LIFETIME
    if re.search(r"no-store|no-cache", value, re.IGNORECASE):
        seconds = 0
    return min(max(seconds, LIFETIME_BOUNDS[0]), LIFETIME_BOUNDS[1])


@dataclass
class _Kept:
    uri: str
    keys: KeySet | None = None
    expires_at: float = 0.0
    attempted_at: float | None = None
    failure: KeySetUnavailable | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ResellerKeys:
    """The key sets clients publish at their ``jwks_uri``, kept by this process.

    ``now`` is the gateway clock's time in seconds, so tests move it."""

    def __init__(self, *, timeout: float = FETCH_TIMEOUT,
                 fetcher: Callable[..., PublishedKeys] = fetch) -> None:  # fmt: skip
        self.timeout = timeout
        self._fetch = fetcher
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()

    def key_set(self, client_id: str, uri: str, now: float, *, refresh: bool = False) -> KeySet:
        """The client's published set: the kept one while within its lifetime, unless
        ``refresh`` (an assertion named a ``kid`` it lacks); fetched otherwise — but at most
        once a minute, the kept set (still in its lifetime) or the last failure standing in
        between. Raises :class:`KeySetUnavailable`."""
        with self._lock:
            kept = self._kept.get(client_id)
            if kept is None or kept.uri != uri:  # a new URI registered: nothing kept counts
                kept = self._kept[client_id] = _Kept(uri)
        with kept.lock:
            fresh = kept.keys is not None and now < kept.expires_at
            if fresh and not refresh:
                return kept.keys  # type: ignore[return-value]
            if kept.attempted_at is not None and now - kept.attempted_at < REFETCH_INTERVAL:
                if fresh:
                    return kept.keys  # type: ignore[return-value]
                raise kept.failure or KeySetUnavailable("unreachable")
            kept.attempted_at = now
            try:
                published = self._fetch(uri, timeout=self.timeout)
            except KeySetUnavailable as failure:
                kept.failure = failure
                if fresh:
                    return kept.keys  # type: ignore[return-value]
                raise
            kept.keys = KeySet.import_key_set(published.jwks)
            kept.expires_at = now + published.lifetime
            kept.failure = None
            return kept.keys
