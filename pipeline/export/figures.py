"""Figures of the export: PNG (300 dpi) and SVG, labels in the language of the run (Dutch by
default, :mod:`pipeline.i18n`), readable at report size.

Every figure is 16 cm wide (taller when there are many codes or themes), with text of at least
8 pt. Bars use the codebook's colours (:meth:`pipeline.coding.codebook.Codebook.color_of`);
heatmaps use the colour-blind-safe ``cividis`` and ``viridis`` maps; methods use Okabe-Ito colours.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no global state)
and rendered with the Agg and SVG backends. :func:`build_figures` returns name -> (PNG, SVG).
"""

from __future__ import annotations

import io
import re
import textwrap
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.coding.codebook import Code, Codebook
from pipeline.i18n import N_, _
from pipeline.vocab import METHODS

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

SMALL_TALK_COLOR = "#CCCCCC"

#: Figure name -> caption, in report order (English here; :func:`caption` gives it in the
#: language of the run). Titles and labels inside the figures come from the codebook (its
#: name, theme and code names), so they fit any codebook.
CAPTIONS = {
    "codes": N_("Number of coded passages per code, grouped by theme of the codebook; in "
                "brackets in how many interviews the code occurs."),
    "code_interview": N_("Number of coded passages per interview and code: colour and number "
                         "show the same count (empty: no passage)."),
    "cooccurrence": N_("Codes that occur together within the same turn."),
    "methods": N_("How the passages of each code were coded: with a rule, by the model, with "
                  "both or by hand."),
    "themes": N_("Themes in what respondents said: how large they are, which code is closest "
                 "to them, which the codebook does not cover (emerging) and which are not a "
                 "theme of substance (small talk)."),
}
#: How each method (:data:`pipeline.vocab.METHODS`) reads in a legend or the report; in Dutch
#: these are :data:`pipeline.vocab.METHOD_NAMES`.
METHOD_WORDS = {"rule": N_("rule"), "embedding": N_("model"), "both": N_("rule and model"),
                "human": N_("by hand")}


def caption(name: str) -> str:
    """The caption of figure ``name`` in the language of the run."""
    return _(CAPTIONS[name])


def method_name(method: str) -> str:
    """How ``method`` reads for a researcher, in the language of the run."""
    return _(METHOD_WORDS[method]) if method in METHOD_WORDS else method


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


def _text_color(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


# --------------------------------------------------------------------------- figures


def _title(text: str, width: int = 70) -> str:
    return "\n".join(textwrap.wrap(text, width=width)) or text


def codes_chart(book: Codebook, code_document: pd.DataFrame) -> Figure:
    """Horizontal bars: passages per code, codes grouped under their theme's name.

    Args:
        book: The codebook (names, colours, order; its name is the title).
        code_document: The ``code_document`` table (``n_passages`` per code and interview).
    """
    count = "n_passages" if "n_passages" in code_document.columns else "n_segments"
    per_code = code_document.groupby("code_id")[count].sum()
    n_docs = code_document[code_document[count] > 0].groupby("code_id")["document_id"] \
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
            ax.text(n + vmax * 0.01, y,
                    _("{n} ({found} of {total})").format(n=n, found=k, total=total_docs),
                    va="center", fontsize=FONT_PT)
            labels.append(code_label(obj, width=40))
        ax.set_yticks(ys, labels)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, vmax * 1.22)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(_("number of passages (in brackets: in how many interviews)"))
        ax.set_title(_title(_("{name}: coded passages per code").format(name=book.name)))
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5)
        ax.set_axisbelow(True)
    return fig


#: The earlier name of :func:`codes_chart` (the notebooks call it).
lessons_chart = codes_chart


def interview_labels(doc_ids: list[str], interviews: pd.DataFrame | None,
                     width: int = 30) -> list[str]:
    """A readable label per interview: the respondent's function, else the department, else
    the (exported) id; an id is added where two interviews would get the same label."""
    info: dict[str, str] = {}
    if interviews is not None and len(interviews):
        for col in ("department", "respondent_function"):  # the function wins
            if col not in interviews.columns:
                continue
            for doc, value in zip(interviews["document_id"], interviews[col], strict=True):
                if value is not None and not pd.isna(value) and str(value).strip():
                    info[str(doc)] = " ".join(str(value).split())
    base = [info.get(str(d), str(d)) for d in doc_ids]
    seen = pd.Series(base).value_counts()
    labels = [f"{b} ({d})" if seen[b] > 1 and b != str(d) else b
              for b, d in zip(base, doc_ids, strict=True)]
    return ["\n".join(textwrap.wrap(x, width=width)[:2]) or x for x in labels]


def _darker(color: str, factor: float = 0.75) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r * factor, g * factor, b * factor)


