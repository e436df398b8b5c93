"""Rule summary: mean +- std over seeds per method, IPC and student."""

from tsgd.evaluate.aggregate import summarize, write_summary
from tsgd.jobs import log_to

with log_to(snakemake.log[0]):
    rows = summarize(snakemake.input)
    write_summary(rows, snakemake.output.csv, snakemake.output.md)
    print(open(snakemake.output.md).read())
