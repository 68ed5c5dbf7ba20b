"""When a coding was made: recorded by `codeer code`, kept while the coding stays, used by the
REFI-QDA export (issue 15: no more 2000-01-01 for automatic codings)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline import config, schema
from pipeline.coding.command import stamp_coded_at
from pipeline.errors import CodeerError

# Two sentences of the Signalen interview (tests/data/corpora/signalen, EUPL-1.2) as evidence.
EVIDENCE = "lijkt op: “We hebben de melders vanaf het begin laten meedenken.”"
NOW = datetime(2026, 12, 1, 15, 0, 0, tzinfo=UTC)


def _codings(rows: list[tuple]) -> pd.DataFrame:
    return schema.CODINGS.conform(pd.DataFrame(
        [{"segment_id": s, "code_id": c, "method": m, "score": 0.7, "evidence": e,
          "status": "auto" if m != "human" else "accepted", "reviewer": None,
          "reviewed_at": None, "codebook_sha256": "x", "model_id": "m", "coded_at": at}
         for s, c, m, e, at in rows]))


@pytest.mark.parametrize("previous, current, expected", [
    # no earlier run: every automatic coding gets this run's time
    (None, ("s1", "L1", "embedding", EVIDENCE), "2026-12-01T15:00:00+00:00"),
    # the same coding as last time keeps its date
    (("s1", "L1", "embedding", EVIDENCE, "2026-11-02T09:30:00+00:00"),
     ("s1", "L1", "embedding", EVIDENCE), "2026-11-02T09:30:00+00:00"),
    # another code on the same sentence is a new coding
    (("s1", "L1", "embedding", EVIDENCE, "2026-11-02T09:30:00+00:00"),
     ("s1", "L2", "embedding", EVIDENCE), "2026-12-01T15:00:00+00:00"),
    # found another way now (a rule as well): made anew
    (("s1", "L1", "embedding", EVIDENCE, "2026-11-02T09:30:00+00:00"),
     ("s1", "L1", "both", "regel melder: melders | " + EVIDENCE), "2026-12-01T15:00:00+00:00"),
    # a researcher's own coding has no machine date (reviewed_at dates it)
    (None, ("s1", "L1", "human", ""), None),
])
def test_coded_at_is_when_the_coding_was_first_made(previous, current, expected):
    before = _codings([previous]) if previous else None
    stamped = stamp_coded_at(_codings([(*current, None)]), before, NOW)
    got = stamped["coded_at"].iloc[0]
    assert (None if pd.isna(got) else got) == expected
    schema.CODINGS.conform(stamped)  # still the contract


def test_run_time_honours_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert config.run_time() == datetime(2026, 1, 1, tzinfo=UTC)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    now = config.run_time()
    assert now.tzinfo is UTC and now.microsecond == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "gisteren")
    with pytest.raises(CodeerError, match="SOURCE_DATE_EPOCH moet een geheel aantal seconden "
                                          "sinds 1970-01-01 UTC zijn. Gevonden: 'gisteren'."):
        config.run_time()


def test_a_rerun_that_changes_nothing_dates_nothing_anew(tmp_path, monkeypatch):
    """`codeer code --rules-only` twice on a demo interview: the second run, a month later,
    keeps the first run's dates, so its exports are the same bytes."""
    import shutil

    from pipeline import storage
    from pipeline.coding import command as code
    from pipeline.ingest import command as ingest
    from tests.conftest import CODEBOOK, DEMO_RAW

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(DEMO_RAW / "int02.txt", raw)
    out = tmp_path / "out"
    ingest.run(raw, out, progress=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764601200")  # 2025-12-01 15:00 UTC
    first = code.run(out, CODEBOOK, rules_only=True, progress=False)
    assert len(first) > 0 and set(first["coded_at"]) == {"2025-12-01T15:00:00+00:00"}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767279600")  # a month later
    second = code.run(out, CODEBOOK, rules_only=True, progress=False)
    assert second["coded_at"].tolist() == first["coded_at"].tolist()
    assert storage.read_table(out / config.CODINGS_FILE, schema.CODINGS).equals(second)
