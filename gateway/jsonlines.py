"""JSON Lines input files (the operators' import format), read a line at a time.

Both import doors (customers, designations) read their files here, so an oversized line is
handled the same way everywhere: reported, never held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO


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
