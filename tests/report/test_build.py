"""The HTML report assembled from tiny generated stand-ins for every DAG output it reads."""

import base64
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from spectm._io import write_json, write_parquet
from spectm.model.pretrained import ModelMeta, RunSummary, save_model
from spectm.report import build, figures
from spectm.report.build import (
    adaptation_section,
    assumptions_section,
    build_report,
    evaluation_section,
    flag_statistics_table,
    granules_section,
    maps_section,
    matchup_section,
    paired_comparisons,
    pretraining_section,
    provenance_line,
    samples_section,
)
from spectm.report.figures import save_figure
from tests.conftest import grid_lat_lon, write_test_chip
from tests.report.helpers import capture_saved_figures

STRATEGIES = ("targeted", "random", "none")
GRANULES = (
    "PACE_OCI.20240701T180000.L2.OC_AOP.V3_0",
    "PACE_OCI.20240709T175500.L2.OC_AOP.V3_0",
    "PACE_OCI.20240801T181000.L2.OC_AOP.V3_0",
)

SETTINGS = {
    "samples_source": "bundled",
    "pace_source": "demo",
    "pace_short_name": "PACE_OCI_L2_AOP",
    "matchup": {
        "depth_categories": ["Surface"],
        "window_days": 4.0,
        "radius_km": 2.0,
        "min_valid_frac": 0.5,
        "max_cv": 0.15,
    },
    "resample": {"target": "S2A", "srf_version": "4.0"},
    "evaluation": {"n_splits": 4, "seeds": [0, 1], "grid": "small"},
    "pretrain_seeds": [0],
    "finetune_fractions": [0.05, 1.0],
    "baseline_algorithms": ["ridge", "svr"],
    "enmap_source": "demo",
}

FLAG_STATS = [
    {
        "n_pixels_aoi": 12,
        "flags": {
            "LAND": {"count": 2, "excluded": True},
            "CLDICE": {"count": 0, "excluded": True},
            "TURBIDW": {"count": 5, "excluded": False},
        },
    },
    {
        "n_pixels_aoi": 12,
        "flags": {
            "LAND": {"count": 0, "excluded": True},
            "CLDICE": {"count": 0, "excluded": True},
            "TURBIDW": {"count": 1, "excluded": False},
        },
    },
]
"""Per-chip flag sidecars: TURBIDW 6 and LAND 2 of 24 pixels in all, CLDICE never set."""


def tiny_png(path: Path, colour: str = "C0") -> Path:
    fig, ax = plt.subplots(figsize=(1.0, 1.0))
    ax.bar([0], [1], color=colour)
    return save_figure(fig, path, dpi=20)


def inlined(page: str, png: Path) -> bool:
    """Whether ``png`` is embedded in ``page`` as a data URI."""
    return f"data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'" in page


