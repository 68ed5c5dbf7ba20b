"""Messages of the review stage go through the catalogue: Dutch by default, English with
``CODEER_LANG=en``, with the file, the line and the fix in both."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.errors import CodeerError
from pipeline.i18n import ENV
from pipeline.review import caqdas_import, decisions, memos
from pipeline.review.agreement import kappa_words, read_gold
from pipeline.review.gold import read_any_gold

HEADER = "segment_id,code_id,decision,reviewer,timestamp,note\n"
SEGMENTS = pd.DataFrame({
    "segment_id": ["s1", "s2"],
    "text": ["We willen één loket voor alle vragen van inwoners.",
             "Het loket is er, maar de vragen komen nog steeds via de wethouder."]})
DOCUMENTS = pd.DataFrame({
    "document_id": ["int01"], "source_path": ["raw/int01.txt"],
    "text": ["Interviewer: Wat wilde u bereiken?\nRespondent: Eén loket voor alle vragen."]})


def _message(action) -> str:
    """The text a researcher reads: a refused input's message, or the first reported issue."""
    try:
        result = action()
    except CodeerError as exc:
        return str(exc)
    return str(result)


def _review_row(tmp_path):
    text = HEADER + "s1,L3,accept,an,27-11-2026 10u,\n"
    return decisions.parse_reviews(text, {"L3"})[1][0]


def _gold_cp1252(tmp_path):
    path = tmp_path / "gold.csv"
    path.write_bytes("document,text,codes\nint01,één loket,L1\n".encode("cp1252"))
    return read_gold(path, DOCUMENTS)


def _gold_jsonl(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"file": "int01.txt", "para": 0, "codes": ["L1"]}) + "\n"
                    "{niet af\n", encoding="utf-8")
    return read_any_gold(path, DOCUMENTS)


def _memo_row(tmp_path):
    text = ",".join(memos.COLUMNS) + "\n2025-03-01T09:30:00,anna,roman,,Verkeerd soort.\n"
    return memos.parse_memos(text)[1][0]


CASES = [
    (_review_row,
     "reviews.csv regel 2: timestamp moet ISO 8601 zijn, zoals 2026-11-27T14:05:00. Gevonden: "
     "'27-11-2026 10u'; overgeslagen.",
     "reviews.csv line 2: timestamp must be ISO 8601, like 2026-11-27T14:05:00. Got "
     "'27-11-2026 10u' instead; skipped."),
    (_gold_cp1252,
     "gold.csv regel 2: moet UTF-8-tekst zijn. Gevonden: byte 0xe9. Sla de gouden standaard op "
     "als UTF-8 (in Excel: CSV UTF-8).",
     "gold.csv line 2: must be UTF-8 text. Got byte 0xe9 instead. Save the gold file as UTF-8 "
     "(in Excel: CSV UTF-8)."),
    (_gold_jsonl,
     "gold.jsonl regel 2 moet één JSON-object zijn. Gevonden: een fout (Expecting property "
     "name enclosed in double quotes).",
     "gold.jsonl line 2 must be one JSON object. Got an error instead: Expecting property name "
     "enclosed in double quotes."),
    (_memo_row,
     "memos.csv regel 2: about moet een van ['passage', 'document', 'code', 'project'] zijn. "
     "Gevonden: 'roman'; overgeslagen.",
     "memos.csv line 2: about must be one of ['passage', 'document', 'code', 'project']. Got "
     "'roman' instead; skipped."),
    (lambda _tmp: memos.resolve_passage(SEGMENTS, "het stadhuis"),
     "--passage moet een segment-id of tekst uit één segment zijn. Gevonden: 'het stadhuis', "
     "dat in geen enkel segment staat; kopieer het precies uit het transcript of gebruik het "
     "segment-id.",
     "--passage must be a segment id or text from one segment. Got 'het stadhuis', which no "
     "segment holds; copy it exactly from the transcript or use the segment id."),
    (lambda _tmp: memos.resolve_passage(SEGMENTS, "loket"),
     "--passage moet één segment aanwijzen. Gevonden: tekst die in 2 segmenten staat "
     "(bijvoorbeeld ['s1', 's2']); gebruik een langer stuk of het segment-id.",
     "--passage must name one segment. Got text that 2 segments hold (e.g. ['s1', 's2']); use "
     "a longer piece or the segment id."),
    (lambda _tmp: caqdas_import.read_qdpx(b"geen zip", "interviews.qdpx"),
     "interviews.qdpx moet een REFI-QDA-project zijn (.qdpx, een zipbestand). Gevonden: een "
     "bestand dat geen zip is (File is not a zip file). Exporteer het project uit het "
     "QDA-programma als REFI-QDA-project.",
     "interviews.qdpx must be a REFI-QDA project (.qdpx, a zip file). Got a file that is no zip "
     "instead (File is not a zip file). Export the project from the CAQDAS as REFI-QDA "
     "project."),
    (lambda _tmp: kappa_words(0.55), "matige overeenstemming", "moderate agreement"),
]


@pytest.mark.parametrize("action, dutch, english", CASES,
                         ids=["review-row", "gold-cp1252", "gold-jsonl", "memo-row",
                              "passage-nowhere", "passage-twice", "qdpx-no-zip", "kappa"])
def test_messages_are_dutch_by_default_and_english_on_request(monkeypatch, tmp_path, action,
                                                             dutch, english):
    monkeypatch.delenv(ENV, raising=False)
    assert _message(lambda: action(tmp_path)) == dutch
    monkeypatch.setenv(ENV, "en")
    assert _message(lambda: action(tmp_path)) == english
