"""Generate a benchmark page: every method x IPC x student x evaluation x seed, in one command.

    python benchmarks/results.py                      # benchmarks/ucf9.yaml -> benchmarks/results.md
    python benchmarks/results.py CONFIG --out PAGE [--data ROOT] [--device cuda] [--only M ...]

The data defaults to ../shared/data/ucf9-dev; steps are kept under results/benchmark/<config>/
so an interrupted run resumes. See tsgd.benchmark for the configuration format.
"""

import sys
from pathlib import Path

from tsgd.benchmark import main

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("-"):
        argv = [str(REPO / "benchmarks" / "ucf9.yaml"), *argv]
    if "--out" not in argv:
        argv += ["--out", str(REPO / "benchmarks" / "results.md")]
    if "--data" not in argv:
        argv += ["--data", str(REPO.parent / "shared" / "data" / "ucf9-dev")]
    sys.exit(main(argv))
