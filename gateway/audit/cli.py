"""``gateway audit …``: the privacy desk's commands.

verify · checkpoint · keys init|rotate · export · report customer · report breach · anomalies
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from gateway.audit import anomalies as anomaly_rules
from gateway.audit import answers, leaks, reports, subjects
from gateway.audit.checkpoint import CheckpointKeys, load_trusted
from gateway.audit.export import FORMATS, ExportFilter, export_log
from gateway.audit.reading import snapshot
from gateway.audit.sealing import Schedule, schedule_of, seal
from gateway.audit.service import checkpoint_of, record_reading, verify_log
from gateway.audit.spine import Outcome, Subject
from gateway.audit.verifier import Checkpoint, ExportFormatError, LogReport, verify_export
from gateway.audit.window import Window, parse_bound
from gateway.cli import (
    EXIT_REFUSED,
    CliContext,
    emit_json,
    emit_table,
    fail,
    json_option,
    pass_cli,
    request_option,
)
from gateway.clock import isoformat
from gateway.errors import AuditUnavailable, GatewayError, InvalidInput
from gateway.runtime import Runtime


@click.group("audit")
def audit() -> None:
    """The access log: verify, seal, export, report."""


def _keys(cli: CliContext) -> CheckpointKeys:
    return CheckpointKeys(cli.runtime.config.keys_dir)


# --- verify -----------------------------------------------------------------------------------


@audit.command("verify")
@click.option(
    "--export",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify this JSON-lines export offline instead of the database.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust this checkpoint key file (checkpoint-keys.json or a PEM public key). "
    "Default: the keys directory's published list.",
)
@click.option(
    "--checkpoint",
    "held_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also hold the log to this checkpoint, kept outside the database (the JSON of "
    "'gateway audit checkpoint --json', or an export, whose anchor is used).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Processes for a large log (0: one a CPU; 1: this process only).",
)
@json_option
@pass_cli
def verify(
    cli: CliContext,
    export_file: Path | None,
    public_keys: tuple[Path, ...],
    held_files: tuple[Path, ...],
    workers: int,
    as_json: bool,
) -> None:
    """Check the log's chain, every checkpoint's signature and the log against every
    checkpoint; name the first entry altered, removed, inserted, reordered or cut off.
    Exit 0 only when intact."""
    trusted: dict[str, Any] = {}
    for path in public_keys:
        trusted |= load_trusted(path)
    if export_file is not None:
        if not public_keys:
            fail("--export needs --public-key: an export is verified with the published key")
        try:
            with open(export_file, encoding="utf-8") as lines:
                report = verify_export(lines, trusted)
        except (ExportFormatError, KeyError, TypeError, ValueError) as error:
            fail(f"{export_file} is not a readable access-log export: {error}")
        _print_verification(report, as_json, export=True)
        return
    if not public_keys:
        trusted = _keys(cli).trusted()
    runtime = cli.runtime
    report = verify_log(
        runtime.engine, trusted, workers=workers, held=[_held(path) for path in held_files]
    )
    try:
        problem = report.first_break
        record_reading(
            runtime,
            cli.operator,
            "audit.verify",
            details={
                "intact": report.intact,
                "entries": report.entries,
                "first_break": problem.seq if problem else None,
            },
            request_id=cli.request_id,
        )
    except AuditUnavailable:
        click.echo("warning: this verification could not be logged", err=True)
    _print_verification(report, as_json, export=False)


def _held(path: Path) -> Checkpoint:
    """A checkpoint from a file: ``gateway audit checkpoint --json`` output, or an export."""
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.readline()  # an export's header, without reading the export
            try:
                first = json.loads(line)
            except ValueError:
                first = json.loads(line + handle.read())
        raw = first.get("checkpoint") or first.get("sealed") or first
        return Checkpoint.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInput(f"{path} holds no checkpoint: {error}") from None


def _print_verification(report: LogReport, as_json: bool, *, export: bool) -> None:
    problem = report.first_break
    if as_json:
        body = report.as_dict()
        if export:
            body |= {"complete": report.complete, "subtrees": report.subtrees}
        emit_json(body)
    elif report.intact:
        what = "export intact" if export else "intact"
        scope = ""
        if export and not report.complete:
            scope = f" (filtered: {report.subtrees} subtrees stand in for the rest)"
        click.echo(
            f"{what}: {report.entries} entries{scope}, {report.checkpoints} checkpoints, "
            f"sealed through entry {report.sealed_size}, head {report.head_hash}"
        )
        unsealed = report.head_seq - report.sealed_size
        if not export and unsealed > 0:
            click.echo(f"{unsealed} entries after the last checkpoint are not sealed yet")
    else:
        if problem is not None:
            where = f"at entry {problem.seq}" if problem.seq else "in the export"
            click.echo(f"NOT INTACT {where} ({problem.kind}): {problem.detail}")
        checkpoint = report.checkpoint_problem
        if checkpoint is not None:
            click.echo(f"checkpoint at {checkpoint.size} ({checkpoint.kind}): {checkpoint.detail}")
    if not report.intact:
        click.get_current_context().exit(EXIT_REFUSED)


# --- checkpoint and keys ----------------------------------------------------------------------


@audit.command("checkpoint")
@click.option(
    "--if-due",
    is_flag=True,
    help="Seal only when the schedule says so (for cron: GATEWAY_CHECKPOINT_EVERY_ENTRIES, "
    "GATEWAY_CHECKPOINT_EVERY_SECONDS).",
)
@json_option
@pass_cli
def checkpoint(cli: CliContext, if_due: bool, as_json: bool) -> None:
    """Seal the log now with a signed checkpoint (makes the checkpoint key on first use)."""
    runtime = cli.runtime
    keys = ensure_checkpoint_key(cli)
    schedule: Schedule | None = schedule_of(runtime) if if_due else None
    with runtime.transaction() as session:
        sealed = seal(
            session,
            runtime.clock,
            keys,
            actor=cli.operator,
            schedule=schedule,
            request_id=cli.request_id,
        )
        view = None if sealed is None else checkpoint_of(sealed).as_dict()
    if as_json:
        emit_json({"sealed": view})
    elif view is None:
        click.echo("not due: nothing sealed")
    else:
        click.echo(
            f"sealed {view['size']} entries at {view['at']}: head {view['head_hash']}, "
            f"root {view['merkle_root']}, key {view['key_id']}"
        )


@audit.group("keys")
def keys_group() -> None:
    """The checkpoint-signing key (separate from the token keys of 'gateway keys')."""


def ensure_checkpoint_key(cli: CliContext) -> CheckpointKeys:
    """The checkpoint key, made (and its making logged) on first use."""
    keys = _keys(cli)
    created, key_id = keys.init(isoformat(cli.runtime.clock.now()))
    if created:
        cli.log_key_change("key.init", key_id, use="checkpoint")
    return keys


@keys_group.command("init")
@json_option
@pass_cli
def keys_init(cli: CliContext, as_json: bool) -> None:
    """Make the first checkpoint key, if there is none."""
    created, key_id = _keys(cli).init(isoformat(cli.runtime.clock.now()))
    if created:
        cli.log_key_change("key.init", key_id, use="checkpoint")
    _print_key(cli, {"created": created, "key_id": key_id}, as_json)


@keys_group.command("rotate")
@json_option
@pass_cli
def keys_rotate(cli: CliContext, as_json: bool) -> None:
    """Retire the current checkpoint key and make a new one; old checkpoints stay
    verifiable with the retired key, which stays published."""
    retired, key_id = _keys(cli).rotate(isoformat(cli.runtime.clock.now()))
    cli.log_key_change("key.rotate", key_id, use="checkpoint", retired=retired)
    _print_key(cli, {"retired": retired, "key_id": key_id}, as_json)


def _print_key(cli: CliContext, view: dict[str, Any], as_json: bool) -> None:
    view["published"] = str(_keys(cli).published_path)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"checkpoint key {view['key_id']}; public keys in {view['published']}")


# --- export -----------------------------------------------------------------------------------


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
@click.option("--since", help="From this date or time, inclusive (YYYY-MM-DD is a UTC day).")
@click.option("--until", help="Up to this date or time, inclusive (a date: the whole day).")
@click.option("--partner", help="Only entries about this reseller.")
@click.option("--customer", help="Only entries about this customer.")
@click.option("--action", help="Only this action, e.g. customers.read.")
@click.option("--outcome", type=click.Choice([str(o) for o in Outcome]))
@pass_cli
def export(cli: CliContext, fmt: str, output: Path | None, **filters: str | None) -> None:
    """Export entries with the hashes and the signed checkpoint that prove them (JSON lines;
    verify offline with 'gateway audit verify --export FILE --public-key FILE')."""
    since, until = filters.pop("since"), filters.pop("until")
    selection = ExportFilter(
        since=parse_bound(since, until=False) if since else None,
        until=parse_bound(until, until=True) if until else None,
        **filters,  # type: ignore[arg-type]
    )
    runtime = cli.runtime
    _require_known(runtime, partner=selection.partner, customer=selection.customer)
    anchor, count, chunks = export_log(
        runtime, cli.operator, ensure_checkpoint_key(cli), selection, fmt, request_id=cli.request_id
    )
    # The log names customers and resellers: an export file is owner-only, like the keys.
    target = (
        os.fdopen(
            os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            "w",
            encoding="utf-8",
            newline="",
        )
        if output
        else sys.stdout
    )
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if output:
            target.close()
        else:
            target.flush()
    if output:
        click.echo(
            f"exported {count.entries} entries to {output}, sealed through entry "
            f"{anchor.statement.size}",
            err=True,
        )


def _require_known(runtime: Runtime, *, partner: str | None = None,
                   customer: str | None = None) -> None:  # fmt: skip
    """An id the gateway has never seen is refused, with near matches, before anything is
    logged or read: never a clean zero for a typo."""
    with snapshot(runtime.engine) as connection:
        if partner:
            subjects.require_partner(connection, partner)
        if customer:
            subjects.require_customer(connection, customer)


# --- reports ----------------------------------------------------------------------------------


@audit.group("report")
def report_group() -> None:
    """The privacy desk's reports."""


