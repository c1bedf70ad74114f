"""Benchmark of the privacy desk's tools on a large access log.

    python -m bench.audit --entries 1000000                 # a fresh SQLite file
    python -m bench.audit --entries 1000000 --postgres      # a throwaway PostgreSQL server
    python -m bench.audit --database-url postgresql://…     # an empty, migrated database

Fills a log of N entries fast — rows computed here with the real chain and Merkle code and
bulk-inserted (COPY on PostgreSQL, ``executemany`` on SQLite), bypassing the per-entry ORM
but with every hash right — sealed by a signed checkpoint every ``--checkpoint-every``
entries; then measures ``gateway audit verify`` (entries/s) and the customer and breach
reports (median of five runs) and prints the query plans of both reports.

The log looks like a year of reseller traffic: ``--partners`` resellers, ``--customers``
customers, one entry every ``--spacing`` seconds; 85% single look-ups, 10% list pages of ten
customers, 3% token issues, 2% refusals.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from gateway import db
from gateway.audit import merkle, reports
from gateway.audit.chain import ENTRY_DOMAIN, canonical_json
from gateway.audit.checkpoint import CheckpointKeys, Statement, encode_public, sign
from gateway.audit.reading import snapshot
from gateway.audit.service import verify_log
from gateway.audit.verifier import ENTRY_COLUMNS, fast_entry_body
from gateway.audit.window import Window

START = datetime(2026, 1, 1, tzinfo=UTC)
CONTACT = canonical_json(["customer_id", "email", "name", "phone", "updated_at"])
SUBJECT_COLUMNS = ("kind", "subject_id", "seq")
CHECKPOINT_COLUMNS = (
    "size", "at", "head_hash", "merkle_root", "key_id", "public_key", "signature", "frontier",
)  # fmt: skip


def generate(
    entries: int, partners: int, customers: int, spacing: float, seed: int
) -> Iterator[tuple[tuple, list[tuple]]]:
    """(entry row in ENTRY_COLUMNS order without the hashes, its subject rows)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    base = START.timestamp()
    for seq in range(1, entries + 1):
        moment = datetime.fromtimestamp(base + seq * spacing, UTC)
        at = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        partner = f"P{rng.randrange(partners):03d}"
        client = f"{partner}-client"
        roll = rng.random()
        outcome, rule, purpose, items = "allowed", None, "inquiry_response", CONTACT
        if roll < 0.03:
            action, chosen, purpose, items = "token.issue", [], None, "[]"
        elif roll < 0.13:
            action = "customers.list"
            chosen = sorted({f"C{rng.randrange(customers):07d}" for _ in range(10)})
            purpose = "service_contact"
        else:
            action = "customers.read"
            chosen = [f"C{rng.randrange(customers):07d}"]
            if roll > 0.98:
                outcome, rule, items = "denied", "customer_designated", "[]"
        subjects = sorted(
            [("client", client), ("partner", partner)] + [("customer", c) for c in chosen]
        )
        row = (
            seq, at, "client", client, action, outcome, rule, purpose, items,
            None if action == "token.issue" else "2022-04-01", f"r{seq:012d}",
            canonical_json([list(s) for s in subjects]), "{}",
        )  # fmt: skip
        yield row, [(kind, subject_id, seq) for kind, subject_id in subjects]


def fill(engine: Engine, args: argparse.Namespace, keys: CheckpointKeys) -> float:
    key_id, private_key = keys.current()  # type: ignore[misc]
    public = encode_public(private_key.public_key())
    frontier = merkle.Frontier()
    previous = bytes(32)
    entry_rows: list[tuple] = []
    subject_rows: list[tuple] = []
    checkpoint_rows: list[tuple] = []
    began = time.perf_counter()
    raw = engine.raw_connection()
    try:
        writer = _writer(engine, raw)
        for row, subjects in generate(
            args.entries, args.partners, args.customers, args.spacing, args.seed
        ):
            digest = hashlib.sha256(ENTRY_DOMAIN + previous + fast_entry_body(row)).digest()
            entry_rows.append((*row, previous.hex(), digest.hex()))
            subject_rows.extend(subjects)
            frontier.append(digest)
            previous = digest
            seq = row[0]
            if seq % args.checkpoint_every == 0 or seq == args.entries:
                statement = Statement(seq, digest.hex(), frontier.root().hex(), row[1], key_id)
                checkpoint_rows.append((
                    seq, row[1], statement.head_hash, statement.merkle_root, key_id, public,
                    sign(private_key, statement), json.dumps([n.hex() for n in frontier.nodes]),
                ))  # fmt: skip
            if len(entry_rows) >= 50_000:
                writer(entry_rows, subject_rows, checkpoint_rows)
                entry_rows, subject_rows, checkpoint_rows = [], [], []
                if seq % 1_000_000 == 0:
                    print(f"  … {seq:,} entries ({time.perf_counter() - began:.0f} s)", flush=True)
        writer(entry_rows, subject_rows, checkpoint_rows)
        cursor = raw.cursor()
        cursor.execute(
            "UPDATE audit_head SET seq = %s, entry_hash = %s WHERE id = 1"
            if engine.dialect.name == "postgresql"
            else "UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1",
            (args.entries, previous.hex()),
        )
        raw.commit()
        if engine.dialect.name == "postgresql":
            raw.driver_connection.autocommit = True
            raw.cursor().execute("VACUUM ANALYZE")
        else:
            raw.cursor().execute("ANALYZE")
    finally:
        raw.close()
    return time.perf_counter() - began


