rule train:
    """One training run: its record (metrics.csv, summary.json) in results/runs/<run id>/.

    What reruns a training job is what determines its result: the spec (a param; it is also
    hashed into the run id) and the data's content (the small digest file beside the bundle,
    compared by checksum; the bundle itself is `ancient`, so `touch`, `dvc checkout` or
    re-preparing the same data retrains nothing). The default profile drops Snakemake's `code`
    trigger, so touching or editing the glue script retrains nothing either; after an edit of
    the library's training code, retrain on purpose with `--forcerun train`.

    The outputs are flagged `update`: Snakemake does not delete them before a job, and a job
    that finds a finished record of the same spec, data and training code keeps it instead of
    training (secondorder.training.record). A run checkpoints every epoch (checkpoint.pt, not an
    output) and resumes from there. A tuning run that fails on its last attempt (--retries) is recorded as
    failed (its outputs say so), so that its group's selection excludes the point and goes on;
    a final run that fails fails its job, leaving only failed.json (secondorder.glue.train_job).
    To retry a recorded failure, delete its run directory: only it and what depends on it rerun.
    """
    input:
        data=ancient(run_bundle),
        digest=run_bundle_digest,
        selection=run_selection,
    output:
        metrics=update(layout.run_file("{run_id}", layout.METRICS)),
        summary=update(layout.run_file("{run_id}", layout.SUMMARY)),
    log:
        layout.log("train", "{run_id}"),
    benchmark:
        layout.benchmark("train", "{run_id}")
    # --group-components gpu-grid=4 gpu-extension=4 gpu-final=4: 4 runs per cluster job (a GPU)
    group:
        glue.train_group(
            TRAINABLE, RUNS, lambda: workflow.group_settings.group_components
        )
    conda:
        CONDA_ENV
    threads: 1
    resources:
        gpu_slots=TRAIN_GPU_SLOTS,
        runtime=train_runtime,
        mem_mb=train_mem_mb,
        retries_left=train_retries_left,
    params:
        spec=run_spec,
    script:
        "../scripts/train.py"
