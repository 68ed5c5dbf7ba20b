"""Helpers for the notebooks in ``notebooks/``: overview, review and agreement.

The notebooks read stage outputs only through these functions and write nothing themselves;
the one thing they record, a review decision, goes through :func:`pipeline.review.record`
(via :func:`decide` or the buttons of :func:`review_widget`).

Paths come from the environment, like the command line's defaults: ``CODEER_OUT`` (default
``data/coded``) and ``CODEER_CODEBOOK`` (default ``codebook.yaml``), both relative to the
project root, the nearest folder upwards from the working directory that holds
``pyproject.toml`` (a notebook runs in ``notebooks/``).
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import config, schema, storage
from pipeline.coding.codebook import Codebook, load_codebook
from pipeline.errors import CodeerError
from pipeline.review import decisions as review
from pipeline.vocab import DECISION_NAMES, METHODS, STATUSES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Columns of :func:`review_queue`.
QUEUE_COLUMNS = ("segment_id", "document_id", "speaker", "role", "text", "turn", "score",
                 "threshold", "method", "evidence", "status")

#: Dutch labels of the review decisions, for messages in the widget.


# --------------------------------------------------------------------------- paths and data


def project_root(start: Path | None = None) -> Path:
    """The nearest folder from ``start`` (default: the working directory) upwards that holds
    ``pyproject.toml``; else the folder the ``pipeline`` package came from, else ``start``."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    package_root = Path(__file__).resolve().parents[1]
    if (package_root / "pyproject.toml").is_file():
        return package_root
    return start


def paths(start: Path | None = None) -> tuple[Path, Path]:
    """The output folder and the codebook the notebooks use.

    ``CODEER_OUT`` and ``CODEER_CODEBOOK`` override the defaults ``data/coded`` and
    ``codebook.yaml``; relative paths are taken from the project root (see
    :func:`project_root`).

    Returns:
        ``(out, codebook)``, both absolute.
    """
    root = project_root(start)
    out = Path(os.environ.get("CODEER_OUT") or config.OUT_DIR).expanduser()
    codebook = Path(os.environ.get("CODEER_CODEBOOK") or config.CODEBOOK_FILE).expanduser()
    return (out if out.is_absolute() else root / out,
            codebook if codebook.is_absolute() else root / codebook)


@dataclass
class Data:
    """Everything the notebooks show, read once.

    Attributes:
        out: The output folder.
        codebook: The codebook file.
        book: The validated codebook.
        documents: ``documents.parquet`` (with the interview metadata columns).
        segments: ``segments.parquet``.
        codings: ``codings.parquet`` (statuses as of the last ``codeer code``).
        themes: ``themes.parquet``, or None when ``codeer themes`` has not run.
        theme_info: ``theme_info.csv``, or None.
    """

    out: Path
    codebook: Path
    book: Codebook
    documents: pd.DataFrame
    segments: pd.DataFrame
    codings: pd.DataFrame
    themes: pd.DataFrame | None = None
    theme_info: pd.DataFrame | None = None

    def code_ids(self) -> list[str]:
        """Code ids in codebook order."""
        return [c.id for c in self.book.codes]

    def reviews(self, reviewer: str | None = None) -> pd.DataFrame:
        """The latest decision per (segment, code) in ``reviews.csv``, read now."""
        reviews = review.read_reviews(self.out, set(self.code_ids()))
        return review.latest_decisions(reviews, reviewer)


def load(out: Path, codebook: Path) -> Data:
    """Read the codebook and the stage outputs in ``out``.

    Raises:
        CodeerError: The codebook is invalid, or an output is missing or outdated; the message
            names the command that builds it.
    """
    out, codebook = Path(out), Path(codebook)
    book, _ = load_codebook(codebook)
    documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    codings = storage.read_table(out / config.CODINGS_FILE, schema.CODINGS)
    themes = theme_info = None
    if (out / config.THEMES_FILE).exists() and (out / config.THEME_INFO_FILE).exists():
        themes = storage.read_table(out / config.THEMES_FILE, schema.THEMES)
        theme_info = storage.read_table(out / config.THEME_INFO_FILE, schema.THEME_INFO)
    return Data(out, codebook, book, documents, segments, codings, themes, theme_info)


