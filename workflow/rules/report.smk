rule report:
    """The report: study scale, every artifact, and the paper's claims checked on them; plus
    results/metrics.json (headline numbers, the DVC metrics file)."""
    input:
        artifacts=report_inputs,
        code=ANALYSIS_CODE,
    output:
        report="results/report.md",
        metrics="results/metrics.json",
    params:
        artifacts=report_artifacts,
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    script:
        "../scripts/report.py"
