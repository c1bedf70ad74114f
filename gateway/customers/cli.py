"""``gateway customers import|stop-use|resume-use|erase|readmit``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click
from sqlalchemy.orm import Session

from gateway import allowlist
from gateway.cli import CliContext, emit_json, fail, json_option, pass_cli, request_option
from gateway.customers import erasure, service
from gateway.customers.importer import import_customers
from gateway.jsonlines import ImportRefused, ImportTally


@click.group("customers")
def customers() -> None:
    """Customer data: import, stop of use."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@request_option
@json_option
@pass_cli
def import_(cli: CliContext, file: Path, request: str | None, as_json: bool) -> None:
    """Import customer records from FILE (JSON Lines, one record a line).

    Fields outside the allowlist are dropped, counted and named, never stored. The file is
    applied whole or not at all: if any line is bad, nothing changes and every bad line is
    listed with its number and reason.
    """

    def run(session: Session, source: BinaryIO, progress: Progress) -> ImportTally:
        cli.link_request(session, request, customer_id=None, action="import",
                         detail=file.name[:200])  # fmt: skip
        return import_customers(session, cli.runtime.clock, cli.operator, source,
                                allowlist=allowlist.current(), progress=progress,
                                request_id=cli.request_id)  # fmt: skip

    import_file(cli, file, "importing customers", as_json, run)


@customers.command("erase")
@click.argument("customer_id")
@request_option
@json_option
@pass_cli
def erase(cli: CliContext, customer_id: str, request: str | None, as_json: bool) -> None:
    """Erase every stored personal value of CUSTOMER_ID (paragraph 6, 消去); a tombstone is
    kept, every reseller that received the customer gets a removal event, the log keeps its
    entries (ids and item names only)."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        cli.link_request(session, request, customer_id=customer_id, action="erase")
        tombstone = erasure.erase(
            session,
            runtime.clock,
            cli.operator,
            customer_id=customer_id,
            request=request,
            request_id=cli.request_id,
        )
        view = {"customer_id": tombstone.customer_id, "erased_at": tombstone.erased_at,
                "request": tombstone.request_id}  # fmt: skip
    view["disk"] = erasure.scrub(runtime)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"customer {customer_id} erased at {view['erased_at']}; {view['disk']}")


@customers.command("readmit")
@click.argument("customer_id")
@click.option("--reason", required=True, help="Why the erased customer may come back.")
@pass_cli
def readmit(cli: CliContext, customer_id: str, reason: str) -> None:
    """Let an erased CUSTOMER_ID be imported again; logged with the reason."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        erasure.readmit(session, runtime.clock, cli.operator, customer_id=customer_id,
                        reason=reason, request_id=cli.request_id)  # fmt: skip
    click.echo(f"customer {customer_id} may be imported again")


@customers.command("stop-use")
@click.argument("customer_id")
@request_option
@json_option
@pass_cli
def stop_use(cli: CliContext, customer_id: str, request: str | None, as_json: bool) -> None:
    """Withhold CUSTOMER_ID from every reseller (the customer asked to stop use); each
    reseller that received the customer gets a removal event."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        cli.link_request(session, request, customer_id=customer_id, action="stop_use")
        customer = service.stop_use(
            session, runtime.clock, cli.operator, customer_id=customer_id,
            request_id=cli.request_id,
        )  # fmt: skip
        view = {"customer_id": customer.customer_id, "stop_use_at": customer.stop_use_at}
    if as_json:
        emit_json(view)
    else:
        click.echo(f"use of customer {customer_id} stopped: withheld from every reseller")


@customers.command("resume-use")
@click.argument("customer_id")
@json_option
@pass_cli
def resume_use(cli: CliContext, customer_id: str, as_json: bool) -> None:
    """Lift a stop of use on CUSTOMER_ID (the customer withdrew the request)."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        customer = service.resume_use(
            session, runtime.clock, cli.operator, customer_id=customer_id,
            request_id=cli.request_id,
        )  # fmt: skip
        view = {"customer_id": customer.customer_id, "withheld": customer.withheld}
    if as_json:
        emit_json(view)
    else:
        note = " (still withheld: the contract ended)" if view["withheld"] else ""
        click.echo(f"use of customer {customer_id} resumed{note}")


def import_file(cli: CliContext, file: Path, label: str, as_json: bool,
                run: Callable[[Session, BinaryIO, Progress], ImportTally]) -> None:  # fmt: skip
    """An all-or-nothing import of FILE in one transaction, with a progress bar: the summary
    line (or JSON) — or, for a refused file, every bad line and a non-zero exit."""
    with file.open("rb") as source, progress_bar(file, label) as progress:
        try:
            with cli.runtime.transaction() as session:
                summary = run(session, source, progress)
        except ImportRefused as refused:
            report_refusal(refused.summary.as_dict(), as_json)
            fail(refused.detail)
    if as_json:
        emit_json(summary.as_dict())
    else:
        click.echo(summary.line())


Progress = Callable[[int], None] | None


@contextmanager
def progress_bar(file: Path, label: str) -> Iterator[Progress]:
    """A progress bar by bytes read, on a terminal only; nothing when stderr is redirected."""
    if not sys.stderr.isatty():
        yield None
        return
    size = os.path.getsize(file)
    with click.progressbar(
        length=size, label=label, file=sys.stderr, update_min_steps=max(1, size // 200)
    ) as bar:
        yield bar.update


def report_refusal(summary: dict, as_json: bool) -> None:
    """A refused import's summary: JSON on stdout, or every bad line on stderr."""
    if as_json:
        emit_json(summary)
        return
    for bad in summary["bad_records"]:
        click.echo(f"line {bad['line']}: {bad['reason']}", err=True)
    if summary["bad_records_not_listed"]:
        click.echo(f"… and {summary['bad_records_not_listed']} more bad lines", err=True)
