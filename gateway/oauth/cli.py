"""``gateway keys init|rotate|list`` and ``gateway clients add|list|constrain|keys|disable``."""

from __future__ import annotations

from pathlib import Path

import click

from gateway.audit.cli import ensure_checkpoint_key
from gateway.cli import CliContext, emit_json, emit_table, json_option, pass_cli
from gateway.errors import InvalidInput
from gateway.oauth import clients as service
from gateway.oauth.keys import PUBLISHED_AFTER_RETIREMENT, SigningKeys, init_keys, rotate_keys
from gateway.oauth.models import DPOP, SENDER_CONSTRAINTS


@click.group("keys")
def keys() -> None:
    """The access-token signing keys (in GATEWAY_KEYS_DIR)."""


@keys.command("init")
@json_option
@pass_cli
def keys_init(cli: CliContext, as_json: bool) -> None:
    """Create the first signing key, and the access log's checkpoint key, so that the log is
    sealed from the start (each does nothing if it exists)."""
    runtime = cli.runtime
    created, kid = init_keys(runtime.config.keys_dir, int(runtime.clock.now().timestamp()))
    if created:
        cli.log_key_change("key.init", kid)
    checkpoint_key = ensure_checkpoint_key(cli).current()
    checkpoint_kid = checkpoint_key[0] if checkpoint_key else None
    if as_json:
        emit_json({"created": created, "kid": kid, "checkpoint_key_id": checkpoint_kid,
                   "directory": str(runtime.config.keys_dir)})  # fmt: skip
        return
    if created:
        click.echo(f"signing key {kid} created in {runtime.config.keys_dir}")
    else:
        click.echo(f"signing key {kid} already in place; nothing to do")
    click.echo(f"checkpoint key {checkpoint_kid} (seals the access log)")


@keys.command("rotate")
@json_option
@pass_cli
def keys_rotate(cli: CliContext, as_json: bool) -> None:
    """Make a new current signing key; the previous one stays published until every token
    it signed has expired."""
    runtime = cli.runtime
    retired, kid = rotate_keys(runtime.config.keys_dir, int(runtime.clock.now().timestamp()))
    cli.log_key_change("key.rotate", kid, retired=retired)
    if as_json:
        emit_json({"kid": kid, "retired": retired})
    else:
        click.echo(
            f"signing key {kid} is now current"
            + (f"; {retired} stays published for {PUBLISHED_AFTER_RETIREMENT} s" if retired else "")
        )


@keys.command("list")
@json_option
@pass_cli
def keys_list(cli: CliContext, as_json: bool) -> None:
    """List signing keys: current, retired but published, or no longer published."""
    runtime = cli.runtime
    now = int(runtime.clock.now().timestamp())
    records = SigningKeys(runtime.config.keys_dir).records()
    views = [
        {
            "kid": r.kid,
            "created_at": r.created_at,
            "retired_at": r.retired_at,
            "state": "current"
            if r.retired_at is None
            else ("published" if r.published_at(now) else "expired"),
        }
        for r in records
    ]
    if as_json:
        emit_json(views)
    else:
        emit_table(("KID", "STATE"), [(v["kid"], v["state"]) for v in views])


_SENDER_CONSTRAINT = click.option(
    "--sender-constraint", type=click.Choice(SENDER_CONSTRAINTS), default=DPOP, show_default=True,
    help="dpop: tokens bound to the client's key (RFC 9449); none: bearer tokens (opt-out).",
)  # fmt: skip


@click.group("clients")
def clients() -> None:
    """Resellers' OAuth clients."""


@clients.command("add")
@click.argument("partner_id")
@click.option("--scopes", required=True, help='Space-separated, e.g. "customers:contact".')
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The reseller's public JWK set (private_key_jwt).",
)
@click.option("--secret", is_flag=True, help="Generate a client secret (client_secret_basic).")
@_SENDER_CONSTRAINT
@json_option
@pass_cli
def clients_add(
    cli: CliContext, partner_id: str, scopes: str, jwks_file: Path | None, secret: bool,
    sender_constraint: str, as_json: bool,
) -> None:  # fmt: skip
    """Register an OAuth client for PARTNER_ID. A generated secret is shown this once.
    Its tokens are DPoP-bound (RFC 9449) unless --sender-constraint none."""
    jwks_text = jwks_file.read_text(encoding="utf-8") if jwks_file else None
    runtime = cli.runtime
    with runtime.transaction() as session:
        client, client_secret = service.add_client(
            session, runtime.clock, cli.operator, partner_id=partner_id, scopes=scopes,
            jwks_text=jwks_text, with_secret=secret, sender_constraint=sender_constraint,
            request_id=cli.request_id,
        )  # fmt: skip
        view = service.describe(client)
    if client_secret:
        view["client_secret"] = client_secret
    if as_json:
        emit_json(view)
        return
    click.echo(
        f"client {view['client_id']} added for {partner_id} "
        f"({view['auth_method']}, sender constraint {view['sender_constraint']})"
    )
    if client_secret:
        click.echo(f"client secret (shown once, store it now): {client_secret}")


