"""The repository stands on its own and its layout shows the stages (issues 11 and 16)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "pipeline"
STAGES = ("ingest", "coding", "themes", "export", "review")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "coded", "work"}
# What reading the development data beside the repository looks like in code or config.
OUTSIDE = re.compile(r"\.\./shared|/work/shared|[\"']shared[\"']\s*[/)]|/\s*[\"']shared[\"']")


def _project_files() -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix in (".py", ".ipynb", ".toml", ".cfg", ".sh", ".yaml", ".yml", ".md") \
                    or name in ("Makefile", "run"):
                files.append(path)
    return files


def test_no_file_reads_anything_beside_the_repository():
    """Tests, benchmark, tools, notebooks, docs and the package never point at ../shared."""
    files = _project_files()
    assert len(files) > 50
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in files
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if OUTSIDE.search(line) and p.name != "test_layout.py"]
    assert not offenders, offenders


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every pipeline module ``path`` imports, at the top or inside a function."""
    found = set()
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


def test_no_import_cycles_in_the_package():
    """No module imports one that imports it back (function-level imports count too)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {m: _imports(p, modules) - {"pipeline"} for m, p in paths.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_the_package_tree_shows_the_stages():
    for stage in STAGES:
        folder = PACKAGE / stage
        assert (folder / "__init__.py").is_file(), stage
        assert (folder / "command.py").is_file(), f"{stage} has no thin command module"
    for top in ("schema", "storage", "config", "errors", "cli", "vocab"):
        assert (PACKAGE / f"{top}.py").is_file()
    assert not (PACKAGE / "bench.py").exists()  # developer tooling lives in bench/
    assert (PACKAGE / "models" / "build.py").is_file()
    assert (PACKAGE / "models" / "runtime.py").is_file()


def test_help_imports_no_heavy_library():
    """``codeer --help`` stays fast: the CLI module imports no torch, spaCy, pandas, Dask."""
    code = ("import sys, pipeline.cli; heavy = ['torch', 'spacy', 'pandas', 'bertopic', "
            "'sentence_transformers', 'sklearn', 'dask', 'distributed']; "
            "print(','.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_xsd_and_corpora_ship_with_their_licences():
    assert (PACKAGE / "export" / "xsd" / "Project.xsd").is_file()
    sources = (ROOT / "tests" / "data" / "corpora" / "SOURCES.md").read_text(encoding="utf-8")
    for folder in ("handelingen-2018-04-05", "signalen", "governance"):
        for path in (ROOT / "tests" / "data" / "corpora" / folder).glob("*.txt"):
            assert path.name in sources, path.name
    assert "EUPL-1.2" in sources and "Auteurswet" in sources


# --------------------------------------------------------------------------- make clean


def _clean_recipe() -> list[str]:
    """The shell lines of the Makefile's ``clean`` target, as make would run them."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # Under `make test` this runs inside make: without its MAKEFLAGS/MAKELEVEL and with
    # --no-print-directory, the inner make prints only the recipe ("make[1]: Entering ..." is
    # no shell line).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run([make, "--no-print-directory", "-n", "clean", "OUT=out", "RAW=raw"],
                         capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    return [ln for ln in out.stdout.replace("\\\n", " ").splitlines() if ln.strip()]


def test_make_clean_leaves_the_venv_and_deduce_cache_alone(tmp_path):
    """The clean recipe, run on a scratch copy of the layout, removes OUT's outputs and the
    project's own __pycache__ folders, and nothing under .venv (bytecode, deduce's cache)."""
    lines = _clean_recipe()
    work = tmp_path / "repo"
    for folder in ("pipeline", "tests", "bench", "tools"):
        (work / folder / "__pycache__").mkdir(parents=True)
        (work / folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    site = work / ".venv" / "lib" / "python3.11" / "site-packages"
    for sub in ("torch/__pycache__", "deduce/data/lookup/cache/__pycache__"):
        (site / sub).mkdir(parents=True)
        (site / sub / "m.cpython-311.pyc").write_bytes(b"\0")
    (site / "deduce" / "data" / "lookup" / "cache" / "lookup_structs.pickle").write_bytes(b"x")
    out, raw = work / "out", work / "raw"
    (out / "figures").mkdir(parents=True)
    raw.mkdir()
    (raw / "int01.txt").write_text("I: Hoe ging het?", encoding="utf-8")
    for name in ("segments.parquet", "report.md", "reviews.csv", "calibration.yaml"):
        (out / name).write_text("x", encoding="utf-8")
    for line in lines:
        subprocess.run(["bash", "-c", line.lstrip("@")], cwd=work, check=True)
    assert not (out / "segments.parquet").exists() and not (out / "figures").exists()
    assert (out / "reviews.csv").exists() and (out / "calibration.yaml").exists()
    assert (raw / "int01.txt").exists()
    assert not any((work / f / "__pycache__").exists() for f in ("pipeline", "tests"))
    assert (site / "torch" / "__pycache__" / "m.cpython-311.pyc").exists()
    assert (site / "deduce/data/lookup/cache/__pycache__/m.cpython-311.pyc").exists()
    assert (site / "deduce/data/lookup/cache/lookup_structs.pickle").exists()
