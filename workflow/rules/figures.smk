rule figure:
    """Loss curves of a `loss_curves` artifact, as PNG and PDF."""
    input:
        csv="results/aggregated/{figure}.csv",
        code=ANALYSIS_CODE,
    output:
        png="results/figures/{figure}.png",
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
        csv="results/tables/{table}.csv",
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
        csv="results/tables/{time_table}.csv",
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
        png="results/figures/{cg_figure}.png",
        pdf="results/figures/{cg_figure}.pdf",
        csv="results/figures/{cg_figure}.csv",
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
