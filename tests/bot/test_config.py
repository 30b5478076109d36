"""config.toml: documented defaults, partial files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_equals_the_defaults() -> None:
    """The repository's config.toml documents exactly the dataclass defaults."""
    assert load_config(ROOT / "config.toml") == Config()


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    """A file may set only some keys."""
    path = tmp_path / "c.toml"
    path.write_text("[relay]\nvote_seconds = 30\n")
    config = load_config(path)
    assert config.relay.vote_seconds == 30 and config.relay.candidates == 3


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"relay": {"vote_secs": 5}}, "relay.vote_secs"),
        ({"relay": {"vote_seconds": "soon"}}, "relay.vote_seconds"),
        ({"relay": {"vote_seconds": 1}}, "relay.vote_seconds"),
        ({"relay": {"no_votes": "maybe"}}, "relay.no_votes"),
        ({"writer": {"device": "tpu"}}, "writer.device"),
        ({"writer": {"backend": "ray"}}, "writer.backend"),
        ({"writer": {"backend": "fleet"}}, "writer.fleet_url"),
        ({"writer": {"backend": "fleet", "fleet_url": "localhost:8000"}}, "writer.fleet_url"),
        ({"relay": {"moderators": ["12345"]}}, "relay.moderators"),
        ({"colours": {}}, "[colours]"),
        ({"training": {"writers_url": "gs://bucket/writers"}}, "training.writers_url"),
        ({"training": {"writers_url": "s3:///writers"}}, "training.writers_url"),
        ({"training": {"writers_dir": "a", "writers_url": "b"}}, "training.writers_dir"),
        ({"training": {"backend": "fleet"}}, "training.fleet_url"),
        ({"training": {"backend": "ray", "fleet_url": "http://h:8000/trainer"}}, "backend"),
        ({"training": {"gpus": -1}}, "training.gpus"),
        ({"telegram": {"mode": "webhooks"}}, "telegram.mode"),
        ({"telegram": {"mode": "webhook"}}, "telegram.webhook_url"),
        ({"telegram": {"mode": "webhook", "webhook_url": "http://a.example"}}, "webhook_url"),
        ({"telegram": {"mode": "webhook", "webhook_url": "https://a.example:9"}}, "webhook_url"),
        ({"telegram": {"listen": "8080"}}, "telegram.listen"),
        ({"telegram": {"listen": "0.0.0.0:http"}}, "telegram.listen"),
        ({"discord": {"shard_count": -1}}, "discord.shard_count"),
        ({"discord": {"shard_count": "2"}}, "discord.shard_count"),
        ({"discord": {"shard_ids": [0]}}, "discord.shard_ids"),
        ({"discord": {"shard_count": 2, "shard_ids": [2]}}, "discord.shard_ids"),
        ({"discord": {"shard_count": 2, "shard_ids": [-1]}}, "discord.shard_ids"),
        ({"discord": {"shard_count": 2, "shard_ids": [1, 1]}}, "discord.shard_ids"),
        ({"discord": {"shard_count": 2, "shard_ids": 1}}, "discord.shard_ids"),
    ],
)
def test_bad_keys_and_values_name_the_key(data: dict[str, object], key: str) -> None:
    """Start-up stops with a message that names the offending key."""
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)  # type: ignore[arg-type]


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    """A syntax error names the file."""
    path = tmp_path / "c.toml"
    path.write_text("[relay\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_webhook_mode_reads_its_address_and_where_to_listen() -> None:
    """Webhook mode: the public https:// address and host:port (IPv6 in brackets)."""
    config = parse_config(
        {
            "telegram": {
                "mode": "webhook",
                "webhook_url": "https://relay.example.org:8443/telegram",
                "listen": "[::]:8080",
            }
        }
    )
    assert config.telegram.mode == "webhook"
    assert config.telegram.listen_at == ("::", 8080)


def test_discord_shards_default_to_none_and_to_all_of_shard_count() -> None:
    """Unsharded unless shard_count is set; shard_ids [] then means every shard."""
    assert Config().discord.shard_count == 0 and Config().discord.shards == ()
    every = parse_config({"discord": {"shard_count": 3}}).discord
    assert every.shards == (0, 1, 2)
    some = parse_config({"discord": {"shard_count": 4, "shard_ids": [3, 1]}}).discord
    assert some.shards == (3, 1)


def test_writers_url_is_a_folder_or_s3_and_writers_dir_still_names_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Versions are kept in a folder or on S3; a config from before the rename still starts,
    with a note in the log."""
    new = parse_config({"training": {"writers_url": "s3://b/w"}})
    assert new.training.writers_url == "s3://b/w"
    old = parse_config({"training": {"writers_dir": "/srv/writers"}})
    assert old.training.writers_url == "/srv/writers"
    assert "training.writers_dir is now called training.writers_url" in caplog.text
