"""A codebook from a CAQDAS, and review decisions turned into codebook examples.

``codeer codebook import codebook.qdc`` (or a ``.qdpx``: its codebook) writes a ``codebook.yaml``
skeleton that :func:`pipeline.coding.codebook.load_codebook` accepts and a researcher then
enriches with rules and examples:

* hierarchy -> themes: every top-level code with sub-codes (or not codable) is a theme and its
  codable descendants are its codes (a codable parent is also a code of its own theme); codable
  top-level codes without sub-codes go to the theme "Overige codes". A flat codebook whose
  names hold ATLAS.ti's group prefix ("Coke::diet Coke") is grouped by that prefix.
* ids: the code id at the start of the name ("L1 Heldere posities" -> ``L1``, name "Heldere
  posities"), as codeer's own export writes it, else ``C1``, ``C2``, ... in order.
* colours: the code's (``#abc`` written out as ``#AABBCC``); a theme takes its own colour,
  else its first code's, else grey.
* descriptions -> definitions; codeer's own "Include: a; b" and "Exclude: ..." paragraphs go
  back into ``include`` and ``exclude``. A code without a description gets its name as a
  provisional definition (a code needs a definition or a rule) and a ``# TODO`` comment.

``codeer codebook promote`` adds the segments of accepted reviews (the latest decision per
segment and code is ``accept`` or ``add``) to the codes' ``examples`` and writes a new codebook
file; it never overwrites a file without ``--force``. The examples are inserted into the YAML
text at the places PyYAML's node marks point to, so the comments and layout of the codebook
stay as they were (ruamel.yaml is not installed); where that is not possible (an ``examples``
written as a block scalar) the codebook is written anew without comments, and the command says
so. Examples are pseudonymised by default, like every other text that leaves the transcripts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import __version__, config
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _

log = logging.getLogger("codeer")

#: A code id at the start of a code's name ("L1", "R2", "T1.3"), not an ordinary word.
ID_AT_START = re.compile(r"^([A-Za-z]{1,4}\d+(?:[._-]\d+)*[a-z]?)(?:\s+(.*))?$", re.S)
DEFAULT_COLOR = "#777777"
# The theme of top-level codes without sub-codes: its id, and its name (translated when written).
OTHER_THEME = ("overig", N_("Other codes"))


@dataclass
class _Code:
    guid: str
    name: str
    codable: bool
    color: str
    description: str
    children: list[_Code] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def read_codes(data: bytes, file: str) -> list[_Code]:
    """The code tree of a REFI-QDA codebook (``.qdc``) or project (``.qdpx``).

    Raises:
        CodeerError: Not XML or a zip with a ``.qde``, or no codes in it.
    """
    import io
    import zipfile

    from lxml import etree

    if zipfile.is_zipfile(io.BytesIO(data)):
        from pipeline.review.caqdas_import import _Zip

        zf = _Zip(data, file)
        data = zf.read(zf.qde())
    from pipeline.review.caqdas_import import refuse_dtd

    refuse_dtd(data, file)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise CodeerError(_("{file} line {line} must be well-formed REFI-QDA XML. Got {problem} "
                            "instead.").format(file=file, line=exc.lineno, problem=exc.msg)
                          ) from None
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = etree.QName(el).localname
    codes_el = root.find("Codes") if root.tag == "CodeBook" else root.find("CodeBook/Codes")
    if codes_el is None:
        raise CodeerError(_("{file} must hold a REFI-QDA codebook (CodeBook/Codes). Got a {tag} "
                            "element without codes instead.").format(file=file, tag=root.tag))

    def build(el) -> _Code:
        desc = el.find("Description")
        return _Code(guid=(el.get("guid") or "").strip("{}").lower(),
                     name=" ".join((el.get("name") or "").split()),
                     codable=(el.get("isCodable") or "true").strip().lower() != "false",
                     color=(el.get("color") or "").strip(),
                     description=(desc.text or "").strip() if desc is not None else "",
                     children=[build(c) for c in el if c.tag == "Code"])

    tree = [build(c) for c in codes_el if c.tag == "Code"]
    if not tree:
        raise CodeerError(_("{file} must hold at least one code. Got an empty codebook instead.")
                          .format(file=file))
    return tree


# --------------------------------------------------------------------------- skeleton


def _colour(value: str) -> str | None:
    value = value.strip()
    if re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        return value.upper()
    if re.fullmatch(r"#[0-9A-Fa-f]{3}", value):
        return "#" + "".join(c * 2 for c in value[1:]).upper()
    return None


def _slug(name: str) -> str:
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:32]


def _definition(description: str) -> tuple[str, list[str], list[str]]:
    """codeer's description layout back into definition, include and exclude: paragraphs
    "Include:" / "Exclude:" (or, as codeer writes them in Dutch, "Wel coderen:" / "Niet
    coderen:") with one "- criterion" per line (or "Include: a; b" on one line)."""
    from pipeline.export.refiqda import EXCLUDE_LABEL, INCLUDE_LABEL, description_labels

    heads = {h: k for k in (INCLUDE_LABEL, EXCLUDE_LABEL) for h in description_labels(k)}
    parts = [p.strip() for p in re.split(r"\n\s*\n", description) if p.strip()]
    definition: list[str] = []
    lists: dict[str, list[str]] = {INCLUDE_LABEL: [], EXCLUDE_LABEL: []}
    for part in parts:
        head, _sep, rest = part.partition(":")
        head = heads.get(head, head)
        if head in lists and _sep:
            lines = [ln.strip() for ln in rest.strip().splitlines() if ln.strip()]
            if lines and all(ln.startswith("- ") for ln in lines):
                lists[head] += [ln[2:].strip() for ln in lines]
            else:
                lists[head] += [x.strip() for x in rest.split(";") if x.strip()]
        else:
            definition.append(" ".join(part.split()))
    return "\n\n".join(definition), lists[INCLUDE_LABEL], lists[EXCLUDE_LABEL]


def _walk(code: _Code) -> list[_Code]:
    return [code] + [d for c in code.children for d in _walk(c)]


def skeleton(tree: Sequence[_Code], name: str, source: str) -> str:
    """The YAML text of a codebook skeleton for ``tree`` (see the module docstring)."""
    groups: list[tuple[_Code | None, str, list[_Code]]] = []  # (theme code, theme name, codes)
    others: list[_Code] = []
    other_name = _(OTHER_THEME[1])
    if not any(c.children for c in tree) and any("::" in c.name for c in tree):
        by_prefix: dict[str, list[_Code]] = {}
        for c in tree:
            prefix, _sep, rest = c.name.partition("::")
            if rest:
                by_prefix.setdefault(prefix.strip(), []).append(
                    _Code(c.guid, rest.strip(), c.codable, c.color, c.description))
            else:
                others.append(c)
        groups = [(None, prefix, codes) for prefix, codes in by_prefix.items()]
    else:
        for top in tree:
            if top.children or not top.codable:
                codes = ([top] if top.codable else []) + [d for c in top.children
                                                           for d in _walk(c) if d.codable]
                groups.append((top, top.name, codes))
            else:
                others.append(top)
    if others:
        groups.append((None, other_name, others))

    theme_ids: set[str] = set()
    code_ids: set[str] = set()
    themes_yaml, codes_yaml = [], []
    n_generated = 0
    parsed = []
    for _theme, _tname, codes in groups:
        for code in codes:
            m = ID_AT_START.match(code.name)
            bracket = re.search(r"\s*\[([A-Za-z][A-Za-z0-9_.-]{0,31})\]$", code.name)
            if m and m.group(1) not in code_ids:
                parsed.append((code, m.group(1), (m.group(2) or m.group(1)).strip()))
                code_ids.add(m.group(1))
            elif bracket and bracket.group(1) not in code_ids:
                parsed.append((code, bracket.group(1), code.name[: bracket.start()].strip()))
                code_ids.add(bracket.group(1))
            else:
                parsed.append((code, None, code.name))
    ids = iter(parsed)
    for theme, theme_name, codes in groups:
        if not codes:
            continue
        tid = OTHER_THEME[0] if theme is None and theme_name == other_name else (
            _slug(theme_name) or f"thema_{len(theme_ids) + 1}")
        while tid in theme_ids:
            tid = f"{tid}_{len(theme_ids) + 1}"
        theme_ids.add(tid)
        tcolour = (_colour(theme.color) if theme else None) or next(
            (_colour(c.color) for c in codes if _colour(c.color)), None) or DEFAULT_COLOR
        themes_yaml += [f"  - id: {_q(tid)}", f"    name: {_q(theme_name or tid)}",
                        f"    color: {_q(tcolour)}"]
        if theme is not None and theme.description:
            themes_yaml.append(f"    description: {_q(' '.join(theme.description.split()))}")
        for _code in codes:
            code, cid, cname = next(ids)
            if cid is None:
                n_generated += 1
                cid = f"C{n_generated}"
                while cid in code_ids:
                    n_generated += 1
                    cid = f"C{n_generated}"
                code_ids.add(cid)
            definition, include, exclude = _definition(code.description)
            todo = "" if definition else "  # " + _("TODO: write a definition (now: the name)")
            lines = [f"  - id: {_q(cid)}", f"    name: {_q(cname or cid)}",
                     f"    theme: {_q(tid)}"]
            if _colour(code.color):
                lines.append(f"    color: {_q(_colour(code.color))}")
            lines.append(f"    definition: {_q(definition or cname or cid)}{todo}")
            for key, values in (("include", include), ("exclude", exclude)):
                if values:
                    lines.append(f"    {key}:")
                    lines += [f"      - {_q(v)}" for v in values]
            lines.append("    examples: []  # " + _("examples: codeer codebook promote"))
            codes_yaml += lines
    intro = _("Codebook skeleton from {source}, made by codeer {version} (REFI-QDA).\n"
              "Complete the definition of each code and add rules, examples and\n"
              "counter_examples; see docs/codebook.md. Accepted passages from the\n"
              "review become examples with `codeer codebook promote`."
              ).format(source=source, version=__version__)
    header = [
        *(f"# {line}" for line in intro.splitlines()),
        "",
        "version: 1",
        f"name: {_q(name)}",
        "",
        "themes:",
    ]
    return "\n".join([*header, *themes_yaml, "", "codes:", *codes_yaml, ""])


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(str(value), ensure_ascii=False)


def _write_checked(target: Path, text: str, force: bool) -> None:
    """Write a codebook atomically, only if it loads; never over a file without ``force``."""
    from pipeline import storage
    from pipeline.coding.codebook import load_codebook

    if target.exists() and not force:
        raise CodeerError(_("{file} exists already. Choose another file with --output, or pass "
                            "--force to replace it.").format(file=target))
    with storage.atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        try:
            load_codebook(tmp)
        except CodeerError as exc:  # a bug here, not the user's: say what and where
            raise CodeerError(_("The codebook written for {file} does not load: {problem}; "
                                "nothing was written. Report this.")
                              .format(file=target, problem=exc.message)) from None


def import_codebook(path: Path, output: Path = config.CODEBOOK_FILE, force: bool = False,
                    name: str | None = None) -> Path:
    """Write a ``codebook.yaml`` skeleton from a REFI-QDA codebook or project.

    Args:
        path: The ``.qdc`` (or ``.qdpx``) file.
        output: The codebook to write.
        force: Replace ``output`` when it exists.
        name: The codebook's name (default: the file name without suffix).

    Returns:
        ``output``.

    Raises:
        CodeerError: Unreadable input, or ``output`` exists and ``force`` is not set.
    """
    path, output = Path(path), Path(output)
    if not path.is_file():
        raise CodeerError(_("{path} does not exist. Export the codebook from the CAQDAS as a "
                            "REFI-QDA codebook (.qdc) and pass its path.").format(path=path))
    tree = read_codes(path.read_bytes(), path.name)
    _write_checked(output, skeleton(tree, name or path.stem, path.name), force)
    return output


# --------------------------------------------------------------------------- promote


def accepted_examples(reviews, segments, known: Mapping[str, Sequence[str]],
                      reviewer: str | None = None, max_per_code: int | None = 10,
                      scrub: Callable[[str], str] = str) -> dict[str, list[str]]:
    """New examples per code: the text of segments whose latest decision is accept or add.

    Args:
        reviews: The review log as parsed (:func:`pipeline.review.decisions.parse_reviews`).
        segments: The segments table.
        known: Example and counter-example texts the codebook has per code already.
        reviewer: Only this reviewer's decisions.
        max_per_code: At most this many new examples per code, newest decisions first.
        scrub: Pseudonymises a text.

    Returns:
        Code id -> new examples (no duplicates of known ones, in decision order).
    """
    from pipeline.review.decisions import latest_decisions

    latest = latest_decisions(reviews, reviewer)
    if latest.empty:
        return {}
    latest = latest[latest["decision"].isin(["accept", "add"])]
    latest = latest.sort_values(["time", "line"], ascending=False, kind="stable")
    texts = dict(zip(segments["segment_id"], segments["text"], strict=True))
    out: dict[str, list[str]] = {}
    seen = {c: {" ".join(t.split()).casefold() for t in v} for c, v in known.items()}
    for seg, code in zip(latest["segment_id"], latest["code_id"], strict=True):
        if seg not in texts:
            continue
        text = " ".join(scrub(str(texts[seg])).split())
        key = text.casefold()
        mine = out.setdefault(code, [])
        if not text or key in seen.setdefault(code, set()):
            continue
        if max_per_code is not None and len(mine) >= max_per_code:
            continue
        mine.append(text)
        seen[code].add(key)
    return {c: list(reversed(v)) for c, v in out.items() if v}


def insert_examples(text: str, additions: Mapping[str, Sequence[str]]) -> str | None:
    """``text`` (a codebook's YAML) with ``additions`` appended to the codes' ``examples``.

    Everything else, comments and layout included, is left as it is: the new items go where
    PyYAML's node marks say the list ends. Returns None where that cannot be done safely.
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    codes = next((v for k, v in root.value if k.value == "codes"), None)
    if not isinstance(codes, yaml.SequenceNode):
        return None
    edits: list[tuple[int, str]] = []
    for item in codes.value:
        if not isinstance(item, yaml.MappingNode):
            return None
        fields = {k.value: v for k, v in item.value}
        cid = fields.get("id")
        if not isinstance(cid, yaml.ScalarNode) or cid.value not in additions:
            continue
        new = [_q(e) for e in additions[cid.value]]
        if not new:
            continue
        node = fields.get("examples")
        if isinstance(node, yaml.SequenceNode) and node.flow_style:
            close = node.end_mark.index - 1
            if text[close] != "]":
                return None
            edits.append((close, (", " if node.value else "") + ", ".join(new)))
        elif isinstance(node, yaml.SequenceNode):
            last = node.value[-1]
            if not isinstance(last, yaml.ScalarNode) or last.style in ("|", ">"):
                return None
            first = node.value[0]
            line_start = text.rfind("\n", 0, first.start_mark.index) + 1
            prefix = text[line_start:first.start_mark.index]
            if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
                return None
            end = text.find("\n", last.end_mark.index)
            end = len(text) if end < 0 else end
            edits.append((end, "".join(f"\n{prefix}{e}" for e in new)))
        elif node is None and item.flow_style:
            close = item.end_mark.index - 1
            if text[close] != "}":
                return None
            edits.append((close, f", examples: [{', '.join(new)}]"))
        elif node is None:
            key = item.value[0][0]
            indent = " " * key.start_mark.column
            stop = max(_scalar_ends(item))
            end = text.find("\n", stop)
            end = len(text) if end < 0 else end
            edits.append((end, f"\n{indent}examples:" + "".join(f"\n{indent}  - {e}"
                                                               for e in new)))
        else:
            return None
    for index, insert in sorted(edits, reverse=True):
        text = text[:index] + insert + text[index:]
    return text


def _scalar_ends(node) -> list[int]:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        return [node.end_mark.index]
    if isinstance(node, yaml.SequenceNode):
        return [i for v in node.value for i in _scalar_ends(v)] or [node.end_mark.index]
    return [i for k, v in node.value for i in (*_scalar_ends(k), *_scalar_ends(v))]


@dataclass
class PromoteResult:
    """What ``codeer codebook promote`` wrote."""

    output: Path
    added: dict[str, list[str]]
    kept_comments: bool


def promote(out: Path = config.OUT_DIR, codebook: Path = config.CODEBOOK_FILE,
            output: Path | None = None, force: bool = False, pseudonymise: bool = True,
            reviewer: str | None = None, max_per_code: int | None = 10) -> PromoteResult:
    """Write a codebook with the accepted review passages added as examples.

    Args:
        out: The output folder with the review log and segments.
        codebook: The codebook to start from (never changed unless it is ``output`` and
            ``force`` is set).
        output: The codebook to write (default: ``<codebook>.promoted.yaml`` beside it).
        force: Replace ``output`` when it exists.
        pseudonymise: Replace names, places and dates in the examples by placeholders.
        reviewer: Only this reviewer's decisions.
        max_per_code: At most this many new examples per code (newest decisions first).

    Returns:
        The file written, the examples added per code, and whether comments were kept.

    Raises:
        CodeerError: An invalid codebook, no review log, nothing to add, or ``output`` exists
            and ``force`` is not set.
    """
    import yaml

    from pipeline import schema, storage
    from pipeline.coding.codebook import load_codebook
    from pipeline.review.decisions import read_reviews

    codebook, out = Path(codebook), Path(out)
    output = Path(output) if output else codebook.with_name(f"{codebook.stem}.promoted.yaml")
    book, _sha = load_codebook(codebook)
    if output.exists() and not force:
        raise CodeerError(_("{file} exists already. Choose another file with --output, or pass "
                            "--force to replace it.").format(file=output))
    if not (out / config.REVIEWS_FILE).exists():
        raise CodeerError(_("{path} does not exist, so there are no accepted reviews to "
                            "promote. Review with `codeer review` or the notebook first.")
                          .format(path=out / config.REVIEWS_FILE))
    reviews = read_reviews(out, {c.id for c in book.codes})
    segments = storage.read_table(out / config.SEGMENTS_FILE, schema.SEGMENTS)
    scrub: Callable[[str], str] = str
    if pseudonymise:
        from pipeline.export.privacy import extra_names, make_pseudonymiser

        documents = storage.read_table(out / config.DOCUMENTS_FILE, schema.DOCUMENTS)
        scrub = make_pseudonymiser(True, extra_names(documents, segments)).text
    known = {c.id: [*c.examples, *c.counter_examples] for c in book.codes}
    added = accepted_examples(reviews, segments, known, reviewer, max_per_code, scrub)
    if not added:
        raise CodeerError(_("No accepted review adds a new example: every accepted passage is "
                            "in the codebook already, or nothing was accepted yet."))
    original = codebook.read_text(encoding="utf-8")
    text = insert_examples(original, added)
    kept = text is not None
    if kept:
        data = yaml.safe_load(text)
        ok = all([*c.get("examples", [])][-len(added.get(c["id"], [])):] == added[c["id"]]
                 for c in data["codes"] if c.get("id") in added)
        kept = ok
    if not kept:
        data = yaml.safe_load(original)
        for c in data["codes"]:
            if c.get("id") in added:
                c["examples"] = [*(c.get("examples") or []), *added[c["id"]]]
        text = ("# " + _("Written by codeer codebook promote; the comments of {file} could not "
                         "be kept.").format(file=codebook.name) + "\n"
                + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100))
    _write_checked(output, text, force=True)
    return PromoteResult(output, added, kept)


__all__ = ["accepted_examples", "import_codebook", "insert_examples", "promote", "read_codes",
           "skeleton"]
