"""Several bot processes on one PostgreSQL against one process on SQLite, under one chat load.

Many Telegram groups play whole rounds at once (a story, every member writes, /continue with
short candidates from the real writer worker, every member taps a vote button, the round
closes at its deadline), every group taking each step together, so that the votes are
measured while no generation is in flight. The updates go through webhook mode: the fake Bot
API of the tests POSTs each one to the bot processes round-robin, as a load balancer would,
retrying another process when one does not answer. On PostgreSQL one of the two processes is
SIGKILLed halfway and started again; the other must close its rounds. Members whose command
got no answer ask again after a while, as people do. The bots do not pace their sends to
Telegram's flood limits here (the fake has none; Telegram allows a bot about 30 messages a
second in all), so what is measured is relaytale. Prints one JSON object:

    .venv/bin/python bench/cluster_load.py --chats 1000 --members 5 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._cluster import Chats, count_outcome  # noqa: E402
from tests.bot.platforms.telegram.fake_bot_api import TOKEN  # noqa: E402
from tests.postgres_server import PostgresServer, new_database, server_binaries  # noqa: E402

SECRET = "cluster-bench-secret"
WEBHOOK = "https://bench.example:8443/telegram"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, base_url: str, port: int, args: argparse.Namespace) -> Path:
    path = folder / f"bot-{port}.toml"
    path.write_text(
        f"[relay]\nvote_seconds = {args.vote_seconds}\ncandidates = 3\n"
        f'[writer]\nmodel_dir = "{args.model}"\ndevice = "cpu"\ntimeout_seconds = 120\n'
        f'[telegram]\nbase_url = "{base_url}"\nmode = "webhook"\nflood_limits = false\n'
        f'webhook_url = "{WEBHOOK}"\nlisten = "127.0.0.1:{port}"\n'
        f"[storage]\nbackup_minutes = 0\n[training]\nenabled = false\n",
        encoding="utf-8",
    )
    return path


def start_bot(config: Path, db: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "DISCORD_TOKEN": "",
        "RELAYTALE_LOG": "WARNING",
    }
    command = [sys.executable, "-m", "bot", "--platform", "telegram", "--config", str(config)]
    with log.open("ab") as out:
        return subprocess.Popen([*command, "--db", db], cwd=ROOT, env=env, stdout=out, stderr=out)


async def listening(port: int, timeout: float = 180.0) -> None:
    """Wait until the process serves its webhook (its writer worker started first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.5)
    raise TimeoutError(f"no bot listening on {port}")


