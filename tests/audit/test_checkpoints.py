"""Signed checkpoints: sealing, keys and their rotation, the schedule, no doubled seals."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway.audit.checkpoint import CheckpointKeys
from gateway.audit.models import AuditCheckpoint, AuditEntry
from gateway.audit.sealing import SYSTEM, Schedule, seal, seal_if_due
from gateway.audit.service import verify_log
from gateway.config import Config
from gateway.errors import Conflict
from gateway.runtime import Runtime
from tests.audit.seeding import request


@pytest.fixture
def keys(config) -> CheckpointKeys:
    keys = CheckpointKeys(config.keys_dir)
    keys.init("2026-04-01T00:00:00.000000Z")
    return keys


def _requests(runtime, clock, n: int) -> None:
    with runtime.transaction() as session:
        for i in range(n):
            request(session, clock, customers=(f"C-{i}",))
            clock.advance(timedelta(seconds=1))


def _seal(runtime, keys, **kwargs):
    with runtime.transaction() as session:
        return seal(session, runtime.clock, keys, actor=SYSTEM, **kwargs)


def test_a_checkpoint_covers_the_log_including_its_own_entry(runtime, clock, keys):
    _requests(runtime, clock, 3)
    sealed = _seal(runtime, keys)
    with runtime.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert sealed.size == 4 == last.seq
    assert (last.action, last.actor_kind, json.loads(last.details)) == (
        "audit.checkpoint", "system", {"trigger": "manual"},
    )  # fmt: skip
    assert sealed.head_hash == last.entry_hash
    report = verify_log(runtime.engine, keys.trusted())
    assert report.intact and (report.checkpoints, report.sealed_size) == (1, 4)


def test_sealing_an_already_sealed_log_adds_nothing(runtime, clock, keys):
    _requests(runtime, clock, 2)
    first = _seal(runtime, keys)
    again = _seal(runtime, keys)
    assert again.size == first.size
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_sealing_needs_a_key(runtime, clock, config):
    _requests(runtime, clock, 1)
    with pytest.raises(Conflict):
        _seal(runtime, CheckpointKeys(config.keys_dir))


def test_the_private_key_is_owner_only_and_the_public_list_is_published(config, keys):
    files = {p.name: p.stat().st_mode & 0o777 for p in config.keys_dir.iterdir()}
    (private,) = [name for name in files if name.endswith(".pem")]
    assert files[private] == 0o600
    published = json.loads((config.keys_dir / "checkpoint-keys.json").read_text())
    assert [k["key_id"] for k in published["keys"]] == [private[len("checkpoint-") : -4]]


def test_old_checkpoints_stay_verifiable_after_rotation(runtime, clock, keys):
    _requests(runtime, clock, 2)
    before = _seal(runtime, keys)
    retired, current = keys.rotate("2026-04-01T10:00:00.000000Z")
    assert retired == before.key_id != current
    _requests(runtime, clock, 2)
    after = _seal(runtime, keys)
    assert after.key_id == current
    report = verify_log(runtime.engine, keys.trusted())
    assert report.intact and report.checkpoints == 2


@pytest.mark.parametrize(
    ("appended", "waited", "due"),
    [
        (5, 0, True),  # five entries: the count is reached
        (4, 0, False),  # four entries, no time passed
        (1, 60, True),  # one entry, the interval passed
        (0, 60, False),  # nothing new to seal, however long it has been
    ],
)
def test_the_schedule_seals_on_count_or_time(runtime, clock, keys, appended, waited, due):
    _requests(runtime, clock, 1)
    first = _seal(runtime, keys)  # the schedule runs from here
    _requests(runtime, clock, appended)
    clock.advance(timedelta(seconds=waited))
    schedule = Schedule(every_entries=5, every_seconds=60 + appended)
    sealed = seal_if_due(runtime, keys, schedule)
    assert (sealed is not None) is due
    if due:
        assert sealed.size == first.size + appended + 1


def test_a_log_never_sealed_is_sealed_at_once(runtime, clock, keys):
    _requests(runtime, clock, 1)
    sealed = seal_if_due(runtime, keys, Schedule(every_entries=1000, every_seconds=300))
    assert sealed is not None and sealed.size == 2
    with runtime.transaction() as session:
        assert json.loads(session.get(AuditEntry, 2).details) == {"trigger": "first"}


def test_keys_init_makes_the_checkpoint_key_too(cli, runtime):
    result = cli("keys", "init", "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["created"] and made["checkpoint_key_id"]
    assert CheckpointKeys(runtime.config.keys_dir).current()[0] == made["checkpoint_key_id"]
    again = json.loads(cli("keys", "init", "--json").stdout)
    assert again["checkpoint_key_id"] == made["checkpoint_key_id"]  # nothing made twice


def test_processes_that_see_a_checkpoint_due_at_once_seal_it_once(runtime, clock, keys, config):
    _requests(runtime, clock, 10)
    schedule = Schedule(every_entries=5, every_seconds=0)
    others = [Runtime.open(config, clock) for _ in range(4)]
    results: list = []
    barrier = threading.Barrier(len(others))

    def race(other: Runtime) -> None:
        barrier.wait()
        results.append(seal_if_due(other, CheckpointKeys(config.keys_dir), schedule))

    threads = [threading.Thread(target=race, args=(o,)) for o in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for other in others:
        other.close()
    assert len([r for r in results if r is not None]) == 1
    with runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    assert verify_log(runtime.engine, keys.trusted()).intact


def test_checkpoint_command_seals_and_makes_its_key_on_first_use(cli, runtime, clock):
    cli("partners", "add", "acme", "--name", "Acme")
    result = cli("audit", "checkpoint", "--json")
    assert result.exit_code == 0, result.output
    sealed = json.loads(result.stdout)["sealed"]
    assert sealed["size"] == 3  # partner.add, key.init, audit.checkpoint
    with runtime.transaction() as session:
        made = session.get(AuditEntry, 2)
    assert (made.action, json.loads(made.details)) == ("key.init", {"use": "checkpoint"})
    again = cli("audit", "checkpoint", "--if-due", "--json")
    assert json.loads(again.stdout) == {"sealed": None}
    assert cli("audit", "verify").exit_code == 0


def test_key_rotation_command_logs_the_change(cli, runtime):
    assert cli("audit", "keys", "init").exit_code == 0
    rotated = cli("audit", "keys", "rotate", "--json")
    assert rotated.exit_code == 0
    view = json.loads(rotated.stdout)
    with runtime.transaction() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (entry.action, json.loads(entry.details)["retired"]) == ("key.rotate", view["retired"])


def test_a_seal_refuses_to_sign_a_broken_log(runtime, clock, keys):
    from sqlalchemy import update

    from tests.audit.seeding import drop_append_only_triggers

    _requests(runtime, clock, 3)
    with runtime.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(purpose="marketing"))
    with pytest.raises(Conflict, match="entry 2"):
        _seal(runtime, keys)


def test_config_reads_the_schedule():
    config = Config.from_env(
        {"GATEWAY_CHECKPOINT_EVERY_ENTRIES": "50", "GATEWAY_CHECKPOINT_EVERY_SECONDS": "0"}
    )
    assert (config.checkpoint_every_entries, config.checkpoint_every_seconds) == (50, 0)


def test_the_sealing_thread_seals_when_due(runtime, clock, keys):
    import time

    from gateway.audit.sealing import Sealer

    _requests(runtime, clock, 1)
    first = _seal(runtime, keys).size  # sealed once: the schedule runs from here
    _requests(runtime, clock, 3)
    sealer = Sealer(runtime, keys, Schedule(every_entries=3, every_seconds=0), poll=0.02)
    sealer.start()
    sealer.start()  # once a process
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with runtime.transaction() as session:
                sealed = session.scalar(select(func.max(AuditCheckpoint.size)))
            if sealed > first:
                break
            time.sleep(0.02)
    finally:
        sealer.stop()
    assert sealed == first + 4
    with runtime.transaction() as session:
        entry = session.get(AuditEntry, sealed)
    assert (entry.action, json.loads(entry.details)) == ("audit.checkpoint", {"trigger": "entries"})