def tds(fragment: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", fragment)


def model_meta(strategy: str, summary: bool = True) -> ModelMeta:
    run = RunSummary(
        best_val=0.25,
        best_step=40,
        final_step=60,
        epochs_run=3,
        stopped_early=False,
        resumed_from=[],
        n_parameters=1234,
        torch_version="x",
    )
    return ModelMeta(
        model_config={},
        pretrain_config={"preset": "tiny", "seed": 0},
        grid="paper",
        wavelengths_nm=[620.0, 670.0, 700.0],
        gap_filled_nm=[],
        norm_mean=[0.0, 0.0, 0.0],
        norm_std=[1.0, 1.0, 1.0],
        index_names=["ci", "ndci"],
        index_center=[0.0, 0.0],
        index_scale=[1.0, 1.0],
        index_tolerance_nm=5.0,
        mask_strategy=strategy,
        mask_windows_nm=[[615.0, 640.0]],
        corpus={"path": "corpus.parquet", "n_train": 10, "n_val": 2},
        summary=run if summary else None,
    )


def write_inputs(root: Path) -> dict:
    i: dict = {}
    samples = pd.DataFrame(
        {
            "sample_id": list("abcdef"),
            "site": ["WE2", "WE2", "WE2", "WE4", "WE4", "scum 1"],
            "station_lat": [41.762] * 3 + [41.827] * 2 + [41.70],
            "station_lon": [-83.330] * 3 + [-83.193] * 2 + [-83.25],
            "time_utc": pd.to_datetime(
                [
                    "2019-07-01",
                    "2019-08-01",
                    "2024-07-01",
                    "2024-07-08",
                    "2024-08-01",
                    "2024-08-02",
                ],
                utc=True,
            ),
            "depth_category": ["Surface", "Bottom", "Surface", "Surface", "Surface", "Scum"],
            "source_file": ["a.csv"] * 2 + ["b.csv"] * 4,
            "position_flag": [False, False, True, False, False, False],
        }
    )
    i["samples"] = write_parquet(samples, root / "samples.parquet")
    i["manifest"] = root / "manifest.csv"
    pd.DataFrame({"granule": [f"{g}.nc" for g in GRANULES[:2]]}).to_csv(i["manifest"])

    wl = np.array([465.0, 555.0, 645.0])
    lat, lon = grid_lat_lon(3, 4)
    rrs = np.full((3, 4, 3), 0.01)
    rrs[0, :2] = np.nan  # two land pixels
    t1, t2 = pd.Timestamp("2024-07-01T18:00"), pd.Timestamp("2024-07-09T17:55")
    i["chips"] = [
        write_test_chip(root / "chips" / "c1.nc", rrs, lat, lon, wl, t1),
        write_test_chip(root / "chips" / "c2.nc", np.full((3, 4, 3), 0.01), lat, lon, wl, t2),
    ]
    i["flag_stats"] = [
        write_json(s, root / "chips" / f"c{k}.json") for k, s in enumerate(FLAG_STATS)
    ]
    i["quicklooks"] = [tiny_png(root / "quicklooks" / f"{g}.png") for g in GRANULES[:2]]

    w = np.arange(400.0, 721.0, 40.0)
    spectra = 0.005 + 0.0001 * np.arange(2 * w.size).reshape(2, -1)
    matchups = pd.DataFrame(spectra, columns=[f"Rrs_{v:g}" for v in w])
    matchups["sample_id"] = ["a", "c"]
    matchups["site"] = ["WE2", "WE2"]
    matchups["time_utc"] = samples.time_utc.iloc[[0, 2]].to_numpy()
    matchups["dt_hours"] = [3.0, -20.0]
    matchups["dist_km"] = [0.4, 1.1]
    i["matchups"] = write_parquet(matchups, root / "matchups.parquet")
    excl = pd.DataFrame(
        {
            "sample_id": list("abcdef"),
            "status": ["matched", "excluded", "matched", "excluded", "excluded", "excluded"],
            "reason": ["matched", "no granule", "matched", "no granule", "no granule", "cloud"],
        }
    )
    i["exclusions"] = write_parquet(excl, root / "exclusions.parquet")
    bands = ["B01", "B02", "B03", "B04", "B05", "B06"]
    naive = pd.DataFrame([[0.004, 0.005, 0.006, 0.005, 0.004, np.nan]] * 2, columns=bands)
    i["resample_naive"], i["resample_srf"] = root / "naive.csv", root / "srf.csv"
    naive.to_csv(i["resample_naive"], index=False)
    (naive * 1.1).to_csv(i["resample_srf"], index=False)
    i["coverage"] = []
    for method, cov in (("naive", 0.5), ("srf", 0.987)):
        p = root / f"coverage_{method}.csv"
        pd.DataFrame(
            {
                "method": [method],
                "band": ["B05"],
                "centre_nm": [704.1],
                "coverage": [cov],
                "valid": [True],
                "n_source_bands": [7],
                "main_source_nm": [705.0],
                "internal_note": ["dropped"],
            }
        ).to_csv(p, index=False)
        i["coverage"].append(p)
    i["index_bands"] = root / "index_bands.csv"
    pd.DataFrame({"index": ["ci"], "wanted_nm": [681.0], "pace_nm": [680.0]}).to_csv(
        i["index_bands"], index=False
    )

    i["models"], i["losses"], i["recon_tables"], i["recon_figures"] = [], [], [], []
    for k, s in enumerate(STRATEGIES):
        d = root / "models" / "pretrain" / s / "seed0"
        i["models"].append(save_model({}, model_meta(s), d / "model.pt"))
        losses = pd.DataFrame(
            {
                "split": ["train", "train", "val"],
                "step": [10, 20, 20],
                "total": [1.0 + k, 0.5 + k, 0.7 + k],
            }
        )
        i["losses"].append(d / "losses.csv")
        losses.to_csv(i["losses"][-1], index=False)
        t = root / "metrics" / f"reconstruction_{s}_seed0.csv"
        t.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"strategy": [s], "window": ["615-640"], "pearson_r": [0.9 + k / 100]}).to_csv(
            t, index=False
        )
        i["recon_tables"].append(t)
        i["recon_figures"].append(
            tiny_png(root / "figures" / f"reconstruction_{s}_seed0.png", f"C{k}")
        )

    m = root / "metrics"
    i["summary"] = m / "summary.csv"
    i["summary"].write_text("unused\n")
    i["comparison"] = m / "comparison.csv"
    pd.DataFrame(
        {
            "dataset": ["matchups"],
            "horizon": ["current_week"],
            "spectm_r2_log10": [0.6123],
            "best_baseline": ["ridge (indices)"],
            "best_baseline_r2_log10": [0.5234],
        }
    ).to_csv(i["comparison"], index=False)
    i["comparisons"] = m / "comparisons.csv"
    sentence = "matchups · current_week, date-grouped CV, 100% labels: ... not distinguishable."
    pd.DataFrame(
        {
            **{k: [v] for k, v in (("dataset", "matchups"), ("horizon", "current_week"))},
            "protocol": ["date_cv"],
            "fraction": [1.0],
            "what": ["SpecTM vs best baseline"],
            "metric": ["r2_log10"],
            "a": ["spectm_targeted_frozen (spectm_paper)"],
            "b": ["ridge (indices)"],
            **{k: [v] for k, v in (("a_mean", 0.6123), ("a_sd", 0.01), ("b_mean", 0.5234))},
            **{k: [v] for k, v in (("b_sd", 0.02), ("diff", 0.0889), ("lo", -0.02))},
            **{k: [v] for k, v in (("hi", 0.19), ("n_dates", 12))},
            "verdict": ["not distinguishable"],
            "sentence": [sentence],
        }
    ).to_csv(i["comparisons"], index=False)
    i["ablation"] = m / "ablation.csv"
    rows = [
        ("matchups", "current_week", "frozen", f, s, v, 0.01, 2)
        for f, vals in ((0.05, (0.2, 0.1, 0.05)), (1.0, (0.61, 0.57, 0.43)))
        for s, v in zip(STRATEGIES, vals, strict=True)
    ]
    cols = ["dataset", "horizon", "mode", "fraction", "strategy", "mean", "std", "n_seeds"]
    pd.DataFrame(rows, columns=cols).to_csv(i["ablation"], index=False)
    i["efficiency"] = m / "label_efficiency.csv"
    pd.DataFrame({"dataset": ["matchups"], "horizon": ["current_week"], "ratio": [2.75]}).to_csv(
        i["efficiency"], index=False
    )
    i["intervals"] = m / "intervals.csv"
    pd.DataFrame(
        {"dataset": ["matchups"], "method": ["ridge"], "nominal": [0.9], "coverage": [0.8771]}
    ).to_csv(i["intervals"], index=False)
    i["efficiency_figure"] = tiny_png(root / "figures" / "label_efficiency.png", "C5")
    i["scatter_figure"] = tiny_png(root / "figures" / "predicted_vs_observed.png", "C6")
    i["baseline_info"] = [
        write_json({"n_configurations": n}, root / "baselines" / f"info{n}.json") for n in (5, 7)
    ]
    i["maps"] = [tiny_png(root / "maps" / f"{g}.png", f"C{k}") for k, g in enumerate(GRANULES)]
    i["assumptions"] = root / "assumptions.md"
    i["assumptions"].write_text(
        "# Assumptions\n\nIntro text is not listed.\n\n## Data\n- Rrs < 0 kept & flagged\n"
        "- 2023 missing\n\n## Model\n- tiny preset\n"
    )
    return i


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("dag"))


