import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spectm.report.figures import save_figure
from spectm.report.html import Section, render_report, table_html


def tiny_png(path):
    fig, ax = plt.subplots(figsize=(1.0, 1.0))
    ax.plot([0, 1], [0, 1])
    return save_figure(fig, path, dpi=30)


def test_render_report_sections_tables_figures_and_escaping(tmp_path):
    png = tiny_png(tmp_path / "fig.png")
    table = pd.DataFrame({"method": ["ridge <b>", "svr"], "r2": [0.123456, np.nan], "n": [12, 7]})
    first = (
        Section("Results & <more>", "results")
        .text("R² < 1 & <script>alert(1)</script>")
        .table(table, caption="Scores <per> method")
        .figure(png, caption="A 'quoted' <figure>", width=321)
    )
    second = Section("Notes", "notes").raw("<ul class='note'><li>trusted</li></ul>")
    out = render_report(
        tmp_path / "report" / "index.html",
        title="Report <title>",
        provenance="Inputs — samples: REAL. granules: GENERATED <demo>.",
        sections=[first, second],
        generated_by="spectm 0.0 & tests",
    )
    page = out.read_text()
    assert not list(out.parent.glob(".*.tmp"))  # no temporary file left beside the report

    # provenance comes first, before the navigation and every section
    prov = page.index("Inputs — samples: REAL. granules: GENERATED &lt;demo&gt;.")
    assert prov < page.index("<nav>") < page.index('<section id="results">')
    assert page.index('<section id="results">') < page.index('<section id="notes">')
    assert '<a href="#results">Results &amp; &lt;more&gt;</a>' in page
    assert "<h1>Report &lt;title&gt;</h1>" in page
    assert "spectm 0.0 &amp; tests" in page

    # text is escaped; the raw fragment is not
    assert "<script>" not in page
    assert "<p>R² &lt; 1 &amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>" in page
    assert "<ul class='note'><li>trusted</li></ul>" in page

    # the table: values formatted with 3 significant digits, NaN as a dash, cells escaped
    assert "Scores &lt;per&gt; method" in page
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert cells == ["ridge &lt;b&gt;", "0.123", "12", "svr", "–", "7"]

    # the figure is the PNG file itself, inlined as a data URI
    imgs = re.findall(
        r"<img style='width:321px' src='data:image/png;base64,([^']+)' alt='([^']*)'", page
    )
    assert len(imgs) == 1
    assert base64.b64decode(imgs[0][0]) == png.read_bytes()
    assert imgs[0][1] == "A &#x27;quoted&#x27; &lt;figure&gt;"
    assert "<figcaption>A &#x27;quoted&#x27; &lt;figure&gt;</figcaption>" in page


def test_table_html_custom_format_and_no_caption():
    out = table_html(pd.DataFrame({"x": [1.0, 2.5]}), float_format="{:.2f}")
    assert "class='cap'" not in out
    assert re.findall(r"<td>(.*?)</td>", out) == ["1.00", "2.50"]
    assert re.findall(r"<th[^>]*>(.*?)</th>", out) == ["x"]  # no index column
