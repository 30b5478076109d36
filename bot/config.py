"""config.toml, read once into frozen dataclasses.

A file may set only some keys; the rest keep the defaults written beside each field (and
documented in the repository's config.toml). An unknown key or a bad value stops start-up with a
ConfigError that names the key. Bot tokens never come from here: only from the environment.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from bot._config_addresses import WEBHOOK_PORTS, http_url, listen_address, webhook_port
from bot.i18n import languages

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """config.toml is unreadable, has an unknown key or a bad value; the message names the key."""


@dataclass(frozen=True)
class RelayConfig:
    """The rules of the game, per chat overridable with /settings where noted."""

    candidates: int = 3  # candidates per /continue (/settings set candidates)
    max_candidates: int = 9  # candidates in one round, all /continue requests together
    vote_seconds: int = 120  # how long a round is open for votes (/settings set vote_time)
    default_length: int = 150  # characters a candidate aims for when /continue names none
    min_length: int = 20
    max_length: int = 600
    max_line_chars: int = 600  # longest /write line
    temperature: float = 0.8  # writer temperature (/settings set temperature)
    no_votes: Literal["skip", "best_score"] = "skip"  # a round nobody voted in
    quorum: int = 0  # close a round as soon as this many members voted; 0 = off
    language: str = "en"  # what the bot speaks where nothing else says (/settings set language)
    show_lines: int = 10  # lines shown by /story show
    moderators: tuple[str, ...] = ()  # extra moderators, as "telegram:12345" or "discord:678"

    def __post_init__(self) -> None:
        _check(1 <= self.candidates <= 9, "relay.candidates", "must be between 1 and 9")
        _check(
            self.candidates <= self.max_candidates <= 9,
            "relay.max_candidates",
            "must be between relay.candidates and 9",
        )
        _check(
            10 <= self.vote_seconds <= 7 * 86400,
            "relay.vote_seconds",
            "must be between 10 and 604800",
        )
        _check(
            1 <= self.min_length <= self.default_length <= self.max_length <= 2000,
            "relay.default_length",
            "needs 1 <= min_length <= default_length <= max_length <= 2000",
        )
        _check(1 <= self.max_line_chars <= 4000, "relay.max_line_chars", "must be 1..4000")
        _check(0.0 <= self.temperature <= 2.0, "relay.temperature", "must be between 0 and 2")
        _check(self.quorum >= 0, "relay.quorum", "must be 0 (off) or positive")
        _check(1 <= self.show_lines <= 100, "relay.show_lines", "must be 1..100")
        _check(
            self.language in languages(),
            "relay.language",
            f"must be one of {list(languages())}, not {self.language!r}",
        )
        for ident in self.moderators:
            _check(ident.count(":") == 1, "relay.moderators", f"{ident!r} is not 'platform:id'")


@dataclass(frozen=True)
class WriterConfig:
    """The neural writer: a worker process of this bot, or the writer fleet over HTTP; and the
    generation policy it is sent with every request (the engine applies what it is sent; these
    are the only defaults)."""

    # "process": this bot process starts its own worker (model_dir ... max_loaded apply).
    # "fleet": it asks the writer fleet at fleet_url (docs/DEPLOY.md, stage 3), which every bot
    # process shares; the fleet is deployed with its own model and replicas.
    backend: Literal["process", "fleet"] = "process"
    fleet_url: str = ""  # the fleet's URL, as `python -m engine fleet deploy` printed it
    model_dir: str = "weights/default"  # the shipped base writer
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "int8": the worker generates with int8 LSTM and linear weights — faster on a CPU, for a
    # small rise in loss (README "Performance"); CPU only. "none": the weights as trained.
    quantize: Literal["none", "int8"] = "none"
    timeout_seconds: float = 60.0  # a generation request that takes longer fails with "try again"
    batch_wait_ms: int = 5  # how long the worker waits for more requests to batch together
    max_loaded: int = 8  # writers (chats' fine-tuned versions) the worker keeps in memory
    context_chars: int = 600  # how much of the story's end the writer reads
    keyword_chars: int = 40  # a /continue keyword is cut to this many characters
    length_slack: float = 1.5  # a candidate may run to length x this before it is cut
    min_length_fraction: float = 0.6  # no stop at a sentence end before length x this
    top_k: int = 0  # sample among the k likeliest characters; 0 = off
    top_p: float = 0.95  # sample among the likeliest characters that make up this much
    repetition_penalty: float = 1.1  # > 1 makes recently written characters less likely
    overgenerate: int = 2  # sample this many x the candidates, keep the best distinct ones

    def __post_init__(self) -> None:
        _check(self.timeout_seconds > 0, "writer.timeout_seconds", "must be positive")
        fleet_url = self.backend != "fleet" or http_url(self.fleet_url)
        _check(fleet_url, "writer.fleet_url", 'is needed with backend = "fleet": ' + WRITER_HINT)
        _check(
            self.quantize == "none" or self.device != "cuda",
            "writer.quantize",
            'int8 runs on the CPU only: use device = "cpu" (or quantize = "none")',
        )
        _check(0 <= self.batch_wait_ms <= 1000, "writer.batch_wait_ms", "must be 0..1000")
        _check(1 <= self.max_loaded <= 1000, "writer.max_loaded", "must be 1..1000")
        _check(50 <= self.context_chars <= 5000, "writer.context_chars", "must be 50..5000")
        _check(1 <= self.keyword_chars <= 200, "writer.keyword_chars", "must be 1..200")
        _check(1.0 <= self.length_slack <= 4.0, "writer.length_slack", "must be 1..4")
        fraction = 0.0 <= self.min_length_fraction <= 1.0
        _check(fraction, "writer.min_length_fraction", "must be between 0 and 1")
        _check(self.top_k >= 0, "writer.top_k", "must be 0 (off) or positive")
        _check(0.0 < self.top_p <= 1.0, "writer.top_p", "must be in (0, 1]")
        penalty = 0.5 <= self.repetition_penalty <= 3.0
        _check(penalty, "writer.repetition_penalty", "must be between 0.5 and 3")
        _check(1 <= self.overgenerate <= 10, "writer.overgenerate", "must be 1..10")


@dataclass(frozen=True)
class StorageConfig:
    database: str = "data/relaytale.db"
    backup_dir: str = "data/backups"
    backup_minutes: int = 60  # online backup every this many minutes; 0 = off
    backups_kept: int = 5

    def __post_init__(self) -> None:
        _check(self.backup_minutes >= 0, "storage.backup_minutes", "must be 0 (off) or positive")
        _check(self.backups_kept >= 1, "storage.backups_kept", "must be at least 1")


@dataclass(frozen=True)
class NovelsConfig:
    max_bytes: int = 20_000_000  # largest accepted .txt upload (Telegram serves at most 20 MB)
    min_chars: int = 1000  # shorter texts are not worth training on

    def __post_init__(self) -> None:
        _check(1 <= self.max_bytes <= 200_000_000, "novels.max_bytes", "must be 1..200000000")
        _check(self.min_chars >= 1, "novels.min_chars", "must be positive")


# What writer.fleet_url and training.fleet_url must be.
WRITER_HINT = "the http:// URL that `python -m engine fleet deploy` printed"
TRAINER_HINT = "the trainer's http:// URL that `python -m engine fleet deploy --trainer` printed"


@dataclass(frozen=True)
class TrainingConfig:
    """The living writer: when and how each chat's writer is fine-tuned on its own text."""

    enabled: bool = True  # the periodic job; /train now works either way
    interval_minutes: int = 60  # how often chats with enough new text get a run queued
    min_new_chars: int = 2000  # new text (novels + story lines) that earns a scheduled run
    min_chars: int = 500  # the least text of a chat that /train now trains on
    time_budget_seconds: int = 240  # one fine-tune's wall time at most
    threads: int = 1  # the trainer's torch threads (generation keeps the other cores)
    min_gain_bits: float = 0.02  # a version must beat its parent on the chat's held-out text
    max_forget_bits: float = 0.05  # and stay this close to the shipped base on the base's text
    hang_seconds: int = 180  # a trainer silent this long is stopped and its run failed
    # "process": a process of this bot per run; "fleet": a Ray task of the fleet's trainer per run
    backend: Literal["process", "fleet"] = "process"
    fleet_url: str = ""  # the trainer's URL, as `python -m engine fleet deploy --trainer` printed
    gpus: float = 0.0  # GPUs each fine-tune task takes on the fleet (0: it trains on its CPUs)
    shared_writer: bool = False  # every chat shares one writer (a bot run by one community)
    # Where writer versions are kept: a folder, or s3://bucket/prefix on any S3-compatible store
    # (endpoint and keys from the AWS environment variables), which every machine of a fleet
    # reaches; "" = the folder "writers" beside the database.
    writers_url: str = ""
    # Promoted versions whose folders a chat keeps for /model rollback (the writing one always);
    # a rejected version's folder goes once it is recorded. 0: keep every folder.
    keep_versions: int = 5

    def __post_init__(self) -> None:
        _check(1 <= self.interval_minutes <= 7 * 24 * 60, "training.interval_minutes", "1..10080")
        _check(self.min_new_chars >= 1, "training.min_new_chars", "must be positive")
        _check(self.min_chars >= 1, "training.min_chars", "must be positive")
        _check(
            10 <= self.time_budget_seconds <= 24 * 3600,
            "training.time_budget_seconds",
            "must be 10..86400",
        )
        _check(1 <= self.threads <= 64, "training.threads", "must be 1..64")
        _check(0.0 <= self.min_gain_bits <= 2.0, "training.min_gain_bits", "must be 0..2")
        _check(0.0 <= self.max_forget_bits <= 2.0, "training.max_forget_bits", "must be 0..2")
        _check(self.hang_seconds >= 10, "training.hang_seconds", "must be at least 10")
        _check(self.keep_versions >= 0, "training.keep_versions", "must be 0 or more")
        _check(0.0 <= self.gpus <= 8.0, "training.gpus", "must be 0..8")
        fleet_url = self.backend != "fleet" or http_url(self.fleet_url)
        _check(
            fleet_url, "training.fleet_url", 'is needed with backend = "fleet": ' + TRAINER_HINT
        )
        scheme, sep, rest = self.writers_url.partition("://")
        _check(
            not sep or (scheme == "s3" and rest[:1] not in ("", "/")),
            "training.writers_url",
            f"must be a folder or s3://bucket/prefix, not {self.writers_url!r}",
        )