def _ctx():
    import matplotlib

    return matplotlib.rc_context(_rc())


def code_interview_heatmap(book: Codebook, code_document: pd.DataFrame,
                           interviews: pd.DataFrame | None = None) -> Figure:
    """Interviews x codes: the number of passages, as colour and as number (one quantity).

    Args:
        book: The codebook (codes and themes in order, its name in the title).
        code_document: The ``code_document`` table (``n_passages`` per code and interview).
        interviews: The ``interviews`` table; rows are labelled by the respondent's function
            (else department) where it is known, else by the exported id.
    """
    import numpy as np

    count_col = "n_passages" if "n_passages" in code_document.columns else "n_segments"
    docs = list(dict.fromkeys(code_document["document_id"]))
    codes = list(book.codes)
    count = code_document.pivot(index="document_id", columns="code_id", values=count_col) \
        .reindex(index=docs, columns=[c.id for c in codes]).fillna(0).astype(int)
    values = count.to_numpy(dtype=float)
    fig = _new(max(HEIGHT_CM, 5.2 + 0.8 * len(docs)))
    with _ctx():
        import matplotlib
        from matplotlib.ticker import MaxNLocator

        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["cividis"].with_extremes(bad=MISSING_COLOR)
        vmax = max(1.0, float(values.max()) if values.size else 1.0)
        shown = np.ma.masked_where(values == 0, values)  # no passage: an empty (grey) cell
        im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
        for i in range(len(docs)):
            for j in range(len(codes)):
                n = int(values[i, j])
                if n:
                    ax.text(j, i, str(n), ha="center", va="center",
                            color=_text_color(cmap(n / vmax)), fontsize=FONT_PT)
        ax.set_yticks(range(len(docs)), interview_labels(docs, interviews))
        ax.set_xticks(range(len(codes)), [code_label(c, width=26) for c in codes],
                      rotation=40, ha="right", rotation_mode="anchor")
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        # The codebook's themes above their codes, with a line between two themes.
        groups: list[tuple[str, int, int]] = []
        for j, code in enumerate(codes):
            name = book.theme_of(code).name
            if groups and groups[-1][0] == name:
                groups[-1] = (name, groups[-1][1], j)
            else:
                groups.append((name, j, j))
        top = ax.secondary_xaxis("top")
        top.set_xticks([(g[1] + g[2]) / 2 for g in groups],
                       ["\n".join(textwrap.wrap(g[0], width=max(8, 7 * (g[2] - g[1] + 1)),
                                                break_long_words=False))
                        for g in groups])
        top.tick_params(length=0)
        top.spines["top"].set_visible(False)
        for _name, first, _last in groups[1:]:
            ax.axvline(first - 0.5, color="white", linewidth=2)
        ax.set_title(_title(_("{name}: coded passages per interview").format(name=book.name)),
                     pad=22)
        bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
        bar.set_label(_("number of passages"))
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
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
    if count == "n_turns":
        title = _("Codes together in the same turn")
        diagonal = _("grey, in brackets: number of turns with that code")
        both = _("number of turns with both codes")
    else:
        title = _("Codes together in the same segment")
        diagonal = _("grey, in brackets: number of segments with that code")
        both = _("number of segments with both codes")
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
        ax.set_title(title)
        ax.set_xlabel(diagonal)
        bar = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.02)
        bar.set_label(both)
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
        bar.outline.set_visible(False)
    return fig


def method_chart(book: Codebook, coded: pd.DataFrame) -> Figure:
    """Stacked 100 % bars per code: share of its passages coded by rule, model, both, by hand.

    Args:
        book: The codebook.
        coded: One row per passage and code with ``code_id``, ``method`` and ``status`` (the
            ``excerpts`` table); rejected rows do not count.
    """
    ids = [c.id for c in book.codes]
    if "status" in coded.columns:
        coded = coded[coded["status"] != "rejected"]
    table = coded.groupby(["code_id", "method"]).size().unstack(fill_value=0) \
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
                    label=method_name(method), edgecolor="white", linewidth=0.5, height=0.7)
            left += shares[method]
        for y, code_id in zip(ys, ids, strict=True):
            ax.text(101, y, f"n = {int(totals[code_id])}", va="center", fontsize=FONT_PT)
        ax.set_yticks(ys, [code_label(c) for c in book.codes])
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, 112)
        ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
        ax.set_xlabel(_("share of the passages (not rejected); n = number of passages"))
        ax.set_title(_title(_("{name}: how the passages were coded").format(name=book.name)))
        fig.legend(ncols=4, loc="outside lower center", frameon=False, handlelength=1.2,
                   columnspacing=1.0)
    return fig


