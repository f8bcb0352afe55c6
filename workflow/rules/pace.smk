# PACE OCI L2 AOP: search -> one file per granule -> AOI chip with l2_flags applied + quicklook.


checkpoint pace_search:
    # A manifest (granule, url, size_bytes, time, version) for the configured collection, period
    # and AOI, one granule per overpass (a refined product supersedes the NRT one: column
    # supersedes). source demo lists the 44 overpasses (45 real granules) of the shipped table.
    output:
        manifest="results/pace/manifest.csv",
    log:
        "logs/pace_search.log",
    params:
        source=config["pace"]["source"],
        short_name=config["pace"]["short_name"],
        version=config["pace"]["version"],
        provider=config["pace"]["provider"],
        start=config["pace"]["start"],
        end=config["pace"]["end"],
        bbox=config["aoi_bbox"],
        max_granules=config["pace"]["demo"]["max_granules"],
    # First of all jobs: a search that fails (network, credentials) fails before other work.
    priority: 30
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/pace_search.py"


rule pace_granule:
    # One job per granule: download (earthdata) or write the replay granule (demo). The manifest
    # is ancient(): a new search adding granules must not re-run the granules already fetched;
    # a change of this granule's own manifest row (url, size, version) does, through params.
    input:
        manifest=ancient(rules.pace_search.output.manifest),
    output:
        granule="resources/pace/{granule}.nc",
    log:
        "logs/pace_granule/{granule}.log",
    params:
        source=config["pace"]["source"],
        row=manifest_row,
        retries=config["pace"]["download_retries"],
        demo=config["pace"]["demo"],
    resources:
        downloads=1,
    # Scheduling (longest and gating work first; see docs/usage.md): granules and chips gate
    # everything downstream.
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/pace_granule.py"


rule chip:
    # AOI subset (only the needed rows/columns are read) with l2_flags -> NaN, flag statistics
    # and a true-colour quicklook (one job: the quicklook costs less than starting a job).
    input:
        granule=rules.pace_granule.output.granule,
    output:
        chip="results/chips/pace/{granule}.nc",
        flags="results/chips/pace/{granule}.flags.json",
        png=report(
            "results/chips/pace/{granule}.png",
            caption="../report/quicklook.rst",
            category="PACE chips",
        ),
    log:
        "logs/chip/{granule}.log",
    params:
        bbox=config["aoi_bbox"],
        exclude_flags=config["pace"]["exclude_flags"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/chip.py"
