rule train:
    """One training run: its record (metrics.csv, summary.json) in results/runs/<run id>/.

    The spec is a param, so Snakemake reruns the job when the spec changes (the run id also
    changes with it). Changes of the library code do not rerun finished runs: force that with
    `--forcerun train`. A run checkpoints every epoch (results/runs/<run id>/checkpoint.pt,
    not an output) and resumes from there.
    """
    input:
        data=run_bundle,
    output:
        metrics="results/runs/{run_id}/metrics.csv",
        summary="results/runs/{run_id}/summary.json",
    params:
        spec=run_spec,
    threads: 1
    resources:
        gpu=TRAIN_GPUS,
    log:
        "results/logs/train/{run_id}.log",
    benchmark:
        "results/benchmarks/train/{run_id}.tsv"
    script:
        "../scripts/train.py"
