checkpoint select_grid:
    """Tuning with search.extend_edges: the selection on a group's grid alone, which names the
    points beyond an edge winner (secondorder.study.tuning.EXTENSION_RULE) that rule select
    then reads. Their runs are known when the DAG is parsed; which train is known only here.
    """
    input:
        summaries=lambda wildcards: group_summaries(wildcards, extended=False),
    output:
        layout.grid_selection("{group}"),
    log:
        layout.log("tuning", "{group}.grid"),
    conda:
        CONDA_ENV
    params:
        spec=lambda wildcards: SEARCHES[wildcards.group].to_dict(),
        grid_only=True,
    script:
        "../scripts/select.py"


rule select:
    """Tuning: the winner of one search group, from its tuning runs' validation losses, by the
    rule of secondorder.study.tuning.SELECTION_RULE (a failed tuning run's point is excluded),
    over its grid and, with search.extend_edges, the points added beyond an edge winner.
    The group's final runs (every seed) read it.
    """
    input:
        summaries=group_summaries,
    output:
        layout.selection("{group}"),
    log:
        layout.log("tuning", "{group}"),
    conda:
        CONDA_ENV
    params:
        spec=lambda wildcards: SEARCHES[wildcards.group].to_dict(),
        grid_only=False,
    script:
        "../scripts/select.py"


rule tuning_report:
    """Every point tried with its score and the winners (CSV, Markdown), and one sensitivity
    figure per tuned preset: score against each searched value, diverged points marked.
    """
    input:
        selections=[layout.selection(group) for group in SEARCHES],
        code=ANALYSIS_CODE,
    output:
        csv=report(
            layout.tuning_table("csv"),
            caption="../report/tuning.rst",
            category="Tuning",
            labels={"artifact": "tuning", "content": "table"},
        ),
        md=layout.tuning_table("md"),
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
            for path in layout.tuning_figures(TUNED_PRESETS)
        ],
    log:
        layout.log("tuning", "report"),
    conda:
        CONDA_ENV
    params:
        presets=PRESET_METHODS,
    script:
        "../scripts/tuning_report.py"
