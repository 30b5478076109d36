#!/usr/bin/env bash
# What a session lent a GPU runs, as ONE device call (about 9 minutes on one H200): the default
# writer trained on the GPU, then every CUDA figure of bench/generation.py.
#
#   here, first:  rm -rf corpora-gpu && cp -r ../shared/corpora corpora-gpu   (git ignores it)
#   device run:   command "bash tools/gpu_session.sh", carry ["corpora-gpu"], timeout_s 600
#
# It needs python3 with torch, numpy and safetensors (no .venv). Back in $OUT:
#   train.json, train.log      tools/train_default_weights.py's summary (held-out bits/char per
#                              language) and progress; TRAIN_SECONDS of training (default 300)
#   default-gpu/               the trained writer (fp16 weights, config, vocab, metrics): compare
#                              its held-out figures with weights/default's before shipping it
#   gpu.txt, generation_cuda.json   bench/gpu_check.sh on the shipped writer
set -uo pipefail
out="${OUT:-.}"
export PYTHONUNBUFFERED=1
work="$(mktemp -d)"
if python3 tools/train_default_weights.py --corpora corpora-gpu --out "$work/default-gpu" \
    --time-budget "${TRAIN_SECONDS:-300}" >"$out/train.json" 2>"$out/train.log"; then
    mkdir -p "$out/default-gpu"
    for name in model.safetensors config.json vocab.json metrics.json; do
        cp "$work/default-gpu/$name" "$out/default-gpu/"
    done
else
    echo "training failed: see train.log" >&2
fi
tail -c 2000 "$out/train.json"
bash bench/gpu_check.sh
