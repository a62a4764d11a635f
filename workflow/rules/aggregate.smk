rule aggregate:
    """All metrics rows of an artifact's runs, joined with their spec columns and status."""
    input:
        records=artifact_records,
        code=ANALYSIS_CODE,
    output:
        layout.aggregated("{artifact}"),
    log:
        layout.log("aggregate", "{artifact}"),
    benchmark:
        layout.benchmark("aggregate", "{artifact}")
    conda:
        CONDA_ENV
    script:
        "../scripts/aggregate.py"
