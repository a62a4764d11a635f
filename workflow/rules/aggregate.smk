rule aggregate:
    """All metrics rows of an artifact's runs, joined with their spec columns and status."""
    input:
        records=artifact_run_records,
        code=ANALYSIS_CODE,
    output:
        "results/aggregated/{artifact}.csv",
    log:
        "results/logs/aggregate/{artifact}.log",
    benchmark:
        "results/benchmarks/aggregate/{artifact}.tsv"
    conda:
        CONDA_ENV
    script:
        "../scripts/aggregate.py"
