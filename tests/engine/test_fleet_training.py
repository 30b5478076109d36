"""The fleet's trainer (engine/fleet_training.py) on the session's Ray: what it refuses before a
task starts, what a task refuses, and a run that finds no room on the cluster. Runs that finish,
and a task killed mid-run, are in tests/bot/test_fleet_trainer.py, as the bot sees them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.ray_cluster import RAY_MISSING

pytest.importorskip("ray.serve", reason=RAY_MISSING)

from engine.errors import EngineError
from engine.fleet_training import Job, TrainerOptions, build, parse_job

ROOT = Path(__file__).resolve().parents[2]
TEXT = "The knight said that the princess slept. She slept, and he said so again.\n" * 20


def job(base: Path, out: Path, **changes: Any) -> dict[str, Any]:
    return {
        "run_id": 7,
        "parent": str(base),
        "base": str(base),
        "out": str(out),
        "texts": [["story 1", TEXT]],
        "time_budget": 2.0,
        "threads": 1,
        "min_gain_bits": 0.0,
        "max_forget_bits": 5.0,
        **changes,
    }


def post(url: str, body: object) -> tuple[int, list[dict[str, Any]]]:
    """POST a job; the status and every JSON line of the answer, as they came."""
    request = urllib.request.Request(
        f"{url}/finetune", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, [json.loads(line) for line in response if line.strip()]
    except urllib.error.HTTPError as exc:
        return exc.code, [json.loads(exc.read())]


def test_a_job_is_read_field_by_field(tmp_path: Path) -> None:
    """Every field is checked and named; gpus may be left out."""
    read = parse_job(job(tmp_path, tmp_path / "out"))
    assert read == Job(7, str(tmp_path), str(tmp_path), str(tmp_path / "out"),
                       [("story 1", TEXT)], 2.0, 1, 0.0, 5.0, 0.0)  # fmt: skip
    for bad, named in (
        ({"threads": "1"}, "'threads'"),
        ({"texts": [["only a name"]]}, "'texts'"),
        ({"out": ""}, "'out'"),
        ({"colour": 1}, "colour"),
        ({"gpus": -1}, "gpus >= 0"),
    ):
        with pytest.raises(EngineError, match=named):
            parse_job({**job(tmp_path, tmp_path / "out"), **bad})


def test_the_serve_config_builds_the_trainer_beside_the_writer() -> None:
    """engine/fleet.yaml's "trainer" application: its args are the trainer's options, at /trainer;
    an unknown option is refused naming it."""
    import yaml
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((ROOT / "engine" / "fleet.yaml").read_text(encoding="utf-8"))
    apps = ServeDeploySchema.model_validate(config).applications
    (app,) = [a for a in apps if a.import_path == "engine.fleet_training:build"]
    assert (app.name, app.route_prefix) == ("trainer", "/trainer")
    assert TrainerOptions(**app.args) == TrainerOptions()
    with pytest.raises(EngineError, match="queue_second"):
        build({"queue_second": 1})


@pytest.mark.slow
def test_a_bad_job_is_answered_400_before_any_task(fleet_trainer: str, tmp_path: Path) -> None:
    status, [reply] = post(fleet_trainer, {"run_id": 1})
    assert status == 400 and not reply["ok"] and "field" in reply["error"]


@pytest.mark.slow
def test_a_job_the_engine_refuses_ends_with_its_words(
    fleet_trainer: str, random_writer_dir: Path, tmp_path: Path
) -> None:
    """A parent that is no checkpoint: the task started (its first heartbeat says where), then
    the engine's own error, as `engine finetune` prints it; nothing is written."""
    missing, out = tmp_path / "no-such-writer", tmp_path / "out"
    status, lines = post(fleet_trainer, job(random_writer_dir, out, parent=str(missing)))
    assert status == 200
    started = next(i for i, line in enumerate(lines) if "pid" in line)  # it ran, then
    assert {line["phase"] for line in lines[:started]} <= {"queued"}  # (a worker starting)
    assert lines[started]["event"] == "progress" and lines[started]["pid"] > 0
    assert lines[-1]["event"] == "error" and lines[-1]["kind"] == "refused"
    assert str(missing) in lines[-1]["reason"]
    assert not out.exists()


@pytest.mark.slow
def test_a_run_with_no_room_on_the_cluster_is_refused(
    fleet_trainer: str, random_writer_dir: Path, tmp_path: Path
) -> None:
    """A GPU asked of a cluster without one: "queued" heartbeats while it waits, then refused
    after queue_seconds (3 s here), saying what it needed; the task never ran."""
    status, lines = post(fleet_trainer, job(random_writer_dir, tmp_path / "out", gpus=1))
    assert status == 200
    assert {line.get("phase") for line in lines[:-1]} == {"queued"} and len(lines) >= 4
    assert lines[-1]["kind"] == "refused" and "(1 CPU and 1 GPU)" in lines[-1]["reason"]
