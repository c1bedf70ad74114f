"""The real gateway under gunicorn on 127.0.0.1, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def rate_limit_store(folder: Path) -> str:
    """A test's own node-wide rate-limit counters (the default lives in the system's
    temporary directory, one file a deployment)."""
    return f"gateway+node:///{folder}/rate-limits.sqlite3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class GunicornServer:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    @classmethod
    def start(cls, env: dict[str, str], log_path: Path, *, workers: int = 2,
              threads: int = 1, port: int | None = None,
              extra: tuple[str, ...] = ()) -> GunicornServer:  # fmt: skip
        return cls.start_app("wsgi:app", env, log_path, workers=workers, threads=threads,
                             port=port, extra=extra)  # fmt: skip

    @classmethod
    def start_app(cls, app: str, env: dict[str, str], log_path: Path, *, workers: int = 2,
                  threads: int = 1, port: int | None = None,
                  extra: tuple[str, ...] = ()) -> GunicornServer:  # fmt: skip
        """``extra``: more gunicorn command-line settings."""
        port = port or free_port()
        base_url = f"http://127.0.0.1:{port}"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
            "GATEWAY_ISSUER": base_url,
            **env,
        }
        log = open(log_path, "ab")  # noqa: SIM115 - closed by the child's exit
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--threads", str(threads), "--timeout", "60",
                "--graceful-timeout", "5", *extra, app,
            ],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        server = cls(process, base_url, log_path)
        server._wait_ready()
        return server

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.base_url + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
