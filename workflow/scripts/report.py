"""Rule report: the HTML report (summary, accuracy vs IPC, per-class, every set as GIFs)."""

from tsgd.jobs import log_to
from tsgd.report.html import write_report

with log_to(snakemake.log[0]):
    path = write_report(
        snakemake.input.summary,
        snakemake.input.metrics,
        snakemake.input.sets,
        snakemake.output.html,
        title=f"TSGD report: {snakemake.wildcards.dataset}",
        saliency=snakemake.params.saliency,
    )
    print(f"wrote {path}")
