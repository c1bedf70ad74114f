"""The ``gateway`` command: ``gateway NOUN VERB``.

Every command that creates or lists something accepts ``--json``. Errors are one line on
stderr and a non-zero exit — 2 for a malformed command line, 1 for a refused operation,
70 for an internal failure — never a traceback.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.audit.spine import Actor, ActorKind, Event, Subject, record
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.runtime import Runtime

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

log = logging.getLogger("gateway.cli")


@dataclass
class CliContext:
    """What every command shares: the runtime (opened on first use, so ``--help`` touches
    nothing), the operator's identity and this invocation's request id."""

    _runtime: Runtime | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.open(Config.from_env())
        return self._runtime

    @property
    def operator(self) -> Actor:
        return Actor(ActorKind.OPERATOR, os.environ.get("GATEWAY_OPERATOR") or getpass.getuser())

    def log_key_change(self, action: str, key_id: str, **details: str | None) -> None:
        """Log a key's creation or rotation (``key.init``, ``key.rotate``), the key its
        subject — for the token-signing and the checkpoint keys alike."""
        runtime = self.runtime
        with runtime.transaction() as session:
            record(
                session,
                Event(
                    action=action,
                    actor=self.operator,
                    subjects=(Subject("key", key_id),),
                    request_id=self.request_id,
                    details=details,
                ),  # fmt: skip
                clock=runtime.clock,
            )

    def link_request(self, session: Session, request: str | None, *, customer_id: str | None,
                     action: str, detail: str | None = None) -> None:  # fmt: skip
        """With ``--request ID``: record, in the action's own transaction, that ``action`` was
        done for that rights request (gateway.rights)."""
        if request:
            from gateway.rights.service import link

            link(session, self.runtime.clock, self.operator, request=request,
                 customer_id=customer_id, action=action, detail=detail,
                 request_id=self.request_id)  # fmt: skip

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


pass_cli = click.make_pass_decorator(CliContext)


def fail(message: str, code: int = EXIT_REFUSED) -> None:
    first_line = " ".join(str(message).split())
    click.echo(f"error: {first_line}", err=True)
    sys.exit(code)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        padded = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
request_option = click.option(
    "--request", "request", help="The rights request (gateway rights) this answers."
)


class GatewayCommand(click.Group):
    """Turns every failure into one line on stderr and an exit code."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any):  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            fail("aborted", EXIT_REFUSED)
        except click.ClickException as error:
            fail(error.format_message(), error.exit_code)
        except GatewayError as error:
            fail(error.detail, EXIT_REFUSED)
        except SQLAlchemyError as error:
            # The driver's message may quote stored values; name only the kind of failure.
            log.debug("database error", exc_info=True)
            fail(f"the database refused the operation ({type(error).__name__})", EXIT_REFUSED)
        except OSError as error:
            fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), EXIT_REFUSED)
        except Exception as error:  # noqa: BLE001 - the last line of defence: no tracebacks
            log.debug("internal error", exc_info=True)
            fail(f"internal error ({type(error).__name__})", EXIT_INTERNAL)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=GatewayCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="joint-use-gateway", prog_name="gateway")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the Joint-Use Gateway.

    Configuration comes from GATEWAY_DATABASE_URL, GATEWAY_KEYS_DIR and GATEWAY_ISSUER; the
    operator recorded in the access log is GATEWAY_OPERATOR, or the login name.
    """
    cli = CliContext()
    ctx.obj = cli
    ctx.call_on_close(cli.close)


def _register() -> None:
    from gateway.audit.cli import audit
    from gateway.console.cli import staff
    from gateway.customers.cli import customers
    from gateway.db_cli import db_group
    from gateway.demo.cli import demo
    from gateway.designations.cli import designations
    from gateway.oauth.cli import clients, keys
    from gateway.partners.cli import partners
    from gateway.rights.cli import rights
    from gateway.sandbox.cli import sandbox

    for command in (
        db_group, keys, partners, clients, customers, designations, audit, staff, demo, rights,
        sandbox,
    ):  # fmt: skip
        main.add_command(command)


_register()
