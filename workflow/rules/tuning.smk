rule select:
    """Tuning: the winner of one search group, from its tuning runs' validation losses, by the
    rule of secondorder.study.tuning.SELECTION_RULE. The group's final runs (every seed) read it.
    """
    input:
        summaries=group_trial_summaries,
    output:
        "results/tuning/{group}.json",
    log:
        "results/logs/tuning/{group}.log",
    conda:
        CONDA_ENV
    params:
        spec=group_spec,
    script:
        "../scripts/select.py"


rule tuning_report:
    """Every point tried with its score and the winners (CSV, Markdown), and one sensitivity
    figure per tuned preset: score against each searched value, diverged points marked.
    """
    input:
        selections=all_selections,
        code=ANALYSIS_CODE,
    output:
        csv=report(
            "results/tables/tuning.csv",
            caption="../report/tuning.rst",
            category="Tuning",
            labels={"artifact": "tuning", "content": "table"},
        ),
        md="results/tables/tuning.md",
        figures=[
            (
                report(
                    path,
                    caption="../report/tuning.rst",
                    category="Tuning",
                    labels={"artifact": Path(path).stem, "content": "figure"},
                )
                if path.endswith(".png")
                else path
            )
            for path in tuning_figures()
        ],
    log:
        "results/logs/tuning/report.log",
    conda:
        CONDA_ENV
    params:
        presets=PRESET_METHODS,
    script:
        "../scripts/tuning_report.py"
