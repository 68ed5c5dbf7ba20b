"""Figures of the export: PNG (300 dpi) and SVG, Dutch labels, readable at report size.

Every figure is 16 cm wide (taller when there are many codes or themes), with text of at least
8 pt. Bars use the codebook's colours (:meth:`pipeline.coding.codebook.Codebook.color_of`);
heatmaps use the colour-blind-safe ``cividis`` and ``viridis`` maps; methods use Okabe-Ito colours.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no global state)
and rendered with the Agg and SVG backends. :func:`build_figures` returns name -> (PNG, SVG).
"""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.coding.codebook import Code, Codebook
from pipeline.vocab import METHOD_NAMES, METHODS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CM = 1 / 2.54
WIDTH_CM = 16.0
HEIGHT_CM = 10.0
DPI = 300
FONT_PT = 8

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
METHOD_COLORS = {"rule": "#E69F00", "embedding": "#56B4E9", "both": "#009E73",
                 "human": "#CC79A7"}
EMERGING_COLOR = "#D55E00"
KNOWN_COLOR = "#9DB9D3"
MISSING_COLOR = "#EEEEEE"

#: Figure name -> caption (Dutch), in report order.
CAPTIONS = {
    "lessen": "Aantal gecodeerde segmenten per les (code), gegroepeerd per thema.",
    "code_interview": "Aandeel respondentsegmenten per code en interview (kleur) met het "
                      "aantal segmenten (getal).",
    "cooccurrence": "Codes die samen voorkomen binnen dezelfde spreekbeurt.",
    "methods": "Hoe elke code is toegekend: regel, embedding, beide of handmatig.",
    "themes": "Thema's uit de respondentsegmenten: grootte, best passende code, en opkomende "
              "thema's (niet gedekt door het codeboek).",
}


def _rc() -> dict:
    return {
        "font.family": "DejaVu Sans",
        "font.size": FONT_PT,
        "axes.titlesize": FONT_PT + 1,
        "axes.labelsize": FONT_PT,
        "xtick.labelsize": FONT_PT,
        "ytick.labelsize": FONT_PT,
        "legend.fontsize": FONT_PT,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "codeer",
        "svg.fonttype": "path",
    }


def _new(height_cm: float = HEIGHT_CM) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_CM * CM, height_cm * CM), layout="constrained")


def render(fig: Figure) -> tuple[bytes, bytes]:
    """The figure as PNG (300 dpi) and SVG bytes, without timestamps."""
    import matplotlib

    with matplotlib.rc_context(_rc()):
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png.getvalue(), svg.getvalue()


def code_label(code: Code, width: int = 34, lines: int = 2) -> str:
    """``"L1 Helderheid over posities, …"`` wrapped to at most ``lines`` lines."""
    parts = textwrap.wrap(f"{code.id} {code.name}", width=width)
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1].rstrip(" ,;:") + "…"
    return "\n".join(parts)


def _rows_height(n_rows: int, per_row_cm: float = 0.75, base_cm: float = 2.6) -> float:
    return max(HEIGHT_CM, base_cm + per_row_cm * n_rows)


def _nl(value: float, decimals: int = 2) -> str:
    """A number with a decimal comma (Dutch)."""
    return f"{value:.{decimals}f}".replace(".", ",")


def _nl_format():
    """Tick formatter with a decimal comma and no needless decimals."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:g}".replace(".", ","))


def _text_color(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


# --------------------------------------------------------------------------- figures


def lessons_chart(book: Codebook, code_document: pd.DataFrame) -> Figure:
    """Horizontal bars: segments per code, codes grouped under their theme's name."""
    per_code = code_document.groupby("code_id")["n_segments"].sum()
    n_docs = code_document[code_document["n_segments"] > 0].groupby("code_id")["document_id"] \
        .nunique()
    total_docs = code_document["document_id"].nunique()
    rows: list[tuple[str, object]] = []  # ("theme", Theme) or ("code", Code)
    for theme in book.themes:
        codes = [c for c in book.codes if c.theme == theme.id]
        if codes:
            rows.append(("theme", theme))
            rows += [("code", c) for c in codes]
    fig = _new(_rows_height(len(rows), 0.62))
    with _ctx():
        from matplotlib.ticker import MaxNLocator

        ax = fig.add_subplot()
        ys = list(range(len(rows)))[::-1]
        vmax = max(1, int(per_code.max()) if len(per_code) else 1)
        labels = []
        for y, (kind, obj) in zip(ys, rows, strict=True):
            if kind == "theme":
                labels.append("")
                ax.text(-0.01, y, obj.name, transform=ax.get_yaxis_transform(), ha="right",
                        va="center", fontweight="bold", color=_darker(obj.color),
                        fontsize=FONT_PT + 1)
                continue
            n = int(per_code.get(obj.id, 0))
            k = int(n_docs.get(obj.id, 0))
            ax.barh(y, n, color=book.color_of(obj), edgecolor="#333333", linewidth=0.4,
                    height=0.7)
            ax.text(n + vmax * 0.01, y, f"{n} ({k}/{total_docs} int.)", va="center",
                    fontsize=FONT_PT)
            labels.append(code_label(obj, width=40))
        ax.set_yticks(ys, labels)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, vmax * 1.22)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("aantal gecodeerde segmenten (tussen haakjes: in hoeveel interviews)")
        ax.set_title("Lessen per thema")
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5)
        ax.set_axisbelow(True)
    return fig