def html_of(section) -> str:
    return "".join(section.parts)


def test_provenance_line_says_what_is_real_and_generated():
    demo = provenance_line(SETTINGS)
    assert demo.startswith("Inputs — NOAA GLERL samples: REAL (bundled")
    assert "PACE OCI granules: GENERATED replay granules" in demo
    assert "EnMAP L2A products: GENERATED in the real L2A structure" in demo
    real = provenance_line(
        {
            **SETTINGS,
            "samples_source": "ncei",
            "pace_source": "earthdata",
            "pace_short_name": "X_NRT",
            "enmap_source": "stac",
        }
    )
    assert "NOAA GLERL samples: REAL (downloaded from NCEI / GLERL)" in real
    assert "PACE OCI granules: REAL (NASA Earthdata, X_NRT)" in real
    assert "EnMAP L2A products: REAL (stac)" in real
    assert "GENERATED" not in real
    off = provenance_line({**SETTINGS, "enmap_source": "off"})
    assert off.endswith("EnMAP: not run (enmap.enabled is false).")


def test_flag_statistics_table_sums_chips():
    t = flag_statistics_table(FLAG_STATS)
    assert list(t.flag) == ["TURBIDW", "LAND"]  # most pixels first; zero-count flags dropped
    assert list(t.pixels) == [6, 2]
    assert t.fraction.to_numpy() == pytest.approx([6 / 24, 2 / 24])
    assert list(t.excludes) == [False, True]
    assert flag_statistics_table([]).empty


