"""The HTML report: one self-contained folder (``index.html`` + ``media/``) per dataset.

It shows the summary table (every set maker against the baselines, mean ± std over
seeds, collapsed runs counted), accuracy against IPC, per-class test accuracy, and every
video of every set as an animated GIF beside its saliency heatmap. A small script in the
page records on ``<body data-media>`` how many of its images loaded, so a headless browser
can check the page (``tests/workflow/test_pipeline.py``).
"""

from __future__ import annotations

import csv
import html
import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tsgd.io.atomic import write_text_atomic, write_with

__all__ = ["write_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .6rem;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}.best{font-weight:bold}
figure{display:inline-block;margin:.5rem;vertical-align:top}figcaption{font-size:.85rem}
img{image-rendering:pixelated;max-width:100%}.muted{color:#777}
"""

_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-media', ok + '/' + imgs.length);
});
"""


def _read_summary(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _fmt(mean: str, std: str) -> str:
    try:  # summary.csv holds percentages already
        m, s = float(mean), float(std)
    except ValueError:
        return "—"
    if m != m:
        return "—"
    return f"{m:.1f} ± {s:.1f}" if s == s else f"{m:.1f}"


def _plot(path: Path, draw: Any) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    try:
        draw(ax)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
    return path


def _accuracy_vs_ipc(rows: list[dict[str, str]], path: Path) -> Path:
    def draw(ax: Any) -> None:
        groups: dict[tuple[str, str, str], list[tuple[int, float, float]]] = defaultdict(list)
        full: list[tuple[str, str, float]] = []
        for r in rows:
            mean = float(r["mean"])
            if mean == mean:
                std = float(r["std"]) if r["std"] not in ("", "nan") else 0.0
                if r["ipc"] == "":  # the full training set: a level, not a point
                    full.append((r["student"], r["labels"], mean))
                    continue
                key = (r["method"], r["student"], r["labels"])
                groups[key].append((int(r["ipc"]), mean, std))  # percentages already
        for student, labels, mean in full:
            ax.axhline(
                mean,
                color="grey",
                lw=1,
                ls="-" if labels == "hard" else "--",
                label=f"full training set · {student} · {labels}",
            )
        for (method, student, labels), pts in sorted(groups.items()):
            pts.sort()
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                marker="o",
                capsize=3,
                ls="-" if labels == "hard" else "--",
                label=f"{method} · {student} · {labels}",
            )
        ipcs = sorted({p[0] for pts in groups.values() for p in pts})
        if ipcs:
            ax.set_xticks(ipcs)
            ax.set_xlim(min(ipcs) - 0.5, max(ipcs) + 0.5)
        ax.set_xlabel("videos per class (IPC)")
        ax.set_ylabel("test top-1 (%)")
        if groups or full:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no run that did not collapse", ha="center", transform=ax.transAxes)

    return _plot(path, draw)


def _per_class(metrics: Sequence[Mapping[str, Any]], path: Path) -> Path:
    def draw(ax: Any) -> None:
        acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        classes: list[str] = []
        for m in metrics:
            if m.get("collapsed"):
                continue
            label = f"{m['method']} ipc{m['ipc']} {m['labels']}"
            for c, v in m["per_class"].items():
                acc[label][c].append(v)
                if c not in classes:
                    classes.append(c)
        width = 0.8 / max(1, len(acc))
        for i, (label, per) in enumerate(sorted(acc.items())):
            xs = [k + i * width for k in range(len(classes))]
            ys = [100 * sum(per[c]) / len(per[c]) if per[c] else 0 for c in classes]
            ax.bar(xs, ys, width=width, label=label)
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(classes))])
        ax.set_xticklabels(classes, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("test accuracy (%), mean over seeds")
        if acc:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no run that did not collapse", ha="center", transform=ax.transAxes)

    return _plot(path, draw)


def write_report(
    summary_csv: str | os.PathLike[str],
    metrics_files: Sequence[str | os.PathLike[str]],
    set_files: Sequence[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    *,
    title: str = "TSGD report",
    saliency: Mapping[str, Any] | None = None,
) -> Path:
    """Write the report; returns the path of ``index.html``.

    Args:
        summary_csv: the summary rule's CSV.
        metrics_files: every student run's metrics.json (per-class accuracy).
        set_files: the sets to show (``.../<method>/ipc<k>/seed<s>/synthetic.safetensors``).
        out_html: the page; its media go to ``media/`` beside it.
        saliency: TSGF settings for the heatmaps (params.yaml ``saliency``).
    """
    from tsgd.report.media import set_preview_gif

    out = Path(out_html)
    media = out.parent / "media"
    media.mkdir(parents=True, exist_ok=True)
    rows = _read_summary(Path(summary_csv))
    metrics = [json.loads(Path(p).read_text(encoding="utf-8")) for p in metrics_files]
    ipc_png = _accuracy_vs_ipc(rows, media / "accuracy_vs_ipc.png")
    class_png = _per_class(metrics, media / "per_class.png")

    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<p class='muted'>Test top-1 in %, mean ± sample std over the seeds whose student did "
        "not collapse; Δ is against the random real subset with the same IPC, student and "
        "labels. Hard- and soft-label rows are not comparable with each other.</p>",
        "<h2>Summary</h2><table><tr><th class='l'>set</th><th>IPC</th><th class='l'>student"
        "</th><th class='l'>labels</th><th>top-1 %</th><th>Δ vs random</th><th>runs</th>"
        "<th>collapsed</th></tr>",
    ]
    for r in rows:
        delta = r.get("delta_vs_random", "")
        baseline = r["method"] == "random" or delta in ("", "nan")
        delta_txt = "—" if baseline else f"{float(delta):+.1f}"
        parts.append(
            f"<tr><td class='l'>{e(r['method'])}</td><td>{e(r['ipc'] or 'all')}</td>"
            f"<td class='l'>{e(r['student'])}</td><td class='l'>{e(r['labels'])}</td>"
            f"<td>{_fmt(r['mean'], r['std'])}</td><td>{delta_txt}</td>"
            f"<td>{e(r['runs'])}</td><td>{e(r['collapsed'])}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        f"<h2>Accuracy against IPC</h2><img alt='accuracy against IPC' "
        f"src='media/{ipc_png.name}'>"
        f"<h2>Per-class test accuracy</h2><img alt='per-class accuracy' "
        f"src='media/{class_png.name}'>"
        "<h2>The sets</h2><p class='muted'>Every video of every set, as the students see it "
        "(centre crop, de-normalised), beside its TSGF saliency heatmap (black: static, "
        "yellow: most salient).</p>"
    )
    for path in sorted(Path(p) for p in set_files):
        seed, ipc, method = path.parent.name, path.parent.parent.name, path.parents[2].name
        gif = set_preview_gif(path, media / f"{method}_{ipc}_{seed}.gif", saliency=saliency)
        parts.append(
            f"<figure><img alt='{e(method)} {e(ipc)} {e(seed)}' src='media/{gif.name}'>"
            f"<figcaption>{e(method)} · {e(ipc)} · {e(seed)}</figcaption></figure>"
        )
    parts.append(f"<script>{_CHECK}</script></body></html>")
    write_text_atomic(out, "\n".join(parts) + "\n")
    return out