@clients.command("list")
@click.option("--partner", "partner_id", help="Only this partner's clients.")
@json_option
@pass_cli
def clients_list(cli: CliContext, partner_id: str | None, as_json: bool) -> None:
    """List OAuth clients (never their secrets)."""
    with cli.runtime.transaction() as session:
        views = [service.describe(c) for c in service.list_clients(session, partner_id)]
    if as_json:
        emit_json(views)
        return
    emit_table(
        ("CLIENT", "PARTNER", "METHOD", "SENDER", "SCOPES", "STATUS"),
        [(v["client_id"], v["partner_id"], v["auth_method"], v["sender_constraint"],
          v["scopes"], v["status"]) for v in views],
    )  # fmt: skip


@clients.command("constrain")
@click.argument("client_id")
@click.option(
    "--sender-constraint", required=True, type=click.Choice(SENDER_CONSTRAINTS),
    help="dpop: tokens bound to the client's key (RFC 9449); none: bearer tokens (opt-out).",
)  # fmt: skip
@json_option
@pass_cli
def clients_constrain(cli: CliContext, client_id: str, sender_constraint: str,
                      as_json: bool) -> None:  # fmt: skip
    """Change CLIENT_ID's sender constraint; binding it to DPoP revokes its tokens at once."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        client, revoked = service.constrain_client(
            session, runtime.clock, cli.operator, client_id=client_id,
            sender_constraint=sender_constraint, request_id=cli.request_id,
        )  # fmt: skip
        view = service.describe(client) | {"tokens_revoked": revoked}
    if as_json:
        emit_json(view)
    else:
        click.echo(f"client {client_id} is now {sender_constraint}"
                   + (f"; {revoked} token(s) revoked" if revoked else ""))  # fmt: skip


@clients.command("keys")
@click.argument("client_id")
@click.option(
    "--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The reseller's public JWK set: it replaces the registered keys.",
)  # fmt: skip
@click.option(
    "--add", is_flag=True,
    help="Add the --jwks FILE's keys to the registered ones instead (rotate in two steps: "
    "add the new key; once the reseller signs with it, register the set without the old).",
)  # fmt: skip
@click.option(
    "--jwks-uri", metavar="URL",
    help="Where the reseller publishes its key set (https): fetched by the token endpoint, "
    "within 3 s and 64 KiB, never through a redirect, kept 5 min to 1 h as its Cache-Control "
    "says (15 min without); a kid it lacks refetches it, at most once a minute.",
)  # fmt: skip
@json_option
@pass_cli
def clients_keys(cli: CliContext, client_id: str, jwks_file: Path | None, add: bool,
                 jwks_uri: str | None, as_json: bool) -> None:  # fmt: skip
    """Register new public keys for CLIENT_ID, a private_key_jwt client: --jwks FILE's set
    (or, with --add, FILE's keys besides the registered ones), or the --jwks-uri URL where
    the reseller publishes its set; either replaces the other. The keys are checked as
    `clients add` checks them: when there are several, each needs its own kid, and an
    assertion must name one.

    Tokens already issued stay valid until they expire (minutes): the gateway signed them,
    not the reseller's keys. To stop a leaked key's holder at once, disable the client."""
    try:
        jwks_text = jwks_file.read_text(encoding="utf-8") if jwks_file else None
    except UnicodeDecodeError:
        raise InvalidInput("jwks: the file is not UTF-8 text") from None
    runtime = cli.runtime
    with runtime.transaction() as session:
        client, keys = service.replace_keys(
            session, runtime.clock, cli.operator, client_id=client_id, jwks_text=jwks_text,
            add=add, jwks_uri=jwks_uri, request_id=cli.request_id,
        )  # fmt: skip
        view = service.describe(client) | {
            "keys": [{"kid": kid, "thumbprint": jkt} for kid, jkt in keys]
        }
    if as_json:
        emit_json(view)
        return
    named = ", ".join(f"{kid or '(no kid)'} ({jkt})" for kid, jkt in keys)
    if jwks_uri is not None:
        click.echo(f"client {client_id} now takes its keys from {jwks_uri}; there now: {named}")
    else:
        click.echo(f"client {client_id} keys: {named}")
    click.echo("tokens already issued stay valid until they expire")


@clients.command("disable")
@click.argument("client_id")
@json_option
@pass_cli
def clients_disable(cli: CliContext, client_id: str, as_json: bool) -> None:
    """Disable CLIENT_ID and revoke every token it holds, at once."""
    runtime = cli.runtime
    with runtime.transaction() as session:
        client = service.disable_client(
            session, runtime.clock, cli.operator, client_id=client_id, request_id=cli.request_id
        )
        view = service.describe(client)
    if as_json:
        emit_json(view)
    else:
        click.echo(f"client {client_id} disabled")