@dataclass(frozen=True)
class ConsoleConfig:
    member: str = "you"  # who speaks until /as switches


@dataclass(frozen=True)
class TelegramConfig:
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # "one_message": a round is one message (candidates + live-count buttons), edited as votes
    # come and when it closes. "message_per_candidate": each candidate its own message too, so a
    # 👍 reaction on it votes (4-10 messages a round; Telegram allows ~20 a minute per group).
    round_layout: Literal["one_message", "message_per_candidate"] = "one_message"
    # Pace what the bot sends to Telegram's flood limits (about 30 messages a second in all, 20
    # a minute in one group). false only against a local Bot API server that has none (the
    # load bench): Telegram itself answers a bot that ignores them with flood errors.
    flood_limits: bool = True

    @property
    def pacing(self) -> dict[str, float]:
        """python-telegram-bot's AIORateLimiter rates: its defaults, or 0 (no pacing)."""
        return {} if self.flood_limits else {"overall_max_rate": 0, "group_max_rate": 0}

    # "polling": this process asks Telegram for updates (getUpdates); one process per token.
    # "webhook": Telegram POSTs each update to webhook_url; every process behind it serves
    # `listen`, and any of them may take any chat's update (the secret: environment only).
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # webhook mode: the public https:// address Telegram calls
    listen: str = "127.0.0.1:8080"  # webhook mode: host:port where this process serves it

    def __post_init__(self) -> None:
        if self.mode == "webhook":
            url = urlsplit(self.webhook_url)
            _check(
                url.scheme == "https" and bool(url.hostname),
                "telegram.webhook_url",
                "must be the public https:// address Telegram calls (webhook mode needs one)",
            )
            _check(
                webhook_port(url) in WEBHOOK_PORTS,
                "telegram.webhook_url",
                "may use only the ports Telegram calls: 443, 80, 88 or 8443",
            )
        _check(
            listen_address(self.listen) is not None,
            "telegram.listen",
            f'must be host:port, e.g. "0.0.0.0:8080", not {self.listen!r}',
        )

    @property
    def listen_at(self) -> tuple[str, int]:
        """`listen` as (host, port)."""
        address = listen_address(self.listen)
        assert address is not None  # checked at start-up
        return address


