"""The log's actions are one list: every action the gateway writes is in it, and the console
and the reports read theirs from it."""

from __future__ import annotations

import ast
from pathlib import Path

from gateway.audit.actions import DATA_ACTIONS, Action
from gateway.console.service import KNOWN_ACTIONS

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"


def _action_literals() -> set[str]:
    """Every action named where an entry is built: ``Event(action=…)``, a refusal's or a
    denial's ``action=``, and the action of a protected partner endpoint."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            values = [k.value for k in node.keywords if k.arg == "action"]
            if name == "require_token" and node.args:
                values.append(node.args[0])
            if name in ("Event", "refusal", "deny", "require_token"):
                literals = (v for v in values if isinstance(v, ast.Constant))
                found.update(v.value for v in literals if isinstance(v.value, str))
    return found


def test_every_action_the_gateway_writes_is_an_action_of_the_log():
    written = _action_literals()
    assert written, "no action= literal found: the test reads the wrong place"
    assert written <= set(Action), sorted(written - set(Action))


def test_the_console_offers_every_action_and_the_reports_read_the_data_ones():
    assert set(KNOWN_ACTIONS) == set(Action)
    assert set(DATA_ACTIONS) == {"customers.list", "customers.read"}
