"""Settings from the environment, read and validated once at start.

Every variable is optional; the defaults give a single-machine gateway on an embedded SQLite
file. ``GATEWAY_DATABASE_URL``, ``GATEWAY_KEYS_DIR`` and ``GATEWAY_ISSUER`` are the public
contract; the others are documented in the README.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///var/gateway.db"
DEFAULT_KEYS_DIR = "keys"
DEFAULT_ISSUER = "http://127.0.0.1:8000"

_SQLITE_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL")
# RFC 9068 access tokens live 5 minutes by default and never longer than 15 (issue #3).
DEFAULT_TOKEN_LIFETIME = 300
MAX_TOKEN_LIFETIME = 900
# The access log is sealed by a signed checkpoint after this many entries or seconds,
# whichever comes first (issue #5; 0 turns that trigger off).
DEFAULT_CHECKPOINT_EVERY_ENTRIES = 1000
DEFAULT_CHECKPOINT_EVERY_SECONDS = 300
# The party responsible for the joint use and its privacy desk, shown on the public notice
# (clause 22, paragraphs 3 and 7 of the terms, revision of 2022-04-01).
DEFAULT_CONTROLLER_NAME = "株式会社ウェブインパクト"
DEFAULT_PRIVACY_DESK_CONTACT = (
    "〒101-0041 東京都千代田区神田須田町2-2-2 神田須田町ビル10F "
    "株式会社ウェブインパクト 総務部 個人情報保護相談窓口\n"
    "メールアドレス: info@webimpact.co.jp\n"
    "電話番号: 03-3526-6360\n"
    "受付時間: 月曜～金曜（祝日、年末年始は除く）10時～17時"
)
# Rate limits (per minute): a client's partner-API requests and tokens issued, and failed
# authentication from one source address (README "Rate limits").
DEFAULT_RATE_LIMIT_PER_MINUTE = 1200
DEFAULT_RATE_LIMIT_TOKENS_PER_MINUTE = 30
DEFAULT_RATE_LIMIT_FAILURES_PER_MINUTE = 20
DEFAULT_TIMEZONE = "Asia/Tokyo"
DEFAULT_REMOVAL_DUE_DAYS = 7
DEFAULT_RIGHTS_DUE_DAYS = 14
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    keys_dir: Path = Path(DEFAULT_KEYS_DIR)
    issuer: str = DEFAULT_ISSUER
    # FULL makes each committed log record survive power loss; see README "Durability".
    sqlite_synchronous: str = "FULL"
    auto_migrate: bool = True
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    checkpoint_every_entries: int = DEFAULT_CHECKPOINT_EVERY_ENTRIES
    checkpoint_every_seconds: int = DEFAULT_CHECKPOINT_EVERY_SECONDS
    controller_name: str = DEFAULT_CONTROLLER_NAME
    privacy_desk_contact: str = DEFAULT_PRIVACY_DESK_CONTACT
    # APPI art. 27(5)(iii) (since the 2022 amendment): the responsible party's address and, for
    # a corporation, its representative. Empty: the notice says it is incomplete.
    controller_address: str = ""
    controller_representative: str = ""
    # The company's calendar: the days and times the desk's reports show (log instants stay UTC).
    timezone: str = DEFAULT_TIMEZONE
    # Days a reseller has to delete a removed customer's copy (a removal event's erase_by), and
    # the privacy desk to answer a paragraph-6 request.
    removal_due_days: int = DEFAULT_REMOVAL_DUE_DAYS
    rights_due_days: int = DEFAULT_RIGHTS_DUE_DAYS
    # Empty: a store every worker of this node shares; or a ``limits`` storage URI
    # (``redis://host:6379/0``) that every node shares.
    rate_limit_storage: str = ""
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    rate_limit_tokens_per_minute: int = DEFAULT_RATE_LIMIT_TOKENS_PER_MINUTE
    rate_limit_failures_per_minute: int = DEFAULT_RATE_LIMIT_FAILURES_PER_MINUTE
    # Proxies in front of the gateway that append the client's address to X-Forwarded-For
    # (0: the peer's address is the client's).
    trusted_proxies: int = 0

    @property
    def notice_missing(self) -> tuple[str, ...]:
        """The settings the public notice still lacks (APPI art. 27(5)(iii))."""
        settings = {
            "GATEWAY_CONTROLLER_ADDRESS": self.controller_address,
            "GATEWAY_CONTROLLER_REPRESENTATIVE": self.controller_representative,
        }
        return tuple(name for name, value in settings.items() if not value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        synchronous = env.get("GATEWAY_SQLITE_SYNCHRONOUS", "FULL").upper()
        if synchronous not in _SQLITE_SYNCHRONOUS:
            raise ConfigurationError(
                f"GATEWAY_SQLITE_SYNCHRONOUS must be one of {', '.join(_SQLITE_SYNCHRONOUS)}"
            )
        issuer = _issuer(env.get("GATEWAY_ISSUER") or DEFAULT_ISSUER)
        lifetime_raw = env.get("GATEWAY_TOKEN_LIFETIME") or str(DEFAULT_TOKEN_LIFETIME)
        if not lifetime_raw.isdigit() or not 30 <= int(lifetime_raw) <= MAX_TOKEN_LIFETIME:
            raise ConfigurationError(
                f"GATEWAY_TOKEN_LIFETIME must be whole seconds from 30 to {MAX_TOKEN_LIFETIME}"
            )
        every_entries = _count(
            env, "GATEWAY_CHECKPOINT_EVERY_ENTRIES", DEFAULT_CHECKPOINT_EVERY_ENTRIES
        )
        every_seconds = _count(
            env, "GATEWAY_CHECKPOINT_EVERY_SECONDS", DEFAULT_CHECKPOINT_EVERY_SECONDS
        )
        return cls(
            database_url=env.get("GATEWAY_DATABASE_URL") or DEFAULT_DATABASE_URL,
            keys_dir=Path(env.get("GATEWAY_KEYS_DIR") or DEFAULT_KEYS_DIR),
            issuer=issuer,
            sqlite_synchronous=synchronous,
            auto_migrate=_flag(env, "GATEWAY_AUTO_MIGRATE", default=True),
            token_lifetime=int(lifetime_raw),
            checkpoint_every_entries=every_entries,
            checkpoint_every_seconds=every_seconds,
            controller_name=_text(env, "GATEWAY_CONTROLLER_NAME", DEFAULT_CONTROLLER_NAME),
            privacy_desk_contact=_text(
                env, "GATEWAY_PRIVACY_DESK_CONTACT", DEFAULT_PRIVACY_DESK_CONTACT
            ),
            controller_address=_text(env, "GATEWAY_CONTROLLER_ADDRESS", ""),
            controller_representative=_text(env, "GATEWAY_CONTROLLER_REPRESENTATIVE", ""),
            timezone=_timezone(env.get("GATEWAY_TIMEZONE") or DEFAULT_TIMEZONE),
            removal_due_days=_positive(env, "GATEWAY_REMOVAL_DUE_DAYS", DEFAULT_REMOVAL_DUE_DAYS),
            rights_due_days=_positive(env, "GATEWAY_RIGHTS_DUE_DAYS", DEFAULT_RIGHTS_DUE_DAYS),
            rate_limit_storage=(env.get("GATEWAY_RATE_LIMIT_STORAGE") or "").strip(),
            rate_limit_per_minute=_positive(
                env, "GATEWAY_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE
            ),
            rate_limit_tokens_per_minute=_positive(
                env, "GATEWAY_RATE_LIMIT_TOKENS_PER_MINUTE", DEFAULT_RATE_LIMIT_TOKENS_PER_MINUTE
            ),
            rate_limit_failures_per_minute=_positive(
                env,
                "GATEWAY_RATE_LIMIT_FAILURES_PER_MINUTE",
                DEFAULT_RATE_LIMIT_FAILURES_PER_MINUTE,
            ),
            trusted_proxies=_count(env, "GATEWAY_TRUSTED_PROXIES", 0),
        )


def _issuer(raw: str) -> str:
    """The public base URL: https, except on a loopback host (a developer's machine, a test),
    so that no secret, assertion, token or customer record travels in clear (RFC 9700 §4.1;
    FAPI 2.0 §5.2.1). Behind a proxy that terminates TLS it is still the https URL the
    resellers call."""
    issuer = raw.rstrip("/")
    try:
        url = urlsplit(issuer)
        host = url.hostname
        url.port  # noqa: B018 - parsed here to refuse a malformed port
    except ValueError:
        raise ConfigurationError("GATEWAY_ISSUER is not a valid URL") from None
    if url.scheme not in ("https", "http") or not host:
        raise ConfigurationError("GATEWAY_ISSUER must be an https URL")
    if url.query or url.fragment or url.username or url.password:
        raise ConfigurationError(
            "GATEWAY_ISSUER must be a base URL without query, fragment or credentials"
        )
    if url.scheme == "http" and not loopback_host(host):
        raise ConfigurationError(
            f"GATEWAY_ISSUER must be https on a public host, not {issuer} "
            "(terminate TLS at a proxy and give its https URL; plain http only on loopback)"
        )
    return issuer


def loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: where plain http is allowed (a developer's
    machine, the demo, the tests)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit():
        raise ConfigurationError(f"{name} must be a whole number (0 turns it off)")
    return int(raw)


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"GATEWAY_TIMEZONE: no time zone {name!r} (e.g. Asia/Tokyo)"
        ) from None
    return name


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _count(env, name, default)
    if not 1 <= value <= 1_000_000:
        raise ConfigurationError(f"{name} must be a whole number from 1 to 1000000")
    return value


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip()
    if len(raw) > 1000 or any(ord(c) < 0x20 and c != "\n" for c in raw):
        raise ConfigurationError(f"{name} must be up to 1000 characters of text")
    return raw


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
