"""Exports: filters, streaming formats, and offline verification with only the public key."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from gateway.audit.checkpoint import CheckpointKeys, load_trusted
from gateway.audit.verifier import verify_export
from tests.audit.seeding import request


@pytest.fixture
def seeded(runtime, clock, config):
    """Ten reseller requests over two partners and two days, one refused; the checkpoint key
    exists already."""
    CheckpointKeys(config.keys_dir).init("2026-04-01T00:00:00.000000Z")
    with runtime.transaction() as session:
        for i in range(10):
            request(
                session, clock, partner="acme" if i % 2 else "bolt", customers=(f"C-{i % 3}",),
                rule="customer_designated" if i == 7 else None,
                when=f"2026-04-{1 + i // 5:02d}T0{i % 5}:00:00Z",
            )  # fmt: skip
    return runtime


def _export(cli, tmp_path, *args, name="export.jsonl"):
    path = tmp_path / name
    result = cli("audit", "export", "--output", str(path), *args)
    assert result.exit_code == 0, result.output
    return path


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _entries(path) -> list[dict]:
    return [r for r in _lines(path) if r["type"] == "entry"]


def _verify(path, keys_dir):
    trusted = load_trusted(keys_dir / "checkpoint-keys.json")
    with open(path) as lines:
        return verify_export(lines, trusted)


def _rewrite(path, change) -> None:
    records = _lines(path)
    records = change(records)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_full_export_verifies_offline(cli, seeded, tmp_path, config):
    path = _export(cli, tmp_path)
    records = _lines(path)
    assert records[0]["type"] == "header" and records[0]["checkpoint"]["size"] == 12
    assert [r["seq"] for r in _entries(path)] == list(range(1, 13))
    report = _verify(path, config.keys_dir)
    assert report.intact and report.complete and report.entries == 12


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--partner", "acme"), [2, 4, 6, 8, 10, 11]),  # 11: the export itself
        (("--customer", "C-0"), [1, 4, 7, 10, 11]),
        (("--partner", "acme", "--customer", "C-0"), [4, 10, 11]),
        (("--outcome", "denied"), [8]),
        (("--action", "audit.export"), [11]),
        (("--since", "2026-04-02"), [6, 7, 8, 9, 10, 11, 12]),
        (("--until", "2026-04-01"), [1, 2, 3, 4, 5]),
        (("--since", "2026-04-01T02:00:00Z", "--until", "2026-04-01T03:00:00Z"), [3, 4]),
    ],
)
def test_filters_select_exactly_and_the_selection_verifies(
    cli, seeded, tmp_path, config, args, expected
):
    path = _export(cli, tmp_path, *args)
    assert [r["seq"] for r in _entries(path)] == expected
    report = _verify(path, config.keys_dir)
    assert report.intact and not report.complete and report.entries == len(expected)


def test_offline_verification_runs_as_a_module_without_a_database(cli, seeded, tmp_path, config):
    path = _export(cli, tmp_path, "--partner", "acme")
    keys = config.keys_dir / "checkpoint-keys.json"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.audit.verify_export", str(path), str(keys), "--json"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["intact"] is True
    via_cli = cli("audit", "verify", "--export", str(path), "--public-key", str(keys))
    assert via_cli.exit_code == 0 and "export intact" in via_cli.stdout


def _edit_entry(seq, **fields):
    def change(records):
        for record in records:
            if record["type"] == "entry" and record["seq"] == seq:
                record.update(fields)
        return records

    return change


def _drop_entry(seq):
    return lambda records: [r for r in records if not (r["type"] == "entry" and r["seq"] == seq)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_edit_entry(4, purpose="marketing"), (4, "altered")),
        (_drop_entry(5), (5, "gap")),
        (lambda records: records[:-3], (10, "tail-missing")),
    ],
    ids=["edited", "removed", "tail cut"],
)
def test_a_tampered_full_export_is_located(cli, seeded, tmp_path, config, change, expected):
    path = _export(cli, tmp_path)
    _rewrite(path, change)
    report = _verify(path, config.keys_dir)
    assert (report.first_break.seq, report.first_break.kind) == expected


def test_a_filtered_export_with_an_entry_rehashed_fails_its_signed_root(
    cli, seeded, tmp_path, config
):
    from gateway.audit.chain import chain_hash, entry_body

    path = _export(cli, tmp_path, "--partner", "acme")

    def forge(records):
        for record in records:
            if record["type"] == "entry" and record["seq"] == 4:
                record["items"] = '["name"]'
                record["entry_hash"] = chain_hash(record["prev_hash"], entry_body(record))
        return records

    _rewrite(path, forge)
    report = _verify(path, config.keys_dir)
    assert not report.intact and report.checkpoint_problem.kind == "mismatch"


def test_a_filtered_export_missing_an_entry_fails(cli, seeded, tmp_path, config):
    path = _export(cli, tmp_path, "--partner", "acme")
    _rewrite(path, _drop_entry(6))
    report = _verify(path, config.keys_dir)
    assert not report.intact and report.first_break.kind == "proof-broken"


def test_an_export_checked_with_another_key_fails(cli, seeded, tmp_path, config):
    path = _export(cli, tmp_path)
    other = CheckpointKeys(tmp_path / "other-keys")
    other.init("2026-04-01T00:00:00.000000Z")
    report = _verify(path, tmp_path / "other-keys")
    assert not report.intact and report.checkpoint_problem.kind == "bad-signature"


def test_a_replaced_anchor_signature_fails(cli, seeded, tmp_path, config):
    path = _export(cli, tmp_path)

    def swap(records):
        records[0]["checkpoint"]["signature"] = records[0]["checkpoint"]["signature"][::-1]
        return records

    _rewrite(path, swap)
    report = _verify(path, config.keys_dir)
    assert report.checkpoint_problem.kind == "bad-signature"


def test_csv_export_has_one_row_an_entry_with_its_hashes(cli, seeded, tmp_path):
    path = _export(cli, tmp_path, "--format", "csv", "--partner", "bolt", name="export.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["seq"]) for r in rows] == [1, 3, 5, 7, 9, 11]
    assert all(len(r["entry_hash"]) == 64 and len(r["prev_hash"]) == 64 for r in rows)


def test_export_to_stdout_streams_json_lines(cli, seeded):
    result = cli("audit", "export", "--customer", "C-2")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seq"] for r in records if r["type"] == "entry"] == [3, 6, 9, 11]


def test_a_bad_window_is_refused_in_one_line(cli, seeded):
    result = cli("audit", "export", "--since", "yesterday")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_an_export_file_is_owner_only(cli, seeded, tmp_path):
    path = _export(cli, tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_file_that_is_not_an_export_is_refused_in_one_line(cli, tmp_path, config):
    cli("audit", "keys", "init")
    path = tmp_path / "not-an-export.jsonl"
    path.write_text('{"hello": "world"}\n')
    keys = str(config.keys_dir / "checkpoint-keys.json")
    result = cli("audit", "verify", "--export", str(path), "--public-key", keys)
    assert result.exit_code == 1 and "not a readable access-log export" in result.stderr
