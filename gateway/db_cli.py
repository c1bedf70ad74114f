"""``gateway db upgrade|current``: the schema, through Alembic."""

from __future__ import annotations

import click

from gateway import db as database
from gateway.cli import emit_json, json_option
from gateway.config import Config


@click.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@json_option
def upgrade(as_json: bool) -> None:
    """Apply every pending migration (safe to run from several processes at once)."""
    engine = database.create_gateway_engine(Config.from_env().database_url)
    try:
        before, after = database.upgrade(engine)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"before": before, "after": after})
    elif before == after:
        click.echo(f"schema already current ({after})")
    else:
        click.echo(f"schema upgraded from {before or 'empty'} to {after}")


@db_group.command("current")
@json_option
def current(as_json: bool) -> None:
    """Show the schema revision of the database and the one this gateway needs."""
    engine = database.create_gateway_engine(Config.from_env().database_url)
    try:
        revision = database.current_revision(engine)
    finally:
        engine.dispose()
    head = database.head_revision()
    if as_json:
        emit_json({"current": revision, "head": head, "up_to_date": revision == head})
    else:
        state = "up to date" if revision == head else f"behind (needs {head})"
        click.echo(f"{revision or 'empty'}: {state}")