def test_samples_section(inputs, tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, figures)
    sec = samples_section(inputs["samples"], tmp_path)
    page = html_of(sec)
    assert (sec.title, sec.anchor) == ("GLERL samples", "samples")
    assert "6 samples from 2 files, 2019–2024; 1 positions flagged" in page
    assert inlined(page, tmp_path / "samples_per_year.png")
    assert "samples_per_year.png" in saved
    # samples per site group (rows) and year (columns); transects etc. pooled as "other"
    head = re.findall(r"<th>(.*?)</th>", page)
    assert head == ["site", "2019", "2024"]
    other = "other (transects, event/scum stations)"
    assert tds(page) == ["WE2", "2", "1", "WE4", "0", "2", other, "0", "1"]


def test_granules_section(inputs):
    sec = granules_section(
        inputs["manifest"], inputs["chips"], inputs["flag_stats"], inputs["quicklooks"]
    )
    page = html_of(sec)
    assert "2 granules in the manifest, 2 chips over the area of interest" in page
    cells = tds(page)
    # chips: granule, time, version, shape, valid pixels, valid fraction (10 of 12)
    assert cells[:12] == [
        "PACE_OCI.20240701T180000.L2.OC_AOP.V3_0.nc",
        "2024-07-01T18:00:00.000000Z",
        "3.0",
        "3×4×3",
        "10",
        "0.833",
        "PACE_OCI.20240709T175500.L2.OC_AOP.V3_0.nc",
        "2024-07-09T17:55:00.000000Z",
        "3.0",
        "3×4×3",
        "12",
        "1",
    ]
    assert cells[12:] == ["TURBIDW", "6", "0.25", "False", "LAND", "2", "0.0833", "True"]
    for png in inputs["quicklooks"]:
        assert inlined(page, png)
    assert "<figcaption>20240701T180000</figcaption>" in page
    assert "<figcaption>20240709T175500</figcaption>" in page


def test_matchup_section(inputs, tmp_path):
    sec = matchup_section(
        inputs["samples"],
        inputs["matchups"],
        inputs["exclusions"],
        inputs["resample_naive"],
        inputs["resample_srf"],
        inputs["coverage"],
        inputs["index_bands"],
        tmp_path,
        settings=SETTINGS,
    )
    page = html_of(sec)
    assert "Every Surface sample was matched to the granules within ±4 days" in page
    assert "within 2 km" in page and "valid fraction ≥ 0.5, CV(400–570 nm) ≤ 0.15" in page
    assert "2 of 6 samples matched." in page
    # reasons (most first), coverage (documented columns only), index bands
    assert tds(page) == [
        *("no granule", "3", "matched", "2", "cloud", "1"),
        *("naive", "B05", "704", "0.5", "True", "7", "705"),
        *("srf", "B05", "704", "0.987", "True", "7", "705"),
        *("ci", "681", "680"),
    ]
    names = ("exclusions", "station_map", "dt_distance", "resampled_spectra")
    for name in names:
        assert inlined(page, tmp_path / f"{name}.png"), name
    assert "internal_note" not in page


def test_matchup_section_without_matchups_skips_their_figures(inputs, tmp_path):
    empty = tmp_path / "none.parquet"
    write_parquet(pd.read_parquet(inputs["matchups"]).iloc[:0], empty)
    sec = matchup_section(
        inputs["samples"],
        empty,
        inputs["exclusions"],
        inputs["resample_naive"],
        inputs["resample_srf"],
        inputs["coverage"],
        inputs["index_bands"],
        tmp_path,
        settings=SETTINGS,
    )
    assert "0 of 6 samples matched." in html_of(sec)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["exclusions.png", "station_map.png"]