def thresholds(data: Data) -> dict[str, float]:
    """The embedding threshold in effect per code: calibrated if present, else the codebook's."""
    from pipeline.coding.command import load_calibration

    calibrated = load_calibration(data.out)
    return {c.id: calibrated.get(c.id, data.book.threshold_of(c)) for c in data.book.codes}


# --------------------------------------------------------------------------- overview


def _counted(codings: pd.DataFrame) -> pd.DataFrame:
    kept = codings[codings["status"] != "rejected"]
    return kept.drop_duplicates(["segment_id", "code_id"])


def overview(data: Data) -> pd.DataFrame:
    """One row per code: how often, where and how it was coded, and how far it is reviewed.

    Returns:
        ``code_id, code_name, theme, segments`` (not rejected), ``interviews``, one column per
        method (``rule, embedding, both, human``; not rejected), one per status (``auto,
        accepted, rejected``; as of the last ``codeer code``) and ``reviewed`` (pairs with a
        decision in ``reviews.csv`` now).
    """
    codings = data.codings.merge(data.segments[["segment_id", "document_id"]], on="segment_id",
                                 how="left")
    good = _counted(codings)
    ids = data.code_ids()
    table = pd.DataFrame({
        "code_id": ids,
        "code_name": [c.name for c in data.book.codes],
        "theme": [data.book.theme_of(c).name for c in data.book.codes],
    }).set_index("code_id")
    table["segments"] = good.groupby("code_id")["segment_id"].nunique()
    table["interviews"] = good.groupby("code_id")["document_id"].nunique()
    methods = good.groupby(["code_id", "method"]).size().unstack(fill_value=0)
    for method in METHODS:
        table[method] = methods[method] if method in methods else 0
    statuses = codings.groupby(["code_id", "status"]).size().unstack(fill_value=0)
    for status in STATUSES:
        table[status] = statuses[status] if status in statuses else 0
    table["reviewed"] = data.reviews().groupby("code_id").size()
    counts = [c for c in table.columns if c not in ("code_name", "theme")]
    table[counts] = table[counts].fillna(0).astype("int64")
    return table.reset_index()


def code_document(data: Data) -> pd.DataFrame:
    """Segments per code and interview (the export's ``code_document`` table, not pseudonymised)."""
    from pipeline.export.tables import code_document_table

    return code_document_table(data.documents, data.segments, data.codings, data.book)


def by_interview(data: Data) -> pd.DataFrame:
    """Codes (rows) x interviews (columns): number of segments with the code."""
    table = code_document(data)
    return table.pivot(index="code_id", columns="document_id", values="n_segments") \
        .reindex(index=data.code_ids())


def by_group(data: Data, grouping: str = "department") -> pd.DataFrame:
    """Codes (rows) x groups of interviews (columns): number of segments with the code.

    Args:
        data: See :func:`load`.
        grouping: A metadata column of the interviews sheet (``department``, ``cluster``,
            ``respondent_function``).

    Returns:
        The table; empty when the metadata has no such column.
    """
    if grouping not in data.documents.columns:
        return pd.DataFrame(index=pd.Index(data.code_ids(), name="code_id"))
    groups = data.documents[["document_id", grouping]].copy()
    groups[grouping] = groups[grouping].fillna("(onbekend)").astype(str)
    hits = _counted(data.codings).merge(data.segments[["segment_id", "document_id"]],
                                        on="segment_id").merge(groups, on="document_id")
    table = hits.groupby(["code_id", grouping])["segment_id"].nunique().unstack(fill_value=0)
    columns = sorted(groups[grouping].unique())
    return table.reindex(index=data.code_ids(), columns=columns).fillna(0).astype("int64")


def lessons_figure(data: Data) -> Figure:
    """Bars: segments per code under its theme (the export's ``lessen`` figure)."""
    from pipeline.export.figures import lessons_chart

    return lessons_chart(data.book, code_document(data))


def heatmap_figure(data: Data) -> Figure:
    """Codes x interviews heatmap (the export's ``code_interview`` figure)."""
    from pipeline.export.figures import code_interview_heatmap

    return code_interview_heatmap(data.book, code_document(data))


# --------------------------------------------------------------------------- review


