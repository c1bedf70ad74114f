"""Settings from the environment, read and validated once at start.

Every variable is optional; the defaults give a single-machine gateway on an embedded SQLite
file. ``GATEWAY_DATABASE_URL``, ``GATEWAY_KEYS_DIR`` and ``GATEWAY_ISSUER`` are the public
contract; the others are documented in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        synchronous = env.get("GATEWAY_SQLITE_SYNCHRONOUS", "FULL").upper()
        if synchronous not in _SQLITE_SYNCHRONOUS:
            raise ConfigurationError(
                f"GATEWAY_SQLITE_SYNCHRONOUS must be one of {', '.join(_SQLITE_SYNCHRONOUS)}"
            )
        issuer = env.get("GATEWAY_ISSUER", DEFAULT_ISSUER).rstrip("/")
        if not issuer.startswith(("https://", "http://")):
            raise ConfigurationError("GATEWAY_ISSUER must be an http(s) URL")
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
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit():
        raise ConfigurationError(f"{name} must be a whole number (0 turns it off)")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
