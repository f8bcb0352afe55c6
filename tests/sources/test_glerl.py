"""GLERL sample ingest, tested on the real bundled CSVs (src/spectm/data/glerl, SOURCES.md s.1)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import responses

from spectm.data_files import data_path
from spectm.sources import glerl
from spectm.sources.glerl import (
    BUNDLED_FILES,
    NCEI_FILES,
    SAMPLE_COLUMNS,
    add_position_qc,
    bundled_glerl_files,
    fetch_ncei_file,
    fetch_ncei_samples,
    harmonise_samples,
    read_glerl_csv,
    samples_summary,
    station_coordinates,
    write_samples,
)
from spectm.sources.glerl.columns import KNOT_TO_MS, VARIABLE_NAMES

F2012 = "lake_erie_habs_field_sampling_results_2012_2018_v2"
F2019 = "lake_erie_habs_field_sampling_results_2019"
F2020 = "noaa-glerl-erie-habs-field-sampling-results-2020-2021"
F2022 = "noaa-glerl-erie-habs-field-sampling-results-2022"
T2021 = "noaa-glerl-erie-habs-field-sampling-transects-results-2021"
T2022 = "noaa-glerl-erie-habs-field-sampling-transects-results-2022"
F2024 = "2024_WLE_Weekly_Datashare_CSV"
F2025 = "2025_WLE_Weekly_Datashare_CSV"

ROW_COUNTS = {  # SOURCES.md section 1
    F2012: 1244,
    F2019: 219,
    F2020: 413,
    F2022: 233,
    T2021: 60,
    T2022: 53,
    F2024: 260,
    F2025: 245,
}


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return harmonise_samples(bundled_glerl_files(), position_max_km=2.0)


def row(df: pd.DataFrame, stem: str, data_row: int) -> pd.Series:
    hit = df[df["sample_id"] == f"{stem}:{data_row}"]
    assert len(hit) == 1
    return hit.iloc[0]


def real_lines(stem: str, n: int) -> list[str]:
    """Header + first n-1 data lines of a bundled file (decoded as the reader would)."""
    data = data_path("glerl", f"{stem}.csv").read_bytes()
    return data.decode("utf-8").splitlines()[:n]


# --------------------------------------------------------------------------- files and schema


def test_bundled_files_and_remote_table_agree():
    paths = bundled_glerl_files()
    assert [p.name for p in paths] == list(BUNDLED_FILES)
    assert all(p.is_file() for p in paths)
    assert [f.filename for f in NCEI_FILES] == list(BUNDLED_FILES)
    assert all(f.url.startswith("https://") and f.url.endswith(f.filename) for f in NCEI_FILES)
    accessions = {f.source.split()[1] for f in NCEI_FILES if f.source.startswith("NCEI")}
    assert accessions == {"0187718", "0209116", "0254720", "0292222"}
    assert {f.source for f in NCEI_FILES if f.url.startswith("https://www.glerl")} == {
        "GLERL datashare"
    }


def test_row_counts_per_file_match_sources(samples):
    counts = samples["source_file"].str.removesuffix(".csv").value_counts().to_dict()
    assert counts == ROW_COUNTS
    assert len(samples) == sum(ROW_COUNTS.values())


def test_schema(samples):
    assert list(samples.columns) == SAMPLE_COLUMNS
    assert str(samples["time_utc"].dtype) == "datetime64[ns, UTC]"
    assert samples["sample_id"].is_unique
    assert samples["time_utc"].is_monotonic_increasing
    assert set(samples["depth_category"]) == {"Surface", "Scum", "Bottom", "Mid-column"}
    for name in VARIABLE_NAMES:
        assert samples[name].dtype == np.float64
        assert samples[f"{name}_censored"].dtype == bool
        assert samples[f"{name}_dl"].dtype == np.float64
        # a censored cell never carries a value
        assert not (samples[f"{name}_censored"] & samples[name].notna()).any()
    for flag in ("time_assumed", "visit_filled", "position_flag"):
        assert samples[flag].dtype == bool
    assert samples["source_row"].min() == 1
    eras = samples.groupby("source_file")["era"].unique().map(list).to_dict()
    assert eras[f"{F2012}.csv"] == ["ncei_longname"]
    assert eras[f"{T2021}.csv"] == ["ncei_snakecase"]
    assert eras[f"{F2025}.csv"] == ["glerl_datashare"]


def test_sample_ids_are_stable(samples):
    again = read_glerl_csv(data_path("glerl", f"{T2022}.csv"))
    ours = samples[samples["source_file"] == f"{T2022}.csv"].sort_values("source_row")
    assert again["sample_id"].tolist() == ours["sample_id"].tolist()
    assert again["sample_id"].iloc[0] == f"{T2022}:1"


# --------------------------------------------------------------------------- cell codes


def test_less_than_is_censored_with_its_limit(samples):
    r = row(samples, F2012, 1)  # 5/15/2012 WE2: particulate microcystin "<0.1"
    assert math.isnan(r["particulate_microcystin_ugL"])
    assert r["particulate_microcystin_ugL_censored"]
    assert r["particulate_microcystin_ugL_dl"] == pytest.approx(0.1)
    r = row(samples, F2012, 417)  # phycocyanin "<40"
    assert r["phycocyanin_ugL_censored"] and r["phycocyanin_ugL_dl"] == 40.0
    r = row(samples, F2022, 64)  # mcyE genes "<100"
    assert r["mcye_genes_copiesmL_censored"] and r["mcye_genes_copiesmL_dl"] == 100.0


def test_bdl_lower_case_uses_documented_default(samples):
    r = row(samples, F2024, 1)  # particulate and dissolved "bdl", mcyE "bdl"
    for name in ("particulate_microcystin_ugL", "dissolved_microcystin_ugL"):
        assert math.isnan(r[name]) and r[f"{name}_censored"]
        assert r[f"{name}_dl"] == 0.1
    assert r["mcye_genes_copiesmL_censored"] and math.isnan(r["mcye_genes_copiesmL_dl"])
    assert r["chla_ugL"] == pytest.approx(4.381)


def test_bdl_upper_case_2025(samples):
    r = row(samples, F2025, 1)
    assert math.isnan(r["particulate_microcystin_ugL"])
    assert r["particulate_microcystin_ugL_censored"]
    assert r["particulate_microcystin_ugL_dl"] == 0.1
    assert r["phycocyanin_ugL"] == pytest.approx(0.11)


def test_nd_ns_and_blank_are_missing_not_censored(samples):
    first = row(samples, F2024, 1)  # DO "nd"
    assert math.isnan(first["dissolved_oxygen_mgL"])
    assert not first["dissolved_oxygen_mgL_censored"]
    bottom = row(samples, F2024, 2)  # turbidity "ns", total cyano genes "ns"
    assert math.isnan(bottom["turbidity_ntu"]) and not bottom["turbidity_ntu_censored"]
    assert not bottom["total_cyano_genes_copiesmL_censored"]
    upper = row(samples, F2025, 2)  # "NS" upper case
    assert math.isnan(upper["turbidity_ntu"]) and not upper["turbidity_ntu_censored"]
    assert math.isnan(upper["dic_uM"]) and not upper["dic_uM_censored"]


def test_plus_minus_keeps_value_and_notes_uncertainty(samples):
    r = row(samples, F2012, 411)  # 8/10/2015 WE8 scum: "2778.75 ± 294"
    assert r["particulate_microcystin_ugL"] == pytest.approx(2778.75)
    assert not r["particulate_microcystin_ugL_censored"]
    assert "±294" in r["notes"] and "particulate_microcystin_ugL" in r["notes"]
    assert r["depth_category"] == "Scum"


def test_excel_mangled_site_ids_are_restored(samples):
    a, b = row(samples, F2012, 209), row(samples, F2012, 210)
    assert (a["site_raw"], a["site"]) == ("1-Aug", "8-1")
    assert (b["site_raw"], b["site"]) == ("2-Aug", "8-2")
    assert "Excel" in a["notes"]
    assert a["time_local"] == "2014-08-04T12:00:00-04:00" and not a["time_assumed"]
    # no station median for these special stations: no QC distance, no flag
    assert math.isnan(a["station_lat"]) and math.isnan(a["dist_to_station_km"])
    assert not a["position_flag"]


def test_excel_mangled_wind_range_uses_midpoint(samples):
    r = row(samples, F2012, 763)  # 10/11/2016 WE2: "15-Oct" = 10-15 knots
    assert r["wind_speed_ms"] == pytest.approx(12.5 * KNOT_TO_MS)
    assert "10-15" in r["notes"]


def test_units_converted_to_si(samples):
    r = row(samples, F2012, 287)  # 6/8/2015 WE2: 2.97 kn, 1.18 ft
    assert r["wind_speed_ms"] == pytest.approx(2.97 * 1852 / 3600)
    assert r["wave_height_m"] == pytest.approx(1.18 * 0.3048)
    assert row(samples, F2022, 1)["wind_speed_ms"] == pytest.approx(5.05 * KNOT_TO_MS)
    assert row(samples, F2024, 1)["wind_speed_ms"] == pytest.approx(4.1)  # already m/s


def test_latin1_2019_file_decodes():
    path = data_path("glerl", f"{F2019}.csv")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    df = read_glerl_csv(path)
    assert len(df) == 219
    first = df.iloc[0]  # "CTD Temperature (°C)" etc. are found only when ° and µ decode
    assert first["temp_c"] == pytest.approx(11.2)
    assert first["specific_conductivity_uScm"] == pytest.approx(306.5)
    assert first["par"] == 0.0
    assert df["sample_temp_c"].isna().all()  # no sample temperature column in 2019


def test_transects(samples):
    t = samples[samples["survey"] == "transect"]
    assert len(t) == 113
    r = row(samples, T2021, 5)  # "T1-5-B"
    assert (r["site_raw"], r["site"], r["depth_category"]) == ("T1-5-B", "T1-5", "Bottom")
    assert t["phycocyanin_ugL"].isna().all()  # transect files carry no phycocyanin
    assert t["station_lat"].isna().all() and not t["position_flag"].any()
    assert row(samples, T2021, 1)["secchi_m"] == 2.0


def test_depth_categories_s_b_and_inferred_blank(samples):
    assert row(samples, F2025, 1)["depth_category"] == "Surface"
    assert row(samples, F2025, 2)["depth_category"] == "Bottom"
    for data_row in (220, 224, 227):  # 10/6/25: category cell blank, sample depth 3.8-5.6 m
        r = row(samples, F2025, data_row)
        assert r["depth_category"] == "Bottom"
        assert "inferred Bottom" in r["notes"]


# --------------------------------------------------------------------------- time


def test_july_row_utc_is_local_plus_4h(samples):
    r = row(samples, F2019, 44)  # 7/1/2019 WE2 12:52 EDT
    assert r["time_local"] == "2019-07-01T12:52:00-04:00"
    assert r["time_utc"] == pd.Timestamp("2019-07-01 16:52", tz="UTC")
    assert not r["time_assumed"]


def test_november_after_dst_end_is_local_plus_5h(samples):
    r = row(samples, F2012, 283)  # 11/3/2014 WE2 10:56 EST (DST ended 2014-11-02)
    assert r["time_local"] == "2014-11-03T10:56:00-05:00"
    assert r["time_utc"] == pd.Timestamp("2014-11-03 15:56", tz="UTC")


def test_march_after_dst_start_and_assumed_noon(samples):
    day = samples[samples["time_local"].str.startswith("2017-03-23")]
    we2 = day[day["site"] == "WE2"].iloc[0]  # 11:29 EDT (DST began 2017-03-12)
    assert we2["time_utc"] == pd.Timestamp("2017-03-23 15:29", tz="UTC")
    we8 = day[day["site"] == "WE8"].iloc[0]  # no clock time anywhere in the visit
    assert we8["time_assumed"]
    assert we8["time_local"] == "2017-03-23T12:00:00-04:00"
    assert we8["time_utc"] == pd.Timestamp("2017-03-23 16:00", tz="UTC")


def test_bottom_row_takes_time_and_position_from_its_visit(samples):
    surface, bottom = row(samples, F2019, 44), row(samples, F2019, 45)
    assert bottom["visit_filled"] and not surface["visit_filled"]
    assert bottom["time_utc"] == surface["time_utc"]
    assert (bottom["lat"], bottom["lon"]) == (surface["lat"], surface["lon"])
    assert bottom["sample_depth_m"] == 5.4 and bottom["depth_category"] == "Bottom"


def test_zero_clock_time_is_a_placeholder(samples):
    r = row(samples, F2025, 28)  # 6/2/25 WE6: arrival "0:00", departure 11:10
    assert r["time_local"] == "2025-06-02T11:10:00-04:00"
    assert "placeholder" in r["notes"]


# --------------------------------------------------------------------------- position QC


def test_known_bad_we2_position_is_flagged(samples):
    r = row(samples, F2012, 1)  # 2012-05-15 WE2 at lat 41.0127
    assert r["lat"] == pytest.approx(41.0127)
    assert r["position_flag"]
    assert r["dist_to_station_km"] > 80
    ok = row(samples, F2012, 2)  # WE4 the same morning, on station
    assert ok["dist_to_station_km"] < 2 and not ok["position_flag"]
    assert samples["position_flag"].sum() >= 40


def test_position_threshold_is_a_keyword(samples):
    sub = samples[samples["sample_id"] == f"{F2012}:1"]
    assert not add_position_qc(sub, station_coordinates(), max_km=100.0)["position_flag"].iloc[0]
    assert add_position_qc(sub, station_coordinates(), max_km=50.0)["position_flag"].iloc[0]


def test_position_qc_geodesic_distance():
    stations = pd.DataFrame({"station": ["X"], "median_lat": [41.0], "median_lon": [-83.0]})
    df = pd.DataFrame({"site": ["X", "X", "Y"], "lat": [41.01, np.nan, 41.0], "lon": [-83.0] * 3})
    out = add_position_qc(df, stations, max_km=2.0)
    assert out["dist_to_station_km"].iloc[0] == pytest.approx(1.1104, abs=1e-3)  # 0.01 deg lat
    assert math.isnan(out["dist_to_station_km"].iloc[1])  # no position
    assert math.isnan(out["station_lat"].iloc[2])  # no station median
    assert out["position_flag"].tolist() == [False, False, False]


def test_special_ids_have_no_station(samples):
    special = samples[samples["site"].isin(["2019.1", "2024.1", "WE 2013.10"])]
    assert len(special) == 3
    assert special["station_lat"].isna().all() and not special["position_flag"].any()
    assert "WE 2013.1" in set(samples["site"])  # "2013.10" is not read as a number


# --------------------------------------------------------------------------- bad input


def _write(tmp_path: Path, name: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_missing_required_column_names_file_and_column(tmp_path):
    header, first = real_lines(F2025, 2)
    cols, cells = header.split(","), first.split(",")
    drop = cols.index("Extracted_CHLa_ugL-1")
    path = _write(
        tmp_path,
        "no_chla.csv",
        [",".join(cols[:drop] + cols[drop + 1 :]), ",".join(cells[:drop] + cells[drop + 1 :])],
    )
    with pytest.raises(ValueError, match=r"no_chla\.csv.*Extracted_CHLa_ugL-1"):
        read_glerl_csv(path)


def test_unknown_layout_is_an_error(tmp_path):
    path = _write(tmp_path, "other.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(ValueError, match=r"other\.csv.*does not match"):
        read_glerl_csv(path)


def test_unparseable_value_names_file_row_and_column(tmp_path):
    lines = real_lines(F2022, 4)
    cells = lines[2].split(",")
    cells[lines[0].split(",").index("extracted_chla")] = "5..3"
    lines[2] = ",".join(cells)
    path = _write(tmp_path, "bad_value.csv", lines)
    with pytest.raises(ValueError) as err:
        read_glerl_csv(path)
    message = str(err.value)
    assert "bad_value.csv" in message and "data row 2" in message
    assert "'extracted_chla'" in message and "'5..3'" in message


@pytest.mark.parametrize(
    ("column", "bad", "what"),
    [("date", "2022/31/12", "date"), ("time", "25:10", "clock time"), ("lat", "<41", "number")],
)
def test_unparseable_meta_cells(tmp_path, column, bad, what):
    lines = real_lines(F2022, 2)
    cells = lines[1].split(",")
    cells[lines[0].split(",").index(column)] = bad
    path = _write(tmp_path, "bad_meta.csv", [lines[0], ",".join(cells)])
    with pytest.raises(ValueError, match=rf"bad_meta\.csv: data row 1 .*'{column}'.*{what}"):
        read_glerl_csv(path)


def test_unknown_depth_category(tmp_path):
    lines = real_lines(F2025, 2)
    path = _write(tmp_path, "cat.csv", [lines[0], lines[1].replace(",S,", ",Top,", 1)])
    with pytest.raises(ValueError, match=r"cat\.csv.*'Sample_Depth_category'.*'Top'"):
        read_glerl_csv(path)


def test_header_only_file_gives_empty_table(tmp_path):
    path = _write(tmp_path, "empty.csv", real_lines(F2024, 1))
    df = read_glerl_csv(path)
    assert len(df) == 0 and list(df.columns) == glerl.READ_COLUMNS


def test_utf8_bom_is_tolerated(tmp_path):
    lines = real_lines(F2024, 3)
    plain = read_glerl_csv(_write(tmp_path, "a.csv", lines))
    bom = tmp_path / "b.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "a.csv").read_bytes())
    pd.testing.assert_frame_equal(
        plain.drop(columns=["sample_id", "source_file"]),
        read_glerl_csv(bom).drop(columns=["sample_id", "source_file"]),
    )


def test_duplicate_input_file_is_rejected():
    path = data_path("glerl", f"{T2022}.csv")
    with pytest.raises(ValueError, match="duplicate sample_id"):
        harmonise_samples([path, path], position_max_km=2.0)


# --------------------------------------------------------------------------- writing


def test_write_samples_roundtrip_and_summary(tmp_path):
    paths = [data_path("glerl", f"{F2025}.csv"), data_path("glerl", f"{T2022}.csv")]
    out = write_samples(
        paths, tmp_path / "s.parquet", summary_path=tmp_path / "sum.csv", position_max_km=2.0
    )
    back = pd.read_parquet(out)
    assert list(back.columns) == SAMPLE_COLUMNS and len(back) == 245 + 53
    assert str(back["time_utc"].dtype) == "datetime64[ns, UTC]"
    summary = pd.read_csv(tmp_path / "sum.csv")
    assert summary["n_samples"].sum() == len(back)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet", "sum.csv"]


def test_write_samples_leaves_nothing_on_bad_input(tmp_path):
    bad = _write(tmp_path, "bad.csv", ["a,b,c", "1,2,3"])
    out = tmp_path / "out" / "s.parquet"
    out.parent.mkdir()
    out.write_bytes(b"previous run")
    with pytest.raises(ValueError):
        write_samples([data_path("glerl", f"{T2022}.csv"), bad], out, position_max_km=2.0)
    assert out.read_bytes() == b"previous run"
    assert [p.name for p in out.parent.iterdir()] == ["s.parquet"]


def test_write_samples_failure_mid_write_leaves_no_file(tmp_path, monkeypatch):
    def half_write(self, path, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    out = tmp_path / "s.parquet"
    with pytest.raises(OSError, match="disk full"):
        write_samples([data_path("glerl", f"{T2022}.csv")], out, position_max_km=2.0)
    assert list(tmp_path.iterdir()) == []


def test_samples_summary_counts(samples):
    summary = samples_summary(samples)
    assert summary["n_samples"].sum() == len(samples)
    assert not summary.duplicated(["year", "site"]).any()
    we2_2025 = summary[(summary["year"] == 2025) & (summary["site"] == "WE2")].iloc[0]
    raw = pd.read_csv(data_path("glerl", f"{F2025}.csv"), dtype=str)
    assert we2_2025["n_samples"] == (raw["Site"] == "WE2").sum()
    assert we2_2025["first_date"] == "2025-04-28"
    first_2012 = summary[(summary["year"] == 2012) & (summary["site"] == "WE2")].iloc[0]
    assert first_2012["n_position_flag"] >= 1


# --------------------------------------------------------------------------- downloads (no network)


@responses.activate
def test_fetch_ncei_samples_downloads_each_file(tmp_path):
    files = NCEI_FILES[:2]
    bodies = {f.url: f"file {i}\n".encode() for i, f in enumerate(files)}
    for url, body in bodies.items():
        responses.get(url, body=body)
    paths = fetch_ncei_samples(tmp_path, files)
    assert [p.name for p in paths] == [f.filename for f in files]
    assert [p.read_bytes() for p in paths] == list(bodies.values())
    fetch_ncei_samples(tmp_path, files)  # existing complete files are kept
    assert len(responses.calls) == 2


@responses.activate
def test_fetch_ncei_file_by_name(tmp_path):
    item = NCEI_FILES[-1]
    responses.get(item.url, body=b"Date,Site\n")
    assert fetch_ncei_file(item.filename, tmp_path / "x.csv").read_bytes() == b"Date,Site\n"
    with pytest.raises(KeyError, match=r"unknown\.csv"):
        fetch_ncei_file("unknown.csv", tmp_path / "y.csv")
