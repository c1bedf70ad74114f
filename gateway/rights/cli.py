"""``gateway rights open|list|close``: the privacy desk's register of paragraph-6 requests."""

from __future__ import annotations

from datetime import date

import click

from gateway.cli import CliContext, emit_json, emit_table, json_option, pass_cli
from gateway.errors import InvalidInput
from gateway.rights import service
from gateway.rights.models import KINDS, OUTCOMES


@click.group("rights")
def rights() -> None:
    """Customers' paragraph-6 requests: disclosure, correction, stop of use, deletion."""


@rights.command("open")
@click.argument("customer_id")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--received-on", required=True, help="The day the request came in (YYYY-MM-DD).")
@click.option("--reference", help="The customer's or the desk's own reference.")
@json_option
@pass_cli
def open_(
    cli: CliContext,
    customer_id: str,
    kind: str,
    received_on: str,
    reference: str | None,
    as_json: bool,
) -> None:
    """Record a request of CUSTOMER_ID; it is due GATEWAY_RIGHTS_DUE_DAYS days later."""
    try:
        received = date.fromisoformat(received_on)
    except ValueError:
        raise InvalidInput(f"--received-on: {received_on!r} is not a date (YYYY-MM-DD)") from None
    runtime = cli.runtime
    with runtime.transaction() as session:
        opened = service.open_request(
            session,
            runtime.clock,
            runtime.config,
            cli.operator,
            customer_id=customer_id,
            kind=kind,
            received_on=received,
            reference=reference,
            request_id=cli.request_id,
        )
        view = {
            "id": opened.id,
            "customer_id": customer_id,
            "kind": kind,
            "received_on": received.isoformat(),
            "due_on": opened.due_on.isoformat(),
        }
    if as_json:
        emit_json(view)
    else:
        click.echo(f"request {view['id']} ({kind}) for {customer_id}, due {view['due_on']}")


@rights.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only requests not closed.")
@click.option(
    "--overdue",
    "only_overdue",
    is_flag=True,
    help="Only open requests past their due day, or a removal confirmed late.",
)
@json_option
@pass_cli
def list_(cli: CliContext, only_open: bool, only_overdue: bool, as_json: bool) -> None:
    """The register: each request, what was done, and which resellers confirmed a removal."""
    runtime = cli.runtime
    with runtime.reading() as session:
        views = [
            v.as_dict()
            for v in service.register(
                session,
                runtime.clock,
                runtime.config,
                only_open=only_open,
                only_overdue=only_overdue,
            )
        ]
    if as_json:
        emit_json(views)
        return
    if not views:
        click.echo("no requests")
        return
    emit_table(
        ("ID", "CUSTOMER", "KIND", "RECEIVED", "DUE", "STATUS", "DONE", "RESELLERS CONFIRMED"),
        [
            (
                v["id"],
                v["customer_id"],
                v["kind"],
                v["received_on"],
                v["due_on"],
                (v["outcome"] or v["status"]) + (" OVERDUE" if v["overdue"] else ""),
                ",".join(a["action"] for a in v["actions"]) or "-",
                ", ".join(
                    f"{r['partner_id']}:{'yes' if r['confirmed_at'] else 'no'}"
                    for r in v["removals"]
                )
                or "-",
            )
            for v in views
        ],
    )


@rights.command("close")
@click.argument("request")
@click.option("--outcome", required=True, type=click.Choice(OUTCOMES))
@click.option("--note", required=True, help="What was answered, or why it was refused.")
@pass_cli
def close(cli: CliContext, request: str, outcome: str, note: str) -> None:
    """Close REQUEST with its outcome; logged."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        service.close_request(
            session,
            runtime.clock,
            cli.operator,
            request=request,
            outcome=outcome,
            note=note,
            request_id=cli.request_id,
        )
    click.echo(f"request {request} closed: {outcome}")
