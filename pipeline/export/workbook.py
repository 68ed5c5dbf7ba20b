"""The Excel workbook: a ``toelichting`` sheet that explains every column, then one sheet per
table.

The workbook is what researchers read: headers in plain words and vocabulary values by their
Dutch names (:mod:`pipeline.i18n`, :mod:`pipeline.vocab`). The CSV files hold the same tables
with their machine-readable column names and values.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from pipeline.export.tables import TABLES, label
from pipeline.i18n import SOURCE_LANGUAGE, gettext, language
from pipeline.vocab import (
    DECISION_NAMES,
    MEMO_TARGET_NAMES,
    METHOD_NAMES,
    ROLE_NAMES,
    STATUS_NAMES,
)

log = logging.getLogger("codeer")

NOTES_SHEET = "toelichting"

#: Columns whose values are a closed vocabulary (:mod:`pipeline.vocab`): shown by their Dutch
#: names in the workbook, kept as the values in the CSV files.
VALUE_NAMES: dict[str, dict[str, str]] = {
    "role": ROLE_NAMES,
    "method": METHOD_NAMES,
    "status": STATUS_NAMES,
    "decision": DECISION_NAMES,
    "about": MEMO_TARGET_NAMES,
}

# --------------------------------------------------------------------------- workbook


def csv_note() -> str:
    """The general note that the CSV files keep their machine-readable names and values."""
    return gettext(
        "The CSV files in tables/ hold the same tables with machine-readable English column "
        "names and values: other tools and `codeer import` read them, so do not rename them. "
        "The column 'column in the CSV file' below gives each name; the values of role, how "
        "coded, review status and about are English there (e.g. 'embedding' for 'model', "
        "'accepted', 'rejected')."
    )


def notes_rows(tables: dict[str, pd.DataFrame],
               notes: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """Rows of the ``toelichting`` sheet: general notes, then every sheet and its columns as
    (sheet, header in the workbook, column in the CSV file, explanation)."""
    general = gettext("(general)")
    rows = [(general, "", "", n) for n in [*notes, csv_note()]]
    for name in TABLES:
        if name not in tables:
            continue
        description, cols = TABLES[name]
        rows.append((name, "", "", description))
        rows += [(name, label(col), col, text) for col, text in cols.items()]
    return rows


def shown_values(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the values of vocabulary columns (role, method, status, decision, about) and
    of ``grouping`` by their names in the current language; English keeps the values."""
    if language() == SOURCE_LANGUAGE:
        return df
    out = df.copy()
    for col, names in VALUE_NAMES.items():
        if col in out.columns:
            out[col] = out[col].map(lambda v, n=names: n.get(v, v) if isinstance(v, str) else v)
    if "grouping" in out.columns:
        out["grouping"] = out["grouping"].map(lambda v: label(v) if isinstance(v, str) else v)
    return out


# Characters XML cannot hold besides openpyxl's ILLEGAL_CHARACTERS_RE (C0 controls): lone
# surrogates and the noncharacters U+FFFE/U+FFFF. Ingest replaces them already; a text from
# elsewhere (a codebook, a theme label) must not stop the export either.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")
# Written into the workbook's properties and every zip entry, so that two runs on the same
# data give the same bytes (openpyxl and zipfile would write the current time).
FIXED_TIME = datetime(2000, 1, 1)


def workbook_bytes(tables: dict[str, pd.DataFrame], notes: Sequence[str],
                   created: datetime | None = None) -> bytes:
    """One ``.xlsx`` with a ``toelichting`` sheet first and one sheet per table.

    Args:
        tables: The sheets, by name.
        notes: General notes for the ``toelichting`` sheet.
        created: The time written as the workbook's created and modified time (UTC);
            :data:`FIXED_TIME` when None. The same inputs always give the same bytes.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    def cell_value(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
            return None
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, str):
            return _NOT_XML.sub("\ufffd", ILLEGAL_CHARACTERS_RE.sub("", v))
        return v

    wb = Workbook()
    when = (created or FIXED_TIME).replace(microsecond=0)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = when
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws = wb.active
    ws.title = NOTES_SHEET
    ws.append([gettext("sheet"), gettext("column"), gettext("column in the CSV file"),
               gettext("explanation")])
    for row in notes_rows(tables, notes):
        ws.append(list(row))
        if not row[1]:
            for c in ws[ws.max_row]:
                c.font = bold
    for c in ws[1]:
        c.font = bold
    for letter, width in zip("ABCD", (22, 26, 22, 110), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2, min_col=4, max_col=4):
        row[0].alignment = wrap
    ws.freeze_panes = "A2"

    wide = {"text": 60, "text_in_context": 90, "evidence": 40, "keywords": 50, "label": 30,
            "code_name": 34, "code_name_a": 34, "code_name_b": 34, "best_code_name": 34,
            "group": 30, "department": 26, "respondent_function": 28, "interviews": 30}
    for name, df in tables.items():
        sheet = wb.create_sheet(name)
        sheet.append([label(c) for c in df.columns])
        df = shown_values(df)
        for c in sheet[1]:
            c.font = bold
        for record in df.itertuples(index=False):
            sheet.append([cell_value(v) for v in record])
        for i, col in enumerate(df.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = wide.get(
                col, max(10, min(24, len(label(col)) + 2))
            )
        for col in ("text", "text_in_context"):
            if col in df.columns:
                idx = list(df.columns).index(col) + 1
                for row in sheet.iter_rows(min_row=2, min_col=idx, max_col=idx):
                    row[0].alignment = wrap
        # Text that starts with '=' is text, not a formula.
        for row in sheet.iter_rows(min_row=2):
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    c.data_type = "s"
        sheet.freeze_panes = "A2"
        if len(df.columns):
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(1, len(df) + 1)}"
    buffer = io.BytesIO()
    # openpyxl's ExcelWriter into a zip that dates its entries at ``when`` (wb.save would set
    # the modified time to now).
    with _DatedZip(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.date_time = when.timetuple()[:6]
        ExcelWriter(wb, archive).save()
    return buffer.getvalue()


class _DatedZip(zipfile.ZipFile):
    """A zip file whose entries carry :attr:`date_time`, not the clock or a file's mtime."""

    date_time: tuple[int, int, int, int, int, int] = FIXED_TIME.timetuple()[:6]

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.date_time)
            zinfo_or_arcname.compress_type = self.compression
            zinfo_or_arcname.external_attr = 0o600 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        # openpyxl writes each worksheet to a temporary file first: date it too
        with open(filename, "rb") as fh:
            data = fh.read()
        self.writestr(arcname or os.path.basename(filename), data, compress_type, compresslevel)

