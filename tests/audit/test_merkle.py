"""The Merkle tree and the fast entry encoding against their definitions."""

from __future__ import annotations

import hashlib
import random

import pytest

from gateway.audit import merkle
from gateway.audit.chain import HASHED_FIELDS, entry_body
from gateway.audit.verifier import ENTRY_COLUMNS, fast_entry_body


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, word for word."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = merkle.split_point(len(leaves))
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


@pytest.mark.parametrize("size", [*range(0, 34), 100, 257])
def test_frontier_root_is_the_rfc_9162_tree_hash(size):
    frontier = merkle.Frontier()
    for leaf in _leaves(size):
        frontier.append(leaf)
    assert frontier.root() == _mth(_leaves(size))


def test_a_frontier_resumes_from_its_saved_edge():
    frontier = merkle.Frontier()
    for leaf in _leaves(13):
        frontier.append(leaf)
    resumed = merkle.Frontier(frontier.size, frontier.nodes)
    for leaf in _leaves(40)[13:]:
        resumed.append(leaf)
    assert resumed.root() == _mth(_leaves(40))


@pytest.mark.parametrize("seed", range(30))
def test_selected_leaves_and_covering_subtrees_rebuild_the_root(seed):
    rng = random.Random(seed)
    size = rng.randint(1, 70)
    leaves = _leaves(size)
    chosen = sorted(rng.sample(range(size), rng.randint(0, size)))
    pieces, position = [], 0
    for index in [*chosen, size]:
        for low, high in merkle.covering_subtrees(position, index, size):
            pieces.append((low, high, _mth(leaves[low:high])))
        if index < size:
            pieces.append((index, index + 1, merkle.leaf_hash(leaves[index])))
        position = index + 1
    assert merkle.root_from_pieces(size, pieces) == _mth(leaves)
    if len(pieces) > 1:
        with pytest.raises(merkle.ProofError):
            merkle.root_from_pieces(size, pieces[:-1])
        with pytest.raises(merkle.ProofError):
            merkle.root_from_pieces(size, [pieces[-1], *pieces[:-1]])


@pytest.mark.parametrize(
    "value",
    ["plain", 'quote " and \\ backslash', "control \x01\n\t", "日本語 ☃", "", None],
)
def test_fast_entry_body_is_the_canonical_body(value):
    entry = {name: value for name in HASHED_FIELDS}
    entry["seq"] = 12345
    row = tuple(entry.get(name) for name in ENTRY_COLUMNS)
    assert fast_entry_body(row) == entry_body(entry)


@pytest.mark.parametrize(("bits", "size"), [(2, 4), (2, 13), (3, 8), (3, 29), (4, 100)])
def test_a_tree_extended_by_aligned_chunks_is_the_whole_tree(bits, size):
    chunk, whole = 1 << bits, merkle.Frontier()
    for low in range(0, size, chunk):
        part = merkle.Frontier()
        for leaf in _leaves(size)[low : low + chunk]:
            part.append(leaf)
        whole = whole.extended(part)
    assert (whole.size, whole.root()) == (size, _mth(_leaves(size)))
