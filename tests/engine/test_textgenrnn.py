"""`import-textgenrnn`: small .hdf5 files in textgenrnn's exact layout, checked against NumPy.

Each file is written the way Keras 2.1.5's `save_weights` writes textgenrnn's model (root attrs
`backend`, `keras_version`, `layer_names`; per layer a `weight_names` attribute naming nested
datasets with a TF-graph suffix), with random weights and tiny sizes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from engine.checkpoint import load
from engine.cli import main
from engine.errors import CheckpointError
from engine.textgenrnn import import_textgenrnn
from engine.vocab import Vocab
from tests.engine.numpy_textgenrnn import NumpyTextgenrnn

CHARS = list("etaoin shrdlu.,!?'ABCT")
PREFIXES = [
    "",
    "the cat",
    "héllo wörld ☃ 한국어 §",  # several characters textgenrnn's vocabulary lacks -> index 0
    "A rather long title that goes well past forty characters, so it is cut",
]
TOLERANCE = 1e-5


def write_vocab(path: Path) -> int:
    """textgenrnn's {char: index} from 1, <s> last; returns the model's vocab size (with 0)."""
    tokens = [*CHARS, "<s>"]
    path.write_text(
        json.dumps({t: i + 1 for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8"
    )
    return len(tokens) + 1


def write_config(path: Path, **overrides: object) -> None:
    config = {
        "rnn_layers": 2,
        "rnn_size": 5,
        "rnn_bidirectional": False,
        "max_length": 40,
        "max_words": 10000,
        "dim_embeddings": 6,
        "word_level": False,
        "single_text": False,
        "name": "textgenrnn",
        "verbose": 0,
    }
    path.write_text(json.dumps({**config, **overrides}), encoding="utf-8")


def write_weights(
    path: Path,
    vocab_size: int,
    *,
    layout: str = "cudnn",
    layers: int = 2,
    emb: int = 6,
    units: int = 5,
    bidirectional: bool = False,
    seed: int = 0,
    whole_model_config: Mapping[str, object] | None = None,
) -> None:
    """A textgenrnn weights file with random weights (Keras 2.1.5 layout)."""
    rng = np.random.default_rng(seed)

    def rand(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.6, size=shape).astype(np.float32)

    bias_len = 8 * units if layout == "cudnn" else 4 * units
    dirs = 2 if bidirectional else 1
    tag = "_3"  # Keras names weights after the TF graph's layer instance: embedding_3/...
    layer_weights: dict[str, list[tuple[str, np.ndarray]]] = {
        "input": [],
        "embedding": [(f"embedding{tag}/embeddings:0", rand(vocab_size, emb))],
    }
    width = emb
    for i in range(1, layers + 1):
        if bidirectional:
            name = f"bidirectional_{i}"
            prefixes = [f"{name}/forward_rnn_{i}", f"{name}/backward_rnn_{i}"]
        else:
            name, prefixes = f"rnn_{i}", [f"rnn_{i}{tag}"]
        layer_weights[name] = [
            (f"{p}/{w}", array)
            for p in prefixes
            for w, array in (
                ("kernel:0", rand(width, 4 * units)),
                ("recurrent_kernel:0", rand(units, 4 * units)),
                ("bias:0", rand(bias_len)),
            )
        ]
        width = units * dirs
    feature = emb + layers * units * dirs
    layer_weights["rnn_concat"] = []
    layer_weights["attention"] = [(f"attention{tag}/attention_W:0", rand(feature, 1))]
    layer_weights["output"] = [
        (f"output{tag}/kernel:0", rand(feature, vocab_size)),
        (f"output{tag}/bias:0", rand(vocab_size)),
    ]
    with h5py.File(path, "w") as f:
        root = f
        if whole_model_config is not None:
            f.attrs["model_config"] = json.dumps(whole_model_config)
            root = f.create_group("model_weights")
        root.attrs["backend"] = "tensorflow"
        root.attrs["keras_version"] = "2.1.5"
        root.attrs["layer_names"] = np.array([n.encode() for n in layer_weights])
        for name, weights in layer_weights.items():
            group = root.create_group(name)
            group.attrs["weight_names"] = (
                np.array([w.encode() for w, _ in weights])
                if weights
                else np.array([], dtype=np.float64)
            )
            for weight_name, array in weights:
                group.create_dataset(weight_name, data=array)


def window_probabilities(folder: Path, prefix: str) -> np.ndarray:
    """Our side: the imported checkpoint's window-mode softmax after `prefix`."""
    checkpoint = load(folder)
    vocab, max_length = checkpoint.vocab, checkpoint.model.config.max_length
    ids = [vocab.start_index, *vocab.encode(prefix)][-max_length:]
    ids = [vocab.pad_index] * (max_length - len(ids)) + ids
    with torch.no_grad():
        logits, _, _ = checkpoint.model(torch.tensor([ids]), mode="window")  # (1, V)
    return torch.softmax(logits.double(), dim=-1)[0].numpy()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path, int]:
    vocab_path, config_path = tmp_path / "vocab.json", tmp_path / "config.json"
    vocab_size = write_vocab(vocab_path)
    write_config(config_path)
    return tmp_path / "weights.hdf5", vocab_path, config_path, vocab_size


