"""Preprocess throughput against a bare decord loop, and peak memory at 1x and 4x the videos.

Usage (from the project root, with the venv active)::

    python benchmarks/decode_throughput.py --root ../shared/data/ucf9-dev
    python benchmarks/decode_throughput.py --root DIR --workers 2 --repeat 1 4

For each ``repeat`` factor R the dataset's manifest is repeated R times (a set R times
larger, same files), then, with the same number of processes and the same frame settings:

- **bare loop**: a ``multiprocessing.Pool`` over the files, each task opening a decord
  ``VideoReader`` (resize at decode, one thread) and reading the cached frames with
  ``get_batch``; nothing is kept or written. This is the ceiling a decoder-bound
  preprocessing step can reach.
- **tsgd preprocess**: :func:`tsgd.data.preprocess.preprocess_dataset` into a fresh cache
  folder (decode, channel statistics, the .npy cache and manifests written to disk).

Then, on the 1x set, tsgd preprocess with each decoder backend alone (``--decoders``).

Each measurement runs in its own child process, which reports its wall time and the peak
resident set size (``ru_maxrss``) of the main process and of its largest worker; this
script also samples the summed proportional set size (PSS: shared pages split among the
processes sharing them) of the whole process tree every 50 ms and reports its peak. The page
cache is warmed once beforehand by reading every file, so both sides read from memory.
Prints a markdown table; nothing is timed inside the test suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
args = json.loads(sys.stdin.read())
t0 = time.perf_counter()
if args["mode"] == "bare":
    import multiprocessing as mp
    from tsgd.data.sampling import cache_indices

    def bare(path):
        import decord
        vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1,
                                width=args["width"], height=args["height"])
        idx, _, _ = cache_indices(len(vr), args["frames"], args["gap"])
        return vr.get_batch(idx.tolist()).asnumpy().shape[0]

    with mp.get_context("fork").Pool(args["workers"]) as pool:
        n = sum(1 for _ in pool.imap_unordered(bare, args["paths"], chunksize=4))
else:
    from tsgd.data.preprocess import preprocess_dataset
    summary = preprocess_dataset(
        args["root"], args["out"], manifest=args["manifest"], frames=args["frames"],
        gap=args["gap"], resize=(args["height"], args["width"]),
        test_groups=args["test_groups"], workers=args["workers"], progress=False,
        decoder=args.get("decoder", "auto"),
    )
    n = sum(c["ok"] for c in summary["counts"].values())
seconds = time.perf_counter() - t0
print(json.dumps({
    "clips": n, "seconds": seconds,
    "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def _pss_mb(pid: int) -> float:
    """Proportional set size of one process in MB (shared pages split among sharers)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _child(args: dict) -> dict:
    """Run one measurement in a child process, sampling the memory of its process tree."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            text=True,
            env=env,
        )
        proc.stdin.write(json.dumps(args))
        proc.stdin.close()
        peak_pss = 0.0
        while proc.poll() is None:
            peak_pss = max(peak_pss, sum(_pss_mb(p) for p in _tree(proc.pid)))
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{args['mode']} run failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result["pss_total_mb"] = peak_pss
    return result


def _repeated_manifest(root: Path, manifest: str, factor: int, tmp: Path) -> tuple[Path, list]:
    with (root / manifest).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    out = tmp / f"clips_x{factor}.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for _ in range(factor):
            writer.writerows(rows)
    paths = [str(root / r["path"]) for r in rows] * factor
    return out, paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/data/ucf9-dev"))
    parser.add_argument("--manifest", default="clips.csv")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (UCF: 16)")
    parser.add_argument("--gap", type=int, default=4, help="frame gap (UCF: 4)")
    parser.add_argument("--resize", type=int, nargs=2, default=(120, 160), metavar=("H", "W"))
    parser.add_argument("--test-groups", nargs="*", default=["g08", "g09", "g10"])
    parser.add_argument("--repeat", type=int, nargs="+", default=[1, 4])
    parser.add_argument(
        "--decoders",
        nargs="*",
        default=["decord", "pyav", "opencv"],
        help="backends to time tsgd preprocess with, on the 1x set (none: skip)",
    )
    args = parser.parse_args()
    root = args.root.resolve()
    if not (root / args.manifest).is_file():
        raise SystemExit(f"manifest not found: {root / args.manifest}")

    print(
        f"# Preprocess throughput — {platform.node()}, {os.cpu_count()} CPUs, "
        f"{args.workers} processes"
    )
    print()
    print(
        f"Dataset {root}, {args.frames} frames, gap {args.gap}, "
        f"{args.resize[0]}x{args.resize[1]} px, command: `{' '.join(sys.argv)}`"
    )
    print()
    print(
        "| videos | bare decord clips/s | tsgd clips/s | ratio | tsgd peak RSS main / worker "
        "(MB) | tsgd peak PSS all (MB) | bare peak RSS main / worker (MB) | bare peak PSS all "
        "(MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="tsgd-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for factor in args.repeat:
            manifest, paths = _repeated_manifest(root, args.manifest, factor, tmp)
            for p in set(paths):  # warm the page cache
                Path(p).read_bytes()
            common = {
                "frames": args.frames,
                "gap": args.gap,
                "height": args.resize[0],
                "width": args.resize[1],
                "workers": args.workers,
            }
            bare = _child({"mode": "bare", "paths": paths, **common})
            out = tmp / f"cache_x{factor}"
            ours = _child(
                {
                    "mode": "tsgd",
                    "root": str(root),
                    "manifest": str(manifest),
                    "out": str(out),
                    "test_groups": args.test_groups,
                    **common,
                }
            )
            bare_rate = bare["clips"] / bare["seconds"]
            our_rate = ours["clips"] / ours["seconds"]
            print(
                f"| {len(paths)} | {bare_rate:.1f} | {our_rate:.1f} | {our_rate / bare_rate:.2f} "
                f"| {ours['rss_main_mb']:.0f} / {ours['rss_worker_mb']:.0f} "
                f"| {ours['pss_total_mb']:.0f} "
                f"| {bare['rss_main_mb']:.0f} / {bare['rss_worker_mb']:.0f} "
                f"| {bare['pss_total_mb']:.0f} |",
                flush=True,
            )
            time.sleep(0.5)
        if args.decoders:
            _per_decoder(args, root, tmp)
    return 0


def _per_decoder(args: argparse.Namespace, root: Path, tmp: Path) -> None:
    """tsgd preprocess with each backend alone, same files and settings."""
    manifest, paths = _repeated_manifest(root, args.manifest, 1, tmp)
    print()
    print(f"tsgd preprocess by decoder ({len(paths)} videos, {args.workers} processes):")
    print()
    print("| decoder | clips/s | peak PSS all (MB) |")
    print("|---|---:|---:|")
    for decoder in args.decoders:
        result = _child(
            {
                "mode": "tsgd",
                "root": str(root),
                "manifest": str(manifest),
                "out": str(tmp / f"cache_{decoder}"),
                "test_groups": args.test_groups,
                "decoder": decoder,
                "frames": args.frames,
                "gap": args.gap,
                "height": args.resize[0],
                "width": args.resize[1],
                "workers": args.workers,
            }
        )
        rate = result["clips"] / result["seconds"]
        print(f"| {decoder} | {rate:.1f} | {result['pss_total_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
