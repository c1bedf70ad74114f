"""``gateway designations import|add|withdraw``."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.cli import CliContext, emit_json, json_option, pass_cli, request_option
from gateway.customers.cli import import_file
from gateway.designations import service
from gateway.designations.models import Designation


@click.group("designations")
def designations() -> None:
    """Which resellers each customer designated."""


@designations.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@pass_cli
def import_(cli: CliContext, file: Path, as_json: bool) -> None:
    """Import designations from FILE (JSON Lines: customer_id, partner_id, designated_on).

    Applied whole or not at all: if any line is bad (unknown customer or partner included),
    nothing changes and every bad line is listed with its number and reason.
    """
    import_file(
        cli, file, "importing designations", as_json,
        lambda session, source, progress: service.import_designations(
            session, cli.runtime.clock, cli.operator, source,
            progress=progress, request_id=cli.request_id,
        ),
    )  # fmt: skip


@designations.command("add")
@click.argument("customer_id")
@click.argument("partner_id")
@click.option("--on", "designated_on", metavar="DATE", help="YYYY-MM-DD; today by default.")
@json_option
@pass_cli
def add(
    cli: CliContext, customer_id: str, partner_id: str, designated_on: str | None, as_json: bool
) -> None:
    """Record that CUSTOMER_ID designated the reseller PARTNER_ID."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        designation = service.add_designation(
            session, runtime.clock, cli.operator, customer_id=customer_id,
            partner_id=partner_id, designated_on=designated_on, request_id=cli.request_id,
        )  # fmt: skip
        view = _view(designation)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"customer {customer_id} designates {partner_id} from {view['designated_on']}")


@designations.command("withdraw")
@click.argument("customer_id")
@click.argument("partner_id")
@request_option
@json_option
@pass_cli
def withdraw(cli: CliContext, customer_id: str, partner_id: str, request: str | None,
             as_json: bool) -> None:  # fmt: skip
    """End PARTNER_ID's access to CUSTOMER_ID at once; the reseller gets a removal event if it
    ever received the customer."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        cli.link_request(
            session, request, customer_id=customer_id, action="withdraw", detail=partner_id
        )
        designation = service.withdraw_designation(
            session, runtime.clock, cli.operator, customer_id=customer_id,
            partner_id=partner_id, request_id=cli.request_id,
        )  # fmt: skip
        view = _view(designation)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"customer {customer_id} no longer designates {partner_id}")


def _view(designation: Designation) -> dict[str, str | None]:
    return {
        "customer_id": designation.customer_id,
        "partner_id": designation.partner_id,
        "designated_on": designation.designated_on.isoformat(),
        "withdrawn_on": designation.withdrawn_on.isoformat() if designation.withdrawn_on else None,
    }
