import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from spectm.report import figures
from spectm.report.figures import samples_per_year_figure, save_figure
from tests.report.helpers import capture_saved_figures, png_size


def test_save_figure_writes_png_and_closes(tmp_path):
    fig = plt.figure(figsize=(2.0, 1.0))
    # an artist covering the canvas: bbox "tight" keeps the whole figure plus 0.1 in padding
    fig.add_artist(Rectangle((0, 0), 1, 1, transform=fig.transFigure))
    out = save_figure(fig, tmp_path / "sub" / "f.png", dpi=50)
    assert out == tmp_path / "sub" / "f.png"
    assert png_size(out) == (110, 60)  # (2 + 2 * 0.1) x (1 + 2 * 0.1) in at dpi 50
    assert not plt.fignum_exists(fig.number)


def test_save_figure_failure_leaves_no_file(tmp_path):
    dest = tmp_path / "f.png"
    fig = plt.figure()

    def broken_savefig(path, **kwargs):
        with open(path, "wb") as f:  # a half-written file, then the failure
            f.write(b"\x89PNG partial")
        raise RuntimeError("renderer failed")

    fig.savefig = broken_savefig
    with pytest.raises(RuntimeError, match="renderer failed"):
        save_figure(fig, dest)
    assert list(tmp_path.iterdir()) == []  # neither the product nor a temporary file

    dest.write_bytes(b"previous product")
    with pytest.raises(RuntimeError):
        save_figure(fig, dest)
    assert dest.read_bytes() == b"previous product"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]
    plt.close(fig)


def test_samples_per_year_figure_counts(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch, figures)
    samples = pd.DataFrame(
        {
            "time_utc": pd.to_datetime(
                ["2019-07-01", "2019-08-01", "2019-08-02", "2024-06-01", "2024-09-01"], utc=True
            ),
            "depth_category": ["Surface", "Surface", "Bottom", "Surface", None],
        }
    )
    out = samples_per_year_figure(samples, tmp_path / "spy.png")
    png_size(out)
    ax = saved["spy.png"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2019", "2024"]
    # stacked bars, one container per depth category (columns sorted), bars per year
    heights = {c.get_label(): [round(p.get_height()) for p in c.patches] for c in ax.containers}
    assert heights == {"Bottom": [1, 0], "Surface": [2, 1], "unknown": [0, 1]}
