"""A throwaway PostgreSQL server for the test suite, started from the machine's binaries.

PostgreSQL refuses to run as root; when the suite runs as root (as CI does) the server runs
as the ``postgres`` system user through ``runuser``, in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class Unavailable(Exception):
    """PostgreSQL cannot be started here; the message says why."""


def _bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise Unavailable(f"{argv[0]} failed: {(result.stderr or result.stdout).strip()}")

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        """A new cluster; ``durable`` keeps PostgreSQL's fsync (benchmarks), the tests don't
        need it."""
        bindir = _bindir()
        run_as = None
        root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user") from None
            if not shutil.which("runuser"):
                raise Unavailable("running as root and 'runuser' is missing")
            os.chown(root, user.pw_uid, user.pw_gid)
            run_as = "postgres"
        os.chmod(root, 0o700)
        server = cls(bindir, root, _free_port(), run_as)
        server._run(
            "initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -k {server.root} "
            "-c max_connections=300"
        )
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        server._run(
            "pg_ctl", "-D", str(server.data), "-l", str(server.root / "server.log"),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        return server

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            # Every test's database is a copy of the template (≈ 8 MB of catalogs): deleting
            # hundreds of them takes most of a minute. A detached ``rm`` does it while the
            # suite ends (dropping them as the tests went took three minutes: each DROP
            # DATABASE waits for a checkpoint).
            subprocess.Popen(  # noqa: S603 - a fixed command on our own temporary directory
                ["rm", "-rf", str(self.root)], start_new_session=True,  # noqa: S607
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
