"""``gateway sandbox tick``."""

from __future__ import annotations

import click

from gateway.cli import CliContext, emit_json, json_option, pass_cli
from gateway.sandbox import service


@click.group("sandbox")
def sandbox() -> None:
    """The sandbox: generated customers (ids SANDBOX-…) for sandbox resellers.

    Ids starting SANDBOX- are reserved for them: 'gateway customers import' refuses such an
    id, and a sandbox reseller may be designated by generated customers only.
    """


@sandbox.command("tick")
@click.option("--changes", default=service.DEFAULT_CHANGES, show_default=True,
              type=click.IntRange(1, service.MAX_CHANGES),
              help="How many changes the batch makes.")  # fmt: skip
@json_option
@pass_cli
def tick(cli: CliContext, changes: int, as_json: bool) -> None:
    """Change the sandbox's generated customers as time would: some updated, a few new
    (designating every active sandbox reseller), a few removed (stop of use, designation
    withdrawn, contract ended, rarely an erasure) — through the same services as real
    customers, so the log, sync keys and removal events behave as in production.

    The batch follows from the sandbox's current state: the same state, the same changes.
    """
    runtime = cli.runtime
    with runtime.transaction() as session:
        summary = service.tick(session, runtime.clock, cli.operator, changes=changes,
                               request_id=cli.request_id)  # fmt: skip
    if as_json:
        emit_json(summary.as_dict())
    else:
        click.echo(summary.line())
