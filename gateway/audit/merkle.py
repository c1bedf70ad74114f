"""The Merkle tree of the access log, as RFC 9162 (Certificate Transparency 2.0) defines it.

Leaf *i* is the chain hash of entry *i + 1* (its ``entry_hash``, 32 bytes). The tree hash of
a list of leaves is RFC 9162 section 2.1.1's Merkle Tree Hash:

- ``MTH({}) = SHA-256()``
- ``MTH({d}) = SHA-256(0x00 || d)``
- ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``, ``k`` the largest power of two
  smaller than ``n``.

A checkpoint signs the tree hash of the whole log, so one entry — or a filtered selection —
can be proven to sit at its place in a signed log without the other entries: an export carries
the hashes of the subtrees it leaves out (:func:`covering_subtrees`), and
:func:`root_from_pieces` rebuilds the root from entries and subtrees alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first.

    Appending is amortised one node hash a leaf; the tree hash of everything appended so far
    folds the edge from the right (the same value as RFC 9162's recursive definition). A
    checkpoint keeps its frontier, so the next one hashes only the entries after it.
    """

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.nodes = list(nodes)
        if len(self.nodes) != bin(size).count("1"):
            raise ValueError("a frontier has one node per set bit of its size")

    def append(self, leaf: bytes) -> None:
        """Append one leaf (the raw leaf data; it is hashed here)."""
        digest = _sha256(_LEAF + leaf).digest()
        nodes = self.nodes
        size = self.size
        while size & 1:
            digest = _sha256(_NODE + nodes.pop() + digest).digest()
            size >>= 1
        nodes.append(digest)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        digest = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            digest = _sha256(_NODE + left + digest).digest()
        return digest

    def copy(self) -> Frontier:
        return Frontier(self.size, self.nodes)

    def extended(self, following: Frontier) -> Frontier:
        """This tree followed by the leaves of ``following``, hashed without those leaves.

        Valid when this tree's size is a multiple of the power of two at or above
        ``following.size`` (a chunk aligned on its size): each of ``following``'s perfect
        subtrees then lands where a subtree of its size starts in the whole tree."""
        nodes, size = list(self.nodes), self.size
        heights = [
            h for h in range(following.size.bit_length() - 1, -1, -1) if following.size >> h & 1
        ]
        for digest, height in zip(following.nodes, heights, strict=True):
            if size % (1 << height):
                raise ValueError("the following tree is not aligned on its size")
            position = size >> height
            while position & 1:
                digest = _sha256(_NODE + nodes.pop() + digest).digest()
                position >>= 1
            nodes.append(digest)
            size += 1 << height
        return Frontier(size, nodes)


def covering_subtrees(start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """The largest subtrees of the tree of ``size`` leaves that exactly tile leaves
    ``[start, end)``, left to right: what an export sends in place of the entries it omits."""

    def walk(low: int, high: int) -> Iterator[tuple[int, int]]:
        if end <= low or high <= start:
            return
        if start <= low and high <= end:
            yield low, high
            return
        middle = low + split_point(high - low)
        yield from walk(low, middle)
        yield from walk(middle, high)

    if start < end:
        yield from walk(0, size)


class ProofError(ValueError):
    """The pieces do not tile the tree: one is missing, misplaced or left over."""


def root_from_pieces(size: int, pieces: Iterable[tuple[int, int, bytes]]) -> bytes:
    """Rebuild the tree hash of ``size`` leaves from pieces ``(start, end, hash)`` given left
    to right, each a whole subtree of the tree: a single entry's leaf hash
    (``end = start + 1``) or the hash of omitted leaves. Memory stays O(log size)."""
    if size == 0:
        for _ in pieces:
            raise ProofError("an empty tree has no pieces")
        return EMPTY_ROOT
    stream = iter(pieces)
    pending: list[tuple[int, int, bytes] | None] = [next(stream, None)]

    def take(low: int, high: int) -> bytes:
        piece = pending[0]
        if piece is None:
            raise ProofError(f"leaves {low}..{high - 1} are not covered")
        if piece[0] == low and piece[1] == high:
            pending[0] = next(stream, None)
            return piece[2]
        if high - low == 1 or not (low <= piece[0] < high):
            raise ProofError(f"leaves {low}..{high - 1} are not covered")
        middle = low + split_point(high - low)
        left = take(low, middle)
        return node_hash(left, take(middle, high))

    root = take(0, size)
    if pending[0] is not None:
        raise ProofError(f"a piece at leaves {pending[0][0]}..{pending[0][1] - 1} is left over")
    return root
