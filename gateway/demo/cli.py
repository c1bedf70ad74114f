"""``gateway demo``: demo data on the configured database, then serve it with gunicorn."""

from __future__ import annotations

import os
import secrets
import uuid
from typing import Any

import click
from gunicorn.app.base import BaseApplication
from sqlalchemy.orm import Session

from gateway.audit.cli import ensure_checkpoint_key
from gateway.audit.sealing import seal
from gateway.cli import CliContext, pass_cli
from gateway.config import Config
from gateway.console.models import StaffAccount
from gateway.console.service import add_staff
from gateway.demo.service import DEMO_ACTOR, SANDBOX_PARTNER, seed
from gateway.oauth import clients
from gateway.oauth.keys import init_keys
from gateway.oauth.models import NONE
from gateway.runtime import Runtime
from gateway.sandbox import service as sandbox
from gateway.sandbox.ticker import Ticker

DEMO_ADDRESS = "〒101-0041 東京都千代田区神田須田町2-2-2 神田須田町ビル10F"
DEMO_REPRESENTATIVE = "代表取締役 見本 太郎（デモ）"


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--serve/--no-serve", default=True, help="Start the server after seeding.")
@click.option("--sandbox-every", default=300, show_default=True, metavar="SECONDS",
              type=click.IntRange(min=0),
              help="While serving, a sandbox tick every SECONDS (0: none).")  # fmt: skip
@pass_cli
def demo(cli: CliContext, host: str, port: int, workers: int, serve: bool,
         sandbox_every: int) -> None:  # fmt: skip
    """Load demo data (idempotent) and start the gateway on HOST:PORT.

    Besides the demo resellers and customers: sandbox-reseller, a sandbox reseller with a few
    hundred generated customers (ids SANDBOX-…), changed by one sandbox tick now and, while
    serving, one every --sandbox-every seconds ('gateway sandbox tick').
    """
    runtime = cli.runtime
    os.environ.setdefault("GATEWAY_ISSUER", f"http://{host}:{port}")
    # The demo's notice is complete (APPI art. 27(5)(iii)): the company of the terms, and a
    # representative made up for the demo.
    os.environ.setdefault("GATEWAY_CONTROLLER_ADDRESS", DEMO_ADDRESS)
    os.environ.setdefault("GATEWAY_CONTROLLER_REPRESENTATIVE", DEMO_REPRESENTATIVE)
    init_keys(runtime.config.keys_dir, int(runtime.clock.now().timestamp()))
    checkpoint_keys = ensure_checkpoint_key(cli)
    with runtime.transaction() as session:
        created = seed(session, runtime.clock)
        client = _demo_client(session, cli)
        staff = _demo_staff(session, cli)
    if client is not None:
        _first_sync_then_a_removal(cli, *client)
    with runtime.transaction() as session:  # the sandbox's customers move on at every start
        ticked = sandbox.tick(session, runtime.clock, sandbox.SANDBOX_ACTOR,
                              request_id=cli.request_id)  # fmt: skip
    with runtime.transaction() as session:  # a sealed log from the start
        sealed = seal(session, runtime.clock, checkpoint_keys, actor=DEMO_ACTOR)
    click.echo(f"demo data ready ({len(created)} resellers created); "
               f"access log sealed through entry {sealed.size if sealed else 0}")  # fmt: skip
    if client is not None:
        client_id, secret = client
        click.echo(f"demo client for demo-reseller: {client_id} (bearer tokens, for curl; "
                   "production clients are DPoP-bound)")  # fmt: skip
        click.echo(f"its secret (shown this once): {secret}")
        click.echo(
            f"try: curl -u {client_id}:{secret} -d grant_type=client_credentials "
            f"{os.environ['GATEWAY_ISSUER']}/oauth/token"
        )
        click.echo(
            f"demo-reseller synced once, then {REMOVED} asked to stop use: a removal event "
            "waits for it — poll with: curl -H 'Authorization: Bearer TOKEN' -H "
            f"'Content-Type: application/json' -d '{{}}' {os.environ['GATEWAY_ISSUER']}/v1/events"
        )
    click.echo(f"{SANDBOX_PARTNER} is a sandbox reseller with generated customers (SANDBOX-…); "
               f"register your own key with: .venv/bin/gateway clients add {SANDBOX_PARTNER} "
               f"--scopes \"{' '.join(clients.partner_scopes())}\" --jwks jwks.json "
               "(the resellers' guide, docs/resellers.md, walks you through it)")  # fmt: skip
    click.echo(ticked.line())
    for name, role, password in staff:
        click.echo(f"console account {name} ({role}), password (shown this once): {password}")
    if staff:
        click.echo(f"console: {os.environ['GATEWAY_ISSUER']}/console/")
    if not serve:
        return
    runtime.close()
    click.echo(f"serving on http://{host}:{port} — Ctrl-C stops")
    if sandbox_every:
        click.echo(f"a sandbox tick every {sandbox_every} seconds (--sandbox-every 0: none)")
    # In this process, not in the workers: one ticker, however many workers. It starts once
    # gunicorn listens and stops with it (Ctrl-C), after the tick under way.
    ticker = Ticker(_sandbox_tick, sandbox_every, report=click.echo)
    # As gunicorn.conf.py: threaded workers, the app's own access log (no ids, no queries).
    options = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
               "threads": 8, "accesslog": None,
               "when_ready": lambda _arbiter: ticker.start(),
               "on_exit": lambda _arbiter: ticker.stop()}  # fmt: skip
    try:
        _DemoServer(options).run()
    finally:
        ticker.stop()


