"""Measure the coder on development sets coded by two blind coders (developer tooling).

The development sets (paragraphs of real Dutch texts coded for L1-L8, one JSON object per line
with ``file``, ``para``, ``codes``) and their texts are not in the repository; point at them:

    python -m bench.dev_check --gold DEV.jsonl --texts FOLDER [--gold DEV2.jsonl --texts F2]
        [--json OUT.json] [--curve]

For every gold file it ingests the texts the gold names (into a scratch folder), codes them
without reviews, and reports per paragraph (a paragraph has a code when any of its sentences
has it): pooled Cohen's kappa over paragraph x code, precision, recall, the false-positive rate
(share of paragraphs without a lesson that got a code) and the "any lesson" ROC AUC of the best
probability. Then, per held-out document, a researcher simulated on the OTHER documents reviews
them in full (accepts, rejects and adds per paragraph, see
:func:`pipeline.review.learning.simulate_full_review`); the coder is retrained from those
decisions and measured on the held-out document; the held-out paragraphs of all folds are
pooled. ``--train-sizes 2,3`` also reviews k documents and measures the rest (every split).
``--curve`` adds the learning curve of ``codeer evaluate --learning-curve``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

LESSONS = [f"L{i}" for i in range(1, 9)]


def _ingest(gold: Path, texts: Path, work: Path) -> Path:
    from pipeline.ingest import command as ingest

    names = {Path(json.loads(line)["file"]).name for line in gold.read_text("utf-8").splitlines()
             if line.strip()}
    raw = work / "raw"
    raw.mkdir(parents=True)
    for name in sorted(names):
        found = sorted(texts.rglob(name))
        if not found:
            raise SystemExit(f"{name} (named in {gold}) is not under {texts}")
        shutil.copyfile(found[0], raw / name)
    out = work / "out"
    ingest.run(raw, out, progress=False)
    return out


def _auc_any(target: pd.DataFrame, gold: pd.DataFrame, probs: np.ndarray,
             code_ids: list[str]) -> float:
    from sklearn.metrics import roc_auc_score

    from pipeline.review.gold import passage_members

    col = [code_ids.index(c) for c in LESSONS if c in code_ids]
    row_of = {s: i for i, s in enumerate(target["segment_id"])}
    y, s = [], []
    for row, members in zip(gold.itertuples(), passage_members(target, gold), strict=True):
        if not members:
            continue
        y.append(bool(set(row.codes) & set(LESSONS)))
        s.append(max(float(probs[row_of[m], col].max()) for m in members))
    return float(roc_auc_score(y, s)) if 0 < sum(y) < len(y) else float("nan")


def _figures(pooled: dict) -> dict:
    return {k: round(float(pooled[k]), 3) for k in
            ("kappa", "precision", "recall", "f1", "false_positive_rate")} | {
        "passages": int(pooled["passages"])}


def measure(gold_path: Path, texts: Path, codebook: Path, train_sizes: tuple[int, ...],
            curve: bool) -> dict:
    from pipeline import config, schema, storage
    from pipeline.coding import coder
    from pipeline.coding.codebook import load_codebook
    from pipeline.models.cache import EmbeddingCache
    from pipeline.review.gold import passage_agreement, read_any_gold
    from pipeline.review.learning import learning_curve, simulate_full_review

    work = Path(tempfile.mkdtemp(prefix="codeer-dev-"))
    try:
        out = _ingest(gold_path, texts, work)
        book, sha = load_codebook(codebook)
        code_ids = [c.id for c in book.codes]
        documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
        segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
        target = coder.select_scope(segments, book.defaults.scope)
        gold = read_any_gold(gold_path, documents)
        cache = EmbeddingCache(config.cache_dir(out))
        prepared = coder.prepare(target, segments, documents, book, cache)
        cache.save()
        thresholds = {c: book.threshold_of(next(x for x in book.codes if x.id == c))
                      for c in code_ids}

        def predicted(scores) -> dict[str, set[str]]:
            limits = np.array([thresholds[c] for c in code_ids])
            pred: dict[str, set[str]] = {}
            for i, j in zip(*np.nonzero(scores.probabilities >= limits), strict=True):
                pred.setdefault(target["segment_id"].iloc[i], set()).add(code_ids[j])
            return pred

        empty = simulate_full_review(target, pd.DataFrame(columns=["segment_id", "code_id",
                                                                   "method"]),
                                     gold.iloc[0:0], set(), code_ids)
        base = coder.score(prepared, target, empty)
        first = coder.code_segments(target, book, sha, base, "", thresholds)
        _, pooled = passage_agreement(target, gold, predicted(base), LESSONS)
        result = {"gold": gold_path.name, "documents": int(gold["document_id"].nunique()),
                  "no_reviews": _figures(pooled) | {
                      "auc_any": round(_auc_any(target, gold, base.probabilities, code_ids),
                                       3)}}
        docs = sorted(gold["document_id"].unique())
        sizes = sorted({len(docs) - 1, *[k for k in train_sizes if k < len(docs)]})
        for k in sizes:
            pooled_pred: dict[str, set[str]] = {}
            runs, probs_rows = [], []
            splits = ([tuple(d for d in docs if d != held) for held in docs]
                      if k == len(docs) - 1 else list(itertools.combinations(docs, k)))
            for reviewed in splits:
                held = [d for d in docs if d not in reviewed]
                decisions = simulate_full_review(target, first, gold, set(reviewed), code_ids)
                scores = coder.score(prepared, target, decisions)
                pred = predicted(scores)
                test = target[target["document_id"].isin(held)]
                test_gold = gold[gold["document_id"].isin(held)]
                _, fold = passage_agreement(test, test_gold, pred, LESSONS)
                runs.append(_figures(fold) | {"reviewed": list(reviewed),
                                              "decisions": len(decisions)})
                if k == len(docs) - 1:
                    pooled_pred.update({s: pred.get(s, set()) for s in test["segment_id"]})
                    probs_rows.append(pd.DataFrame(scores.probabilities[
                        target["document_id"].isin(held).to_numpy()],
                        index=test["segment_id"]))
            entry = {"splits": len(runs),
                     "mean": {m: round(float(np.nanmean([r[m] for r in runs])), 3)
                              for m in ("kappa", "precision", "recall", "false_positive_rate")},
                     "min_kappa": round(min(r["kappa"] for r in runs), 3),
                     "max_kappa": round(max(r["kappa"] for r in runs), 3), "runs": runs}
            if k == len(docs) - 1:
                _, pooled = passage_agreement(target, gold, pooled_pred, LESSONS)
                probs = pd.concat(probs_rows).reindex(target["segment_id"]).fillna(0).to_numpy()
                entry["pooled_held_out"] = _figures(pooled) | {
                    "auc_any": round(_auc_any(target, gold, probs, code_ids), 3)}
            result[f"review_{k}_of_{len(docs)}"] = entry
        if curve:
            table = learning_curve(prepared, target, gold, LESSONS, thresholds)
            result["learning_curve"] = table[table["fold"] == "alle"].round(3).to_dict("records")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dev_check", description=__doc__)
    parser.add_argument("--gold", type=Path, action="append", required=True)
    parser.add_argument("--texts", type=Path, action="append", required=True)
    parser.add_argument("--codebook", type=Path, default=Path("codebook.yaml"))
    parser.add_argument("--train-sizes", default="")
    parser.add_argument("--curve", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if len(args.gold) != len(args.texts):
        parser.error("every --gold needs its --texts folder")
    sizes = tuple(int(x) for x in args.train_sizes.split(",") if x.strip())
    results = []
    for gold, texts in zip(args.gold, args.texts, strict=True):
        res = measure(gold, texts, args.codebook, sizes, args.curve)
        results.append(res)
        brief = {k: v for k, v in res.items() if k not in ("learning_curve",)}
        for v in brief.values():
            if isinstance(v, dict):
                v.pop("runs", None)
        print(json.dumps(brief, indent=1, ensure_ascii=False), flush=True)
        if "learning_curve" in res:
            print(pd.DataFrame(res["learning_curve"]).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
