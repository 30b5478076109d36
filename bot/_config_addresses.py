"""The addresses config.toml names, checked (bot/config.py): where Telegram's webhook may point
and where this process listens for it, and the writer fleet's http(s) URLs. Plain functions, so
that config.py keeps to the sections and their rules."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["WEBHOOK_PORTS", "http_url", "listen_address", "webhook_port"]

# The ports Telegram's webhook requests may go to (Bot API, setWebhook).
WEBHOOK_PORTS = (443, 80, 88, 8443)


def listen_address(text: str) -> tuple[str, int] | None:
    """The (host, port) of "host:port" ("[::1]:8080" for IPv6); None when it is not one."""
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        return None
    return host, int(port)


def webhook_port(url: SplitResult) -> int | None:
    try:
        return 443 if url.port is None else url.port
    except ValueError:  # not a number, or out of range
        return None


def http_url(text: str) -> bool:
    """Whether `text` is an http:// or https:// URL with a host (a fleet's, as deployed)."""
    url = urlsplit(text)
    return url.scheme in ("http", "https") and bool(url.hostname)