def _darker(color: str, factor: float = 0.75) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r * factor, g * factor, b * factor)


def _ctx():
    import matplotlib

    return matplotlib.rc_context(_rc())


def code_interview_heatmap(book: Codebook, code_document: pd.DataFrame) -> Figure:
    """Codes x interviews: colour = share of respondent segments, number = segments."""
    import numpy as np

    docs = list(dict.fromkeys(code_document["document_id"]))
    codes = list(book.codes)
    share = code_document.pivot(index="code_id", columns="document_id", values="share") \
        .reindex(index=[c.id for c in codes], columns=docs)
    count = code_document.pivot(index="code_id", columns="document_id", values="n_segments") \
        .reindex(index=[c.id for c in codes], columns=docs).fillna(0).astype(int)
    values = share.to_numpy(dtype=float) * 100
    fig = _new(_rows_height(len(codes), 0.7, 3.2))
    with _ctx():
        import matplotlib

        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["cividis"].with_extremes(bad=MISSING_COLOR)
        vmax = max(1.0, float(np.nanmax(values)) if np.isfinite(values).any() else 1.0)
        im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=vmax,
                       aspect="auto")
        for i in range(len(codes)):
            for j in range(len(docs)):
                v = values[i, j]
                if not count.iat[i, j]:
                    continue
                color = "black" if not np.isfinite(v) else _text_color(cmap(v / vmax))
                ax.text(j, i, str(count.iat[i, j]), ha="center", va="center", color=color,
                        fontsize=FONT_PT)
        ax.set_xticks(range(len(docs)), docs, rotation=0 if len(docs) <= 10 else 90)
        ax.set_yticks(range(len(codes)), [code_label(c) for c in codes])
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel("interview")
        ax.set_title("Codes per interview (getal: segmenten; leeg: 0)")
        bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02, format=_nl_format())
        bar.set_label("% van de respondentsegmenten")
        bar.outline.set_visible(False)
    return fig


def cooccurrence_heatmap(book: Codebook, cooc: pd.DataFrame, count: str = "n_turns") -> Figure:
    """Code x code: how often two codes occur in the same unit; the diagonal is greyed out."""
    import numpy as np

    ids = [c.id for c in book.codes]
    m = cooc.pivot(index="code_id_a", columns="code_id_b", values=count).reindex(
        index=ids, columns=ids).fillna(0).to_numpy(dtype=float)
    off = m.copy()
    np.fill_diagonal(off, np.nan)
    unit = "spreekbeurten" if count == "n_turns" else "segmenten"
    fig = _new(_rows_height(len(ids), 0.7, 3.2))
    with _ctx():
        import matplotlib
        from matplotlib.ticker import MaxNLocator

        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=MISSING_COLOR)
        vmax = max(1.0, float(np.nanmax(off)) if np.isfinite(off).any() else 1.0)
        im = ax.imshow(np.ma.masked_invalid(off), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
        for i in range(len(ids)):
            for j in range(len(ids)):
                if i == j:
                    ax.text(j, i, f"({int(m[i, j])})", ha="center", va="center",
                            color="#555555", fontsize=FONT_PT, style="italic")
                elif m[i, j] > 0:
                    ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                            color=_text_color(cmap(m[i, j] / vmax)), fontsize=FONT_PT)
        ax.set_xticks(range(len(ids)), ids)
        ax.set_yticks(range(len(ids)), [code_label(c) for c in book.codes])
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        same = "dezelfde spreekbeurt" if count == "n_turns" else "hetzelfde segment"
        ax.set_title(f"Codes samen in {same}")
        ax.set_xlabel(f"grijs, tussen haakjes: aantal {unit} met die code")
        bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
        bar.set_label(f"aantal {unit} met beide codes")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
        bar.outline.set_visible(False)
    return fig