@report_group.command("customer")
@click.argument("customer_id")
@click.option("--letter", is_flag=True, help="Print the reply to the customer (Japanese).")
@request_option
@json_option
@pass_cli
def report_customer(cli: CliContext, customer_id: str, letter: bool, request: str | None,
                    as_json: bool) -> None:  # fmt: skip
    """Every disclosure of CUSTOMER_ID's data — reseller, items, purpose, time, allowlist
    version — and every refused request (paragraph 6: who received my data?); --letter: the
    reply, in the notice's words and the company's calendar."""
    runtime = cli.runtime
    _require_known(runtime, customer=customer_id)
    if request:
        with runtime.transaction() as session:
            cli.link_request(session, request, customer_id=customer_id,
                             action="disclosure_report")  # fmt: skip
    record_reading(
        runtime, cli.operator, "audit.report", subjects=(Subject("customer", customer_id),),
        details={"report": "customer"}, request_id=cli.request_id,
    )  # fmt: skip
    with snapshot(runtime.engine) as connection:
        answer = answers.customer_answer(
            connection, customer_id, runtime.config.zone, runtime.clock.now()
        )
    result = answer.pop("report")
    if as_json:
        emit_json(result | {"answer": answer})
        return
    if letter:
        config = runtime.config
        click.echo(answers.letter(answer, config.controller_name, config.privacy_desk_contact))
        return
    if not result["disclosures"]:
        click.echo(f"customer {customer_id}: no disclosures recorded since {result['log_since']}"
                   f"; {len(result['refusals'])} refusals")  # fmt: skip
    else:
        click.echo(f"customer {customer_id}: {len(result['disclosures'])} disclosures, "
                   f"{len(result['refusals'])} refusals")  # fmt: skip
    if answer["stop_use"]["in_force"]:
        click.echo(f"stop of use in force since {answer['stop_use']['since']}")
    if answer["recipients"]:
        click.echo("\nrecipients")
        emit_table(
            ("partner", "company", "designated", "count", "first", "last", "purposes", "items"),
            [(r["partner_id"], r["company_name"], r["designated_on"] or "-", r["count"],
              r["first"], r["last"], "、".join(ja for ja, _ in r["purposes"]), r["items_text"])
             for r in answer["recipients"]],
        )  # fmt: skip
    if result["disclosures"]:
        click.echo("\ndisclosures")
        emit_table(
            ("at", "partner", "client", "action", "purpose", "allowlist", "items"),
            [(d["at"], d["partner"], d["client"], d["action"], d["purpose"],
              d["allowlist_version"], ",".join(d["items"])) for d in result["disclosures"]],
        )  # fmt: skip
    if result["refusals"]:
        click.echo("\nrefusals")
        emit_table(
            ("at", "partner", "client", "action", "purpose", "rule"),
            [(d["at"], d["partner"], d["client"], d["action"], d["purpose"], d["rule"])
             for d in result["refusals"]],
        )  # fmt: skip


