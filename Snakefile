# TSGD: Temporal Saliency-Guided Distillation of video datasets.
# The table of contents: configuration, its validation, one rule file per phase.
#   snakemake --cores all                   # rebuild everything that is out of date
#   snakemake --cores all --resources gpu=4 # at most 4 GPU jobs at once
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/saliency.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        rules.evaluate_all.input,
