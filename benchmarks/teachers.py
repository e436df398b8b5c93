"""Choose a teacher on the val groups: train (or reuse) each candidate of a candidates file
as the benchmark's own teacher step and write a page of their val / test / train top-1.

    python benchmarks/teachers.py benchmarks/teachers/ucf9-cpu.yaml --out benchmarks/teachers-cpu.md \
        --device cpu --work results/benchmark/ucf9-cpu-long

The data defaults to ../shared/data/ucf9-dev. See tsgd.teacher.choose for the file format.
"""

import sys
from pathlib import Path

from tsgd.teacher.choose import main

REPO = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--data" not in argv:
        argv += ["--data", str(REPO.parent / "shared" / "data" / "ucf9-dev")]
    sys.exit(main(argv))
