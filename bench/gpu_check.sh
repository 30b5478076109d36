#!/usr/bin/env bash
# The GPU check, one call for a session that is lent a GPU (the device tool runs it in a copy
# of the checkout, with python3, torch, numpy and safetensors but no .venv):
#
#     bash bench/gpu_check.sh        # ~3 minutes on one H200
#
# It writes $OUT/gpu.txt (the card and driver) and $OUT/generation_cuda.json: every
# bench/generation.py figure of the shipped writer on CUDA, with the captured step and without
# it. Read "graph_capture_error" (null: the capture held) and "graph_texts_equal_eager" first,
# then copy the figures into the README's GPU column and the model card.
set -euo pipefail
out="${OUT:-.}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$out/gpu.txt" 2>&1 || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" >>"$out/gpu.txt"
python3 bench/generation.py --model weights/default --devices cuda >"$out/generation_cuda.json"
cat "$out/generation_cuda.json"
