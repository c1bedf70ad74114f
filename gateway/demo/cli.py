"""``gateway demo``: demo data on the configured database, then serve it with gunicorn."""

from __future__ import annotations

from typing import Any

import click
from gunicorn.app.base import BaseApplication

from gateway.cli import CliContext, pass_cli
from gateway.demo.service import seed


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--serve/--no-serve", default=True, help="Start the server after seeding.")
@pass_cli
def demo(cli: CliContext, host: str, port: int, workers: int, serve: bool) -> None:
    """Load demo data (idempotent) and start the gateway on HOST:PORT."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        created = seed(session, runtime.clock)
    click.echo(f"demo data ready ({len(created)} resellers created)")
    if not serve:
        return
    runtime.close()
    click.echo(f"serving on http://{host}:{port} — Ctrl-C stops")
    _DemoServer({"bind": f"{host}:{port}", "workers": workers, "accesslog": "-"}).run()


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
