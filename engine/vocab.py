"""Character vocabulary: NFC Unicode characters plus the special tokens <pad>, <unk> and <s>.

Index 0 is always <pad>. A vocabulary only ever grows: new characters are appended, so the rows a
model learned for old characters keep their indices.
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


def normalize(text: str) -> str:
    """NFC, so that a Korean syllable typed as jamo and as a precomposed block is one token."""
    return unicodedata.normalize("NFC", text)


@dataclass
class Vocab:
    """Tokens by index. Specials are multi-character strings, so they never collide with text."""

    tokens: list[str]
    # textgenrnn maps unknown characters to 0 (<pad>); our own vocabularies have a real <unk>.
    unk_index: int = 1
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
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocab:
        """A new vocabulary: every character seen `min_count` times or more, most common first."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(normalize(text))
        chars = [c for c, n in counts.most_common() if n >= min_count]
        return cls(tokens=[PAD, UNK, START, *chars], unk_index=1)

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

    def encode(self, text: str) -> list[int]:
        index, unk = self._index, self.unk_index
        return [index.get(c, unk) for c in normalize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.tokens[i] for i in ids if self.tokens[i] not in SPECIALS)

    def new_chars(self, texts: Iterable[str], min_count: int = 1) -> list[str]:
        """Characters the texts bring that the vocabulary lacks, most common first."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(c for c in normalize(text) if c not in self._index)
        return [c for c, n in counts.most_common() if n >= min_count]

    def grown(self, chars: Iterable[str]) -> Vocab:
        """A new vocabulary with `chars` appended; existing indices are unchanged."""
        extra = [c for c in dict.fromkeys(chars) if c not in self._index]
        return Vocab(tokens=[*self.tokens, *extra], unk_index=self.unk_index)

    def to_json(self) -> str:
        return json.dumps({"tokens": self.tokens, "unk_index": self.unk_index}, ensure_ascii=False)

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
        return cls(tokens=tokens, unk_index=unk_index)
