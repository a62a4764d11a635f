rule report:
    """The claims report (Markdown, and one HTML page with the figures inline): verdicts of the
    paper's findings on every artifact's runs and the tuning stage's selections, the settings,
    models, data and software; plus results/metrics.json (headline numbers, the DVC metrics
    file)."""
    input:
        artifacts=ARTIFACT_FILES,
        aggregated=[layout.aggregated(name) for name in STUDY["artifacts"]],
        tuning=rules.tuning_report.output if SEARCHES else [],
        selections=[layout.selection(group) for group in SEARCHES],
        summaries=[layout.run_file(run_id, layout.SUMMARY) for run_id in RUNS],
        code=ANALYSIS_CODE,
    output:
        report=layout.REPORT,
        html=report(
            layout.REPORT_HTML,
            caption="../report/claims.rst",
            category="Claims",
            labels={"artifact": "claims report", "content": "report"},
        ),
        metrics=layout.METRICS_JSON,
    log:
        layout.REPORT_LOG,
    benchmark:
        layout.REPORT_BENCHMARK
    conda:
        CONDA_ENV
    params:
        artifacts=[artifacts.report_entry(n, a) for n, a in STUDY["artifacts"].items()],
        settings=glue.report_settings(STUDY),
        tuning=tuning.report_section(STUDY, SEARCHES),
    script:
        "../scripts/report.py"
