"""Rule `microcystin_map`: predicted microcystin (with interval bounds) for every chip pixel.

Writes the NetCDF (swath), the PNG and a Cloud-Optimized GeoTIFF on a regular EPSG:4326 grid.
"""

from spectm.logs import configure_logging
from spectm.predict import predict_chip

configure_logging(snakemake.log[0])
predict_chip(
    snakemake.input.model,
    snakemake.input.chip,
    snakemake.output.nc,
    snakemake.output.png,
    out_tif=snakemake.output.tif,
)
