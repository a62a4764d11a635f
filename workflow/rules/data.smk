rule prepare_data:
    """Check the raw dataset and write the uint8 bundle that training jobs load, with its
    content digest beside it (training depends on the digest, not on the bundle's mtime).
    """
    output:
        bundle="data/prepared/{dataset}.pt",
        digest="data/prepared/{dataset}.sha256",
    log:
        "results/logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    conda:
        CONDA_ENV
    script:
        "../scripts/prepare_data.py"


rule data:
    """All dataset bundles this study needs (the DVC `data` stage runs this target)."""
    input:
        [dataset_bundle(dataset) for dataset in all_datasets()],
