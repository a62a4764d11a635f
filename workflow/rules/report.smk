def report_summaries(wildcards):
    """Every run's summary.json (data checksums, device and software for the report)."""
    return [f"results/runs/{run_id}/summary.json" for run_id in RUNS]


def report_settings(wildcards):
    """The settings of the study that the report lists."""
    keys = ("seeds", "device", "run", "model_defaults", "optimizers", "tuning")
    return {key: STUDY[key] for key in keys}


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
        html="results/report.html",
        metrics="results/metrics.json",
    params:
        artifacts=report_artifacts,
        settings=report_settings,
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    script:
        "../scripts/report.py"
