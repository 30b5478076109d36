"""The loss-curve picture a fine-tune leaves in its folder (loss.png, 800 x 450).

Training loss, the held-out loss on the chat's own text and the loss on the base's evaluation
text (by language), in bits per character against the characters trained on; each base-text
limit dashed in its colour, the kept state marked. matplotlib's object API with the Agg canvas:
no pyplot, no display, no global state. Labels stay ASCII, so no font is ever missing a glyph.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["draw_loss_curve"]

BITS = 1 / math.log(2)
COLOURS = ("tab:blue", "tab:red", "tab:orange", "tab:purple", "tab:brown")


def _order(name: str) -> tuple[bool, str]:
    return name != "val", name


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def draw_loss_curve(metrics: dict[str, Any], path: Path, title: str) -> None:
    """Draw the run's curves from its metrics (train_loss, evals, selected, finetune)."""
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    train = metrics.get("train_loss", [])
    if train:
        axes.plot(
            [p[1] for p in train],
            [p[2] * BITS for p in train],
            color="0.6",
            linewidth=1,
            label="training (chat + replay)",
        )
    points = metrics.get("evals", [])
    names = sorted({name for p in points for name in p["nats_per_char"]}, key=_order)
    tuned = metrics.get("finetune", {})
    limits = {
        f"base_{k}": part["bits_before"] + tuned["max_forget_bits"]
        for k, part in tuned.get("base_by_language", {}).items()
    }
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]  # "val" sorts first: blue
        label = "held-out chat text" if name == "val" else name.replace("_", " eval text ")
        xs = [p["chars_seen"] for p in points if name in p["nats_per_char"]]
        ys = [p["nats_per_char"][name] * BITS for p in points if name in p["nats_per_char"]]
        axes.plot(xs, ys, marker="o", markersize=3, color=colour, label=label)
        if name in limits:
            axes.axhline(limits[name], color=colour, linestyle="--", linewidth=1)
    selected = metrics.get("selected")
    if selected:
        axes.axvline(selected["chars_seen"], color="tab:green", linewidth=1, label="kept state")
    axes.set_xlabel("characters trained on")
    axes.set_ylabel("loss (bits per character)")
    axes.set_title(_ascii(title))
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")
