"""Checks of what members send before it is stored: lines, titles, keywords and novel files
(decoded strictly and checked to be text). Pure functions; a refusal is a RelayError."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from bot.core.errors import N_, RelayError

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
        raise RelayError(
            "That line has {count} characters; the limit is {limit}.",
            count=len(text),
            limit=max_chars,
        )
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
    sha256: str  # of the normalised text: the same novel in another encoding is a duplicate
    encoding: str  # how the file was read, as people name it


# Byte order marks, tried first: a file that announces its encoding is read in it.
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
# Of a novel's characters (spaces aside), at least this share are Hangul syllables, Latin
# letters, digits or punctuation: a wrong decode of other CJK bytes gives hanja, jamo, kana.
MIN_TEXT_SHARE = 0.9
# Of its Hangul syllables, at least this share are the 2,350 of KS X 1001 (EUC-KR): a CP949 or
# UTF-8 decode of bytes that are neither gives the rare ones.
MIN_COMMON_HANGUL = 0.9


def check_novel_file(filename: str, size: int, max_bytes: int) -> None:
    """The checks that need only a file's name and size, so a platform can make them before
    downloading the upload."""
    if not filename.lower().endswith(".txt"):
        raise RelayError("Novels must be .txt files (UTF-8, or the CP949 of Korean files).")
    if size > max_bytes:
        raise RelayError(
            "That file is {size}; the limit is {limit}.", size=_size(size), limit=_size(max_bytes)
        )


def _size(n: int) -> str:
    """Sizes as people read them: MB from one megabyte up, exact bytes below."""
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n:,} bytes"


def check_novel(filename: str, data: bytes, max_bytes: int, min_chars: int) -> NovelText:
    """A .txt upload as novel text, or a refusal that names the reason.

    Decoding is strict and in order: a byte order mark; UTF-8; CP949 (the superset of EUC-KR
    that most Korean .txt files use — Python's narrower `euc_kr` fails on characters such as
    똠). CJK encodings can decode each other's bytes without error, so the result must also
    look like text, or it is refused rather than guessed wrong. CRLF becomes LF, text is NFC.
    """
    check_novel_file(filename, len(data), max_bytes)
    if not data.strip():
        raise RelayError("That file is empty.")
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RelayError("That file is binary, not text. Send a UTF-8 or CP949 .txt file.")
    text, encoding = _decode(data)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    controls = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t")
    if controls > len(text) // 100:
        raise RelayError("That file has too many control characters to be prose.")
    if not _looks_like_text(text):
        raise RelayError(
            "That file is not UTF-8 or CP949 text in Korean or English: read as {encoding}, "
            "most of it is other characters. Save it as UTF-8 and try again.",
            encoding=encoding,
        )
    if len(text.strip()) < min_chars:
        raise RelayError(
            "That text is too short to train on ({count} characters; at least {least} needed).",
            count=len(text.strip()),
            least=min_chars,
        )
    title = filename.rsplit("/", 1)[-1][: -len(".txt")].strip() or "untitled"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return NovelText(title=title[:200], text=text, sha256=digest, encoding=encoding)


def _decode(data: bytes) -> tuple[str, str]:
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec), name
            except UnicodeDecodeError as exc:
                raise RelayError(
                    "That file is not UTF-8 text: it starts like {encoding} but is not "
                    "(bad byte at position {position}).",
                    encoding=name,
                    position=exc.start + len(bom),
                ) from exc
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("cp949"), N_("CP949 (Korean)")  # shown translated
        except UnicodeDecodeError:
            raise RelayError(
                "That file is not UTF-8 text (bad byte at position {position}), nor the "
                "CP949/EUC-KR of Korean files. Save it as UTF-8 and try again.",
                position=utf8.start,
            ) from utf8


def _looks_like_text(text: str) -> bool:
    """Mostly Hangul, Latin letters, digits and punctuation; Hangul mostly common syllables."""
    body = [c for c in text if not c.isspace()]
    if not body:
        return False
    usual = sum(1 for c in body if _usual(c))
    if usual < MIN_TEXT_SHARE * len(body):
        return False
    syllables = [c for c in body if "\uac00" <= c <= "\ud7a3"]
    if len(syllables) < 20:
        return True
    common = sum(1 for c in syllables if _in_ks_x_1001(c))
    return common >= MIN_COMMON_HANGUL * len(syllables)


def _usual(char: str) -> bool:
    """A character of Korean or English prose."""
    if "\uac00" <= char <= "\ud7a3" or char in "~`^|+=<>$%&@#*":
        return True
    kind = unicodedata.category(char)
    return kind[0] in "NP" or (kind[0] == "L" and ord(char) < 0x250)  # Latin, with accents


def _in_ks_x_1001(syllable: str) -> bool:
    try:
        syllable.encode("euc_kr")
    except UnicodeEncodeError:
        return False
    return True