async def run_stage(
    name: str, db: str, processes: int, kill: bool, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """One stage: start the fake Telegram and the bot processes, play every chat, count."""
    chats = Chats(args.chats, args.members, args.rounds, args.length, args.vote_spread)
    await chats.fake.start()
    ports = [free_port() for _ in range(processes)]
    configs = [write_config(folder, chats.fake.base_url, port, args) for port in ports]
    logs = [folder / f"{name}-{i}.log" for i in range(processes)]
    bots = [start_bot(c, db, log) for c, log in zip(configs, logs, strict=True)]
    takeover: dict[str, float] = {}
    down = (0.0, 0.0)  # while the killed process was down (monotonic)
    lags: list[float] = []
    stolen: list[tuple[float, float]] = []
    lag: asyncio.Task[None] | None = None
    steal: asyncio.Task[None] | None = None
    bot_cpu = 0.0  # seconds of CPU the bot processes used while the chats played
    try:
        await asyncio.gather(*(listening(port) for port in ports))
        chats.fake.backends.extend(f"127.0.0.1:{port}" for port in ports)
        started = time.monotonic()
        bot_cpu -= sum(process_cpu_seconds(bot.pid) for bot in bots)
        no_full_collections()
        lag = asyncio.create_task(loop_lag(lags))
        steal = asyncio.create_task(cpu_stolen(stolen))
        play = asyncio.create_task(chats.play_all())
        if kill:
            await chats.opened.wait()  # half the rounds are open
            takeover["killed_at"] = time.time()
            down_since = time.monotonic()
            bot_cpu += process_cpu_seconds(bots[-1].pid)
            bots[-1].send_signal(signal.SIGKILL)
            bots[-1].wait()
            await asyncio.sleep(args.down_seconds)
            bots[-1] = start_bot(configs[-1], db, logs[-1])
            await listening(ports[-1])
            bot_cpu -= process_cpu_seconds(bots[-1].pid)  # its start-up is not the chats' load
            takeover["restarted_at"] = time.time()
            down = (down_since, time.monotonic())
        await play
        elapsed = time.monotonic() - started
        bot_cpu += sum(process_cpu_seconds(bot.pid) for bot in bots)
    finally:
        gc.unfreeze()
        gc.set_threshold(*COLLECTION_THRESHOLDS)
        for task in (lag, steal):
            if task is not None:
                task.cancel()
        for bot in bots:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
        for bot in bots:
            try:
                bot.wait(timeout=60)
            except subprocess.TimeoutExpired:
                bot.kill()
        await chats.fake.close()
    outcome = await count_outcome(db, chats, takeover)

    # Vote replies by whether the tap was sent while one process was down (its load on the other;
    # a tap sent to the killed one is retried on the other, as a load balancer does).
    def was_down(at: float) -> bool:
        return down[0] <= at < down[1]

    while_down: dict[bool, list[float]] = {False: [], True: []}
    for ms, at in zip(chats.vote_ms, chats.vote_started, strict=True):
        while_down[was_down(at)].append(ms)
    if args.timeline:
        write_timeline(Path(f"{args.timeline}.{name}.jsonl"), chats, started, down, stolen)
    return {
        "stage": name,
        "bot_processes": processes,
        "killed_and_restarted": kill,
        "seconds": round(elapsed, 1),
        "rounds_per_minute": round(outcome["rounds"]["closed"] / elapsed * 60, 1),
        "vote_reply_ms": percentiles(chats.vote_ms),
        "vote_reply_ms_all_up": percentiles(while_down[False]),
        "vote_reply_ms_one_down": percentiles(while_down[True]),
        "continue_ms": percentiles(chats.continue_ms),
        # The bot processes' own CPU (not their writer workers'), in all and per update POST.
        "bot_cpu_seconds": round(bot_cpu, 1),
        "bot_cpu_ms_per_post": round(1000 * bot_cpu / max(1, len(chats.fake.deliveries)), 2),
        "member_retries": chats.retries,
        "round_ends_never_shown": chats.ends_unseen,
        # How late the bench's own loop woke (its members and fake Telegram share it): when
        # this is large, the figures above measure the bench, not the bots.
        "bench_loop_lag_ms": percentiles(lags),
        # The machine's CPU taken by its hypervisor for other guests, each second of the stage.
        "cpu_stolen_percent": stolen_summary(stolen),
        "cpu_stolen_percent_one_down": stolen_summary(
            [(at, share) for at, share in stolen if was_down(at)]
        ),
        **outcome,
    }


def write_timeline(
    path: Path,
    chats: Chats,
    started: float,
    down: tuple[float, float],
    stolen: list[tuple[float, float]],
) -> None:
    """Every tap (sent at, reply ms), every update POSTed (how long it waited for a sender, how
    long the process took to answer, which process), every call the bots made and each second's
    stolen CPU, in seconds from the start: to see what the slow replies coincide with."""
    with path.open("w", encoding="utf-8") as out:
        # The wall-clock start, to line the timeline up with other logs (PostgreSQL's, vmstat).
        began = time.time() - (time.monotonic() - started)
        out.write(json.dumps({"down": [t - started for t in down], "started": began}) + "\n")
        for ms, at in zip(chats.vote_ms, chats.vote_started, strict=True):
            out.write(json.dumps({"tap": round(at - started, 3), "ms": round(ms, 1)}) + "\n")
        for queued, posted, answered, backend in chats.fake.deliveries:
            out.write(
                json.dumps(
                    {
                        "post": round(posted - started, 3),
                        "queued_ms": round((posted - queued) * 1000, 1),
                        "ms": round((answered - posted) * 1000, 1),
                        "to": backend.rsplit(":", 1)[-1],
                    }
                )
                + "\n"
            )
        for at, call in chats.fake.timed_calls:
            out.write(json.dumps({"call": call.method, "at": round(at - started, 3)}) + "\n")
        for at, share in stolen:
            out.write(json.dumps({"stolen": round(share, 1), "at": round(at - started, 1)}) + "\n")


COLLECTION_THRESHOLDS = gc.get_threshold()


def no_full_collections() -> None:
    """Keep the bench's own full garbage collections out of the figures. As its records grew
    they took 100–600 ms each, and every reply in flight waited for them (in a run with their
    times logged, the slow taps of the run fell in the seconds of those collections). Young
    collections go on; what survives them waits for the end of the stage."""
    gc.freeze()
    young, middle, _ = COLLECTION_THRESHOLDS
    gc.set_threshold(young, middle, 1_000_000)


async def loop_lag(lags: list[float], every: float = 0.05) -> None:
    """How much later than asked this loop wakes, every `every` seconds, in ms."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(every)
        lags.append((time.monotonic() - asked - every) * 1000)


def cpu_times() -> tuple[int, int] | None:
    """(all, stolen) CPU time of this machine since boot, in ticks; None off Linux. Steal is
    time the hypervisor gave other guests while this one had work to run."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks), ticks[7]


def process_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used so far, its children not counted (the
    writer worker); 0.0 off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def cpu_stolen(shares: list[tuple[float, float]], every: float = 1.0) -> None:
    """Each second, (when, % of the machine's CPU stolen by its hypervisor): on a shared
    virtual machine it reached 20–40 % for half a minute, and no code wins that CPU back."""
    before = cpu_times()
    while before is not None:
        await asyncio.sleep(every)
        now = cpu_times()
        assert now is not None
        total = now[0] - before[0]
        shares.append((time.monotonic(), 100 * (now[1] - before[1]) / total if total else 0.0))
        before = now


def stolen_summary(shares: list[tuple[float, float]]) -> dict[str, float | int]:
    values = [share for _, share in shares]
    if not values:
        return {"n": 0}
    return {
        "mean": round(statistics.fmean(values), 1),
        "max": round(max(values), 1),
        "seconds_over_10": sum(value > 10 for value in values),
    }


async def log_what_is_slow(server: PostgresServer) -> None:
    """Have the server log what could make replies slow: statements over 50 ms, autovacuum
    and autoanalyze runs, checkpoints, lock waits."""
    import asyncpg

    admin = await asyncpg.connect(server.url())
    try:
        for setting, value in (
            ("log_min_duration_statement", "50"),
            ("log_autovacuum_min_duration", "0"),
            ("log_checkpoints", "on"),
            ("log_lock_waits", "on"),
            ("log_line_prefix", "'%m [%p] '"),
        ):
            await admin.execute(f"ALTER SYSTEM SET {setting} = {value}")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 1), "p99": round(p99, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--length", type=int, default=20, help="characters per candidate")
    parser.add_argument("--vote-seconds", type=int, default=120)
    parser.add_argument(
        "--vote-spread", type=float, default=60.0, help="a group's members tap within this"
    )
    parser.add_argument(
        "--down-seconds",
        type=float,
        default=150.0,
        help="how long the killed process stays down (past its rounds' deadlines)",
    )
    parser.add_argument(
        "--no-kill", action="store_true", help="keep both PostgreSQL processes up throughout"
    )
    parser.add_argument(
        "--event-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="the bot processes' event loop (RELAYTALE_EVENT_LOOP)",
    )
    parser.add_argument("--model", default="weights/default")
    parser.add_argument("--stages", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--timeline", help="also write each stage's taps and bot calls to TIMELINE.<stage>.jsonl"
    )
    parser.add_argument(
        "--pg-log",
        help="copy PostgreSQL's log here, with slow statements, autovacuum and checkpoints in it",
    )
    args = parser.parse_args()
    os.environ["RELAYTALE_EVENT_LOOP"] = args.event_loop  # the bot processes inherit it
    results = []
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        folder = Path(tmp)
        if "sqlite" in args.stages:
            db = str(folder / "relay.db")
            results.append(await run_stage("sqlite", db, 1, False, args, folder))
        if "postgresql" in args.stages:
            binaries = server_binaries()
            if binaries is None:
                raise SystemExit(
                    "PostgreSQL's server binaries are needed (apt-get install postgresql)"
                )
            server = PostgresServer(binaries)
            server.start()
            try:
                if args.pg_log:
                    await log_what_is_slow(server)
                async with new_database(server) as url:
                    kill = not args.no_kill
                    results.append(await run_stage("postgresql", url, 2, kill, args, folder))
            finally:
                if args.pg_log:
                    shutil.copyfile(server.folder / "log", args.pg_log)
                server.stop()
    print(json.dumps({"load": vars(args), "stages": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
