"""Training and evaluation text: reading files, cutting documents, encoding, batching.

A corpus is a list of documents. Each document is encoded as `<s>` + its characters, and the
documents are laid end to end in one token stream. A *closed* document (one title, one line) ends
for real, so its last character learns to predict the next document's `<s>` (textgenrnn's end
token); a block cut out of continuous text has no real end, so that target is ignored (0).

Stream batches read the stream as B contiguous tracks, seq_len tokens (and their shifted targets)
at a time, so that the state can be carried from batch to batch.
Window batches follow textgenrnn: one target per example, read from the `max_length` tokens before
it within its document, left-padded with 0.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from engine.errors import DataError
from engine.model import StreamState
from engine.vocab import Vocab, normalize

# Continuous text is cut into blocks of about this many characters, so that even a single novel
# can be split into training and validation documents.
BLOCK_CHARS = 4000

# Boundaries tried in order when a block is too long: paragraphs, then lines, then a hard cut.
_BOUNDARIES = (re.compile(r"\n[ \t\r\f\v]*\n\s*"), re.compile(r"\n"))


@dataclass(frozen=True)
class Document:
    """One unit of text; `closed` when its end is a real end that the model should predict."""

    text: str
    closed: bool = False


@dataclass(frozen=True)
class TokenStream:
    """Documents laid end to end. All (N,) int32: kept small, widened per batch."""

    inputs: Tensor  # (N,) token at each position
    targets: Tensor  # (N,) the token after it; 0 (= ignored) where there is nothing to predict
    starts: Tensor  # (N,) index of the position where its document starts

    def __len__(self) -> int:
        return int(self.inputs.numel())

    @property
    def target_count(self) -> int:
        return int((self.targets != 0).sum())


# -- reading -------------------------------------------------------------------------------------


def read_text_file(path: str | Path) -> str:
    """A UTF-8 file as NFC text with '\\n' newlines; DataError naming the file if not text."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    # A NUL byte is legal UTF-8 but never appears in prose: the file is binary.
    if b"\x00" in raw:
        raise DataError(f"{path}: looks like a binary file, not UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte {exc.start})") from exc
    return normalize(text.replace("\r\n", "\n").replace("\r", "\n"))


def split_documents(
    text: str, line_docs: bool = False, block_chars: int = BLOCK_CHARS
) -> list[Document]:
    """One document per non-empty line, or blocks of continuous text cut at paragraph ends."""
    text = normalize(text.replace("\r\n", "\n").replace("\r", "\n"))
    if line_docs:
        return [Document(line.strip(), closed=True) for line in text.split("\n") if line.strip()]
    return [Document(block) for block in _blocks(text.strip(), block_chars, 0)]


def _blocks(text: str, size: int, level: int) -> list[str]:
    """Greedy packing of pieces (ending at a boundary) into blocks of about `size` characters."""
    if len(text) <= size:
        return [text] if text else []
    if level >= len(_BOUNDARIES):
        return [text[i : i + size] for i in range(0, len(text), size)]
    cuts = [m.end() for m in _BOUNDARIES[level].finditer(text)]
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if b > a]
    blocks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > size:
            blocks.append(current)
            current = ""
        current += piece
    if current:
        blocks.append(current)
    out: list[str] = []
    for block in blocks:
        block = block.strip()
        if len(block) > 2 * size:
            out.extend(_blocks(block, size, level + 1))
        elif block:
            out.append(block)
    return out


def as_documents(
    texts: Sequence[str | Document], line_docs: bool = False, block_chars: int = BLOCK_CHARS
) -> list[Document]:
    """Strings are cut into documents; Document objects are kept as they are."""
    docs: list[Document] = []
    for item in texts:
        if isinstance(item, Document):
            if item.text:
                docs.append(Document(normalize(item.text), item.closed))
        else:
            docs.extend(split_documents(item, line_docs, block_chars))
    return docs


