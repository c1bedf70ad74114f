"""Benchmark: stream a generated customer file through ``gateway customers import`` and report
the wall time and the importing process's peak RSS.

    python -m bench.imports [--lines 1000000] [--database-url URL]

The file is generated in a temporary directory (about 0.5 KB a line, with non-allowlisted
fields the door must drop); the import runs as a separate ``gateway`` process so its peak RSS
is measured alone. Peak RSS should stay flat as ``--lines`` grows: the import holds one batch,
never the file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(lines):
            record = {
                "customer_id": f"C-{n:08d}",
                "account_id": f"acct-{n}",
                "company_name": f"Company {n} K.K.",
                "name": f"Customer {n}",
                "email": f"c{n}@example.com",
                "phone": "03-0000-0000",
                "contract": {"usage_status": "active", "services": ["sync"]},
                "fees": {"plan": "standard", "monthly_amount": 5500, "currency": "JPY"},
                "inquiries": [{"inquiry_id": f"Q{n}", "content": "Sync stops after restart."}],
                "credit_check": "A",
                "internal_notes": "not shared",
            }
            handle.write(json.dumps(record) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file beside the data")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "customers.jsonl"
        started = time.monotonic()
        generate(data, args.lines)
        size = data.stat().st_size
        took = time.monotonic() - started
        print(f"generated {args.lines} lines, {size / 2**20:.0f} MiB in {took:.0f} s")

        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": args.database_url or f"sqlite:///{work}/gateway.db",
            "GATEWAY_KEYS_DIR": f"{work}/keys",
            "GATEWAY_OPERATOR": "benchmark",
        }
        gateway = [sys.executable, "-m", "gateway"]
        subprocess.run(  # noqa: S603 - our own command, fixed arguments
            [*gateway, "db", "upgrade"], env=env, check=True, capture_output=True
        )
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603 - our own command, fixed arguments
            [*gateway, "customers", "import", str(data)], env=env, capture_output=True, text=True
        )
        elapsed = time.monotonic() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        print(result.stdout.strip() or result.stderr.strip())
        print(
            f"import: {elapsed:.0f} s ({args.lines / elapsed:.0f} records/s), "
            f"peak RSS {peak_kib / 1024:.0f} MiB for a {size / 2**20:.0f} MiB file"
        )
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
