"""``gateway partners add|nda|revoke|limits|list|pending-removals``."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import click

from gateway.cli import CliContext, emit_json, emit_table, json_option, pass_cli
from gateway.errors import InvalidInput
from gateway.partners import service
from gateway.removals.service import pending


@click.group("partners")
def partners() -> None:
    """Resellers and their NDAs."""


@partners.command("add")
@click.argument("partner_id")
@click.option("--name", required=True, help="The reseller's legal name.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="A sandbox reseller, for integration tests: designated only by generated customers "
    "(ids SANDBOX-…, made by 'gateway demo' and 'gateway sandbox tick'; no real customer may "
    "designate it), its traffic logged like any other but left out of the anomaly flags. "
    "Fixed at registration.",
)
@json_option
@pass_cli
def add(cli: CliContext, partner_id: str, name: str, sandbox: bool, as_json: bool) -> None:
    """Register the reseller PARTNER_ID."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        partner = service.add_partner(
            session,
            runtime.clock,
            cli.operator,
            partner_id=partner_id,
            name=name,
            sandbox=sandbox,
            request_id=cli.request_id,
        )
        view = service.describe_partners([partner], runtime.clock)[0]
    if as_json:
        emit_json(view)
    else:
        kind = " as a sandbox reseller" if sandbox else ""
        click.echo(
            f"partner {view['id']} added{kind} "
            "(no NDA yet: it cannot receive data until one is recorded)"
        )


@partners.command("nda")
@click.argument("partner_id")
@click.option("--reference", required=True, help="The NDA's reference number.")
@click.option("--signed-on", required=True, metavar="DATE", help="YYYY-MM-DD.")
@click.option(
    "--expires-on", required=True, metavar="DATE", help="YYYY-MM-DD, the last day in force."
)
@click.option(
    "--document",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed document; its SHA-256 fingerprint is recorded, not the file.",
)
@json_option
@pass_cli
def nda(
    cli: CliContext,
    partner_id: str,
    reference: str,
    signed_on: str,
    expires_on: str,
    document: Path | None,
    as_json: bool,
) -> None:
    """Record an NDA signed with PARTNER_ID."""
    fingerprint = _sha256_of(document) if document else None
    runtime = cli.runtime
    with runtime.transaction() as session:
        record = service.record_nda(
            session,
            runtime.clock,
            cli.operator,
            partner_id=partner_id,
            reference=reference,
            signed_on=signed_on,
            expires_on=expires_on,
            document_sha256=fingerprint,
            request_id=cli.request_id,
        )
        view = {
            "partner_id": partner_id,
            "reference": record.reference,
            "signed_on": record.signed_on.isoformat(),
            "expires_on": record.expires_on.isoformat(),
            "document_sha256": record.document_sha256,
            "recorded_at": record.recorded_at,
        }
    if as_json:
        emit_json(view)
    else:
        click.echo(
            f"NDA {view['reference']} recorded for {partner_id}: "
            f"{view['signed_on']} to {view['expires_on']}"
        )


@partners.command("revoke")
@click.argument("partner_id")
@click.option("--reason", required=True, help="Why (recorded in the access log).")
@json_option
@pass_cli
def revoke(cli: CliContext, partner_id: str, reason: str, as_json: bool) -> None:
    """Stop PARTNER_ID's access at once, on every worker and node."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        partner = service.revoke_partner(
            session,
            runtime.clock,
            cli.operator,
            partner_id=partner_id,
            reason=reason,
            request_id=cli.request_id,
        )
        view = service.describe_partners([partner], runtime.clock)[0]
    if as_json:
        emit_json(view)
    else:
        click.echo(f"partner {partner_id} revoked at {view['revoked_at']}")


@partners.command("limits")
@click.argument("partner_id")
@click.option("--per-minute", type=int, help="Partner-API requests a client may make a minute.")
@click.option("--default", "use_default", is_flag=True,
              help="Back to the gateway's default (GATEWAY_RATE_LIMIT_PER_MINUTE).")  # fmt: skip
@json_option
@pass_cli
def limits(cli: CliContext, partner_id: str, per_minute: int | None, use_default: bool,
           as_json: bool) -> None:  # fmt: skip
    """Set PARTNER_ID's own rate limit on the partner API, per client; logged."""
    if (per_minute is None) == (not use_default):
        raise click.UsageError("give exactly one of --per-minute N or --default")
    runtime = cli.runtime
    with runtime.transaction() as session:
        partner = service.set_limits(session, runtime.clock, cli.operator, partner_id=partner_id,
                                     per_minute=per_minute, request_id=cli.request_id)  # fmt: skip
        view = service.describe_partners([partner], runtime.clock)[0]
    if as_json:
        emit_json(view)
    elif per_minute is None:
        click.echo(f"partner {partner_id}: the default rate limit applies")
    else:
        click.echo(f"partner {partner_id}: {per_minute} requests a client a minute")