def theme_caption(topic: object, label: object, width: int = 42) -> str:
    """``"Thema 3: label"`` on at most two lines (the label shortened with … when longer)."""
    text = _("Theme {topic}: {label}").format(topic=topic, label=label)
    lines = textwrap.wrap(text, width=width)
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width=width, placeholder=" …")]
    return "\n".join(lines) or text


def themes_chart(themes_tbl: pd.DataFrame, max_themes: int = 25,
                 unit: str | None = None) -> Figure | None:
    """Bars: size of each theme, its label and nearest code; emerging themes highlighted,
    small talk (no theme of substance) greyed.

    Args:
        themes_tbl: The ``themes`` table.
        max_themes: The largest themes shown.
        unit: What the themes are made of, in words for the axis ("zinnen"); default:
            segments, in the language of the run.

    Returns:
        The figure, or ``None`` when there are no themes (outliers, topic -1, are left out).
    """
    from matplotlib.patches import Patch

    df = themes_tbl[themes_tbl["topic"] >= 0].sort_values(["size", "topic"],
                                                          ascending=[False, True])
    if df.empty:
        return None
    df = df.head(max_themes)
    unit = unit or _("segments")
    fig = _new(_rows_height(len(df), 0.8, 3.0))
    with _ctx():
        ax = fig.add_subplot()
        ys = list(range(len(df)))[::-1]
        vmax = max(1, int(df["size"].max()))
        for y, row in zip(ys, df.to_dict("records"), strict=True):
            talk = row.get("small_talk")
            talk = "" if talk is None or pd.isna(talk) else str(talk)
            emerging = bool(row["emerging"]) and not talk
            color = SMALL_TALK_COLOR if talk else EMERGING_COLOR if emerging else KNOWN_COLOR
            ax.barh(y, row["size"], color=color, hatch="///" if emerging else None,
                    edgecolor="#333333", linewidth=0.4, height=0.7)
            best = row.get("best_code_id")
            best = "" if best is None or pd.isna(best) or best == "" else str(best)
            # small_talk is the themes stage's description, "praatjes: <kinds> (n van m ...)"
            kind = re.sub(r"\s*\(.*\)$", "", talk.removeprefix("praatjes: "))
            detail = ("  " + _("(small talk: {kind})").format(kind=kind) if talk
                      else f"  → {best}" if best else "")
            ax.text(row["size"] + vmax * 0.01, y, f"{row['size']}{detail}", va="center",
                    fontsize=FONT_PT, fontweight="bold" if emerging else "normal")
        ax.set_yticks(ys, [theme_caption(r["topic"], r["label"])
                           for r in df.to_dict("records")])
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, vmax * 1.45)
        ax.set_xlabel(_("number of {units} (→ the code closest to it)").format(units=unit))
        ax.set_title(_("Themes in what respondents said"))
        ax.grid(axis="x", color="#DDDDDD", linewidth=0.5)
        ax.set_axisbelow(True)
        handles = [
            Patch(facecolor=EMERGING_COLOR, hatch="///", edgecolor="#333333",
                  label=_("emerging (fits no code)")),
            Patch(facecolor=KNOWN_COLOR, edgecolor="#333333", label=_("fits a code")),
        ]
        if "small_talk" in df.columns and df["small_talk"].notna().any():
            handles.append(Patch(facecolor=SMALL_TALK_COLOR, edgecolor="#333333",
                                 label=_("small talk (not a theme)")))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                   frameon=False)
    return fig


def build_figures(
    book: Codebook, tables: dict[str, pd.DataFrame], counted_codings: pd.DataFrame | None = None,
    unit: str | None = None,
) -> dict[str, tuple[bytes, bytes]]:
    """Every figure as name -> (PNG, SVG), in :data:`CAPTIONS` order.

    Args:
        book: The codebook (names, colours, order).
        tables: The export tables (``code_document``, ``interviews``, ``cooccurrence_turn``,
            ``excerpts``, ``themes``).
        counted_codings: Passages per code with ``code_id``, ``method`` (and ``status``) for
            the methods figure; default: the ``excerpts`` table.
        unit: What a segment is, in words ("zinnen"), for the themes figure; default:
            segments, in the language of the run.
    """
    coded = counted_codings if counted_codings is not None else tables["excerpts"]
    figs: dict[str, Figure | None] = {
        "codes": codes_chart(book, tables["code_document"]),
        "code_interview": code_interview_heatmap(book, tables["code_document"],
                                                 tables.get("interviews")),
        "cooccurrence": cooccurrence_heatmap(book, tables["cooccurrence_turn"], "n_turns"),
        "methods": method_chart(book, coded),
    }
    if "themes" in tables:
        figs["themes"] = themes_chart(tables["themes"], unit=unit)
    return {name: render(fig) for name, fig in figs.items() if fig is not None}
