# EnMAP L2A: search -> one directory per product (demo | local | stac) -> 128 x 128 chips.


checkpoint enmap_search:
    # A manifest of the products in the period and area: the demo list, the delivered products
    # of enmap.local_dir, or a DLR EOC STAC search.
    output:
        manifest="results/enmap/manifest.csv",
    log:
        "logs/enmap_search.log",
    params:
        source=config["enmap"]["source"],
        start=config["enmap"]["start"],
        end=config["enmap"]["end"],
        bbox=config["enmap"]["bbox"],
        max_products=config["enmap"]["max_products"],
        stac_url=config["enmap"]["stac_url"],
        collection=config["enmap"]["collection"],
        local_dir=config["enmap"]["local_dir"],
        demo=config["enmap"]["demo"],
    # First of all jobs: a search that fails (network, credentials) fails before other work.
    priority: 30
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/enmap_search.py"


rule enmap_product:
    # One job per product: write it (demo), download it (stac) or link its delivered files
    # (local). A new search adding products does not re-run the ones already here (ancient).
    input:
        manifest=ancient(rules.enmap_search.output.manifest),
    output:
        product=directory("resources/enmap/{product}"),
    log:
        "logs/enmap_product/{product}.log",
    params:
        source=config["enmap"]["source"],
        retries=config["enmap"]["retries"],
        demo=config["enmap"]["demo"],
        row=enmap_manifest_row,
    resources:
        downloads=1,
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/enmap_product.py"


rule enmap_chips:
    # The product's size x size chips (selected bands, no-data and quality masks -> NaN).
    input:
        product=rules.enmap_product.output.product,
    output:
        chips=directory("results/chips/enmap/{product}"),
    log:
        "logs/enmap_chips/{product}.log",
    params:
        size=config["enmap"]["chip_size"],
        band_ranges=config["enmap"]["band_ranges"],
        quality_layers=config["enmap"]["quality_layers"],
    priority: 20
    conda:
        "../../envs/spectm.yaml"
    script:
        "../scripts/enmap_chips.py"