def _turn_texts(segments: pd.DataFrame, seg_ids: list[str]) -> dict[str, str]:
    """The whole turn of each segment, the segment itself marked with »…«."""
    wanted = segments[segments["segment_id"].isin(set(seg_ids))]
    keys = set(zip(wanted["document_id"], wanted["turn_index"], strict=True))
    turns = segments[[k in keys for k in zip(segments["document_id"], segments["turn_index"],
                                              strict=True)]]
    out: dict[str, str] = {}
    for _, turn in turns.sort_values(["document_id", "segment_index"]).groupby(
            ["document_id", "turn_index"], sort=False):
        ids, texts = turn["segment_id"].tolist(), turn["text"].tolist()
        for i, seg_id in enumerate(ids):
            marked = [f"»{t}«" if j == i else t for j, t in enumerate(texts)]
            out[seg_id] = " ".join(marked)
    return out


def review_queue(data: Data, code_id: str, n: int | None = 20,
                 reviewer: str | None = None) -> pd.DataFrame:
    """Automatic codings of one code that are not reviewed yet, most uncertain first.

    Uncertainty is the distance of the embedding score to the code's threshold,
    ``|score - threshold|``; rule-only codings without a score come last. Decisions are read
    from ``reviews.csv`` now, so a decision made a moment ago already counts.

    Args:
        data: See :func:`load`.
        code_id: The code to review.
        n: At most this many rows (None: all).
        reviewer: Only this reviewer's decisions count as reviewed (for a second, independent
            review); None: anyone's.

    Returns:
        A frame with :data:`QUEUE_COLUMNS`; ``turn`` is the whole turn with the segment
        marked »…«.

    Raises:
        CodeerError: ``code_id`` is not in the codebook.
    """
    if code_id not in data.code_ids():
        raise CodeerError(f"code must be one of {data.code_ids()}. Got '{code_id}' instead.")
    rows = data.codings[(data.codings["code_id"] == code_id)
                        & (data.codings["method"] != "human")]
    if reviewer is None:
        rows = rows[rows["status"] == "auto"]
    done = data.reviews(reviewer)
    done = set(done.loc[done["code_id"] == code_id, "segment_id"])
    rows = rows[~rows["segment_id"].isin(done)]
    seg_cols = ["segment_id", "document_id", "speaker", "role", "text", "segment_index"]
    rows = rows.merge(data.segments[seg_cols], on="segment_id", how="inner")
    threshold = thresholds(data)[code_id]
    rows["threshold"] = threshold
    rows["_distance"] = (rows["score"] - threshold).abs()
    rows = rows.sort_values(["_distance", "document_id", "segment_index"],
                            na_position="last", kind="stable")
    if n is not None:
        rows = rows.head(n)
    turns = _turn_texts(data.segments, rows["segment_id"].tolist())
    rows["turn"] = rows["segment_id"].map(turns)
    return rows[list(QUEUE_COLUMNS)].reset_index(drop=True)


def queue_sizes(data: Data, reviewer: str | None = None) -> pd.DataFrame:
    """Per code: automatic codings still to review (see :func:`review_queue`)."""
    rows = [{"code_id": c.id, "code_name": c.name,
             "to_review": len(review_queue(data, c.id, n=None, reviewer=reviewer))}
            for c in data.book.codes]
    return pd.DataFrame(rows)


def decide(out: Path, segment_id: str, code_id: str, decision: str, reviewer: str,
           note: str = "") -> dict:
    """Record one decision (``accept``, ``reject`` or ``add``) in ``OUT/reviews.csv``.

    A thin wrapper over :func:`pipeline.review.record`, the only writer of that file.

    Returns:
        The row as written.

    Raises:
        CodeerError: Unknown decision, empty reviewer or unknown segment.
    """
    return review.record(Path(out), segment_id, code_id, decision, reviewer, note)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.3f}".replace(".", ",")


