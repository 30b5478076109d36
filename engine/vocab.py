"""Character vocabulary: NFC Unicode characters plus the special tokens <pad>, <unk> and <s>.

Index 0 is always <pad>. A vocabulary only ever grows: new characters are appended, so the rows a
model learned for old characters keep their indices.

A vocabulary may read Hangul as its letters (`jamo`): each precomposed syllable becomes its two
or three conjoining jamo (U+1100 leading consonant, U+1161 vowel, U+11A8 trailing consonant), so
~200 tokens cover what takes ~1,400 syllables, and 을/를 or the verb endings share letters
everywhere. Decoding composes them back (NFC). vocab.json says so (`"hangul": "jamo"`); a file
without the key is a syllable vocabulary, as every checkpoint before it was.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.errors import CheckpointError

PAD = "<pad>"
UNK = "<unk>"
START = "<s>"
SPECIALS = (PAD, UNK, START)


# Precomposed Hangul syllables and the conjoining jamo they are made of (Unicode ch. 3.12).
SYLLABLE_FIRST, SYLLABLE_LAST = 0xAC00, 0xD7A3
LEADING, VOWELS, TRAILING = 0x1100, 0x1161, 0x11A7  # TRAILING + 0 is "no trailing consonant"
VOWEL_COUNT, TRAILING_COUNT = 21, 28
# What a character is as a jamo (`jamo_kind`): the decode step masks half syllables with these.
OTHER, LEAD, VOWEL, TAIL = 0, 1, 2, 3


def normalize(text: str) -> str:
    """NFC, so that a Korean syllable typed as jamo and as a precomposed block is one token."""
    return unicodedata.normalize("NFC", text)


def to_jamo(text: str) -> str:
    """Every precomposed Hangul syllable as its conjoining jamo; everything else unchanged
    (unlike NFD, which would also take accents off Latin letters)."""
    out: list[str] = []
    for char in text:
        code = ord(char) - SYLLABLE_FIRST
        if 0 <= code <= SYLLABLE_LAST - SYLLABLE_FIRST:
            lead, rest = divmod(code, VOWEL_COUNT * TRAILING_COUNT)
            vowel, tail = divmod(rest, TRAILING_COUNT)
            out += [chr(LEADING + lead), chr(VOWELS + vowel)]
            if tail:
                out.append(chr(TRAILING + tail))
        else:
            out.append(char)
    return "".join(out)


def jamo_kind(char: str) -> int:
    """LEAD, VOWEL or TAIL for a modern conjoining jamo; OTHER (0) for any other character."""
    code = ord(char) if len(char) == 1 else -1
    if LEADING <= code < LEADING + 19:
        return LEAD
    if VOWELS <= code < VOWELS + VOWEL_COUNT:
        return VOWEL
    if TRAILING < code < TRAILING + TRAILING_COUNT:
        return TAIL
    return OTHER


def is_korean(text: str) -> bool:
    """Korean when at least 30% of its characters are Hangul syllables (else: English)."""
    hangul = sum(SYLLABLE_FIRST <= ord(c) <= SYLLABLE_LAST for c in text)
    return hangul >= 0.3 * len(text)


@dataclass
class Vocab:
    """Tokens by index. Specials are multi-character strings, so they never collide with text."""

    tokens: list[str]
    # textgenrnn maps unknown characters to 0 (<pad>); our own vocabularies have a real <unk>.
    unk_index: int = 1
    jamo: bool = False  # Hangul read and written as conjoining jamo
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != PAD:
            raise CheckpointError("vocab.json: the first token must be <pad>")
        if START not in self.tokens:
            raise CheckpointError("vocab.json: the start token <s> is missing")
        if len(set(self.tokens)) != len(self.tokens):
            raise CheckpointError("vocab.json: duplicate tokens")
        for token in self.tokens:
            if token not in SPECIALS and len(token) != 1:
                raise CheckpointError(f"vocab.json: {token!r} is not a single character")
        if not 0 <= self.unk_index < len(self.tokens):
            raise CheckpointError("vocab.json: unk index out of range")
        self._index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, jamo: bool = False) -> Vocab:
        """A new vocabulary: every character (with `jamo`, every jamo of a syllable) seen
        `min_count` times or more, most common first."""
        empty = cls(tokens=[PAD, UNK, START], unk_index=1, jamo=jamo)
        return empty.grown(empty.new_chars(texts, min_count))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    @property
    def pad_index(self) -> int:
        return 0

    @property
    def start_index(self) -> int:
        return self._index[START]

    def special_indices(self) -> list[int]:
        """Indices a sampler must never emit."""
        return [self._index[t] for t in SPECIALS if t in self._index] + [self.unk_index]

    def split(self, text: str) -> str:
        """The text as this vocabulary's characters: NFC, then jamo for a jamo vocabulary."""
        text = normalize(text)
        return to_jamo(text) if self.jamo else text

    def encode(self, text: str) -> list[int]:
        index, unk = self._index, self.unk_index
        return [index.get(c, unk) for c in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.tokens[i] for i in ids if self.tokens[i] not in SPECIALS)
        return normalize(text) if self.jamo else text

    def new_chars(self, texts: Iterable[str], min_count: int = 1) -> list[str]:
        """Characters the texts bring that the vocabulary lacks, most common first."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(c for c in self.split(text) if c not in self._index)
        return [c for c, n in counts.most_common() if n >= min_count]

    def grown(self, chars: Iterable[str]) -> Vocab:
        """A new vocabulary with `chars` appended; existing indices are unchanged."""
        extra = [c for c in dict.fromkeys(chars) if c not in self._index]
        return Vocab(tokens=[*self.tokens, *extra], unk_index=self.unk_index, jamo=self.jamo)

    def to_json(self) -> str:
        data: dict[str, object] = {"tokens": self.tokens, "unk_index": self.unk_index}
        if self.jamo:
            data["hangul"] = "jamo"
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        try:
            data = json.loads(text)
            tokens, unk_index = data["tokens"], data["unk_index"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"vocab.json: unreadable ({exc})") from exc
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise CheckpointError("vocab.json: tokens must be a list of strings")
        if not isinstance(unk_index, int):
            raise CheckpointError("vocab.json: unk_index must be an integer")
        hangul = data.get("hangul", "syllables")
        if hangul not in ("syllables", "jamo"):
            raise CheckpointError(f"vocab.json: hangul must be syllables or jamo, not {hangul!r}")
        return cls(tokens=tokens, unk_index=unk_index, jamo=hangul == "jamo")
