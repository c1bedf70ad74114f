"""Every kind of tampering is found and located, trusting signed checkpoints over the head row."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update

from gateway.audit.chain import chain_hash, entry_body
from gateway.audit.checkpoint import CheckpointKeys, Statement, encode_public, key_id_of, sign
from gateway.audit.models import AuditCheckpoint, AuditEntry, AuditHead, AuditSubject
from gateway.audit.parallel import verify_log_parallel
from gateway.audit.sealing import SYSTEM, seal
from gateway.audit.service import verify_log
from gateway.audit.spine import entry_as_dict
from tests.audit.seeding import drop_append_only_triggers, request


@pytest.fixture
def keys(config) -> CheckpointKeys:
    keys = CheckpointKeys(config.keys_dir)
    keys.init("2026-04-01T00:00:00.000000Z")
    return keys


def _seal_log(runtime, clock, keys):
    """Entries 1-6, checkpoint at 7; entries 8-10, checkpoint at 11."""
    for batch in (6, 3):
        with runtime.transaction() as session:
            for i in range(batch):
                request(session, clock, customers=(f"C-{i}",))
                clock.advance(timedelta(seconds=1))
        with runtime.transaction() as session:
            seal(session, clock, keys, actor=SYSTEM)
    return runtime


@pytest.fixture
def sealed_log(runtime, clock, keys, mode):
    _seal_log(runtime, clock, keys)
    assert _verify(runtime, keys).intact
    return runtime


@pytest.fixture(params=["one pass", "chunked"])
def mode(request):
    """Every finding holds for the one-pass verifier and for the chunked one (chunks of four
    entries, here run in this process; the processes are tested below)."""
    _MODE[0] = request.param
    return request.param


_MODE = ["one pass"]


def _verify(runtime, keys):
    if _MODE[0] == "chunked":
        return verify_log_parallel(runtime.engine, keys.trusted(), workers=1, chunk_bits=2)
    return verify_log(runtime.engine, keys.trusted())


def _found(runtime, keys):
    report = _verify(runtime, keys)
    assert not report.intact
    return report.first_break.seq, report.first_break.kind


def _rows(session) -> list[dict]:
    return [entry_as_dict(e) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def _rechain(session, rows: list[dict], start: int) -> None:
    """A strong intruder: rewrite every entry from ``start`` with freshly computed hashes,
    and the head row to match."""
    previous = rows[start - 2]["entry_hash"] if start > 1 else "0" * 64
    session.execute(delete(AuditSubject).where(AuditSubject.seq >= start))
    session.execute(delete(AuditEntry).where(AuditEntry.seq >= start))
    for row in rows[start - 1 :]:
        row = dict(row, prev_hash=previous)
        row["entry_hash"] = chain_hash(previous, entry_body(row))
        session.execute(insert(AuditEntry).values(**row))
        previous = row["entry_hash"]
    session.execute(update(AuditHead).values(seq=rows[-1]["seq"], entry_hash=previous))


def test_an_edited_field_is_located(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(items='["fees"]'))
    assert _found(sealed_log, keys) == (3, "altered")


def test_an_edit_with_every_hash_recomputed_is_caught_by_the_checkpoint(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        rows = _rows(session)
        rows[8]["purpose"] = "marketing"  # entry 9
        _rechain(session, rows, 9)
    report = _verify(sealed_log, keys)
    assert (report.first_break.seq, report.first_break.kind) == (8, "rewritten")
    assert (report.checkpoint_problem.size, report.checkpoint_problem.kind) == (11, "mismatch")


def test_a_deleted_middle_entry_is_located(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(delete(AuditSubject).where(AuditSubject.seq == 5))
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    assert _found(sealed_log, keys) == (5, "gap")


def test_an_inserted_forged_entry_is_located(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        rows = _rows(session)
        # Make room at 4 (renumbering from the end), then forge a well-chained entry 4.
        session.execute(delete(AuditSubject).where(AuditSubject.seq >= 4))
        for seq in range(len(rows), 3, -1):
            session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1))
        forged = dict(rows[3], seq=4, actor_id="mallory", prev_hash=rows[2]["entry_hash"])
        forged["entry_hash"] = chain_hash(forged["prev_hash"], entry_body(forged))
        session.execute(insert(AuditEntry).values(**forged))
    assert _found(sealed_log, keys) == (4, "inserted")


def test_two_swapped_entries_are_located(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(delete(AuditSubject).where(AuditSubject.seq.in_((3, 4))))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=-3))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(seq=3))
        session.execute(update(AuditEntry).where(AuditEntry.seq == -3).values(seq=4))
    assert _found(sealed_log, keys) == (3, "link-broken")


@pytest.mark.parametrize("rewind_head", [False, True], ids=["head kept", "head rewound"])
def test_a_tail_cut_after_a_checkpoint_is_found(sealed_log, keys, rewind_head):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        kept = session.get(AuditEntry, 8)
        session.execute(delete(AuditSubject).where(AuditSubject.seq >= 9))
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 9))
        if rewind_head:
            session.execute(update(AuditHead).values(seq=8, entry_hash=kept.entry_hash))
    report = _verify(sealed_log, keys)
    assert (report.first_break.seq, report.first_break.kind) == (9, "tail-missing")
    assert "covers 11 entries, only 8 are present" in report.first_break.detail


def test_a_replaced_checkpoint_signature_is_found(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        other = session.get(AuditCheckpoint, 11).signature
        session.execute(
            update(AuditCheckpoint).where(AuditCheckpoint.size == 7).values(signature=other)
        )
    report = _verify(sealed_log, keys)
    assert (report.checkpoint_problem.size, report.checkpoint_problem.kind) == (7, "bad-signature")
    assert report.first_break is None and not report.intact


def test_a_checkpoint_signed_with_another_key_is_found(sealed_log, keys):
    intruder = Ed25519PrivateKey.generate()
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        rows = _rows(session)
        rows[1]["actor_id"] = "mallory"
        _rechain(session, rows, 2)
        session.execute(delete(AuditCheckpoint))
        head = rows[-1]
        statement = Statement(
            size=11,
            head_hash=session.get(AuditEntry, 11).entry_hash,
            merkle_root="0" * 64,
            at=head["at"],
            key_id=key_id_of(intruder.public_key()),
        )
        session.execute(
            insert(AuditCheckpoint).values(
                size=11, at=statement.at, head_hash=statement.head_hash,
                merkle_root=statement.merkle_root, key_id=statement.key_id,
                public_key=encode_public(intruder.public_key()),
                signature=sign(intruder, statement), frontier="[]",
            )
        )  # fmt: skip
    report = _verify(sealed_log, keys)
    assert report.checkpoint_problem.kind == "bad-signature"
    assert "not a published checkpoint key" in report.checkpoint_problem.detail


def test_a_garbled_signature_is_found(sealed_log, keys):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        garbled = base64.b64encode(b"\x00" * 64).decode()
        session.execute(update(AuditCheckpoint).values(signature=garbled))
    assert _verify(sealed_log, keys).checkpoint_problem.kind == "bad-signature"


def test_verify_command_reports_the_break_and_exits_non_zero(cli, sealed_log):
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(at="2020-01-01"))
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert "NOT INTACT at entry 2 (altered)" in result.stdout


@pytest.mark.slow
def test_worker_processes_find_what_one_pass_finds(runtime, clock, keys):
    sealed_log = _seal_log(runtime, clock, keys)
    spread = verify_log_parallel(sealed_log.engine, keys.trusted(), workers=2, chunk_bits=2)
    assert spread.intact and (spread.entries, spread.sealed_size) == (11, 11)
    with sealed_log.transaction() as session:
        drop_append_only_triggers(session)
        session.execute(update(AuditEntry).where(AuditEntry.seq == 6).values(rule="x"))
    spread = verify_log_parallel(sealed_log.engine, keys.trusted(), workers=2, chunk_bits=2)
    assert (spread.first_break.seq, spread.first_break.kind) == (6, "altered")
    assert spread.as_dict() == verify_log(sealed_log.engine, keys.trusted()).as_dict()


def test_a_checkpoint_kept_outside_catches_a_tail_cut_with_the_checkpoints_after_it(
    cli, runtime, clock, keys, tmp_path, mode
):
    _seal_log(runtime, clock, keys)
    saved = tmp_path / "checkpoint.json"
    saved.write_text(cli("audit", "checkpoint", "--json").stdout)  # seals 12 entries
    assert cli("audit", "verify", "--checkpoint", str(saved)).exit_code == 0
    with runtime.transaction() as session:
        drop_append_only_triggers(session)
        kept = session.get(AuditEntry, 7)
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.size > 7))
        session.execute(delete(AuditSubject).where(AuditSubject.seq >= 8))
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 8))
        session.execute(update(AuditHead).values(seq=7, entry_hash=kept.entry_hash))
    assert _verify(runtime, keys).intact  # the database alone cannot tell
    result = cli("audit", "verify", "--checkpoint", str(saved), "--workers", "1")
    assert result.exit_code == 1
    assert "NOT INTACT at entry 8 (tail-missing)" in result.stdout
