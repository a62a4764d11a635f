rule report:
    """The claims report (Markdown, and one HTML page with the figures inline): verdicts of the
    paper's findings on every artifact's runs, the settings, models, data and software; plus
    results/metrics.json (headline numbers, the DVC metrics file)."""
    input:
        artifacts=report_inputs,
        summaries=report_summaries,
        code=ANALYSIS_CODE,
    output:
        report="results/report.md",
        html=report(
            "results/report.html",
            caption="../report/claims.rst",
            category="Claims",
            labels={"artifact": "claims report", "content": "report"},
        ),
        metrics="results/metrics.json",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        CONDA_ENV
    params:
        artifacts=report_artifacts,
        settings=report_settings,
        tuning=report_tuning,
    script:
        "../scripts/report.py"
