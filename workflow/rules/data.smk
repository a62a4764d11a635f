rule prepare_data:
    """Check the raw dataset and write the uint8 bundle that training jobs load, with its
    content digest beside it (training depends on the digest, not on the bundle's mtime).
    """
    output:
        bundle=layout.bundle("{dataset}"),
        digest=str(digest_path(layout.bundle("{dataset}"))),
    log:
        layout.log("data", "{dataset}"),
    benchmark:
        layout.benchmark("data", "{dataset}")
    conda:
        CONDA_ENV
    script:
        "../scripts/prepare_data.py"


rule data:
    """All dataset bundles this study needs (the DVC `data` stage runs this target)."""
    input:
        [
            layout.bundle(dataset)
            for dataset in sorted({r.dataset for r in RUNS.values()})
        ],