def split_validation(
    docs: Sequence[Document], fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """(train, val) by whole documents, chosen by a seeded shuffle; order kept within each."""
    if fraction <= 0 or len(docs) < 2:
        return list(docs), []
    count = min(len(docs) - 1, max(1, round(fraction * len(docs))))
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    chosen = set(order[:count])
    train = [d for i, d in enumerate(docs) if i not in chosen]
    val = [d for i, d in enumerate(docs) if i in chosen]
    return train, val


def fingerprint(train: Sequence[Document], val: Sequence[Document]) -> str:
    """A digest of the split corpus: a resumed run must see exactly the same documents."""
    digest = hashlib.sha256()
    for name, docs in (("train", train), ("val", val)):
        digest.update(f"{name}:{len(docs)}\0".encode())
        for doc in docs:
            digest.update(f"{int(doc.closed)}{len(doc.text)}:{doc.text}".encode())
    return digest.hexdigest()


# -- encoding ------------------------------------------------------------------------------------


def encode(docs: Sequence[Document], vocab: Vocab) -> TokenStream:
    """Lay the documents end to end as `<s>` + characters, with shifted targets."""
    start = torch.tensor([vocab.start_index], dtype=torch.int32)
    pieces: list[Tensor] = []  # per document: (1 + len,) <s> + characters
    starts: list[Tensor] = []
    open_ends: list[int] = []  # positions whose target (the next <s>) must be ignored
    length = 0
    for doc in docs:
        ids = torch.tensor(vocab.encode(doc.text), dtype=torch.int32)
        if ids.numel() == 0:
            continue
        pieces.append(torch.cat([start, ids]))
        starts.append(torch.full((ids.numel() + 1,), length, dtype=torch.int32))
        length += ids.numel() + 1
        if not doc.closed:
            open_ends.append(length - 1)
    if not pieces:
        raise DataError("no text to train or evaluate on")
    stream = torch.cat([*pieces, start])  # (N + 1,): the end token after the last document
    targets = stream[1:].clone()
    targets[torch.tensor(open_ends, dtype=torch.long)] = 0
    return TokenStream(stream[:-1].clone(), targets, torch.cat(starts))


# -- batching ------------------------------------------------------------------------------------


def track_batches(
    stream: TokenStream, batch_size: int, seq_len: int, generator: torch.Generator
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of (B, T) inputs and targets read as B contiguous tracks, T tokens at a time.

    Row b of batch k continues row b of batch k - 1, so the trainer can carry the state from one
    batch to the next (truncated backpropagation through time) and the model learns to read long
    texts with a carried state, as stream evaluation and generation do. The tracks start at a
    random offset each epoch.
    """
    length = len(stream)
    seq_len = min(seq_len, length)
    tracks = max(1, min(batch_size, length // seq_len))
    per_track = length // tracks
    offset = int(torch.randint(0, length, (1,), generator=generator))
    starts = offset + torch.arange(tracks) * per_track  # (B,)
    steps = torch.arange(seq_len)
    for first in range(0, per_track - seq_len + 1, seq_len):
        idx = (starts.unsqueeze(1) + first + steps) % length  # (B, T)
        yield stream.inputs[idx].long(), stream.targets[idx].long()


def track_batch_count(stream: TokenStream, batch_size: int, seq_len: int) -> int:
    """How many batches `track_batches` yields per epoch."""
    seq_len = min(seq_len, len(stream))
    tracks = max(1, min(batch_size, len(stream) // seq_len))
    return max(1, (len(stream) // tracks) // seq_len)


def carry_state(
    state: StreamState | None, reset: float, generator: torch.Generator
) -> StreamState | None:
    """The state for the next batch of tracks: cut from the graph, and zeroed for a random
    `reset` fraction of rows, so that the model also keeps learning to start from nothing."""
    if state is None:
        return None
    keep = torch.rand(state.features.size(0), generator=generator) >= reset  # (B,)
    keep = keep.to(state.features.device)
    rows = keep.view(1, -1, 1).to(state.features.dtype)  # (1, B, 1) for (layers, B, H)

    def cut(x: Tensor) -> Tensor:
        return x.detach() * rows

    rnn = [
        tuple(cut(part) for part in layer) if isinstance(layer, tuple) else cut(layer)
        for layer in state.rnn
    ]
    features = state.features.detach() * rows.view(-1, 1, 1)  # (B, W, D)
    scores = state.scores.detach().masked_fill(~keep.unsqueeze(1), float("-inf"))  # (B, W)
    return StreamState(rnn, features, scores)


def target_positions(stream: TokenStream) -> Tensor:
    """(M,) positions that have a target, i.e. textgenrnn's training examples."""
    return (stream.targets != 0).nonzero().squeeze(1)


def windows(stream: TokenStream, positions: Tensor, max_length: int) -> Tensor:
    """(M,) positions -> (M, max_length) textgenrnn inputs: the tokens up to and including each
    position, within its document only, left-padded with 0."""
    back = torch.arange(max_length - 1, -1, -1)  # (L,)
    idx = positions.unsqueeze(1) - back  # (M, L)
    outside = idx < stream.starts[positions].unsqueeze(1).long()
    return stream.inputs[idx.clamp(min=0)].long().masked_fill(outside, 0)


def window_batches(
    stream: TokenStream, batch_size: int, max_length: int, generator: torch.Generator
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of ((B, max_length) windows, (B,) targets) in shuffled order."""
    positions = target_positions(stream)
    positions = positions[torch.randperm(positions.numel(), generator=generator)]
    for first in range(0, positions.numel(), batch_size):
        chunk = positions[first : first + batch_size]
        yield windows(stream, chunk, max_length), stream.targets[chunk].long()


def window_batch_count(stream: TokenStream, batch_size: int) -> int:
    return -(-stream.target_count // batch_size)
