# One rule per artifact kind of secondorder.study.artifacts.KINDS: the kind's files (figures,
# tables) from an artifact's aggregated CSV, by the kind's glue script.
for kind in artifacts.KINDS.values():

    rule:
        name:
            kind.rule
        input:
            csv=rules.aggregate.output[0],
            code=ANALYSIS_CODE,
        output:
            **kind_outputs(kind),
        log:
            layout.log(kind.folder, "{artifact}"),
        benchmark:
            layout.benchmark(kind.folder, "{artifact}")
        wildcard_constraints:
            artifact=kind_pattern(kind),
        localrule: True
        conda:
            CONDA_ENV
        params:
            options=artifact_options,
            script=kind.script,  # the script is found when a job runs, after this loop
        script:
            "../scripts/{params.script}"
