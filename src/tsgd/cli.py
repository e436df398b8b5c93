"""``tsgd``: the pipeline's functions for people (the rules call the same ones).

Heavy imports (torch, decord, mlflow) happen inside the commands, so ``tsgd --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tsgd.data.adapters import DATASET_SOURCES
from tsgd.data.decode import DECODERS

DEFAULT_SCHEMA = Path("workflow/schemas/params.schema.yaml")


def _params(args: argparse.Namespace, dataset: dict | None = None) -> dict:
    """The validated params file; ``dataset`` entries replace its ``dataset`` section's
    before the dataset's presets are resolved."""
    import yaml

    from tsgd.config import load_params, validate_params

    if not dataset:
        return load_params(args.params, args.schema)
    path = Path(args.params)
    raw = yaml.safe_load(path.read_text()) if path.is_file() else {}
    raw = dict(raw or {})
    raw["dataset"] = {**(raw.get("dataset") or {}), **dataset}
    return validate_params(raw, args.schema, source=str(path))


def cmd_validate(args: argparse.Namespace) -> int:
    print(json.dumps(_params(args), indent=2))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from tsgd.data.synthetic import generate_synthetic_dataset

    generate_synthetic_dataset(args.out, **_params(args)["synthetic"])
    print(f"wrote {args.out}/clips.csv")
    return 0


def cmd_preprocess(args: argparse.Namespace) -> int:
    from tsgd.data.preprocess import preprocess_dataset

    p = _params(args, {"source": args.source} if args.source else None)
    pre = p["preprocess"]
    ds = p["dataset"]
    val_groups = args.val_groups or ds["val_groups"] or None
    summary = preprocess_dataset(
        args.root,
        args.out,
        source="folder" if ds["source"] == "synthetic" else ds["source"],
        manifest=args.manifest,
        official_split=args.split or ds["split"],
        annotations=args.annotations or ds["annotations"],
        frames=pre["frames"],
        gap=pre["gap"],
        resize=tuple(pre["resize"]),
        min_frames=pre["min_frames"],
        decoder=args.decoder or pre["decoder"],
        splits=("train", "val", "test") if val_groups else ("train", "test"),
        test_groups=args.test_groups or ds["test_groups"] or None,
        val_groups=val_groups,
        workers=args.workers,
        on_error=pre["on_error"],
        max_bad_fraction=pre["max_bad_fraction"],
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from tsgd.io.sets import load_tensors

    tensors, meta = load_tensors(args.set)
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    keep = ("role", "method", "dataset", "ipc", "frames", "crop", "classes", "sha256")
    print(json.dumps({"tensors": shapes, **{k: meta.get(k) for k in keep}}, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tsgd.io.export import export_set

    files = export_set(args.set, args.out, fps=args.fps)
    print(f"wrote {len(files)} videos and index.csv to {args.out}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from tsgd.evaluate.aggregate import summarize, write_summary

    rows = summarize(args.metrics)
    write_summary(rows, args.csv, args.md)
    print(Path(args.md).read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsgd", description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate params.yaml and print it with defaults")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("generate", help="write the built-in synthetic motion dataset")
    p.add_argument("out", type=Path)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "preprocess",
        help="decode a video dataset into a clip cache (resumes a killed run)",
        description="Clip settings come from --params (null: the dataset's benchmark preset).",
    )
    p.add_argument("root", type=Path, help="the dataset's root folder")
    p.add_argument("out", type=Path, help="cache folder to write")
    p.add_argument("--source", choices=DATASET_SOURCES, default=None, help="dataset layout")
    p.add_argument("--manifest", default="clips.csv", help="folder source: manifest CSV")
    p.add_argument("--split", type=int, default=None, help="official split number (1-3)")
    p.add_argument("--annotations", default=None, help="split/label files' folder")
    p.add_argument("--test-groups", nargs="*", default=None)
    p.add_argument("--val-groups", nargs="*", default=None)
    p.add_argument("--decoder", choices=DECODERS, default=None, help="video decoder")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("inspect", help="verify a set or checkpoint and print its meta")
    p.add_argument("set", type=Path)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", help="write a distilled set as playable mp4 files")
    p.add_argument("set", type=Path, help="a set's .safetensors (meta.json beside it)")
    p.add_argument("out", type=Path, help="folder for the mp4 files and index.csv")
    p.add_argument("--fps", type=float, default=8.0, help="frame rate of the mp4 files")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("summary", help="aggregate metrics.json files (mean ± std)")
    p.add_argument("metrics", nargs="+", type=Path)
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--md", type=Path, required=True)
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"tsgd {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
