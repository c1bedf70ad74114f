"""``gateway audit verify``."""

from __future__ import annotations

import click

from gateway.audit.service import verify_stored_chain
from gateway.cli import EXIT_REFUSED, CliContext, emit_json, json_option, pass_cli


@click.group("audit")
def audit() -> None:
    """The access log."""


@audit.command("verify")
@json_option
@pass_cli
def verify(cli: CliContext, as_json: bool) -> None:
    """Recompute the log's hash chain from the first entry; exit 0 only when intact."""
    report = verify_stored_chain(cli.runtime.sessions)
    problem = report.first_break
    if as_json:
        emit_json(
            {
                "intact": report.intact,
                "entries": report.entries,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "first_break": None
                if problem is None
                else {"seq": problem.seq, "kind": problem.kind, "detail": problem.detail},
            }
        )
    elif problem is None:
        click.echo(f"intact: {report.entries} entries, head {report.head_hash}")
    else:
        click.echo(f"NOT INTACT at entry {problem.seq} ({problem.kind}): {problem.detail}")
    if problem is not None:
        click.get_current_context().exit(EXIT_REFUSED)
