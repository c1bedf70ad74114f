"""JSON Lines input files (the operators' import format), read a line at a time.

Both import doors (customers, designations) read their files here and keep their tally in an
:class:`ImportTally`, so an oversized line, a bad line and a refused file are handled and
reported the same way everywhere: every bad line listed by number and reason (up to
:data:`MAX_LISTED_BAD`, the rest counted), nothing applied if any line is bad.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gateway.errors import InvalidInput

MAX_LISTED_BAD = 1000
REFUSED = "import refused, nothing applied (a file is applied whole or not at all)"


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str  # never quotes the line's values


@dataclass
class ImportTally:
    """What an all-or-nothing import read; each door adds the counts of what it applied
    (:meth:`applied_counts`, reported as zero when the file was refused)."""

    lines: int = 0
    records: int = 0  # good records
    bad: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return self.bad == 0

    def refuse_line(self, number: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_LISTED_BAD:
            self.bad_lines.append(BadLine(number, reason))

    def applied_counts(self) -> dict[str, int]:
        return {}

    def line(self) -> str:
        """The one summary line an operator reads."""
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "policy": "all-or-nothing",
            "lines": self.lines,
            "records": self.records,
            **{name: n if self.applied else 0 for name, n in self.applied_counts().items()},
            "bad": self.bad,
            "bad_records": [{"line": b.line, "reason": b.reason} for b in self.bad_lines],
            "bad_records_not_listed": self.bad - len(self.bad_lines),
        }


class ImportRefused(InvalidInput):
    """The file had bad lines; nothing was applied. ``summary`` lists them."""

    def __init__(self, summary: ImportTally, detail: str) -> None:
        super().__init__(detail)
        self.summary = summary


def read_lines(
    source: BinaryIO, max_bytes: int, digest: Any = None
) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, the line's bytes — None when longer than ``max_bytes`` —, bytes read),
    one line at a time; ``digest`` (a hashlib object) sees every byte read."""
    number = 0
    while True:
        raw = source.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if digest is not None:
            digest.update(raw)
        consumed = len(raw)
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while not raw.endswith(b"\n"):  # skip the rest of the line without holding it
                raw = source.readline(1 << 16)
                if not raw:
                    break
                if digest is not None:
                    digest.update(raw)
                consumed += len(raw)
            yield number, None, consumed
            continue
        yield number, raw, consumed
