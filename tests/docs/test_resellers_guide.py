"""The resellers' guide runs as written: ``gateway demo`` is started as ``make demo`` starts it
(its own process, gunicorn and all), and every ``sh`` and ``python`` block of
``docs/resellers.md`` runs in order in a fresh directory shaped like the clone — the project's
``.venv`` and ``examples`` — with the demo's database in the environment, as the reader's second
terminal would have it. ``console`` and ``json`` blocks are illustrations, not run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.problems import CATALOGUE, markdown_table
from tests.server import ROOT, free_port, rate_limit_store

GUIDE = ROOT / "docs" / "resellers.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_DEMO_PORT = "127.0.0.1:8000"


def blocks(text: str) -> list[tuple[str, str]]:
    return [(language, body) for language, body in _BLOCK.findall(text)]


def test_the_guides_catalogue_is_the_gateways():
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("| rule | what failed | what to do |")
    table = text[start:].split("\n\n", 1)[0].strip()
    assert table == markdown_table(), (
        "docs/resellers.md's error catalogue differs from gateway.problems.CATALOGUE; "
        "paste gateway.problems.markdown_table() in its place"
    )
    named = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert named == set(CATALOGUE)


def test_the_guide_has_blocks_to_run():
    languages = [language for language, _ in blocks(GUIDE.read_text(encoding="utf-8"))]
    assert languages.count("sh") >= 4 and languages.count("python") >= 5


@pytest.fixture
def demo(tmp_path):
    """``gateway demo`` on a free port, with the environment of an operator's shell."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "GATEWAY_KEYS_DIR": str(tmp_path / "keys"),
        "GATEWAY_RATE_LIMIT_STORAGE": rate_limit_store(tmp_path),
        "GATEWAY_OPERATOR": "guide-reader",
        # Short tokens: the examples' renewal runs, not only their first token.
        "GATEWAY_TOKEN_LIFETIME": "30",
    }
    log = open(tmp_path / "demo.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gateway"), "demo", "--port", str(port),
         "--workers", "1", "--sandbox-every", "0"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gateway demo did not start:\n" + _tail(tmp_path / "demo.log"))
            try:
                if requests.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        printed = (tmp_path / "demo.log").read_text(encoding="utf-8")
        client_id = re.search(r"demo client for demo-reseller: (\S+)", printed).group(1)
        secret = re.search(r"its secret \(shown this once\): (\S+)", printed).group(1)
        yield port, {**env, "DEMO_CLIENT_ID": client_id, "DEMO_CLIENT_SECRET": secret}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_every_block_of_the_guide_runs_against_the_demo(demo, tmp_path):
    port, env = demo
    reader = tmp_path / "reader"
    reader.mkdir()
    for shared in (".venv", "examples"):
        (reader / shared).symlink_to(ROOT / shared)
    # python3 and pip are the project's (everything the guide installs is already there).
    env = {**env, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}
    for number, (language, body) in enumerate(blocks(GUIDE.read_text(encoding="utf-8"))):
        if language not in ("sh", "python"):
            continue
        body = body.replace(_DEMO_PORT, f"127.0.0.1:{port}")
        if language == "python":
            script = reader / f"block_{number}.py"
            script.write_text(body, encoding="utf-8")
            command = ["python3", script.name]
        else:
            command = ["bash", "-euo", "pipefail", "-c", body]
        ran = subprocess.run(command, cwd=reader, env=env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
        assert ran.returncode == 0, (
            f"block {number} ({language}) of docs/resellers.md failed:\n{body}\n"
            f"--- stdout\n{ran.stdout}\n--- stderr\n{ran.stderr}"
        )
    copy = reader / "copy.sqlite3"
    assert copy.exists()


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]