def method_chart(book: Codebook, counted_codings: pd.DataFrame) -> Figure:
    """Stacked 100 % bars per code: share of rule, embedding, both and human codings."""
    ids = [c.id for c in book.codes]
    table = counted_codings.groupby(["code_id", "method"]).size().unstack(fill_value=0) \
        .reindex(index=ids, columns=list(METHODS), fill_value=0)
    totals = table.sum(axis=1)
    shares = table.div(totals.where(totals > 0), axis=0).fillna(0) * 100
    fig = _new(_rows_height(len(ids), 0.7, 3.4))
    with _ctx():
        ax = fig.add_subplot()
        ys = list(range(len(ids)))[::-1]
        left = pd.Series(0.0, index=ids)
        for method in METHODS:
            ax.barh(ys, shares[method], left=left, color=METHOD_COLORS[method],
                    label=METHOD_NAMES[method], edgecolor="white", linewidth=0.5, height=0.7)
            left += shares[method]
        for y, code_id in zip(ys, ids, strict=True):
            ax.text(101, y, f"n = {int(totals[code_id])}", va="center", fontsize=FONT_PT)
        ax.set_yticks(ys, [code_label(c) for c in book.codes])
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, 112)
        ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        ax.set_xlabel("aandeel van de (niet-afgewezen) coderingen")
        ax.set_title("Hoe de codes zijn toegekend")
        fig.legend(ncols=4, loc="outside lower center", frameon=False, handlelength=1.2,
                   columnspacing=1.0)
    return fig


def themes_chart(themes_tbl: pd.DataFrame, max_themes: int = 25) -> Figure | None:
    """Bars: size of each theme, its label and best code; emerging themes highlighted.

    Returns:
        The figure, or ``None`` when there are no themes (outliers, topic -1, are left out).
    """
    from matplotlib.patches import Patch

    df = themes_tbl[themes_tbl["topic"] >= 0].sort_values(["size", "topic"],
                                                          ascending=[False, True])
    if df.empty:
        return None
    df = df.head(max_themes)
    fig = _new(_rows_height(len(df), 0.62, 3.0))
    with _ctx():
        ax = fig.add_subplot()
        ys = list(range(len(df)))[::-1]
        vmax = max(1, int(df["size"].max()))
        for y, row in zip(ys, df.to_dict("records"), strict=True):
            emerging = bool(row["emerging"])
            ax.barh(y, row["size"], color=EMERGING_COLOR if emerging else KNOWN_COLOR,
                    hatch="///" if emerging else None, edgecolor="#333333", linewidth=0.4,
                    height=0.7)
            best = row.get("best_code_id")
            best = "" if pd.isna(best) or best == "" else str(best)
            sim = row.get("best_code_similarity")
            detail = f"  → {best}" + (f" ({_nl(sim)})" if pd.notna(sim) else "") if best else ""
            ax.text(row["size"] + vmax * 0.01, y, f"{row['size']}{detail}", va="center",
                    fontsize=FONT_PT, fontweight="bold" if emerging else "normal")
        labels = [textwrap.shorten(f"{r['topic']}: {r['label']}", width=44,
                                   placeholder="…") for r in df.to_dict("records")]
        ax.set_yticks(ys, labels)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, vmax * 1.35)
        ax.set_xlabel("aantal segmenten (→ best passende code, gelijkenis)")
        ax.set_title("Thema's in de respondentsegmenten")
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5)
        ax.set_axisbelow(True)
        fig.legend(handles=[
            Patch(facecolor=EMERGING_COLOR, hatch="///", edgecolor="#333333",
                  label="opkomend (past bij geen code)"),
            Patch(facecolor=KNOWN_COLOR, edgecolor="#333333", label="past bij een code"),
        ], loc="outside lower center", ncols=2, frameon=False)
    return fig


def build_figures(
    book: Codebook, tables: dict[str, pd.DataFrame], counted_codings: pd.DataFrame
) -> dict[str, tuple[bytes, bytes]]:
    """Every figure as name -> (PNG, SVG), in :data:`CAPTIONS` order.

    Args:
        book: The codebook (names, colours, order).
        tables: The export tables (``code_document``, ``cooccurrence_turn``, ``themes``).
        counted_codings: Codings that count (not rejected).
    """
    figs: dict[str, Figure | None] = {
        "lessen": lessons_chart(book, tables["code_document"]),
        "code_interview": code_interview_heatmap(book, tables["code_document"]),
        "cooccurrence": cooccurrence_heatmap(book, tables["cooccurrence_turn"], "n_turns"),
        "methods": method_chart(book, counted_codings),
    }
    if "themes" in tables:
        figs["themes"] = themes_chart(tables["themes"])
    return {name: render(fig) for name, fig in figs.items() if fig is not None}
