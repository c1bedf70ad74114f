"""The gateway's rate limits, counted by the ``limits`` library (fixed one-minute windows).

- **per client**, on the partner API (``GATEWAY_RATE_LIMIT_PER_MINUTE``, or the reseller's own
  limit set with ``gateway partners limits``) and on the token endpoint (tokens issued,
  ``GATEWAY_RATE_LIMIT_TOKENS_PER_MINUTE``);
- **per source address**, on failed client authentication at the token, introspection and
  revocation endpoints and failed console sign-ins (``GATEWAY_RATE_LIMIT_FAILURES_PER_MINUTE``).

A limit is tested before any slow work (the secret's scrypt hash, the password's); a token
issued, a partner request, or a failure is what counts. An address or client over its limit
is answered 429 with ``Retry-After``. The refusals are logged without flooding the log: the
first refusal of each key in each minute is logged, with the number refused in the minute
before.

The counters live where ``GATEWAY_RATE_LIMIT_STORAGE`` says: by default a file every worker of
the node shares (:mod:`gateway.ratelimit.storage`), so limits hold per node; a shared
``redis://`` store makes them hold across nodes. If the store cannot be reached, requests are
let through (and a warning logged): a limit protects the gateway's capacity, not who may see
what — every access rule and the log still apply.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from gateway.config import Config
from gateway.errors import ConfigurationError
from gateway.ratelimit import storage as node_storage

RULE = "rate_limited"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A request over its limit."""

    limit: int  # per minute
    retry_after: int  # seconds until the window resets
    logged: bool  # the first refusal of this key this minute: the one to log
    refused_before: int  # refusals of this key in the minute before (reported when logged)

    def details(self, counted: str) -> dict[str, str | int]:
        """The log entry's details: which limit, and how many were refused unlogged."""
        return {
            "limit_per_minute": self.limit,
            "counted": counted,
            "refused_previous_minute": self.refused_before,
        }


class RateLimits:
    def __init__(self, config: Config) -> None:
        self.namespace = hashlib.sha256(config.issuer.encode()).hexdigest()[:12]
        self.storage = _storage(config)
        self._limiter = FixedWindowRateLimiter(self.storage)
        self.api_per_minute = config.rate_limit_per_minute
        self._tokens = RateLimitItemPerMinute(config.rate_limit_tokens_per_minute)
        self._failures = RateLimitItemPerMinute(config.rate_limit_failures_per_minute)

    # --- the partner API: a client's requests --------------------------------------------------

    def partner_request(self, client_id: str, per_minute: int | None) -> Refusal | None:
        """Count one partner-API request of ``client_id``; ``per_minute`` is its reseller's
        own limit, if the operator set one."""
        item = RateLimitItemPerMinute(per_minute or self.api_per_minute)
        return self._hit(item, "client", client_id)

    # --- the token endpoint: tokens a client is issued -----------------------------------------

    def token_allowed(self, client_id: str) -> Refusal | None:
        """Before authenticating: is ``client_id`` within its issuance limit? Only tokens
        actually issued count (:meth:`token_issued`), so nobody can spend another client's."""
        return self._test(self._tokens, "token", client_id)

    def token_issued(self, client_id: str) -> None:
        self._count(self._tokens, "token", client_id)

    # --- failed authentication, by source address ----------------------------------------------

    def failures_allowed(self, address: str) -> Refusal | None:
        return self._test(self._failures, "address", address)

    def failed(self, address: str) -> None:
        self._count(self._failures, "address", address)

    # ---

    def _hit(self, item: RateLimitItem, kind: str, key: str) -> Refusal | None:
        return self._check(self._limiter.hit, item, kind, key)

    def _test(self, item: RateLimitItem, kind: str, key: str) -> Refusal | None:
        return self._check(self._limiter.test, item, kind, key)

    def _check(self, within: Callable[..., bool], item: RateLimitItem, kind: str,
               key: str) -> Refusal | None:  # fmt: skip
        """``within`` (the limiter's hit or test) says whether the key is within its limit;
        a store that cannot be reached lets the request through."""
        try:
            if within(item, self.namespace, kind, key):
                return None
            return self._refusal(item, kind, key)
        except StorageError as error:
            _unavailable(error)
            return None

    def _count(self, item: RateLimitItem, kind: str, key: str) -> None:
        try:
            self._limiter.hit(item, self.namespace, kind, key)
        except StorageError as error:
            _unavailable(error)

    def _refusal(self, item: RateLimitItem, kind: str, key: str) -> Refusal:
        now = time.time()
        reset = self._limiter.get_window_stats(item, self.namespace, kind, key).reset_time
        minute = int(now // 60)
        refusals = f"{self.namespace}/refused/{kind}/{key}"
        count = self.storage.incr(f"{refusals}/{minute}", 120)
        before = self.storage.get(f"{refusals}/{minute - 1}") if count == 1 else 0
        return Refusal(item.amount, max(1, math.ceil(reset - now)), count == 1, before)


def _storage(config: Config):  # type: ignore[no-untyped-def]
    uri = config.rate_limit_storage or node_storage.SCHEME + ":///" + str(_node_file(config))
    try:
        return storage_from_string(uri, wrap_exceptions=True)
    except (LimitsConfigurationError, ValueError, OSError) as error:
        raise ConfigurationError(f"GATEWAY_RATE_LIMIT_STORAGE: {error}") from None


def _node_file(config: Config) -> Path:
    """The node's counters: in the system's temporary directory (node-local, emptied on
    reboot), one file per deployment (its database and keys), owner-only."""
    deployment = f"{config.database_url}\0{Path(config.keys_dir).resolve()}"
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"joint-use-gateway-{os.getuid()}"
    return folder / f"rate-limits-{digest}.sqlite3"


_last_warning = 0.0


def _unavailable(error: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:  # once a minute at most
        _last_warning = time.monotonic()
        _log.warning("rate-limit store unavailable, requests let through: %s", type(error).__name__)
