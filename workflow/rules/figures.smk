rule figure:
    """Loss curves of a `loss_curves` artifact, as PNG and PDF."""
    input:
        csv="results/aggregated/{figure}.csv",
        code=ANALYSIS_CODE,
    output:
        png="results/figures/{figure}.png",
        pdf="results/figures/{figure}.pdf",
    params:
        options=figure_options,
    log:
        "results/logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
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
    params:
        title=table_title,
    log:
        "results/logs/tables/{table}.log",
    benchmark:
        "results/benchmarks/tables/{table}.tsv"
    script:
        "../scripts/table.py"
