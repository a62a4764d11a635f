rule figure:
    """Loss curves of a `loss_curves` artifact, as PNG and PDF."""
    input:
        csv="results/aggregated/{figure}.csv",
        code=ANALYSIS_CODE,
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/loss_curves.rst",
            category="Loss curves",
            subcategory=report_subcategory("figure"),
            labels=report_labels("figure", "figure"),
        ),
        pdf="results/figures/{figure}.pdf",
    log:
        "results/logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
    conda:
        CONDA_ENV
    params:
        options=figure_options,
    script:
        "../scripts/figure.py"


rule table:
    """Best test accuracy of an `accuracy_table` artifact, next to the paper's Table 1."""
    input:
        csv="results/aggregated/{table}.csv",
        code=ANALYSIS_CODE,
    output:
        md="results/tables/{table}.md",
        tex="results/tables/{table}.tex",
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/accuracy_table.rst",
            category="Accuracy tables",
            subcategory=report_subcategory("table"),
            labels=report_labels("table", "table"),
        ),
    log:
        "results/logs/tables/{table}.log",
    benchmark:
        "results/benchmarks/tables/{table}.tsv"
    conda:
        CONDA_ENV
    params:
        title=table_title,
    script:
        "../scripts/table.py"


rule time_to_target:
    """Seconds to the target test accuracy of a `time_to_target` artifact, next to the paper's
    Table 2."""
    input:
        csv="results/aggregated/{time_table}.csv",
        code=ANALYSIS_CODE,
    output:
        md="results/tables/{time_table}.md",
        tex="results/tables/{time_table}.tex",
        csv=report(
            "results/tables/{time_table}.csv",
            caption="../report/time_to_target.rst",
            category="Time to target",
            subcategory=report_subcategory("time_table"),
            labels=report_labels("time_table", "table"),
        ),
    log:
        "results/logs/tables/{time_table}.log",
    benchmark:
        "results/benchmarks/tables/{time_table}.tsv"
    conda:
        CONDA_ENV
    params:
        options=time_table_options,
    script:
        "../scripts/time_to_target.py"


rule cg_diagnostics:
    """What CG does inside SHG in a `cg_diagnostics` artifact: PNG, PDF and the numbers."""
    input:
        csv="results/aggregated/{cg_figure}.csv",
        code=ANALYSIS_CODE,
    output:
        png=report(
            "results/figures/{cg_figure}.png",
            caption="../report/cg_diagnostics.rst",
            category="CG diagnostics",
            subcategory=report_subcategory("cg_figure"),
            labels=report_labels("cg_figure", "figure"),
        ),
        pdf="results/figures/{cg_figure}.pdf",
        csv=report(
            "results/figures/{cg_figure}.csv",
            caption="../report/cg_diagnostics.rst",
            category="CG diagnostics",
            subcategory=report_subcategory("cg_figure"),
            labels=report_labels("cg_figure", "numbers"),
        ),
    log:
        "results/logs/figures/{cg_figure}.log",
    benchmark:
        "results/benchmarks/figures/{cg_figure}.tsv"
    conda:
        CONDA_ENV
    params:
        options=cg_figure_options,
    script:
        "../scripts/cg_diagnostics.py"