def _sandbox_tick() -> str:
    """One sandbox tick on a runtime of its own, closed after: no database connection stays
    open in this process while gunicorn forks workers."""
    runtime = Runtime.open(Config.from_env())
    try:
        with runtime.transaction() as session:
            summary = sandbox.tick(session, runtime.clock, sandbox.SANDBOX_ACTOR,
                                   request_id=uuid.uuid4().hex)  # fmt: skip
        return summary.line()
    finally:
        runtime.close()


def _demo_client(session: Session, cli: CliContext) -> tuple[str, str] | None:
    """A secret client for the demo reseller, made on the first run only."""
    if clients.list_clients(session, "demo-reseller"):
        return None
    client, secret = clients.add_client(
        session, cli.runtime.clock, DEMO_ACTOR, partner_id="demo-reseller",
        scopes=" ".join(clients.partner_scopes()), with_secret=True, request_id=cli.request_id,
        sender_constraint=NONE,  # bearer tokens, so that the demo works with curl
    )  # fmt: skip
    assert secret is not None
    return client.client_id, secret


REMOVED = "DEMO-0003"


def _first_sync_then_a_removal(cli: CliContext, client_id: str, secret: str) -> None:
    """On the first run: the demo reseller's first sync, through the real API in-process (so
    the log shows what it received), then a customer's stop of use — which becomes a removal
    event for it to poll and acknowledge."""
    from gateway import create_app, shutdown
    from gateway.customers.service import stop_use

    runtime = cli.runtime
    # The configuration as the demo completed it (the notice's address and representative).
    app = create_app(Config.from_env(), clock=runtime.clock)
    try:
        http = app.test_client()
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret)).json["access_token"]  # fmt: skip
        http.get("/v1/customers?purpose=service_contact",
                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    finally:
        shutdown(app)
    with runtime.transaction() as session:
        stop_use(session, runtime.clock, DEMO_ACTOR, customer_id=REMOVED,
                 request_id=cli.request_id)  # fmt: skip


def _demo_staff(session: Session, cli: CliContext) -> list[tuple[str, str, str]]:
    """A privacy-desk and an operator console account, made on the first run only."""
    made = []
    for name, role in (("demo-desk", "privacy_desk"), ("demo-operator", "operator")):
        if session.get(StaffAccount, name) is not None:
            continue
        password = secrets.token_urlsafe(12)
        add_staff(session, cli.runtime.clock, DEMO_ACTOR, name=name, role=role,
                  password=password, request_id=cli.request_id)  # fmt: skip
        made.append((name, role, password))
    return made


class _DemoServer(BaseApplication):
    """gunicorn, configured in code, serving ``create_app()`` (the same app as ``wsgi:app``)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):  # type: ignore[no-untyped-def]
        from gateway import create_app

        return create_app()
