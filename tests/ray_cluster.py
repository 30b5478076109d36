"""One local Ray cluster with the writer fleet on it, for the whole test session.

Starting Ray and Serve and deploying costs seconds, so tests/conftest.py's `writer_fleet` starts
them once: Ray with 2 CPUs and no dashboard, Serve's HTTP proxy on a free port of 127.0.0.1, the
fleet (engine/fleet.py) with 2 replicas of half a CPU each (room left for a test to deploy one
more), one torch thread each. Tests share it, so none may change what it serves.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

APP = "writer"  # engine/fleet.py's APP_NAME (this module imports nothing of Ray or torch)
_REPLICA_ACTOR = f"SERVE_REPLICA::{APP}#Writer"  # how Serve names a replica's actor
RAY_MISSING = "Ray Serve is not installed (pip install -e '.[fleet]'): the writer fleet's tests"
REPLICAS = 2


@dataclass(frozen=True)
class Fleet:
    url: str  # what a bot's [writer] fleet_url names
    base: Path  # the base writer the replicas serve
    address: str  # the Ray cluster's, for `python -m engine fleet deploy --address`

    def replicas(self) -> set[str]:
        """The ids of the fleet's live replicas (as X-Relaytale-Replica names them)."""
        import ray

        prefix = f"{_REPLICA_ACTOR}#"
        named = ray.util.list_named_actors(all_namespaces=True)
        return {a["name"].removeprefix(prefix) for a in named if a["name"].startswith(prefix)}

    def kill(self, replica: str) -> None:
        """Kill a replica's actor, as a crash would; Serve starts another in its place."""
        import ray

        ray.kill(ray.get_actor(f"{_REPLICA_ACTOR}#{replica}", namespace="serve"), no_restart=True)

    def wait_replaced(self, killed: str, timeout: float = 60.0) -> None:
        """Wait until Serve runs REPLICAS replicas again, the killed one not among them."""
        from ray import serve

        deadline = time.monotonic() + timeout
        while True:
            states = serve.status().applications[APP].deployments["Writer"].replica_states
            live = self.replicas()
            if killed not in live and len(live) == states.get("RUNNING", 0) == REPLICAS:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas {live}, {states}: {killed} not replaced")
            time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(base: Path, environment: dict[str, str] | None = None) -> Fleet:
    """Start Ray and Serve in this process and deploy the fleet serving `base`; Ray's processes
    (its replicas and tasks, as a cluster's machines would be set up) get `environment` too."""
    import ray
    from ray import serve

    from engine.fleet import APP_NAME, build

    assert APP_NAME == APP
    before = dict(os.environ)
    os.environ.update(environment or {})
    try:  # Ray's processes start now and keep the environment they start with
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    finally:
        os.environ.clear()
        os.environ.update(before)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    options = {"model": str(base), "replicas": REPLICAS, "cpus_per_replica": 0.5}
    serve.run(build(options), name=APP_NAME, route_prefix=f"/{APP_NAME}")
    address = ray.get_runtime_context().gcs_address
    return Fleet(f"http://127.0.0.1:{port}/{APP_NAME}", base, address)


def stop() -> None:
    """Serve's actors, then Ray's processes: nothing is left running."""
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()