def review_widget(data: Data, out: Path, code_id: str, reviewer: str, n: int = 10):
    """Buttons to accept or reject the ``n`` most uncertain codings of one code, and a form
    to add a code to any segment.

    Every click records one decision via :func:`decide`; run the cell again for the next
    batch. The widget is built without a running frontend, so its buttons also work from
    code (``button.click()``).

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    code = next((c for c in data.book.codes if c.id == code_id), None)
    if code is None:
        raise CodeerError(f"code must be one of {data.code_ids()}. Got '{code_id}' instead.")
    queue = review_queue(data, code_id, n=n, reviewer=reviewer)
    header = widgets.HTML(
        f"<h3>{html.escape(code.id)} {html.escape(code.name)}</h3>"
        f"<p>{html.escape(code.definition)}</p>"
        f"<p><i>{len(queue)} fragment(en) om te beoordelen door {html.escape(reviewer)}; "
        f"drempel {_fmt(thresholds(data)[code_id])}.</i></p>")
    items = [header]
    for row in queue.itertuples():
        items.append(_excerpt_box(widgets, out, row, code_id, reviewer))
    if queue.empty:
        items.append(widgets.HTML("<p>Niets meer te beoordelen voor deze code.</p>"))
    items.append(_add_box(widgets, data, out, code_id, reviewer))
    return widgets.VBox(items)


def _excerpt_box(widgets, out: Path, row, code_id: str, reviewer: str):
    marked = html.escape(f"»{row.text}«")
    turn = html.escape(row.turn).replace(
        marked, f"<b style='background:#FFF3B0'>{marked}</b>", 1)
    info = (f"<small>{html.escape(str(row.document_id))} · {html.escape(str(row.speaker))} "
            f"({html.escape(str(row.role))}) · score {_fmt(row.score)} · "
            f"{html.escape(str(row.method))} · {html.escape(str(row.evidence))} · "
            f"<code>{html.escape(row.segment_id)}</code></small>")
    accept = widgets.Button(description="Accepteren", button_style="success", icon="check")
    reject = widgets.Button(description="Afwijzen", button_style="danger", icon="times")
    note = widgets.Text(placeholder="notitie (optioneel)")
    status = widgets.HTML("")

    def on_click(decision: str):
        def handler(_button) -> None:
            try:
                decide(out, row.segment_id, code_id, decision, reviewer, note.value)
            except CodeerError as exc:
                status.value = f"<span style='color:#B00020'>{html.escape(str(exc))}</span>"
                return
            accept.disabled = reject.disabled = note.disabled = True
            status.value = f"<b>{DECISION_NAMES[decision]}</b> door {html.escape(reviewer)}"
        return handler

    accept.on_click(on_click("accept"))
    reject.on_click(on_click("reject"))
    return widgets.VBox([
        widgets.HTML(f"<p>{turn}</p>{info}"),
        widgets.HBox([accept, reject, note, status]),
    ], layout=widgets.Layout(border="1px solid #DDDDDD", padding="4px", margin="4px 0"))


def _add_box(widgets, data: Data, out: Path, code_id: str, reviewer: str):
    segment = widgets.Text(placeholder="segment_id", description="Segment:")
    code = widgets.Dropdown(options=[(f"{c.id} {c.name}", c.id) for c in data.book.codes],
                            value=code_id, description="Code:")
    note = widgets.Text(placeholder="notitie (optioneel)")
    button = widgets.Button(description="Code toevoegen", icon="plus")
    status = widgets.HTML("")

    def on_add(_button) -> None:
        seg_id = segment.value.strip()
        try:
            decide(out, seg_id, code.value, "add", reviewer, note.value)
        except CodeerError as exc:
            status.value = f"<span style='color:#B00020'>{html.escape(str(exc))}</span>"
            return
        status.value = (f"<b>{html.escape(code.value)} toegevoegd</b> aan "
                        f"<code>{html.escape(seg_id)}</code> door {html.escape(reviewer)}")
        segment.value = note.value = ""

    button.on_click(on_add)
    return widgets.VBox([
        widgets.HTML("<h4>Een code toevoegen die de coder miste</h4>"),
        widgets.HBox([segment, code]), widgets.HBox([note, button]), status,
    ])


# --------------------------------------------------------------------------- memos


def write_memo(out: Path, text: str, author: str, about: str = "project", target: str = "",
               data: Data | None = None) -> dict:
    """Write one memo to ``OUT/memos.csv`` (append-only; see :mod:`pipeline.review.memos`).

    Args:
        out: The output folder.
        text: The memo.
        author: Name or initials.
        about: ``passage``, ``document``, ``code`` or ``project``.
        target: Segment id or text of one segment (passage), document id, or code id.
        data: The loaded data, to check a code id against the codebook.

    Returns:
        The row as written.

    Raises:
        CodeerError: Empty text or author, or a target that does not exist.
    """
    from pipeline.review import memos

    known = set(data.code_ids()) if data is not None else None
    return memos.add(Path(out), text, author, about, target, known)


def memo_box(data: Data, out: Path, author: str):
    """A form to write a memo about a passage, an interview, a code or the project.

    Every click on *Memo opslaan* appends one memo via :func:`write_memo`; the box also lists
    the memos written so far.

    Returns:
        An ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    from pipeline.review import memos

    about = widgets.Dropdown(options=[("het project", "project"), ("een passage", "passage"),
                                      ("een interview", "document"), ("een code", "code")],
                             value="project", description="Over:")
    target = widgets.Text(placeholder="segment-id of tekst / interview-id / code-id",
                          description="Welke:")
    text = widgets.Textarea(placeholder="je memo", layout=widgets.Layout(width="100%"))
    button = widgets.Button(description="Memo opslaan", icon="pencil")
    status = widgets.HTML("")
    listing = widgets.HTML("")

    def show() -> None:
        log = memos.read_memos(out)
        rows = "".join(
            f"<li><small>{html.escape(str(m['timestamp'])[:16])} · "
            f"{html.escape(str(m['author']))} · {html.escape(str(m['about']))}"
            f"{' ' + html.escape(str(m['target'])) if m['target'] else ''}</small><br>"
            f"{html.escape(str(m['text']))}</li>"
            for m in log.tail(10).to_dict("records"))
        listing.value = f"<ul>{rows}</ul>" if rows else "<p><i>Nog geen memo's.</i></p>"

    def on_save(_button) -> None:
        try:
            row = write_memo(out, text.value, author, about.value, target.value, data)
        except CodeerError as exc:
            status.value = f"<span style='color:#B00020'>{html.escape(str(exc))}</span>"
            return
        status.value = (f"<b>Memo opgeslagen</b> ({html.escape(row['about'])}"
                        f"{' ' + html.escape(row['target']) if row['target'] else ''}) door "
                        f"{html.escape(author)}")
        text.value = ""
        show()

    button.on_click(on_save)
    show()
    return widgets.VBox([widgets.HTML("<h4>Memo schrijven</h4>"), widgets.HBox([about, target]),
                         text, widgets.HBox([button, status]), listing])