def test_pretraining_section(inputs, tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, figures)
    sec = pretraining_section(
        inputs["models"],
        inputs["losses"],
        inputs["recon_tables"],
        inputs["recon_figures"],
        tmp_path,
    )
    page = html_of(sec)
    first_row = tds(page)[:9]
    assert first_row == [
        "targeted",
        "0",
        "tiny",
        "1234",
        "paper (3 bands)",
        "3",
        "60",
        "0.25",
        "ci, ndci",
    ]
    ax = saved["losses.png"].axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == [
        f"{s} seed0 {split}" for s in sorted(STRATEGIES) for split in ("train", "val")
    ]
    assert list(ax.lines[-1].get_ydata()) == [0.7]  # targeted (k = 0) validation point
    assert ax.get_yscale() == "log"
    assert inlined(page, tmp_path / "losses.png")
    for png in inputs["recon_figures"]:
        assert inlined(page, png)
    assert page.count("style='width:900px'") == 3
    assert "<td>0.92</td>" in page  # reconstruction table of the 'none' model


def test_pretraining_section_refuses_model_without_run_summary(tmp_path, inputs):
    bad = save_model({}, model_meta("targeted", summary=False), tmp_path / "targeted" / "model.pt")
    with pytest.raises(ValueError, match="without its run summary"):
        pretraining_section([bad], inputs["losses"][:1], inputs["recon_tables"][:1], [], tmp_path)


def test_evaluation_section(inputs):
    sec = evaluation_section(inputs, SETTINGS)
    page = html_of(sec)
    assert "4 outer folds grouped by sampling date, seeds [0, 1]" in page
    assert "label fractions [0.05, 1.0]" in page
    assert "2 sklearn algorithms" in page and "small hyper-parameter grids" in page
    assert "12 configurations over all dataset × horizon grids" in page  # 5 + 7
    assert "seeds [0]; SpecTM values are means ± sd over pretraining seed × split seed" in page
    # the generated sentences as bullets under what they compare, then their table
    assert "<p>SpecTM vs best baseline:</p><ul><li>matchups · current_week" in page
    assert "not distinguishable.</li></ul>" in page
    # comparisons; comparison; the ablation at 100 % labels only, one column per strategy;
    # efficiency; intervals
    heads = re.findall(r"<th>(.*?)</th>", page)
    assert heads[22:28] == ["dataset", "horizon", "mode", "none", "random", "targeted"]
    assert tds(page) == [
        *("matchups", "current_week", "date_cv", "1", "SpecTM vs best baseline", "r2_log10"),
        *("spectm_targeted_frozen (spectm_paper)", "ridge (indices)", "0.612", "0.01"),
        *("0.523", "0.02", "0.0889", "-0.02", "0.19", "12", "not distinguishable"),
        *("matchups", "current_week", "0.612", "ridge (indices)", "0.523"),
        *("matchups", "current_week", "frozen", "0.43", "0.57", "0.61"),
        *("matchups", "current_week", "2.75"),
        *("matchups", "ridge", "0.9", "0.877"),
    ]
    assert inlined(page, inputs["efficiency_figure"]) and inlined(page, inputs["scatter_figure"])


def test_maps_section_shows_the_latest(inputs):
    sec = maps_section(inputs["maps"], limit=2)
    page = html_of(sec)
    assert "3 maps" in page and "the latest 2 are shown" in page
    assert not inlined(page, inputs["maps"][0])
    assert inlined(page, inputs["maps"][1]) and inlined(page, inputs["maps"][2])
    assert re.findall(r"<figcaption>(.*?)</figcaption>", page) == [
        "20240709T175500",
        "20240801T181000",
    ]


def test_assumptions_section(inputs):
    page = html_of(assumptions_section(inputs["assumptions"]))
    assert page == (
        "<h3>Data</h3>\n<ul class='note'>\n<li>Rrs &lt; 0 kept &amp; flagged</li>\n"
        "<li>2023 missing</li>\n</ul>\n<h3>Model</h3>\n<ul class='note'>\n<li>tiny preset</li>\n"
        "</ul>"
    )


