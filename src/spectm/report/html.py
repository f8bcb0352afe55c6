"""A small, self-contained HTML report: sections of text, tables and embedded PNG figures."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from spectm._io import write_text

_TEMPLATE = jinja2.Environment(
    loader=jinja2.PackageLoader("spectm.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


@dataclass
class Section:
    """One report section: a title and an ordered list of HTML fragments."""

    title: str
    anchor: str
    parts: list[str] = field(default_factory=list)

    def text(self, text: str) -> Section:
        """Append a paragraph (escaped)."""
        self.parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def bullets(self, items: list[str]) -> Section:
        """Append a bulleted list (each item escaped)."""
        lis = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        self.parts.append(f"<ul>{lis}</ul>")
        return self

    def raw(self, fragment: str) -> Section:
        """Append trusted HTML built by this package."""
        self.parts.append(fragment)
        return self

    def table(
        self, df: pd.DataFrame, *, caption: str = "", float_format: str = "{:.3g}"
    ) -> Section:
        """Append a table; floats formatted with ``float_format``."""
        self.parts.append(table_html(df, caption=caption, float_format=float_format))
        return self

    def figure(self, png: str | os.PathLike[str], *, caption: str = "", width: int = 0) -> Section:
        """Append a PNG embedded as base64, so the report is one portable file."""
        self.parts.append(figure_html(png, caption=caption, width=width))
        return self


def table_html(df: pd.DataFrame, *, caption: str = "", float_format: str = "{:.3g}") -> str:
    """HTML table of ``df`` (index dropped) with an optional caption."""
    body = df.to_html(
        index=False,
        na_rep="–",
        float_format=lambda v: float_format.format(v),
        classes="tbl",
        border=0,
        escape=True,
    )
    cap = f"<div class='cap'>{html.escape(caption)}</div>" if caption else ""
    return f"<div class='tblwrap'>{cap}{body}</div>"


def figure_html(png: str | os.PathLike[str], *, caption: str = "", width: int = 0) -> str:
    """``<figure>`` with the PNG inlined as a data URI."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    style = f" style='width:{width}px'" if width else ""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    alt = html.escape(caption)
    img = f"<img{style} src='data:image/png;base64,{data}' alt='{alt}'>"
    return f"<figure>{img}{cap}</figure>"


def render_report(
    out_html: str | os.PathLike[str],
    *,
    title: str,
    provenance: str,
    sections: list[Section],
    generated_by: str,
) -> Path:
    """Render the sections into ``out_html`` (atomic). ``provenance`` is the first line."""
    page = _TEMPLATE.get_template("report.html").render(
        title=title, provenance=provenance, sections=sections, generated_by=generated_by
    )
    return write_text(page, out_html)