@dataclass(frozen=True)
class DiscordConfig:
    api_base: str = "https://discord.com/api/v10"
    dev_guild_ids: tuple[int, ...] = ()  # sync slash commands only to these guilds (development)
    # Gateway shards: 0 = not sharded (one connection holds every guild). N > 0: the guilds are
    # split over N shards, guild g on shard (g >> 22) % N; every process must say the same N.
    shard_count: int = 0
    # The shards this process connects, and whose guilds' rounds it closes and announces at
    # their deadline; [] = all of them (0 .. shard_count - 1).
    shard_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check(self.shard_count >= 0, "discord.shard_count", "must be 0 (not sharded) or more")
        _check(
            not self.shard_ids or self.shard_count > 0,
            "discord.shard_ids",
            "needs discord.shard_count (the number of shards all processes share)",
        )
        for shard in self.shard_ids:
            _check(
                0 <= shard < self.shard_count,
                "discord.shard_ids",
                f"must be shards 0..{self.shard_count - 1} of shard_count, not {shard}",
            )
        _check(
            len(set(self.shard_ids)) == len(self.shard_ids),
            "discord.shard_ids",
            "names a shard twice",
        )

    @property
    def shards(self) -> tuple[int, ...]:
        """The shards this process holds: `shard_ids`, or every shard; () when not sharded."""
        return self.shard_ids or tuple(range(self.shard_count))


