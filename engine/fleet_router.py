"""Which replica of the fleet serves a writer: Serve's router, with each writer kept on one.

Serve's own router (power of two choices with its MultiplexMixin) sends a request to a replica
that has reported its writer loaded; a writer no replica has reported goes to a random one of
those with the fewest writers. Replicas report what they hold only after loading it, so in a
burst (many chats asking at once) every request of a writer not yet loaded is such a request,
and a writer's requests were spread over the replicas: each replica loaded it and generated for
fewer of its requests at once, which on CPU is most of a batch's gain (bench/fleet.py,
`writers_on_several_replicas`). Here such a writer is assigned a replica once — the one with
the fewest writers, counting those assigned but not yet reported, so a burst's writers are
shared out evenly — and its later requests go there too until the replica reports it. A
replica that is full sends a request to the others, as Serve's does. Serve's request router API
(`request_router_config`) is the documented way to do this.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from typing import Any

from ray.serve.request_router import (
    FIFOMixin,
    MultiplexMixin,
    PendingRequest,
    RequestRouter,
    RunningReplica,
)

__all__ = ["ASSIGNED_SECONDS", "Assignments", "WriterRouter", "assign"]

ASSIGNED_SECONDS = 30.0  # how long an assignment holds while its replica has not reported it

Assignments = dict[str, tuple[str, float]]  # model id -> (replica id, when assigned)


def _weight(model_id: str, replica: str) -> int:
    digest = hashlib.blake2b(f"{model_id}\0{replica}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(model_id: str, loaded: dict[str, set[str]], assigned: Assignments, now: float) -> str:
    """The replica (by id) for a writer none of `loaded` (replica id -> its writers) holds: the
    one it was assigned while that holds, else the replica with the fewest writers loaded or
    assigned (ties broken by a hash of the writer, the same in every proxy). Notes the choice
    in `assigned`, and forgets assignments that are reported or older than ASSIGNED_SECONDS."""
    for model, (replica, at) in list(assigned.items()):
        if now - at > ASSIGNED_SECONDS or replica not in loaded or model in loaded[replica]:
            del assigned[model]
    if model_id in assigned:
        return assigned[model_id][0]
    pending = Counter(replica for replica, _ in assigned.values())
    chosen = min(loaded, key=lambda r: (len(loaded[r]) + pending[r], -_weight(model_id, r)))
    assigned[model_id] = (chosen, now)
    return chosen


class WriterRouter(FIFOMixin, MultiplexMixin, RequestRouter):
    """First the replicas that have the writer loaded, else the one it is assigned; then the
    others. The mixins are Serve's own: a replica that has room is handed a waiting request for
    a writer it holds first (FIFOMixin, by MultiplexMixin's index of which replica holds which
    writer), else the oldest one."""

    def initialize_state(self, **kwargs: Any) -> None:
        self._assigned: Assignments = {}

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        if pending_request is None:
            return [_two_of(candidate_replicas)]
        # When every rank is full, wait before asking again, as Serve's own router does.
        pending_request.routing_context.should_backoff = True
        model = pending_request.metadata.multiplexed_model_id
        if not model or len(candidate_replicas) < 2:
            return [_two_of(candidate_replicas)]
        first = [r for r in candidate_replicas if model in r.multiplexed_model_ids]
        if not first:
            loaded = {
                r.replica_id.unique_id: set(r.multiplexed_model_ids) for r in candidate_replicas
            }
            chosen = assign(model, loaded, self._assigned, time.monotonic())
            first = [r for r in candidate_replicas if r.replica_id.unique_id == chosen]
        rest = [r for r in candidate_replicas if r not in first]
        return [_two_of(first), _two_of(rest)]


def _two_of(replicas: list[RunningReplica]) -> list[RunningReplica]:
    """At most two of a rank, at random: the router asks each for its queue length before it
    sends, and two are enough to choose well (Serve's own router asks two)."""
    return replicas if len(replicas) <= 2 else random.sample(replicas, 2)