def _writer(engine: Engine, raw) -> Callable[[list, list, list], None]:  # type: ignore[no-untyped-def]
    tables = (
        ("audit_entries", ENTRY_COLUMNS),
        ("audit_subjects", SUBJECT_COLUMNS),
        ("audit_checkpoints", CHECKPOINT_COLUMNS),
    )
    if engine.dialect.name == "postgresql":

        def copy(*batches: list) -> None:
            cursor = raw.cursor()
            for (table, columns), rows in zip(tables, batches, strict=True):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copier:
                    for row in rows:
                        copier.write_row(row)
            raw.commit()

        return copy

    def insert(*batches: list) -> None:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        for (table, columns), rows in zip(tables, batches, strict=True):
            marks = ", ".join("?" for _ in columns)
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - constant names
            cursor.executemany(statement, rows)
        cursor.execute("COMMIT")

    return insert


def timed(action: Callable[[], object], runs: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def plan(engine: Engine, statement) -> str:  # type: ignore[no-untyped-def]
    with snapshot(engine) as connection:
        sql = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "postgresql":
            rows = connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))
            return "\n".join("    " + row[0] for row in rows)
        rows = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
        return "\n".join("    " + row[-1] for row in rows)


def measure(engine: Engine, args: argparse.Namespace, keys: CheckpointKeys) -> None:
    for workers in (1, args.workers):
        began = time.perf_counter()
        report = verify_log(engine, keys.trusted(), workers=workers)
        spent = time.perf_counter() - began
        assert report.intact, report.as_dict()
        label = "one process" if workers == 1 else f"{workers or os.cpu_count()} worker processes"
        print(f"verify ({label}): {report.entries:,} entries, {report.checkpoints} checkpoints "
              f"in {spent:.1f} s = {report.entries / spent:,.0f} entries/s")  # fmt: skip

    with snapshot(engine) as connection:  # a customer disclosed in the middle of the log
        customer = connection.scalar(
            text(
                "SELECT min(subject_id) FROM audit_subjects WHERE kind = 'customer' "
                "AND seq BETWEEN :low AND :high"
            ),
            {"low": args.entries // 2, "high": args.entries // 2 + 50},
        )

    def customer_report() -> dict:
        with snapshot(engine) as connection:
            return reports.customer_report(connection, customer)

    seconds, result = timed(customer_report)
    rows = len(result["disclosures"]) + len(result["refusals"])  # type: ignore[index]
    print(f"customer report ({customer}, {rows} entries): {seconds * 1000:.1f} ms")

    last = START + timedelta(seconds=args.entries * args.spacing)
    day = (last - timedelta(days=1)).date().isoformat()
    for label, since in (("1 day", day), ("7 days", (last - timedelta(days=7)).date().isoformat())):
        window = Window.parse(since, day)

        def breach_report(window: Window = window) -> dict:
            with snapshot(engine) as connection:
                return reports.breach_report(connection, "P000", window)

        seconds, result = timed(breach_report)
        totals = result["totals"]  # type: ignore[index]
        print(f"breach report (P000, {label}, {totals['requests']} requests, "
              f"{totals['customers_affected']} customers): {seconds * 1000:.1f} ms")  # fmt: skip

    window = Window.parse(day, day)
    with snapshot(engine) as connection:
        bounds = reports.seq_range(connection, window)
    print("plan, customer report:")
    print(plan(engine, reports.subject_query("customer", customer)))
    print("plan, breach report (1 day):")
    print(plan(engine, reports.breach_query("P000", window, *bounds)))  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between entries")
    parser.add_argument("--checkpoint-every", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="verify processes (0: one a CPU)")
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--keep", metavar="DIR", help="keep the SQLite file and keys in DIR")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-audit-")))
        if args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{workdir / 'gateway.db'}"
        if args.postgres:
            from tests.postgres import PostgresServer

            server = PostgresServer.start()
            stack.callback(server.stop)
            url = server.url()
        engine = db.create_gateway_engine(url, sqlite_synchronous="NORMAL")
        stack.callback(engine.dispose)
        db.upgrade(engine)
        keys = CheckpointKeys(workdir / "keys")
        keys.init(START.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        print(f"{engine.dialect.name}: filling {args.entries:,} entries …", flush=True)
        spent = fill(engine, args, keys)
        print(f"filled in {spent:.0f} s ({args.entries / spent:,.0f} entries/s)")
        measure(engine, args, keys)


if __name__ == "__main__":
    main()
