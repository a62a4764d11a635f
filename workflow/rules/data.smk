rule prepare_data:
    """Check the raw dataset and write the uint8 bundle that training jobs load."""
    output:
        "data/prepared/{dataset}.pt",
    log:
        "results/logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    script:
        "../scripts/prepare_data.py"


rule data:
    """All dataset bundles this study needs (the DVC `data` stage runs this target)."""
    input:
        [dataset_bundle(dataset) for dataset in all_datasets()],
