"""``gateway staff …``: the console's staff accounts.

add NAME --role privacy_desk|operator · disable NAME · list
"""

from __future__ import annotations

import sys

import click

from gateway.cli import CliContext, emit_json, emit_table, json_option, pass_cli
from gateway.console import service
from gateway.console.models import ROLES


@click.group("staff")
def staff() -> None:
    """Staff accounts of the web console."""


@staff.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts) instead of "
    "prompting for it twice.",
)
@json_option
@pass_cli
def add(cli: CliContext, name: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Make a staff account; the password is asked for (12 characters or more)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    service.check_password(password)  # before the slow hash and before anything is written
    runtime = cli.runtime
    with runtime.transaction() as session:
        account = service.add_staff(
            session, runtime.clock, cli.operator, name=name, role=role, password=password,
            request_id=cli.request_id,
        )  # fmt: skip
        view = {"name": account.name, "role": account.role, "status": account.status}
    if as_json:
        emit_json(view)
    else:
        click.echo(f"staff account {view['name']} ({view['role']}) added")


@staff.command("disable")
@click.argument("name")
@pass_cli
def disable(cli: CliContext, name: str) -> None:
    """Disable a staff account; its open console sessions end at once."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        service.disable_staff(session, runtime.clock, cli.operator, name=name,
                              request_id=cli.request_id)  # fmt: skip
    click.echo(f"staff account {name} disabled")


@staff.command("list")
@json_option
@pass_cli
def list_(cli: CliContext, as_json: bool) -> None:
    """Staff accounts, their roles and state (never a password or its hash)."""
    with cli.runtime.transaction() as session:
        accounts = service.list_staff(session)
    if as_json:
        emit_json(accounts)
        return
    emit_table(
        ("name", "role", "status", "last login", "locked until"),
        [(a["name"], a["role"], a["status"], a["last_login_at"], a["locked_until"])
         for a in accounts],
    )  # fmt: skip
