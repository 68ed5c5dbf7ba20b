"""Gold standard from the seed note's own structure: every sentence under "Les N" is lesson N.

The note's author coded it by writing it: the text between the heading "Les N: ..." and the
next lesson heading (or the end of the lessons) belongs to lesson N. The introduction, the
theme introductions ("2.2 In het etablissement") and the reflection carry no gold code.
"""

from __future__ import annotations

import re

END_MARKERS = {4: "2.2 In het etablissement", 8: "Deze acht lessen"}


def seed_gold(text: str, document: str) -> list[dict]:
    """Gold rows ``document, start, end, codes`` for the eight lesson sections of ``text``."""
    heads = {int(m.group(1)): m.start() for m in re.finditer(r"Les (\d): ", text)}
    assert sorted(heads) == list(range(1, 9)), f"lesson headings found: {sorted(heads)}"
    rows = []
    for n in range(1, 9):
        start = heads[n]
        marker = END_MARKERS.get(n)
        end = text.index(marker, start) if marker else heads[n + 1]
        rows.append({"document": document, "start": start, "end": end, "codes": f"L{n}"})
    return rows


def write_gold_csv(rows: list[dict], path) -> None:
    """Write gold rows as the CSV that ``codeer evaluate --gold`` reads."""
    lines = ["document,start,end,codes"]
    lines += [f"{r['document']},{r['start']},{r['end']},{r['codes']}" for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