# --------------------------------------------------------------------------- agreement


def agreement_tables(out: Path, codebook: Path) -> dict[str, tuple[pd.DataFrame, dict]]:
    """Agreement of the automatic codes with the reviewers, and between reviewers.

    Uses :func:`pipeline.review.agreement.review_agreement`; unlike ``codeer evaluate --reviews`` it
    writes nothing (notebooks only read).

    Returns:
        ``{"auto_vs_review": (table, pooled), "<a>_vs_<b>": ...}``; empty without decisions.
        Each table has the columns of :func:`pipeline.review.agreement.agreement_arrays` and, after
        ``code_id``, ``reviewed``: the number of (segment, code) pairs compared.
    """
    from pipeline.review.agreement import review_agreement

    book, _ = load_codebook(codebook)
    reviews = review.read_reviews(Path(out), {c.id for c in book.codes})
    if reviews.empty:
        return {}
    codings = storage.read_table(Path(out) / config.CODINGS_FILE, schema.CODINGS)
    results = review_agreement(codings, reviews, [c.id for c in book.codes])
    latest = review.latest_decisions(reviews)
    counted = {"auto_vs_review": latest.groupby("code_id").size()}
    for name in results:
        if name == "auto_vs_review":
            continue
        # Reviewer names may hold "_vs_" themselves; find the pair that names this result.
        names = sorted(r for r in reviews["reviewer"].unique() if r)
        pair = next(((a, b) for a in names for b in names if f"{a}_vs_{b}" == name), None)
        if pair is None:
            continue
        keys = [set(zip(d["segment_id"], d["code_id"], strict=True))
                for d in (review.latest_decisions(reviews, r) for r in pair)]
        both = pd.DataFrame(sorted(keys[0] & keys[1]), columns=["segment_id", "code_id"])
        counted[name] = both.groupby("code_id").size()
    for name, (table, _pooled) in results.items():
        if name in counted:
            n = table["code_id"].map(counted[name]).fillna(0).astype("int64")
            table.insert(1, "reviewed", n)
    return results


def threshold_curves(out: Path, codebook: Path) -> dict[str, pd.DataFrame]:
    """Precision, recall, F1 and kappa against the threshold, per reviewed code.

    Computed by :func:`pipeline.review.calibrate.threshold_curve` over the reviewed pairs
    (:func:`pipeline.review.calibrate.reviewed_scores`); codes with fewer than two reviewed pairs
    are left out.

    Returns:
        ``{code_id: curve}`` in codebook order; empty without decisions.
    """
    from pipeline.review import calibrate

    book, by_code = _reviewed(out, codebook)
    return {c.id: calibrate.threshold_curve(by_code[c.id]) for c in book.codes
            if c.id in by_code and len(by_code[c.id].truth) >= 2}


