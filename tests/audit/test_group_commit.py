"""Group commit: one request's failure is its own. A request whose re-check raises, or whose
writes the database refuses, is logged as refused; every other request of the same commit
commits with its entry, and the chain stays whole."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from gateway.audit.group_commit import FAILED_RULE, GroupCommit
from gateway.audit.models import AuditEntry
from gateway.audit.service import verify_stored_chain
from gateway.audit.spine import Actor, ActorKind, Event
from gateway.errors import AuditUnavailable
from gateway.oauth.server import _USE_ASSERTION


def _event(name: str) -> Event:
    return Event(action="customers.read", actor=Actor(ActorKind.CLIENT, name))


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _raises(connection, shared):
    raise RuntimeError("a check that raises")


def _overflows(connection, shared):
    # A value out of the database's range, as an absurd client-assertion exp once was.
    _USE_ASSERTION.execute(connection, {"client_id": "cl_x", "jti": "j", "expires_at": 10**20})


@pytest.mark.parametrize("failure", [_raises, _overflows], ids=["raises", "overflows"])
def test_a_failing_request_fails_alone_and_is_logged(runtime, failure):
    group_commit = GroupCommit(runtime)
    holding, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def blocker(connection, shared):
        holding.set()
        release.wait(10)

    def request(name, recheck=None):
        try:
            results[name] = group_commit.write([_event(name)], recheck=recheck)
        except AuditUnavailable as error:
            results[name] = error

    # The first request holds its commit until the others wait together for the next one.
    threads = [threading.Thread(target=request, args=("first", blocker))]
    threads[0].start()
    _wait_for(holding.is_set, "the first commit")
    for name, recheck in (("good-1", None), ("hostile", failure), ("good-2", None)):
        threads.append(threading.Thread(target=request, args=(name, recheck)))
        threads[-1].start()
    _wait_for(lambda: group_commit.queued == 3, "three requests to share a commit")
    release.set()
    for thread in threads:
        thread.join(10)

    assert results["first"] is None and results["good-1"] is None and results["good-2"] is None
    refused = results["hostile"]
    assert isinstance(refused, Event) and refused.rule == FAILED_RULE
    with runtime.transaction() as session:
        entries = {e.actor_id: (e.outcome, e.rule) for e in session.scalars(select(AuditEntry))}
    assert entries == {
        "first": ("allowed", None),
        "good-1": ("allowed", None),
        "good-2": ("allowed", None),
        "hostile": ("denied", FAILED_RULE),
    }
    assert verify_stored_chain(runtime.sessions).intact