@report_group.command("breach")
@click.argument("partner_id")
@click.option("--client", "client_id", help="Only this client's requests (one laptop, one client).")
@click.option("--since", help="First day (YYYY-MM-DD, the company's calendar) or time; "
              "default: the reseller's first disclosure.")  # fmt: skip
@click.option("--until", help="Last day or time, inclusive; default: today.")
@click.option("--learnt-on", help="The day the company learnt of it (default: today): the "
              "deadlines run from it.")  # fmt: skip
@click.option(
    "--unlawful-purpose", is_flag=True, help="An unlawful purpose (theft, …) is suspected."
)
@click.option("--sensitive", is_flag=True, help="Sensitive personal data is involved.")
@click.option("--financial-harm", is_flag=True, help="Misuse may cause financial harm.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the persons to notify, with contact details (owner-only).")  # fmt: skip
@json_option
@pass_cli
def report_breach(cli: CliContext, partner_id: str, client_id: str | None, since: str | None,
                  until: str | None, learnt_on: str | None, unlawful_purpose: bool,
                  sensitive: bool, financial_harm: bool, csv_file: Path | None,
                  as_json: bool) -> None:  # fmt: skip
    """Every customer whose data PARTNER_ID (or one of its clients) received in the window,
    with the totals, the APPI reporting test and the deadlines for the regulator's report."""
    runtime = cli.runtime
    zone = runtime.config.zone
    today = runtime.clock.now().astimezone(zone).date()
    _require_known(runtime, partner=partner_id)
    findings = leaks.OfficersFindings(
        learnt_on=_day(learnt_on, "--learnt-on") if learnt_on else today,
        unlawful_purpose=unlawful_purpose, sensitive=sensitive, financial_harm=financial_harm,
    )  # fmt: skip
    with snapshot(runtime.engine) as connection:
        first = reports.first_disclosure(connection, partner_id)
    window = Window.parse(since or (first or today.isoformat()), until or today.isoformat(), zone)
    record_reading(
        runtime, cli.operator, "audit.report",
        subjects=(Subject("partner", partner_id),)
        + ((Subject("client", client_id),) if client_id else ()),
        details={"report": "breach", "since": window.start_at, "until": window.last_at,
                 "format": "csv" if csv_file else ("json" if as_json else "text")},
        request_id=cli.request_id,
    )  # fmt: skip
    with snapshot(runtime.engine) as connection:
        result = leaks.leak_report(connection, partner_id, window, findings, zone, client_id)
        if csv_file:
            descriptor = os.open(csv_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(leaks.notification_csv(connection, result, zone))
    if as_json:
        emit_json(result)
        return
    who = f"{result['company_name']} ({partner_id})" + (
        f", client {client_id}" if client_id else ""
    )
    click.echo(f"{who}, {result['since_local']} to {result['until_local']}")
    if result["customers"]:
        emit_table(
            ("customer", "count", "first", "last", "items"),
            [(c["customer_id"], c["count"], c["first"], c["last"], ",".join(c["items"]))
             for c in result["customers"]],
        )  # fmt: skip
    totals = result["totals"]
    click.echo(f"\npersons: {result['persons']}; items: {result['items_text'] or 'none'}; "
               f"disclosures: {totals['disclosures']}; requests: {totals['requests']}")  # fmt: skip
    for ground in result["reporting_test"]:
        mark = "yes" if ground["applies"] else "no"
        how = "computed" if ground["computed"] else "the officer's judgement"
        click.echo(f"  [{mark}] {ground['article']}: {ground['en']} ({how})")
    if result["reportable"]:
        deadlines = result["deadlines"]
        click.echo(f"reportable to the PPC: preliminary report by {deadlines['preliminary'][0]}"
                   f"–{deadlines['preliminary'][1]}, final report by {deadlines['final']} "
                   f"({deadlines['final_days']} days from {result['learnt_on']})")  # fmt: skip
    else:
        click.echo("not reportable on these findings (keep the record; notify where fitting)")
    if csv_file:
        click.echo(f"persons to notify written to {csv_file}", err=True)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


# --- anomalies --------------------------------------------------------------------------------


@audit.command("anomalies")
@click.option("--since", help="First day or time, inclusive (default: 7 days ago).")
@click.option("--until", help="Last day or time, inclusive (default: today).")
@json_option
@pass_cli
def anomalies(cli: CliContext, since: str | None, until: str | None, as_json: bool) -> None:
    """Flag reseller access for review: volume far above a reseller's daily norm (a first
    load labelled as such), bursts of refusals, look-ups outside business hours, requests for
    withheld customers. Days are the company's (GATEWAY_TIMEZONE)."""
    runtime = cli.runtime
    zone = runtime.config.zone
    today = runtime.clock.now().astimezone(zone).date()
    window = Window.parse(
        since or (today - timedelta(days=6)).isoformat(), until or today.isoformat(), zone
    )
    record_reading(
        runtime, cli.operator, "audit.report",
        details={"report": "anomalies", "since": window.start_at, "until": window.last_at},
        request_id=cli.request_id,
    )  # fmt: skip
    with snapshot(runtime.engine) as connection:
        flags = anomaly_rules.find_anomalies(
            connection,
            window,
            zone,
            runtime.config.removal_due_days,
            runtime.clock.now().astimezone(zone).date(),
        )
        sandbox = anomaly_rules.sandbox_traffic(connection, window)
    if as_json:
        emit_json({"since": window.start_at, "until": window.last_at,
                   "flags": [f.as_dict() for f in flags],
                   "sandbox_traffic": [line.as_dict() for line in sandbox]})  # fmt: skip
        return
    for line in sandbox:  # test traffic: counted apart, never flagged
        click.echo(
            f"sandbox traffic of {line.partner}: {line.requests} requests "
            f"({line.denied} refused), {len(line.customers)} customers; not flagged"
        )
    if not flags:
        click.echo("no flags")
        return
    emit_table(
        ("id", "partner", "client", "customers", "count", "first", "last", "reviewed", "detail"),
        [(f.id, f.partner, f.client, ",".join(sorted(f.customers)[:3])
          + ("…" if len(f.customers) > 3 else ""), f.count, f.first, f.last,
          f.review["by"] if f.review else "-", f.detail) for f in flags],
    )  # fmt: skip


@audit.command("review")
@click.argument("flag_id")
@click.option("--note", required=True, help="What was found, or done.")
@pass_cli
def review(cli: CliContext, flag_id: str, note: str) -> None:
    """Mark an anomaly flag (its id from 'audit anomalies') reviewed, with a note; logged."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        anomaly_rules.review(session, runtime.clock, cli.operator, flag_id=flag_id, note=note,
                             request_id=cli.request_id)  # fmt: skip
    click.echo(f"flag {flag_id} marked reviewed")


__all__ = ["audit", "GatewayError"]
