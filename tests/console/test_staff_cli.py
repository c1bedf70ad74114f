"""``gateway staff add|disable|list``: passwords asked twice or read from stdin, stored only as
a slow salted hash, refused when weak; every change logged."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from gateway.audit.models import AuditEntry
from gateway.cli import main
from gateway.console.models import StaffAccount
from gateway.db import create_gateway_engine, session_factory

PASSWORD = "a long enough passphrase"


def _run(gateway_env, *args, stdin=None):
    return CliRunner().invoke(main, list(args), env=gateway_env, input=stdin)


def _rows(gateway_env, model):
    engine = create_gateway_engine(gateway_env["GATEWAY_DATABASE_URL"])
    try:
        with session_factory(engine)() as session:
            return session.scalars(select(model)).all()
    finally:
        engine.dispose()


def test_add_with_the_password_on_stdin_stores_only_a_scrypt_hash(gateway_env):
    result = _run(gateway_env, "staff", "add", "alice", "--role", "privacy_desk",
                  "--password-stdin", "--json", stdin=PASSWORD + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"name": "alice", "role": "privacy_desk",
                                         "status": "active"}  # fmt: skip
    (account,) = _rows(gateway_env, StaffAccount)
    assert account.password_hash.startswith("scrypt$")
    assert PASSWORD not in account.password_hash
    entry = [e for e in _rows(gateway_env, AuditEntry) if e.action == "staff.add"][0]
    assert (entry.actor_id, json.loads(entry.details)) == (
        "test-operator",
        {"role": "privacy_desk"},
    )
    assert PASSWORD not in entry.details


def test_add_prompts_twice_and_refuses_a_mismatch(gateway_env):
    mismatch = _run(gateway_env, "staff", "add", "bob", "--role", "operator",
                    stdin=f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert mismatch.exit_code == 0, mismatch.output  # click asks again after a mismatch
    assert "do not match" in mismatch.output
    assert [a.name for a in _rows(gateway_env, StaffAccount)] == ["bob"]


def test_weak_password_unknown_role_and_duplicates_are_refused(gateway_env):
    short = _run(gateway_env, "staff", "add", "carol", "--role", "operator", "--password-stdin",
                 stdin="short\n")  # fmt: skip
    assert short.exit_code == 1
    assert short.output.strip() == "error: password: 12 to 1024 characters"
    role = _run(gateway_env, "staff", "add", "carol", "--role", "admin", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert role.exit_code == 2
    assert _rows(gateway_env, StaffAccount) == []
    for expected in (0, 1):
        again = _run(gateway_env, "staff", "add", "carol", "--role", "operator",
                     "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
        assert again.exit_code == expected
    assert "already exists" in again.output


def test_disable_and_list(gateway_env):
    _run(gateway_env, "staff", "add", "alice", "--role", "operator", "--password-stdin",
         stdin=PASSWORD + "\n")  # fmt: skip
    assert _run(gateway_env, "staff", "disable", "alice").exit_code == 0
    again = _run(gateway_env, "staff", "disable", "alice")
    assert again.exit_code == 1 and "already disabled" in again.output
    assert _run(gateway_env, "staff", "disable", "nobody").exit_code == 1
    listed = json.loads(_run(gateway_env, "staff", "list", "--json").output)
    assert [(a["name"], a["role"], a["status"]) for a in listed] == [
        ("alice", "operator", "disabled")]  # fmt: skip
    assert "password" not in json.dumps(listed)
    table = _run(gateway_env, "staff", "list").output
    assert table.splitlines()[0].split()[:3] == ["name", "role", "status"]