@dataclass(frozen=True)
class Config:
    relay: RelayConfig = field(default_factory=RelayConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    novels: NovelsConfig = field(default_factory=NovelsConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)


def load_config(path: str | Path | None) -> Config:
    """Read a config file (None: all defaults)."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return parse_config(data)


def parse_config(data: dict[str, Any]) -> Config:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    built: dict[str, Any] = {}
    for name, value in data.items():
        if name not in sections:
            raise ConfigError(f"unknown section [{name}] (known: {', '.join(sections)})")
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        section_type = typing.get_type_hints(Config)[name]
        built[name] = _build_section(name, section_type, value)
    return Config(**built)


# Keys renamed since: the old name still starts the bot, with a note in the log.
RENAMED = {"training.writers_dir": "writers_url"}


def _build_section(section: str, cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        new = RENAMED.get(f"{section}.{key}")
        if new is not None:
            _check(new not in values, f"{section}.{key}", f"is the old name of {new}: keep one")
            log.warning("config: %s.%s is now called %s.%s", section, key, section, new)
            key = new
        if key not in known:
            raise ConfigError(f"unknown key {section}.{key} (known: {', '.join(sorted(known))})")
        kwargs[key] = _coerce(f"{section}.{key}", hints[key], value)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{section}]: {exc}") from exc


def _coerce(key: str, hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin is Literal:
        allowed = get_args(hint)
        _check(value in allowed, key, f"must be one of {list(allowed)}, not {value!r}")
        return value
    if origin is tuple:
        (item_type, _ellipsis) = get_args(hint)
        _check(isinstance(value, list), key, "must be a list")
        return tuple(_coerce(key, item_type, item) for item in value)
    if origin in (types.UnionType, typing.Union):
        raise AssertionError(f"unsupported config type for {key}")
    if hint is bool:
        _check(isinstance(value, bool), key, f"must be true or false, not {value!r}")
    elif hint is int:
        _check(
            isinstance(value, int) and not isinstance(value, bool),
            key,
            f"must be an integer, not {value!r}",
        )
    elif hint is float:
        _check(
            isinstance(value, int | float) and not isinstance(value, bool),
            key,
            f"must be a number, not {value!r}",
        )
        return float(value)
    elif hint is str:
        _check(isinstance(value, str), key, f"must be a string, not {value!r}")
    return value


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {message}")
