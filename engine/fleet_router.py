"""Which replica of the fleet serves a writer: Serve's router, with each writer kept on one.

Serve's own router (power of two choices with its MultiplexMixin) sends a request to a replica
that has reported its writer loaded; a writer no replica has reported goes to a random one of
those with the fewest writers. In a burst (many chats asking at once) every request of a writer
not yet loaded is such a request, so a writer's requests were spread over the replicas: each
replica loaded it and generated for fewer of its requests at once, which on CPU is most of a
batch's gain (bench/fleet.py, `writers_on_several_replicas`). Here a writer that no replica has
loaded goes first to the replica its model id hashes to (rendezvous hashing: when a replica
comes or goes, only the writers it owned move), and to another only when that one is full.
Serve's request router API (`request_router_config`) is the documented way to do this.
"""

from __future__ import annotations

import hashlib

from ray.serve.request_router import (
    FIFOMixin,
    MultiplexMixin,
    PendingRequest,
    RequestRouter,
    RunningReplica,
)

__all__ = ["WriterRouter", "owner"]


def _weight(model_id: str, replica: str) -> int:
    digest = hashlib.blake2b(f"{model_id}\0{replica}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(model_id: str, replicas: list[str]) -> str:
    """The replica (by id) a writer goes to when none has it loaded: the highest weight."""
    return max(replicas, key=lambda replica: _weight(model_id, replica))


class WriterRouter(FIFOMixin, MultiplexMixin, RequestRouter):
    """First the replicas that have the writer loaded, else its owner; then all the others."""

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        if pending_request is None:
            return [candidate_replicas]
        # When every rank is full, wait before asking again, as Serve's own router does.
        pending_request.routing_context.should_backoff = True
        model = pending_request.metadata.multiplexed_model_id
        if not model or len(candidate_replicas) < 2:
            return [candidate_replicas]
        first = [r for r in candidate_replicas if model in r.multiplexed_model_ids]
        if not first:
            chosen = owner(model, [r.replica_id.unique_id for r in candidate_replicas])
            first = [r for r in candidate_replicas if r.replica_id.unique_id == chosen]
        return [first, [r for r in candidate_replicas if r not in first]]
