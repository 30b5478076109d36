"""`python -m engine fleet deploy`: the writer fleet (engine/fleet.py) onto a running Ray cluster,
with `--trainer` also its trainer (engine/fleet_training.py: fine-tunes as Ray tasks).

Ray is imported here, when the command runs, so that `python -m engine --help` stays fast and
nothing else needs Ray installed. Serve keeps the application running after this command exits;
`serve shutdown` (or deploying again) replaces it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from engine.errors import EngineError


def main_fleet(args: argparse.Namespace) -> int:
    # `ray start --head` turns token authentication on where a token exists (~/.ray/auth_token),
    # but a driver given an explicit address sends it only in token mode: ask for that mode
    # (before Ray reads its settings) whenever a token is at hand, unless RAY_AUTH_MODE is set.
    if _token_at_hand():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
        from ray import serve
        from ray.serve.context import _get_global_client
    except ImportError as exc:
        raise EngineError("the fleet needs Ray: pip install -e '.[fleet]'") from exc
    from engine.fleet import FleetOptions, application

    options = FleetOptions(
        model=str(Path(args.model).resolve()),  # the same path on every node
        replicas=args.replicas,
        cpus_per_replica=args.cpus_per_replica,
        gpus_per_replica=args.gpus_per_replica,
        max_loaded=args.max_loaded,
        threads=args.threads,
        quantize=args.quantize,
        batch_wait_ms=args.batch_wait_ms,
        max_batch=args.max_batch,
    )
    try:
        ray.init(address=args.address, logging_level=logging.WARNING, log_to_driver=False)
    except ConnectionError as exc:
        raise EngineError(
            f"no Ray cluster at {args.address} (or it wants another token: RAY_AUTH_TOKEN): {exc}"
        ) from exc
    try:
        # --host and --port apply when Serve first starts on the cluster; later it keeps them.
        serve.start(http_options={"host": args.host, "port": args.port})
        route = f"/{args.name}"
        serve.run(application(options), name=args.name, route_prefix=route, blocking=False)
        if args.trainer:  # fine-tunes as Ray tasks, beside the writer (engine/fleet_training.py)
            from engine import fleet_training

            trainer = f"/{args.trainer_name}"
            tasks = fleet_training.application(fleet_training.TrainerOptions())
            serve.run(tasks, name=args.trainer_name, route_prefix=trainer, blocking=False)
        client = _get_global_client()
        assert client is not None  # serve.start connected it
        http = client.http_config  # what Serve does listen on
        host = ray.util.get_node_ip_address() if http.host in ("0.0.0.0", "::") else http.host
        print(f"http://{host}:{http.port}{route}")
        if args.trainer:
            print(f"http://{host}:{http.port}{trainer}")
        print(
            f"the writer fleet: {args.replicas} replica(s) of {options.model}; set [writer] "
            'backend = "fleet" and fleet_url to the URL above',
            file=sys.stderr,
        )
        if args.trainer:
            print(
                'the trainer: set [training] backend = "fleet" and fleet_url to the second URL',
                file=sys.stderr,
            )
    finally:
        ray.shutdown()  # the driver only: the cluster and the application keep running
    return 0


def _token_at_hand() -> bool:
    """Whether a Ray authentication token is where Ray looks for one."""
    named = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    return any(os.environ.get(v) for v in named) or (Path.home() / ".ray" / "auth_token").is_file()
