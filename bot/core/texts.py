"""Checks and shaping of member-supplied text: lines, keywords, novels. Pure functions."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from bot.core.errors import RelayError

# Characters allowed in a line besides printable ones.
_ALLOWED_CONTROLS = {"\n", "\t"}


def clean_line(text: str, max_chars: int) -> str:
    """A story line as it will be stored: NFC, trimmed, one paragraph, within the limit."""
    text = unicodedata.normalize("NFC", text).strip()
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if not text:
        raise RelayError("That line is empty. Write something after /write.")
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in text):
        raise RelayError("That line contains control characters; please send plain text.")
    if len(text) > max_chars:
        raise RelayError(f"That line has {len(text)} characters; the limit is {max_chars}.")
    return text


def clean_title(text: str) -> str:
    title = " ".join(unicodedata.normalize("NFC", text).split())
    if not title:
        raise RelayError("A story needs a title: /story new <title>.")
    if len(title) > 200:
        raise RelayError("That title is too long (200 characters at most).")
    return title


@dataclass(frozen=True)
class NovelText:
    title: str
    text: str
    sha256: str


def check_novel_file(filename: str, size: int, max_bytes: int) -> None:
    """The checks that need only a file's name and size, so a platform can make them before
    downloading the upload."""
    if not filename.lower().endswith(".txt"):
        raise RelayError("Novels must be .txt files (UTF-8 plain text).")
    if size > max_bytes:
        raise RelayError(f"That file is {_size(size)}; the limit is {_size(max_bytes)}.")


def _size(n: int) -> str:
    """Sizes as people read them: MB from one megabyte up, exact bytes below."""
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


def check_novel(filename: str, data: bytes, max_bytes: int, min_chars: int) -> NovelText:
    """Accept only UTF-8 plain text of a sensible size; explain every refusal."""
    check_novel_file(filename, len(data), max_bytes)
    if b"\x00" in data:
        raise RelayError("That file is binary, not text. Send a UTF-8 .txt file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RelayError(
            f"That file is not UTF-8 text (bad byte at position {exc.start}). "
            "Save it as UTF-8 and try again."
        ) from exc
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    controls = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t")
    if controls > len(text) // 100:
        raise RelayError("That file has too many control characters to be prose.")
    if len(text.strip()) < min_chars:
        raise RelayError(
            f"That text is too short to train on ({len(text.strip())} characters; "
            f"at least {min_chars} needed)."
        )
    title = filename.rsplit("/", 1)[-1][: -len(".txt")].strip() or "untitled"
    return NovelText(title=title[:200], text=text, sha256=hashlib.sha256(data).hexdigest())
