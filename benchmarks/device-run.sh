#!/usr/bin/env bash
# The GPU benchmark on a machine that cannot download anything (the lent device: Python 3.12
# with torch, torchvision, numpy, opencv, safetensors, pyyaml, tqdm; no jsonschema, decord).
#
#   bash benchmarks/device-run.sh prepare [DATA]   # here, after committing: wheels, videos, commit
#   bash benchmarks/device-run.sh run [CONFIG [S]] # there (carry .device): writes $OUT/
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
  # the commit the page will name (the copy there may not carry this history): commit first
  c=$(git rev-parse --short HEAD)
  [ -z "$(git status --porcelain --untracked-files=no)" ] || c="$c with uncommitted changes"
  echo "$c" > .device/commit
  du -sh .device
  ;;
run)
  # run [CONFIG [SECONDS [ARGS...]]]: no new step starts after SECONDS (default 450); a step
  # still running at SECONDS + 120 is killed and the page is written from the finished
  # steps. ARGS go to results.py (--only M ... splits a config over several sessions).
  config=${2:-benchmarks/ucf9.yaml}
  limit=${3:-450}
  shift $(($# < 3 ? $# : 3))
  extra=("$@")  # passed on to results.py, e.g. --only random salient
  out=${OUT:-benchmarks/out}
  name=$(basename "$config" .yaml)
  page=$name
  [ "$name" != ucf9 ] || page=results  # the main configuration writes benchmarks/results.md
  work=${TSGD_DEVICE_WORK:-/tmp/tsgd-work/$name}
  lib=$(mktemp -d)
  mkdir -p "$out"
  python -m pip install -q --no-deps --no-index --target "$lib" .device/wheels/*.whl
  export PYTHONPATH="$lib:$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  [ ! -s .device/commit ] || export TSGD_COMMIT="$(cat .device/commit)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
  bench=(python benchmarks/results.py "$config" --data .device/data --device cuda
    --work "$work" --out "$out/$page.md" --keep-going ${extra[@]+"${extra[@]}"})
  rc=0
  timeout $((limit + 120)) "${bench[@]}" --time-limit "$limit" 2>&1 | tee "$out/run.log" || rc=$?
  if [ ! -s "$out/$page.md" ] || [ "$rc" -ge 124 ]; then  # killed mid-step: page from what finished
    "${bench[@]}" --time-limit 0 2>&1 | tail -n 5 | tee -a "$out/run.log" || true
  fi
  # the steps' records (step.json, logs), not the (large) sets and weights
  tar -C "$(dirname "$work")" -czf "$out/work.tgz" --exclude='*.safetensors' --exclude='*.ckpt*' \
    --exclude='*.npy' --exclude='*.npz' "$name"
  ls -la "$out"
  ;;
*)
  echo "usage: $0 prepare [DATA] | run [CONFIG]" >&2
  exit 2
  ;;
esac
