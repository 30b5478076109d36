"""Which replica a writer no replica has loaded goes to (engine/fleet_router.py `assign`)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.serve", reason="Ray Serve is not installed: the writer fleet's tests")

from engine.fleet_router import ASSIGNED_SECONDS, Assignments, assign

WRITERS = [f"writer:/data/writers/{n}" for n in range(50)]


def test_a_writer_keeps_its_replica_until_one_reports_it() -> None:
    loaded: dict[str, set[str]] = {"a1": set(), "b2": set()}
    assigned: Assignments = {}
    first = assign(WRITERS[0], loaded, assigned, 0.0)
    assert {assign(WRITERS[0], loaded, assigned, t) for t in (0.1, 1.0, 5.0)} == {first}
    loaded[first].add(WRITERS[0])  # the replica loaded it and said so
    assign(WRITERS[1], loaded, assigned, 6.0)
    assert WRITERS[0] not in assigned


def test_a_burst_of_new_writers_is_shared_out_evenly() -> None:
    loaded: dict[str, set[str]] = {"a1": set(), "b2": set(), "c3": {"base"}}
    assigned: Assignments = {}
    chosen = [assign(w, loaded, assigned, 0.0) for w in WRITERS[:30]]
    counts = {r: chosen.count(r) + len(loaded[r]) for r in loaded}
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_writers_loaded_one_after_another_fill_the_replicas_evenly() -> None:
    """16 writers warmed one at a time over 2 replicas of room 8: 8 each, none evicted."""
    loaded: dict[str, set[str]] = {"a1": set(), "b2": set()}
    assigned: Assignments = {}
    for n, writer in enumerate(WRITERS[:16]):
        loaded[assign(writer, loaded, assigned, float(n))].add(writer)
    assert [len(writers) for writers in loaded.values()] == [8, 8]


def test_an_assignment_lapses_and_a_replica_gone_is_not_chosen() -> None:
    loaded: dict[str, set[str]] = {"a1": set(), "b2": set()}
    assigned: Assignments = {}
    first = assign(WRITERS[0], loaded, assigned, 0.0)
    other = "b2" if first == "a1" else "a1"
    loaded[first] |= {"x", "y"}  # the assigned replica is busier now
    assert assign(WRITERS[0], loaded, assigned, 1.0) == first  # the assignment holds
    assert assign(WRITERS[0], loaded, assigned, ASSIGNED_SECONDS + 1) == other  # chosen afresh
    del loaded[other]
    assert assign(WRITERS[0], loaded, assigned, ASSIGNED_SECONDS + 2) == first
