"""Verify an access-log export offline: ``python -m gateway.audit.verify_export EXPORT KEYS``.

For an auditor without the gateway's database: ``EXPORT`` is a JSON-lines export
(``gateway audit export``), ``KEYS`` the published checkpoint keys (``checkpoint-keys.json``
from the keys directory, or one PEM public key). Prints the verdict; exit status 0 only when
the export is intact, 1 when it is not, 2 when the files cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.audit.checkpoint import load_trusted
from gateway.audit.verifier import ExportFormatError, verify_export
from gateway.errors import GatewayError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.audit.verify_export")
    parser.add_argument("export", type=Path, help="the JSON-lines export")
    parser.add_argument("public_key", type=Path, help="checkpoint-keys.json or a PEM public key")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    args = parser.parse_args(argv)
    try:
        trusted = load_trusted(args.public_key)
        with open(args.export, encoding="utf-8") as lines:
            report = verify_export(lines, trusted)
    except (OSError, GatewayError, ExportFormatError, KeyError, ValueError) as error:
        print(f"error: {getattr(error, 'detail', None) or error}", file=sys.stderr)
        return 2
    verdict = report.as_dict() | {"complete": report.complete, "subtrees": report.subtrees}
    if args.json:
        print(json.dumps(verdict, indent=2))
    elif report.intact:
        scope = "complete" if report.complete else f"filtered, {report.subtrees} subtrees"
        print(f"export intact: {report.entries} entries ({scope}), sealed through entry "
              f"{report.sealed_size}")  # fmt: skip
    else:
        found, problem = report.first_break, report.checkpoint_problem
        if found is not None:
            print(f"NOT INTACT at entry {found.seq} ({found.kind}): {found.detail}")
        if problem is not None:
            print(f"checkpoint at {problem.size} ({problem.kind}): {problem.detail}")
    return 0 if report.intact else 1


if __name__ == "__main__":
    sys.exit(main())