def test_build_report_end_to_end(inputs, tmp_path):
    out = build_report(tmp_path / "report" / "index.html", settings=SETTINGS, inputs=inputs)
    page = out.read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles == [
        "GLERL samples",
        "PACE granules and chips",
        "Matchups and Sentinel-2 resampling",
        "SpecTM pretraining",
        "Microcystin: SpecTM vs baselines",
        "Predicted microcystin maps",
        "Assumptions",
    ]
    prov = re.search(r'<div class="prov">(.*?)</div>', page).group(1)
    assert prov == provenance_line(SETTINGS)
    assert "GENERATED replay granules" in prov and page.index(prov) < page.index("<h2>")
    assert re.search(r"<footer>spectm \S+, \d{4}-\d\d-\d\d \d\d:\d\d UTC</footer>", page)
    figs = out.parent / "figures"
    written = sorted(p.name for p in figs.iterdir())
    assert written == sorted(
        f"{n}.png"
        for n in (
            "samples_per_year",
            "exclusions",
            "station_map",
            "dt_distance",
            "resampled_spectra",
            "losses",
        )
    )
    for png in figs.iterdir():
        assert inlined(page, png), png.name
    for png in [*inputs["quicklooks"], *inputs["maps"], inputs["scatter_figure"]]:
        assert inlined(page, png)


def test_build_report_refuses_settings_without_a_key(tmp_path):
    settings = {k: v for k, v in SETTINGS.items() if k != "evaluation"}
    with pytest.raises(ValueError, match=r"report settings lack \['evaluation'\]"):
        build_report(tmp_path / "index.html", settings=settings, inputs={})
    assert not (tmp_path / "index.html").exists()


def test_build_report_without_maps_has_no_maps_section(inputs, tmp_path, monkeypatch):
    # the sections are tested above; stub the slow ones to test only the assembly
    for name in ("samples_section", "granules_section", "matchup_section", "pretraining_section"):
        monkeypatch.setattr(build, name, lambda *a, _n=name, **k: build.Section(_n, _n))
    out = build_report(tmp_path / "index.html", settings=SETTINGS, inputs={**inputs, "maps": []})
    titles = re.findall(r"<h2>(.*?)</h2>", out.read_text())
    assert "Predicted microcystin maps" not in titles and titles[-1] == "Assumptions"


def test_paired_comparisons_generate_the_verdicts():
    rows = pd.DataFrame(
        {
            "task": ["segmentation"] * 6,
            "method": ["naive"] * 3 + ["srf"] * 3,
            "seed": [0, 1, 2] * 2,
            "value": [0.50, 0.52, 0.54, 0.40, 0.43, 0.44],  # srf - naive = -0.10, -0.09, -0.10
        }
    )
    (c,) = paired_comparisons(rows).itertuples()
    d = np.array([-0.10, -0.09, -0.10])
    half = 4.302652729911275 * d.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert (c.a, c.b, c.n) == ("srf", "naive", 3)
    assert c.mean_diff == pytest.approx(d.mean())
    assert (c.lo, c.hi) == pytest.approx((d.mean() - half, d.mean() + half))
    assert c.verdict == "naive beats srf"
    noisy = rows.assign(value=[0.5, 0.5, 0.5, 0.6, 0.4, 0.5])  # differences +0.1, -0.1, 0
    assert paired_comparisons(noisy)["verdict"].item() == "not distinguishable"


def test_adaptation_section_says_when_weights_are_random(tmp_path):
    rows = pd.DataFrame(
        {
            "task": ["regression"] * 4,
            "method": ["naive", "naive", "full_hsi", "full_hsi"],
            "seed": [0, 1, 0, 1],
            "weights": ["random", "random", "n/a", "n/a"],
            "backbone": ["terratorch_terramind_v1_tiny"] * 2 + ["spectm_fullhsi_cnn"] * 2,
            "value": [0.1, 0.2, 0.5, 0.7],
        }
    )
    rows.to_csv(tmp_path / "s.csv", index=False)
    table = pd.DataFrame(
        {
            "task": ["regression"] * 2,
            "method": ["naive", "full_hsi"],
            "weights": ["random", "n/a"],
            "metric": ["r2", "r2"],
            "n_seeds": [2, 2],
            "mean_sd": ["0.150 ± 0.071", "0.600 ± 0.141"],
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"band": ["B01"], "coverage": [1.0]}).to_csv(tmp_path / "c.csv", index=False)
    html = "".join(
        adaptation_section(tmp_path / "s.csv", tmp_path / "t.csv", tmp_path / "c.csv").parts
    )
    assert "RANDOM initial weights" in html and "NOT the paper" in html
    assert "0.600 ± 0.141" in html and "n/a" in html  # full_hsi weights read as text
    assert "full_hsi − naive = +0.450" in html and "2 paired seeds" in html  # (0.4 + 0.5) / 2
    assert "0.465" in html  # the paper's table, labelled as a different data set