@pytest.mark.parametrize("layout", ["cudnn", "plain"])
def test_imported_window_probabilities_match_numpy_textgenrnn(
    files: tuple[Path, Path, Path, int], tmp_path: Path, layout: str
) -> None:
    """Both LSTM layouts give the NumPy reference's next-character probabilities within 1e-5."""
    weights, vocab, config, vocab_size = files
    write_weights(weights, vocab_size, layout=layout)
    result = import_textgenrnn(weights, vocab, config, tmp_path / "model")
    assert result.layouts == [layout, layout]
    reference = NumpyTextgenrnn(weights, vocab)
    for prefix in PREFIXES:
        ours, theirs = (
            window_probabilities(tmp_path / "model", prefix),
            reference.probabilities(prefix),
        )
        assert np.abs(ours - theirs).max() <= TOLERANCE, prefix


def test_bidirectional_model_matches_numpy_textgenrnn(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """A Bidirectional(CuDNNLSTM) model imports with forward and backward directions in place."""
    weights, vocab, config, vocab_size = files
    write_config(config, rnn_bidirectional=True)
    write_weights(weights, vocab_size, bidirectional=True, layers=2)
    import_textgenrnn(weights, vocab, config, tmp_path / "model")
    assert load(tmp_path / "model").model.config.rnn_bidirectional
    reference = NumpyTextgenrnn(weights, vocab)
    for prefix in PREFIXES:
        diff = np.abs(
            window_probabilities(tmp_path / "model", prefix) - reference.probabilities(prefix)
        ).max()
        assert diff <= TOLERANCE, prefix


def test_config_max_length_sets_the_window(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """max_length from textgenrnn's config becomes the window; a long prefix is cut to it."""
    weights, vocab, config, vocab_size = files
    write_config(config, max_length=8)
    write_weights(weights, vocab_size)
    import_textgenrnn(weights, vocab, config, tmp_path / "model")
    assert load(tmp_path / "model").model.config.max_length == 8
    reference = NumpyTextgenrnn(weights, vocab, max_length=8)
    prefix = PREFIXES[-1]
    diff = np.abs(
        window_probabilities(tmp_path / "model", prefix) - reference.probabilities(prefix)
    ).max()
    assert diff <= TOLERANCE


def test_imported_vocab_maps_unknown_characters_to_padding(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """The Vocab keeps textgenrnn's indices: <pad> at 0, <s> last, unknown characters -> 0."""
    weights, vocab_path, config, vocab_size = files
    write_weights(weights, vocab_size)
    import_textgenrnn(weights, vocab_path, config, tmp_path / "model")
    vocab: Vocab = load(tmp_path / "model").vocab
    original = json.loads(vocab_path.read_text(encoding="utf-8"))
    assert vocab.tokens[0] == "<pad>" and vocab.tokens[-1] == "<s>"
    assert all(vocab.tokens[i] == token for token, i in original.items())
    assert vocab.encode("e☃") == [original["e"], 0]


def test_cli_import_prints_one_json_object(
    files: tuple[Path, Path, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import-textgenrnn --json` writes a loadable checkpoint and prints one JSON object."""
    weights, vocab, config, vocab_size = files
    write_weights(weights, vocab_size)
    out = tmp_path / "model"
    rc = main(
        [
            "import-textgenrnn",
            "--weights",
            str(weights),
            "--vocab",
            str(vocab),
            "--config",
            str(config),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["out"] == str(out) and report["vocab_size"] == vocab_size
    assert load(out).metrics["imported_from"]["keras_version"] == "2.1.5"


def test_next_window_mode_matches_numpy_textgenrnn(
    files: tuple[Path, Path, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`next --mode window --json` lists the NumPy reference's probabilities within 1e-5."""
    weights, vocab, config, vocab_size = files
    write_weights(weights, vocab_size)
    import_textgenrnn(weights, vocab, config, tmp_path / "model")
    reference = NumpyTextgenrnn(weights, vocab)
    index = {token: i for i, token in enumerate(load(tmp_path / "model").vocab.tokens)}
    for prefix in PREFIXES:
        rc = main(
            [
                "next",
                "--model",
                str(tmp_path / "model"),
                "--prefix",
                prefix,
                "--mode",
                "window",
                "--top",
                str(vocab_size),
                "--json",
            ]
        )
        assert rc == 0
        listed = json.loads(capsys.readouterr().out)["next"]
        expected = reference.probabilities(prefix)
        assert listed
        for entry in listed:
            assert abs(entry["p"] - expected[index[entry["char"]]]) <= TOLERANCE, prefix


def test_truncated_hdf5_raises_error_naming_the_file(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """A weights file cut short is refused with a CheckpointError that names it."""
    weights, vocab, config, vocab_size = files
    write_weights(weights, vocab_size)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(weights)):
        import_textgenrnn(weights, vocab, config, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_garbage_file_fails_cli_with_exit_code_2(
    files: tuple[Path, Path, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not HDF5 makes the CLI exit 2 with an error line naming the file."""
    weights, vocab, _, _ = files
    weights.write_bytes(b"this is not an hdf5 file\n" * 40)
    rc = main(
        [
            "import-textgenrnn",
            "--weights",
            str(weights),
            "--vocab",
            str(vocab),
            "--out",
            str(tmp_path / "model"),
        ]
    )
    assert rc == 2
    assert str(weights) in capsys.readouterr().err


def test_vocab_of_another_model_is_refused(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """A vocabulary whose size does not fit the embedding is refused, naming the mismatch."""
    weights, vocab, config, vocab_size = files
    write_weights(weights, vocab_size + 3)
    with pytest.raises(CheckpointError, match="vocabulary"):
        import_textgenrnn(weights, vocab, config, tmp_path / "model")


def test_config_that_contradicts_the_weights_is_refused(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """A config.json with another rnn_size than the weights hold is refused, naming it."""
    weights, vocab, config, vocab_size = files
    write_config(config, rnn_size=7)
    write_weights(weights, vocab_size)
    with pytest.raises(CheckpointError, match=r"config\.json: rnn_size=7"):
        import_textgenrnn(weights, vocab, config, tmp_path / "model")


def test_word_level_model_is_refused(files: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    """Word-level textgenrnn models are refused: the writer is character-level."""
    weights, vocab, config, vocab_size = files
    write_config(config, word_level=True)
    write_weights(weights, vocab_size)
    with pytest.raises(CheckpointError, match="word-level"):
        import_textgenrnn(weights, vocab, config, tmp_path / "model")


def test_plain_lstm_with_hard_sigmoid_is_refused(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """A whole-model file whose plain LSTMs use hard_sigmoid is refused, not silently misread."""
    weights, vocab, config, vocab_size = files
    model_config = {
        "class_name": "Model",
        "config": {
            "layers": [
                {
                    "class_name": "LSTM",
                    "config": {"name": "rnn_1", "recurrent_activation": "hard_sigmoid"},
                }
            ]
        },
    }
    write_weights(weights, vocab_size, layout="plain", whole_model_config=model_config)
    with pytest.raises(CheckpointError, match="hard_sigmoid"):
        import_textgenrnn(weights, vocab, config, tmp_path / "model")


def test_whole_model_file_with_sigmoid_imports(
    files: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    """Weights under `model_weights` (a whole-model save) are found and imported."""
    weights, vocab, config, vocab_size = files
    model_config = {"config": {"layers": [{"config": {"recurrent_activation": "sigmoid"}}]}}
    write_weights(weights, vocab_size, layout="plain", whole_model_config=model_config)
    assert import_textgenrnn(weights, vocab, config, tmp_path / "model").layouts == ["plain"] * 2
