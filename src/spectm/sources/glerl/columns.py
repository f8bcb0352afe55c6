"""Column catalogue of the NOAA GLERL western Lake Erie sample files (three header eras).

Pure data: the harmonised measured variables with their units, and for each header era the map
from the file's column names to harmonised names (with a unit factor). The reader lives in
:mod:`spectm.sources.glerl.samples`; provenance of the files is in ``spectm/data/SOURCES.md``
section 1.

Eras (detected from the header):

* ``ncei_longname`` -- NCEI accessions 0187718 (2012-2018) and 0209116 (2019): long names with
  units, latin-1 encoded (``µ`` and ``°`` are single bytes).
* ``ncei_snakecase`` -- NCEI accessions 0254720 (2020-2021) and 0292222 (2022), including the two
  transect companion files (``sample_id`` instead of ``station_name``, no phycocyanin).
* ``glerl_datashare`` -- GLERL weekly datashare (2024, 2025; provisional).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

#: knots -> m/s (exact: 1852 m / 3600 s).
KNOT_TO_MS = 1852.0 / 3600.0
#: international foot -> m (exact).
FOOT_TO_M = 0.3048

ERA_LONGNAME = "ncei_longname"
ERA_SNAKECASE = "ncei_snakecase"
ERA_DATASHARE = "glerl_datashare"
ERAS = (ERA_LONGNAME, ERA_SNAKECASE, ERA_DATASHARE)

#: Harmonised non-measurement fields a header can map to.
META_FIELDS = (
    "date",
    "site",
    "station_depth_m",
    "sample_depth_m",
    "depth_category",
    "time",
    "time_departure",
    "lat",
    "lon",
    "sky",
)


@dataclass(frozen=True)
class Variable:
    """A harmonised measured variable.

    Attributes:
        name: Output column (units in the name, e.g. ``chla_ugL``); companions ``<name>_censored``
            (bool) and ``<name>_dl`` (detection limit, same unit) are always written with it.
        unit: Unit of the output column.
        description: What was measured.
        bdl_dl: Detection limit for a bare ``bdl``/``BDL`` cell (NaN: no documented default).
        valid_min: Lowest plausible value (output unit); below it a value is excluded.
        valid_max: Highest plausible value (output unit); above it a value is excluded.

    """

    name: str
    unit: str
    description: str
    bdl_dl: float = math.nan
    valid_min: float = 0.0
    valid_max: float = math.inf


#: Microcystin ELISA detection limit, µg/L (SOURCES.md section 1; GLERL plots "< 0.1 µg/L" as ND).
MICROCYSTIN_ELISA_DL_UGL = 0.1

#: Highest plausible microcystin concentration, µg/L: an ASSUMPTION. The bundled 2012-2025
#: GLERL record peaks at 2778.75 µg/L (particulate, the WE8 scum sample of 2015-08-10; surface
#: samples peak at 296.87 µg/L); a value above 10 000 µg/L (10 mg/L, 3.6 times that peak) is taken
#: as a unit slip (ng/L written as µg/L) or a fill code and excluded, not used as a label.
MICROCYSTIN_MAX_UGL = 10_000.0
#: Plausible water temperature, °C: an ASSUMPTION (liquid fresh water is not below about 0 °C;
#: Lake Erie surface water stays below about 30 °C).
WATER_TEMP_RANGE_C = (-1.0, 40.0)

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "particulate_microcystin_ugL",
        "µg/L",
        "particulate microcystins (ELISA)",
        MICROCYSTIN_ELISA_DL_UGL,
        valid_max=MICROCYSTIN_MAX_UGL,
    ),
    Variable(
        "dissolved_microcystin_ugL",
        "µg/L",
        "dissolved microcystins (ELISA)",
        MICROCYSTIN_ELISA_DL_UGL,
        valid_max=MICROCYSTIN_MAX_UGL,
    ),
    Variable("phycocyanin_ugL", "µg/L", "extracted phycocyanin"),
    Variable("chla_ugL", "µg/L", "extracted chlorophyll a"),
    Variable("turbidity_ntu", "NTU", "turbidity"),
    Variable("secchi_m", "m", "Secchi depth"),
    Variable(
        "temp_c",
        "°C",
        "CTD water temperature at sample depth",
        valid_min=WATER_TEMP_RANGE_C[0],
        valid_max=WATER_TEMP_RANGE_C[1],
    ),
    Variable(
        "sample_temp_c",
        "°C",
        "sample (bucket) temperature, 2012-2018 only",
        valid_min=WATER_TEMP_RANGE_C[0],
        valid_max=WATER_TEMP_RANGE_C[1],
    ),
    Variable("specific_conductivity_uScm", "µS/cm", "CTD specific conductivity"),
    Variable("beam_attenuation_m1", "m-1", "CTD beam attenuation"),
    Variable("transmission_pct", "%", "CTD beam transmission", valid_max=100.0),
    Variable("dissolved_oxygen_mgL", "mg/L", "CTD dissolved oxygen"),
    Variable("par", "µE m-2 s-1", "CTD photosynthetically active radiation"),
    Variable("tp_ugL", "µg P/L", "total phosphorus"),
    Variable("tdp_ugL", "µg P/L", "total dissolved phosphorus"),
    Variable("srp_ugL", "µg P/L", "soluble reactive phosphorus"),
    Variable("ammonia_ugL", "µg N/L", "ammonia"),
    Variable("nitrate_nitrite_mgL", "mg N/L", "nitrate + nitrite"),
    Variable("urea_ugL", "µg N/L", "urea"),
    Variable("poc_mgL", "mg/L", "particulate organic carbon"),
    Variable("pon_mgL", "mg/L", "particulate organic nitrogen"),
    Variable("doc_mgL", "mg/L", "dissolved organic carbon"),
    Variable("cdom_m1", "m-1", "CDOM absorption at 400 nm"),
    Variable("tss_mgL", "mg/L", "total suspended solids"),
    Variable("vss_mgL", "mg/L", "volatile suspended solids"),
    Variable("wind_speed_ms", "m/s", "wind speed (knots in the NCEI files, converted)"),
    Variable("wave_height_m", "m", "wave height (feet in the NCEI files, converted)"),
    Variable("total_cyano_genes_copiesmL", "copies/mL", "total cyanobacterial 16S gene copies"),
    Variable("mcye_genes_copiesmL", "copies/mL", "microcystin synthetase mcyE gene copies"),
    Variable("dic_uM", "µM", "dissolved inorganic carbon (2025 datashare)"),
    Variable(
        "total_alkalinity",
        "unstated (likely µmol/kg)",
        "total alkalinity, column TALK (2025 datashare; the file states no unit)",
    ),
)
VARIABLE_NAMES: tuple[str, ...] = tuple(v.name for v in VARIABLES)
REQUIRED_VARIABLES = (
    "particulate_microcystin_ugL",
    "dissolved_microcystin_ugL",
    "phycocyanin_ugL",
    "chla_ugL",
)

# Each era: raw header -> (harmonised field, factor applied to numeric values).
_LONGNAME: dict[str, tuple[str, float]] = {
    "Date": ("date", 1.0),
    "Site": ("site", 1.0),
    "Station Depth (m)": ("station_depth_m", 1.0),
    "Sample Depth (m)": ("sample_depth_m", 1.0),
    "Sample Depth (category)": ("depth_category", 1.0),
    "Local Time (Eastern Time Zone)": ("time", 1.0),
    "Latitude (decimal deg)": ("lat", 1.0),
    "Longitude (decimal deg)": ("lon", 1.0),
    "Wind speed (knots)": ("wind_speed_ms", KNOT_TO_MS),
    "Wave Height (ft)": ("wave_height_m", FOOT_TO_M),
    "Sky": ("sky", 1.0),
    "Secchi Depth (m)": ("secchi_m", 1.0),
    "Sample Temperature (°C)": ("sample_temp_c", 1.0),
    "CTD Temperature (°C)": ("temp_c", 1.0),
    "CTD Specific Conductivity (µS/cm)": ("specific_conductivity_uScm", 1.0),
    "CTD Beam Attenuation (m-1)": ("beam_attenuation_m1", 1.0),
    "CTD Tramission (%)": ("transmission_pct", 1.0),
    "CTD Dissolved Oxygen (mg/L)": ("dissolved_oxygen_mgL", 1.0),
    "CTD Photosynthetically Active Radiation (µE/m2/s)": ("par", 1.0),
    "Turbidity (NTU)": ("turbidity_ntu", 1.0),
    "Particulate Microcystin (µg/L)": ("particulate_microcystin_ugL", 1.0),
    "Dissolved Microcystin (µg/L)": ("dissolved_microcystin_ugL", 1.0),
    "Extracted Phycocyanin (µg/L)": ("phycocyanin_ugL", 1.0),
    "Extracted Chlorophyll a (µg/L)": ("chla_ugL", 1.0),
    "Total Phosphorus (µg P/L)": ("tp_ugL", 1.0),
    "Total Dissolved Phosphorus (µg P/L)": ("tdp_ugL", 1.0),
    "Soluble Reactive Phosphorus (µg P/L)": ("srp_ugL", 1.0),
    "Ammonia (µg N/L)": ("ammonia_ugL", 1.0),
    "Nitrate + Nitrite (mg N/L)": ("nitrate_nitrite_mgL", 1.0),
    "Urea (µg N/L)": ("urea_ugL", 1.0),
    "Particulate Organic Carbon (mg/L)": ("poc_mgL", 1.0),
    "Particulate Organic Nitrogen (mg/L)": ("pon_mgL", 1.0),
    "Dissolved Organic Carbon (mg/L)": ("doc_mgL", 1.0),
    "Colored Dissolved Organic Material absorbance (m-1) at 400nm": ("cdom_m1", 1.0),
    "Total Suspended Solids (mg/L)": ("tss_mgL", 1.0),
    "Volatile Suspended Solids (mg/L)": ("vss_mgL", 1.0),
}

# 2020-2022 wind speeds are multiples of 1.944 (integer m/s written in knots) and wave heights of
# 0.328 (0.1 m written in feet): the NCEI snake_case files keep the 2012-2018 units (knots, feet).
_SNAKECASE: dict[str, tuple[str, float]] = {
    "date": ("date", 1.0),
    "station_name": ("site", 1.0),
    "sample_id": ("site", 1.0),
    "station_depth_m": ("station_depth_m", 1.0),
    "sample_depth_m": ("sample_depth_m", 1.0),
    "sample_depth_category": ("depth_category", 1.0),
    "time": ("time", 1.0),
    "lat": ("lat", 1.0),
    "lon": ("lon", 1.0),
    "wind_speed": ("wind_speed_ms", KNOT_TO_MS),
    "wave_height": ("wave_height_m", FOOT_TO_M),
    "sky": ("sky", 1.0),
    "secchi_depth": ("secchi_m", 1.0),
    "ctd_temp": ("temp_c", 1.0),
    "ctd_specific_conductivity": ("specific_conductivity_uScm", 1.0),
    "ctd_beam_attenuation": ("beam_attenuation_m1", 1.0),
    "ctd_transmission": ("transmission_pct", 1.0),
    "ctd_dissolved_oxygen": ("dissolved_oxygen_mgL", 1.0),
    "ctd_par": ("par", 1.0),
    "turbidity": ("turbidity_ntu", 1.0),
    "particulate_microcystin": ("particulate_microcystin_ugL", 1.0),
    "dissolved_microcystin": ("dissolved_microcystin_ugL", 1.0),
    "extracted_phycocyanin": ("phycocyanin_ugL", 1.0),
    "extracted_chla": ("chla_ugL", 1.0),
    "total_cyano_genes": ("total_cyano_genes_copiesmL", 1.0),
    "mcye_genes": ("mcye_genes_copiesmL", 1.0),
    "total_p": ("tp_ugL", 1.0),
    "total_dissolved_p": ("tdp_ugL", 1.0),
    "soluble_reactive_p": ("srp_ugL", 1.0),
    "ammonia": ("ammonia_ugL", 1.0),
    "nitrate_nitrite": ("nitrate_nitrite_mgL", 1.0),
    "particulate_organic_c": ("poc_mgL", 1.0),
    "particulate_organic_n": ("pon_mgL", 1.0),
    "cdom": ("cdom_m1", 1.0),
    "tss": ("tss_mgL", 1.0),
    "vss": ("vss_mgL", 1.0),
}

# The datashare PAR header reads "uEcm-2s-1"; its values match the NCEI µE/m2/s range, so it is
# taken as the same quantity. Date_Dec (decimal year) was added by a re-distributor: ignored.
_DATASHARE: dict[str, tuple[str, float]] = {
    "Date": ("date", 1.0),
    "Site": ("site", 1.0),
    "Station_Depth_m": ("station_depth_m", 1.0),
    "Sample_Depth_m": ("sample_depth_m", 1.0),
    "Sample_Depth_category": ("depth_category", 1.0),
    "Arrival_Time": ("time", 1.0),
    "Departure_Time": ("time_departure", 1.0),
    "Lat_deg": ("lat", 1.0),
    "Long_deg": ("lon", 1.0),
    "Wind_speed_ms-1": ("wind_speed_ms", 1.0),
    "Sky": ("sky", 1.0),
    "Secchi_Depth_m": ("secchi_m", 1.0),
    "Temp_C": ("temp_c", 1.0),
    "SpCond_uScm-1": ("specific_conductivity_uScm", 1.0),
    "BeamAtten_m-1": ("beam_attenuation_m1", 1.0),
    "Transmiss_pct": ("transmission_pct", 1.0),
    "DO_mgL-1": ("dissolved_oxygen_mgL", 1.0),
    "PAR_uEcm-2s-1": ("par", 1.0),
    "Turbidity_NTU": ("turbidity_ntu", 1.0),
    "Particulate_Microcystin_ugL-1": ("particulate_microcystin_ugL", 1.0),
    "Dissolved_Microcystin_ugL-1": ("dissolved_microcystin_ugL", 1.0),
    "Extracted_PC_ugL-1": ("phycocyanin_ugL", 1.0),
    "Extracted_CHLa_ugL-1": ("chla_ugL", 1.0),
    "Total_cyanobacteria_genes_copiesmL-1": ("total_cyano_genes_copiesmL", 1.0),
    "mycE_genes_copiesmL-1": ("mcye_genes_copiesmL", 1.0),
    "DIC (uM)": ("dic_uM", 1.0),
    "TALK": ("total_alkalinity", 1.0),
}

#: Columns known to carry nothing we keep (ignored without a warning).
IGNORED_COLUMNS: dict[str, tuple[str, ...]] = {
    ERA_LONGNAME: (),
    ERA_SNAKECASE: (),
    ERA_DATASHARE: ("Date_Dec",),
}

#: Required raw columns per era (a tuple inside means "one of these").
REQUIRED_COLUMNS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    ERA_LONGNAME: (
        "Date",
        "Site",
        "Sample Depth (category)",
        "Local Time (Eastern Time Zone)",
        "Latitude (decimal deg)",
        "Longitude (decimal deg)",
        "Particulate Microcystin (µg/L)",
        "Dissolved Microcystin (µg/L)",
        "Extracted Phycocyanin (µg/L)",
        "Extracted Chlorophyll a (µg/L)",
    ),
    ERA_SNAKECASE: (
        "date",
        ("station_name", "sample_id"),
        "sample_depth_category",
        "time",
        "lat",
        "lon",
        "particulate_microcystin",
        "dissolved_microcystin",
        "extracted_chla",
    ),
    ERA_DATASHARE: (
        "Date",
        "Site",
        "Sample_Depth_category",
        "Arrival_Time",
        "Lat_deg",
        "Long_deg",
        "Particulate_Microcystin_ugL-1",
        "Dissolved_Microcystin_ugL-1",
        "Extracted_PC_ugL-1",
        "Extracted_CHLa_ugL-1",
    ),
}
#: Weekly-station snake_case files must also carry phycocyanin (only the transects lack it).
SNAKECASE_STATION_EXTRA_REQUIRED = ("extracted_phycocyanin",)


def normalise_header(name: str) -> str:
    """Canonical form of a header for matching: NFKC, case-folded, single spaces, stripped.

    NFKC folds the micro sign (U+00B5) and Greek mu (U+03BC) together, so a re-encoded file still
    matches; the 2012-2019 CDOM header carries a trailing space.
    """
    text = unicodedata.normalize("NFKC", name)
    return re.sub(r"\s+", " ", text).strip().casefold()


def era_column_map(era: str) -> dict[str, tuple[str, float]]:
    """Normalised raw header -> (harmonised field, numeric factor) for one era."""
    table = {ERA_LONGNAME: _LONGNAME, ERA_SNAKECASE: _SNAKECASE, ERA_DATASHARE: _DATASHARE}[era]
    return {normalise_header(k): v for k, v in table.items()}


def _check_catalogue() -> None:
    """Every map target must be a meta field or a catalogued variable (import-time guard)."""
    known = set(META_FIELDS) | set(VARIABLE_NAMES)
    for table in (_LONGNAME, _SNAKECASE, _DATASHARE):
        unknown = {field for field, _ in table.values()} - known
        if unknown:
            raise RuntimeError(f"GLERL column catalogue maps to unknown fields: {sorted(unknown)}")


_check_catalogue()
