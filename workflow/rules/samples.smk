# NOAA GLERL western Lake Erie weekly samples -> one harmonised, position-checked table.


rule glerl_download:
    # source: ncei only. One job per file: retries, size check, atomic rename.
    output:
        "resources/glerl/{filename}",
    log:
        "logs/glerl_download/{filename}.log",
    wildcard_constraints:
        filename=r"[^/]+\.csv",
    params:
        filename="{filename}",
    retries: 1
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/glerl_download.py"


rule samples:
    input:
        csv=glerl_inputs,
    output:
        samples="results/samples/samples.parquet",
        summary="results/samples/samples_summary.csv",
    log:
        "logs/samples.log",
    params:
        position_max_km=config["samples"]["position_max_km"],
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/samples.py"