@partners.command("list")
@json_option
@pass_cli
def list_(cli: CliContext, as_json: bool) -> None:
    """List resellers, their status, the NDA in force today and whether each is a sandbox."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        views = service.describe_partners(service.list_partners(session), runtime.clock)
    if as_json:
        emit_json(views)
        return
    rows = []
    for view in views:
        nda = view["nda_in_force"]
        rows.append(
            (
                view["id"],
                view["name"],
                view["status"],
                f"{nda['reference']} until {nda['expires_on']}" if nda else "none in force",
                str(view["rate_limit_per_minute"] or "default"),
                "yes" if view["sandbox"] else "",
            )
        )
    emit_table(("ID", "NAME", "STATUS", "NDA", "LIMIT/MIN", "SANDBOX"), rows)


@partners.command("destruction")
@click.argument("partner_id")
@click.option("--confirmed-on", required=True, help="The day on the reseller's certificate.")
@click.option("--document", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The certificate; its SHA-256 is recorded.")  # fmt: skip
@json_option
@pass_cli
def destruction(cli: CliContext, partner_id: str, confirmed_on: str, document: Path | None,
                as_json: bool) -> None:  # fmt: skip
    """Record PARTNER_ID's certificate of destruction once its access ended; logged."""
    try:
        day = date.fromisoformat(confirmed_on)
    except ValueError:
        raise InvalidInput(f"--confirmed-on: {confirmed_on!r} is not a date") from None
    runtime = cli.runtime
    with runtime.transaction() as session:
        made = service.record_destruction(
            session,
            runtime.clock,
            cli.operator,
            partner_id=partner_id,
            confirmed_on=day,
            document_sha256=_sha256_of(document) if document else None,
            request_id=cli.request_id,
        )
        view = {
            "partner_id": partner_id,
            "confirmed_on": day.isoformat(),
            "document_sha256": made.document_sha256,
            "recorded_at": made.recorded_at,
        }
    if as_json:
        emit_json(view)
    else:
        click.echo(f"destruction by {partner_id} recorded, confirmed on {view['confirmed_on']}")


@partners.command("pending-removals")
@click.argument("partner_id", required=False)
@json_option
@pass_cli
def pending_removals(cli: CliContext, partner_id: str | None, as_json: bool) -> None:
    """Removal events a reseller has not acknowledged yet (all resellers, or PARTNER_ID's),
    oldest first; overdue once past their erase-by day."""
    runtime = cli.runtime
    config = runtime.config
    today = runtime.clock.now().astimezone(config.zone).date()
    with runtime.reading() as session:
        if partner_id is not None:
            service.get_partner(session, partner_id)
        waiting = [p.as_dict(today) for p in pending(session, config.zone,
                                                      config.removal_due_days,
                                                      partner_id=partner_id)]  # fmt: skip
    if as_json:
        emit_json(waiting)
        return
    if not waiting:
        click.echo("no removal events waiting")
        return
    emit_table(
        ("PARTNER", "CUSTOMER", "REASON", "SINCE", "ERASE BY", "OVERDUE"),
        [(w["partner_id"], w["customer_id"], w["reason"], w["effective_at"], w["erase_by"],
          "yes" if w["overdue"] else "") for w in waiting],
    )  # fmt: skip


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
