"""Resampling to Sentinel-2 and bio-optical indices: against memory bandwidth and against SPy.

    python bench/bench_resample.py [--spectra 1000000] [--repeat 5] [--smoke]

For PACE OCI (172 bands) and EnMAP (224 bands): ``--spectra`` float32 spectra, 10 % of them
flagged (all NaN, as cloud and land pixels of a chip are), in one C-ordered array. Timed in the
same process, median of ``--repeat`` runs each:

* the bound: the faster of two plain NumPy reductions that read the array once
  (``x.sum(axis=0)`` and ``x.sum(axis=-1)``), one thread: no resampler can read its input faster;
* ``Resampler.apply`` (methods ``srf`` and ``naive``, float32 in and out) and ``index_array``;
* SPy's ``BandResampler`` (Gaussian source and target bands), called once per spectrum as its
  documentation describes (timed on the first ``--spy-spectra`` spectra: its cost is linear);
  SPy's own matrix applied to the whole array with one ``np.dot`` is printed as well.

Extra memory: the peak of NumPy's allocations during one ``apply`` beyond its output
(``tracemalloc``), which a chunked implementation keeps flat.
"""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
from common import header, median_seconds, parser, result
from spectral import BandResampler

from spectm.spectral.bands import enmap_bands, pace_oci_rrs_bands
from spectm.spectral.indices import index_array
from spectm.spectral.resample import build_resampler
from spectm.spectral.srf import load_srf, srf_centroid, srf_fwhm


def spectra(n: int, n_bands: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 water-like spectra, 10 % all NaN."""
    base = np.linspace(0.006, 0.002, n_bands, dtype=np.float32)
    x = base * (1 + 0.05 * rng.standard_normal((n, n_bands), dtype=np.float32))
    x[rng.uniform(size=n) < 0.1] = np.nan
    return x


def extra_memory_mb(fn, out_bytes: int) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return max(peak - out_bytes, 0) / 2**20


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--spectra", type=int, default=1_000_000)
    p.add_argument("--spy-spectra", type=int, default=20_000)
    a = p.parse_args()
    if a.smoke:
        a.spectra, a.spy_spectra, a.repeat = 2_000, 200, 1
    header()
    for name in ("spectm", "spectral"):  # band coverage notes, once per resampler
        logging.getLogger(name).setLevel(logging.ERROR)
    rng = np.random.default_rng(0)
    srf = load_srf("S2A", "4.0")
    s2_centre, s2_fwhm = srf_centroid(srf), srf_fwhm(srf)
    pace = pace_oci_rrs_bands()
    enmap = enmap_bands()
    sensors = {
        "pace": (pace["centre_nm"].to_numpy(float), pace["fwhm_nm"].to_numpy(float)),
        "enmap": (enmap["centre_nm"].to_numpy(float), enmap["fwhm_nm"].to_numpy(float)),
    }
    n = a.spectra
    lines = []
    for name, (centre, fwhm) in sensors.items():
        x = spectra(n, centre.size, rng)
        gb = x.nbytes / 2**30
        t_bound = min(
            median_seconds(lambda x=x: x.sum(axis=0), a.repeat),
            median_seconds(lambda x=x: x.sum(axis=-1), a.repeat),
        )
        print(f"\n{name}: {n} spectra x {centre.size} bands float32 ({gb:.2f} GiB), 10 % NaN")
        print(f"  bound (one read, NumPy reduction): {n / t_bound / 1e6:.2f} M spectra/s, "
              f"{gb / t_bound:.1f} GiB/s")  # fmt: skip
        rates = {}
        for method in ("srf", "naive"):
            res = build_resampler(centre, fwhm, method=method)
            t = median_seconds(lambda res=res, x=x: res.apply(x), a.repeat)
            rates[method] = n / t
            out_bytes = n * len(res.bands) * 4
            mem = extra_memory_mb(lambda res=res, x=x: res.apply(x), out_bytes)
            print(f"  Resampler.apply ({method}): {n / t / 1e6:.2f} M spectra/s "
                  f"= {t_bound / t:.2f} of the bound; extra memory {mem:.1f} MiB")  # fmt: skip
        t_idx = median_seconds(lambda x=x, c=centre: index_array(x, c), a.repeat)
        mem = extra_memory_mb(lambda x=x, c=centre: index_array(x, c), n * 9 * 4)
        print(f"  index_array (9 indices): {n / t_idx / 1e6:.2f} M spectra/s "
              f"= {t_bound / t_idx:.2f} of the bound; extra memory {mem:.1f} MiB")  # fmt: skip

        spy = BandResampler(centre, s2_centre, fwhm, s2_fwhm)
        sub = x[: a.spy_spectra]  # the same float32 rows

        def per_spectrum(spy=spy, sub=sub):
            for row in sub:
                spy(row)

        t_spy = median_seconds(per_spectrum, max(a.repeat // 2, 1), warmup=0)
        spy_rate = sub.shape[0] / t_spy
        t_dot = median_seconds(lambda spy=spy, x=x: np.dot(x, spy.matrix.T), a.repeat)
        print(f"  SPy BandResampler, per spectrum: {spy_rate / 1e6:.3f} M spectra/s "
              f"(on {sub.shape[0]} spectra); its matrix in one np.dot: "
              f"{n / t_dot / 1e6:.2f} M spectra/s")  # fmt: skip
        lines += [
            (f"resample_{name}_srf_vs_bound", rates["srf"] * t_bound / n, 0.5),
            (f"resample_{name}_srf_vs_spy", rates["srf"] / spy_rate, 30.0),
            (f"indices_{name}_vs_bound", t_bound / t_idx, 0.5),
        ]
        del x
    print()
    for line in lines:
        result(*line)


if __name__ == "__main__":
    main()
