"""TLS posture: the gateway refuses to start with a plain-http public URL on a public host
(secrets, assertions, tokens and customer records would travel in clear), and tells browsers
and clients to keep to https once its URL is https."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway import shutdown
from gateway.config import Config
from gateway.errors import ConfigurationError
from tests.server import ROOT, free_port


@pytest.mark.parametrize(
    "issuer",
    [
        "http://gateway.example.com",
        "http://0.0.0.0:8000",
        "http://10.0.0.5",
        "http://[2001:db8::1]",
        "ftp://gateway.example.com",
        "https://",
        "https://gw.example.com?x=1",
        "https://user:pw@gw.example.com",
        "https://gw.example.com:99999",
    ],
)
def test_an_issuer_that_is_not_https_on_a_public_host_is_refused(issuer):
    with pytest.raises(ConfigurationError, match="GATEWAY_ISSUER"):
        Config.from_env({"GATEWAY_ISSUER": issuer})


@pytest.mark.parametrize(
    "issuer",
    [
        "https://gateway.example.com",
        "https://gateway.example.com/jug/",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://127.8.0.1",
    ],
)
def test_https_or_a_loopback_host_is_accepted(issuer):
    assert Config.from_env({"GATEWAY_ISSUER": issuer}).issuer == issuer.rstrip("/")


def test_gunicorn_refuses_to_start_on_plain_http_in_one_line(tmp_path):
    env = {
        "GATEWAY_ISSUER": "http://gateway.example.com",
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/gateway.db",
        "GATEWAY_KEYS_DIR": str(tmp_path / "keys"),
        "PATH": "/usr/bin:/bin",
    }
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{free_port()}",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    errors = [line for line in started.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "error: GATEWAY_ISSUER must be https on a public host, not http://gateway.example.com "
        "(terminate TLS at a proxy and give its https URL; plain http only on loopback)"
    ]
    assert "Traceback" not in started.stderr
    assert not (tmp_path / "gateway.db").exists()  # nothing was started, nothing written


def test_the_cli_refuses_too(tmp_path):
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(
        main, ["partners", "list"], env={"GATEWAY_ISSUER": "http://gateway.example.com"}
    )
    assert result.exit_code != 0
    assert result.output.strip().startswith("error: GATEWAY_ISSUER must be https")


@pytest.mark.parametrize(
    ("issuer", "sent"),
    [("https://gateway.example.com", "max-age=31536000"), ("http://127.0.0.1:8000", None)],
)
def test_strict_transport_security_is_sent_once_the_url_is_https(runtime, clock, issuer, sent):
    from dataclasses import replace

    from gateway import create_app

    app = create_app(replace(runtime.config, issuer=issuer), clock=clock)
    try:
        for path in ("/healthz", "/.well-known/oauth-authorization-server", "/joint-use"):
            response = app.test_client().get(path)
            assert response.headers.get("Strict-Transport-Security") == sent, path
    finally:
        shutdown(app)
