"""The Excel workbook: a ``toelichting`` sheet that explains every column, then one sheet per
table."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.export.tables import TABLES

log = logging.getLogger("codeer")

NOTES_SHEET = "toelichting"

# --------------------------------------------------------------------------- workbook


def notes_rows(tables: dict[str, pd.DataFrame], notes: Sequence[str]) -> list[tuple[str, str, str]]:
    """Rows of the ``toelichting`` sheet: general notes, then every sheet and its columns."""
    rows = [("(algemeen)", "", n) for n in notes]
    for name in TABLES:
        if name not in tables:
            continue
        description, cols = TABLES[name]
        rows.append((name, "", description))
        rows += [(name, col, text) for col, text in cols.items()]
    return rows


def workbook_bytes(tables: dict[str, pd.DataFrame], notes: Sequence[str]) -> bytes:
    """One ``.xlsx`` with a ``toelichting`` sheet first and one sheet per table."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    def cell_value(v: Any) -> Any:
        if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
            return None
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, str):
            return ILLEGAL_CHARACTERS_RE.sub("", v)
        return v

    wb = Workbook()
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    ws = wb.active
    ws.title = NOTES_SHEET
    ws.append(["blad", "kolom", "toelichting"])
    for row in notes_rows(tables, notes):
        ws.append(list(row))
        if not row[1]:
            for c in ws[ws.max_row]:
                c.font = bold
    for c in ws[1]:
        c.font = bold
    for letter, width in zip("ABC", (22, 24, 110), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        row[0].alignment = wrap
    ws.freeze_panes = "A2"

    wide = {"text": 60, "text_in_context": 90, "evidence": 40, "keywords": 50, "label": 30,
            "code_name": 34, "code_name_a": 34, "code_name_b": 34, "best_code_name": 34,
            "group": 30, "department": 26, "respondent_function": 28, "interviews": 30}
    for name, df in tables.items():
        sheet = wb.create_sheet(name)
        sheet.append(list(df.columns))
        for c in sheet[1]:
            c.font = bold
        for record in df.itertuples(index=False):
            sheet.append([cell_value(v) for v in record])
        for i, col in enumerate(df.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = wide.get(
                col, max(10, min(24, len(col) + 2))
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
    wb.save(buffer)
    return buffer.getvalue()

