"""Data sources: where the inputs come from.

* :mod:`spectm.sources.glerl` -- NOAA GLERL western Lake Erie samples (bundled or NCEI/GLERL CSVs);
* :mod:`spectm.sources.pace` -- PACE OCI L2 AOP granules: NASA Earthdata or the offline replay;
* :mod:`spectm.sources.enmap` -- EnMAP L2A products: DLR STAC, a local directory or the demo;
* :mod:`spectm.sources.http` -- HTTP download with retries, size checks and atomic rename.
* :mod:`spectm.sources.preflight` -- credentials and reachability, before the first job.
"""