_REVIEWED_MEMO: dict[tuple, tuple[Codebook, dict]] = {}


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _reviewed(out: Path, codebook: Path) -> tuple[Codebook, dict]:
    """Reviewed scores per code; remembered while the review log, codebook and segments stay
    the same (scoring loads spaCy and the embedding cache, which takes a while)."""
    from pipeline.review import calibrate

    out, codebook = Path(out).resolve(), Path(codebook).resolve()
    key = (out, codebook, _stamp(out / config.REVIEWS_FILE), _stamp(codebook),
           _stamp(out / config.SEGMENTS_FILE))
    if key in _REVIEWED_MEMO:
        return _REVIEWED_MEMO[key]
    book, _ = load_codebook(codebook)
    if review.read_reviews(out, {c.id for c in book.codes}).empty:
        return book, {}
    scores = calibrate.reviewed_scores(out, codebook)
    _REVIEWED_MEMO.clear()
    _REVIEWED_MEMO[key] = (book, {rs.code_id: rs for rs in scores})
    return _REVIEWED_MEMO[key]


def calibration_preview(out: Path, codebook: Path, metric: str = "f1") -> pd.DataFrame:
    """What ``codeer calibrate`` would choose now, per reviewed code, without writing anything.

    Returns:
        One row per reviewed code: ``code_id``, the codebook's threshold (``default``), the
        ``threshold`` calibration would choose, ``calibrated`` (False: too few decisions,
        see ``reason``), the numbers of ``reviewed`` pairs and ``positives``, and F1 at both
        thresholds.
    """
    from pipeline.review import calibrate

    book, by_code = _reviewed(out, codebook)
    rows = []
    for code in book.codes:
        if code.id in by_code:
            entry = calibrate.choose_threshold(by_code[code.id], book.threshold_of(code), metric)
            rows.append({"code_id": code.id, **entry})
    columns = ["code_id", "default", "threshold", "calibrated", "reviewed", "positives",
               "f1_default", "f1_calibrated", "reason"]
    return pd.DataFrame(rows).reindex(columns=columns)


def threshold_figure(curves: dict[str, pd.DataFrame], current: dict[str, float],
                     columns: int = 2) -> Figure | None:
    """One small plot per code: F1, precision and recall against the threshold.

    Args:
        curves: See :func:`threshold_curves`.
        current: The threshold in effect per code (see :func:`thresholds`), drawn as a
            dashed line.
        columns: Plots per row.

    Returns:
        The figure, or None without curves.
    """
    from matplotlib.figure import Figure

    if not curves:
        return None
    columns = max(1, min(columns, len(curves)))
    rows = math.ceil(len(curves) / columns)
    fig = Figure(figsize=(4.2 * columns, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    styles = {"f1": ("F1", "#000000", "-"), "precision": ("precisie", "#0072B2", "--"),
              "recall": ("recall", "#D55E00", ":")}
    for ax, (code_id, curve) in zip(axes, curves.items(), strict=False):
        for col, (label, color, style) in styles.items():
            ax.step(curve["threshold"], curve[col], where="post", label=label, color=color,
                    linestyle=style)
        # The curve runs from -1 to 1; show the reviewed scores and the current threshold.
        th = current.get(code_id)
        inner = curve.loc[curve["threshold"].abs() < 1, "threshold"].tolist()
        span = inner + ([th] if th is not None else [])
        if span:
            pad = max(0.02, 0.1 * (max(span) - min(span)))
            ax.set_xlim(max(-1.0, min(span) - pad), min(1.0, max(span) + pad))
        if th is not None:
            ax.axvline(th, color="#999999", linestyle="--", linewidth=1)
            ax.annotate(f"nu {th:.2f}".replace(".", ","), (th, 1.02), ha="center",
                        fontsize=8, color="#555555", xycoords=("data", "axes fraction"))
        ax.set_ylim(-0.02, 1.05)
        ax.set_title(code_id, loc="left", fontsize=10)
        ax.set_xlabel("drempel (score)")
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    return fig
