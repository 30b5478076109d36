"""Everything a training run needs besides its text: one JSON-friendly dataclass, kept in
metrics.json, and the defaults it falls back on.

A fine-tune is a run with `from_dir` set, and the options that keep it from forgetting what it
started from: replay of older text, an L2 pull toward the starting weights, and evaluation points
during the run that keep the best state under limits on other texts (engine/finetune.py sets
them; a new model leaves them off).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.model_config import Attention, Mode, ModelConfig

__all__ = [
    "ANCHOR_CHARS",
    "BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "MODEL_FIELDS",
    "NEW_MODEL",
    "NEW_MODEL_LR",
    "PRECISIONS",
    "STREAM_ATTENTION",
    "STREAM_SETTINGS",
    "SUMMARY",
    "ProgressCallback",
    "Recipe",
    "TrainOptions",
]

DEFAULT_EPOCHS = 10
# The attention of a new model trained in stream mode, and each kind's span. textgenrnn's
# ("vector") scores a step by its own features only, so over a carried state it cannot prefer the
# newest step and a wider span averages the current features with stale ones: on textgenrnn's
# titles (6 epochs) span 1 -> 2.02 nats/char, 4 -> 2.60, 40 -> 3.24. A "query" attention can
# prefer recent steps (engine/attention.py); README "The writer" has the measurement that chose.
# Window mode is unaffected.
STREAM_ATTENTION: Attention = "vector"
STREAM_SETTINGS: dict[str, dict[str, Any]] = {
    "vector": {"window": 1},
    "query": {"window": 32, "attention_dim": 64},
}
# Rows per step: stream tracks of seq_len targets each (32 x 128 was the fastest and best in
# 200 s on the titles), or windows of one target each (textgenrnn's 128).
BATCH_SIZE = {"stream": 32, "window": 128}
# What `train --json` prints besides the folder.
SUMMARY = "val_nats_per_char val_bits_per_char epochs steps chars_seen seconds chars_per_second"
# Settings of a new model that TrainOptions.model may carry (the vocabulary size comes from data).
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "vocab_size")

# The amount of chat text at which a fine-tune's anchor has its nominal strength.
ANCHOR_CHARS = 10_000

# Called with a dict per step ("phase": "train") and per evaluated chunk ("phase": "eval").
ProgressCallback = Callable[[dict[str, Any]], None]


# What a training step's forward may compute in; "auto": bfloat16 where the device does it in
# hardware (engine.model.has_fast_bfloat16), else float32.
PRECISIONS = ("float32", "bfloat16", "auto")

# What `engine train` gives a new model unless told otherwise: textgenrnn's design made wider,
# with dropout after each LSTM layer and a higher rate, held until the last fifth of the run
# (README, "the titles at 200 s": 1.51 nats/char in bfloat16 with the rate falling from the
# start, 1.49 held and with the titles shuffled; textgenrnn's own 2 x 128 at 4e-3 gives 1.61).
# TrainOptions and ModelConfig keep textgenrnn's values: fine-tunes and imported models rely
# on them.
NEW_MODEL: dict[str, Any] = {"rnn_size": 256, "dropout": 0.1}
NEW_MODEL_LR = 6e-3
NEW_MODEL_DECAY = 0.2


@dataclass
class TrainOptions:
    """Everything a run needs besides its text; JSON-friendly so it is kept in metrics.json."""

    epochs: int | None = None  # DEFAULT_EPOCHS when there is no time budget either
    time_budget: float | None = None  # wall-clock seconds of training and evaluation
    mode: Mode = "stream"
    seed: int = 0
    # The seed of the validation split (None: `seed`), so that runs of several seeds can be
    # measured on the same held-out documents.
    split_seed: int | None = None
    line_docs: bool = False
    val_fraction: float = 0.05
    batch_size: int | None = None  # BATCH_SIZE[mode] when None
    seq_len: int = 128
    lr: float = 4e-3
    # The learning rate rises linearly over the first `warmup` of the run, is held, and falls
    # linearly to 0 over the last `decay` of it (1.0: falls from the start, as it always did).
    warmup: float = 0.0
    decay: float = 1.0
    clip: float = 1.0  # max gradient norm
    # Decoupled weight decay (AdamW) of every weight, per step times the learning rate; 0: Adam.
    weight_decay: float = 0.0
    min_char_count: int = 1
    hangul: str = "syllables"  # a new vocabulary's Hangul: "syllables" or "jamo" (engine/vocab.py)
    # One of PRECISIONS. "bfloat16": each training step's forward under autocast (bfloat16
    # matrix products, on CPUs with AVX512-BF16 or a GPU); weights, optimizer and evaluations
    # stay float32. "auto" is resolved when the run starts; metrics.json keeps the outcome.
    precision: str = "float32"
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields of a new model
    device: str | None = None
    threads: int | None = None  # CPU threads for this run (torch's default when None)
    from_dir: str | None = None
    resume: bool = False
    samples: bool = True
    sample_chars: int = 120
    progress: bool = True
    log_every: int = 10  # steps per point of the training-loss curve
    # Lay the training documents end to end in a new order each epoch (textgenrnn shuffles its
    # examples each epoch too), so that a model cannot learn which document follows which: one
    # title per line gained about 0.01 nats/char at 200 s (README). `engine train` does it for
    # --line-docs. Continuous text keeps its order, its blocks carrying the thread from one to
    # the next; epochs with replay are always shuffled.
    shuffle: bool = False
    # Stream mode: the chance per row and batch that the carried state is zeroed, so the model
    # also learns to start from nothing (as generation does).
    state_reset: float = 0.05
    # False: no checkpoint (nor resume state) after every epoch, only the final model at the end.
    checkpoint_every_epoch: bool = True

    # -- against forgetting (fine-tunes) ----------------------------------------------------------
    # Replay: per epoch, documents of the replay text adding up to this many times the training
    # characters are mixed in (in shuffled order), so older knowledge is rehearsed.
    replay_ratio: float = 0.0
    # L2 pull toward the starting weights: anchor * sum((w - w_start)^2) added to the loss.
    # Rows added by vocabulary growth have no starting value and are not pulled.
    anchor: float = 0.0
    # The checkpoint whose weights the anchor pulls toward (None: `from_dir`, the start).
    anchor_dir: str | None = None
    # Evaluation points spread evenly over the planned run (plus one before the first step);
    # 0: the validation loss once per epoch only.
    eval_points: int = 0
    # With eval_points: end with the state of the point with the lowest validation loss among
    # those whose losses on the named extra texts stay at or under these limits (nats/char).
    keep_best: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    # ... and whose validation loss is at least this much (nats/char) below the first point's;
    # if no point is, the lowest validation loss is kept whatever its other losses.
    min_gain: float = 0.0
    # With eval_points: stop after this many points without a better kept state (0: never).
    patience: int = 0
    # With eval_points: rank points by this weighted sum of losses (text name -> weight; "val"
    # names the validation set) instead of the validation loss alone, e.g. a new bilingual
    # model selected on both languages' held-out text at once.
    select_on: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """How a chat's writer is fine-tuned (engine/finetune.py).

    Chosen by measurement on 2 CPU cores, fine-tuning weights/default on 100,000 characters of
    a Korean novel it never saw (심훈 「상록수」) and on a season of ten growing slices of it;
    figures are held-out bits/char of the novel / English (Alice) of eval.txt:
    no replay, no anchor           -0.45 / +0.165 (under a limit on eval.txt as a whole;
                                   hence the limit per language)
    replay 1, no anchor            -0.45 / +0.038;  replay 2: -0.42 / +0.042
    replay 1, flat anchor 1e-3     -0.40 / +0.024, but in a season English hit its limit by
                                   the 3rd version and 4 of 10 were refused
    replay 1, flat anchor 0.1      -0.07 / +0.003 (the anchor caps what 100k can teach)
    replay 1, anchor 0.03 / 10k    -0.33 / +0.022, a season all promoted, English at +0.05
    replay 1, anchor 0.02 / 10k    -0.35 / +0.024, a season 8 of 10 promoted
    lr 3e-3 or 5 epochs gained nothing under the anchor; a 10% warm-up changed little.
    The second-generation writer (3.5 M parameters) forgets far less and learns more slowly:
    lr 2e-3, anchor 0.02 / 10k     -0.28 / -0.002 (the held-out loss still falling at the end)
    lr 2e-3, anchor 0.01 / 10k     -0.31 / +0.000
    lr 4e-3, anchor 0.01 / 10k     -0.32 / +0.003 (these defaults)
    lr 4e-3, anchor 0.005 / 10k    -0.34 / +0.008, but in a season the Korean of eval.txt hit
                                   its limit by the 4th version and 5 to 7 were refused
    A season with these defaults but the anchor toward the parent (a version pulled toward the
    version before it) promoted 4 of 10: the Korean of eval.txt drifted +0.031 by the 2nd, and 3
    were refused for Korean forgetting, 3 for too small a gain. Toward the shipped base
    (`anchor_to`, the default): 8 of 10, the active writer within +0.007 overall / +0.014 English
    / +0.007 Korean, and closer to the chat's text at the end (4.08 against 4.17 bits/char on the
    last slice); with seed 1, 8 of 10 again, within +0.009 / +0.012 / +0.013. A single
    fine-tune of the base is the same either way.
    """

    epochs: int | None = 3  # passes over the chat's training text (with its replay)
    time_budget: float | None = None  # or: seconds of training and evaluation
    lr: float = 4e-3  # peak learning rate, decaying linearly to 0
    warmup: float = 0.0  # fraction of the run over which the learning rate rises to lr
    replay_ratio: float = 1.0  # replay characters per training character
    # L2 pull toward the `anchor_to` weights, at ANCHOR_CHARS training characters; in inverse
    # proportion to the chat's training text otherwise (its loss is a mean per character, so the
    # more text there is, the further the evidence lets the writer move from its anchor).
    anchor: float = 0.01
    # What the anchor pulls toward: the shipped base (where every chat started) or the parent.
    # Toward the parent, each version starts from its parent's drift and the drift piles up (see
    # the season above); toward the base, it stays put while the chat's style still grows.
    anchor_to: Literal["parent", "base"] = "base"
    eval_points: int = 8  # evaluations spread over the run (plus one at the start)
    patience: int = 3  # evaluation points without a better state before stopping
    held_out_fraction: float = 0.1  # the tail of each text file kept out of training
    min_gain_bits: float = 0.02  # the held-out loss must fall at least this much ...
    max_forget_bits: float = 0.05  # ... and the base-text loss rise at most this much
    min_char_count: int = 3  # a new character needs this many occurrences to get a row
    threads: int = 1  # torch threads: a fine-tune shares the machine with the bot
    seed: int = 0
