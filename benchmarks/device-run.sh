#!/usr/bin/env bash
# The GPU benchmark on a machine that cannot download anything (the lent device: Python 3.12
# with torch, torchvision, numpy, opencv, safetensors, pyyaml, tqdm; no jsonschema, decord).
#
#   bash benchmarks/device-run.sh prepare [DATA]   # here: wheels + the videos into .device/
#   bash benchmarks/device-run.sh run [CONFIG]     # there (carry .device): writes $OUT/
#
# .device/ is git-ignored. The videos are decoded there with OpenCV (decoder: auto falls
# back to it), which gives the same frames as decord (tests/unit/test_decoders.py).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  data=${2:-../shared/data/ucf9-dev}
  rm -rf .device && mkdir -p .device
  ../shared/tools/device-wheels .device/wheels jsonschema==4.26.0 attrs==26.1.0 \
    jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 \
    typing_extensions==4.16.0
  mkdir -p .device/data
  cp -r "$data/videos" "$data/clips.csv" "$data/classes.txt" .device/data/
  du -sh .device
  ;;
run)
  config=${2:-benchmarks/ucf9.yaml}
  out=${OUT:-benchmarks/out}
  lib=$(mktemp -d)
  python -m pip install -q --no-deps --no-index --target "$lib" .device/wheels/*.whl
  export PYTHONPATH="$lib:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  python benchmarks/results.py "$config" --data .device/data --device cuda \
    --work "$out/work" --out "$out/$(basename "$config" .yaml).md" 2>&1 | tee "$out/run.log"
  # keep what the page needs, not the (large) sets and weights
  find "$out/work" -name '*.safetensors' -o -name '*.ckpt' -o -name '*.npy' | xargs -r rm -f
  ;;
*)
  echo "usage: $0 prepare [DATA] | run [CONFIG]" >&2
  exit 2
  ;;
esac
