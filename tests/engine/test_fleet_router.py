"""Which replica a writer no replica has loaded goes to (engine/fleet_router.py `owner`)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.serve", reason="Ray Serve is not installed: the writer fleet's tests")

from engine.fleet_router import owner

WRITERS = [f"writer:/data/writers/{n}" for n in range(400)]


def test_a_writer_has_one_owner_whatever_the_order_of_the_replicas() -> None:
    replicas = ["a1", "b2", "c3"]
    for writer in WRITERS[:50]:
        assert owner(writer, replicas) == owner(writer, list(reversed(replicas)))


def test_writers_are_spread_over_the_replicas() -> None:
    replicas = ["a1", "b2", "c3", "d4"]
    counts = {r: sum(owner(w, replicas) == r for w in WRITERS) for r in replicas}
    assert min(counts.values()) >= 60, counts  # 100 each if even


def test_a_replica_gone_moves_only_its_own_writers() -> None:
    before = {w: owner(w, ["a1", "b2", "c3"]) for w in WRITERS}
    after = {w: owner(w, ["a1", "c3"]) for w in WRITERS}
    moved = {w for w in WRITERS if before[w] != after[w]}
    assert moved == {w for w in WRITERS if before[w] == "b2"}
