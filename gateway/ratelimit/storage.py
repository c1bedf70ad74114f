"""A ``limits`` storage shared by every worker process of one node, with nothing to run: a small
SQLite file of counters.

``limits`` keeps its counters in memory (one process), Redis, Memcached or MongoDB. Workers of
one gunicorn master must agree on a count without another server to install, so the default
keeps the library's fixed-window counters here. The file holds only counters and expiry times
(never a secret, never personal data) and needs no durability: it is written without fsync,
and writers queue on an ``flock`` beside it (woken at once, unlike SQLite's polling busy
handler), as the gateway's own SQLite writers do.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from limits.storage import Storage

from gateway.db import file_lock

SCHEME = "gateway+node"
# Expired counters are purged by about one increment in this many.
_PURGE_ONE_IN = 256


class NodeStorage(Storage):
    """``gateway+node:///path/to/rate-limits.sqlite3``: fixed-window counters in one SQLite
    file, shared by the processes of a node."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.split("://", 1)[1]
        if not self.path:
            raise ValueError(f"{SCHEME}: give the counters' file, {SCHEME}:///path")
        Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._local = threading.local()
        with file_lock(self.path + ".lock"):
            self._connection().execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, "
                "count INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
            )
        os.chmod(self.path, 0o600)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:  # one a thread (and so one a process after a fork)
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # counters, not records
            self._local.connection = connection
        return connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with file_lock(self.path + ".lock"):
            connection = self._connection()
            (count,) = connection.execute(
                "INSERT INTO counters (key, count, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN expires <= ? THEN excluded.count "
                "ELSE count + excluded.count END, "
                "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END "
                "RETURNING count",
                (key, amount, now + expiry, now, now),
            ).fetchone()
            if secrets.randbelow(_PURGE_ONE_IN) == 0:
                connection.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return int(count)

    def get(self, key: str) -> int:
        row = (
            self._connection()
            .execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = (
            self._connection()
            .execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now))
            .fetchone()
        )
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        with file_lock(self.path + ".lock"):
            return self._connection().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with file_lock(self.path + ".lock"):
            self._connection().execute("DELETE FROM counters WHERE key = ?", (key,))
