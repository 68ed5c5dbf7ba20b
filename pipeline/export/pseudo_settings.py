"""The researcher's pseudonymisation settings: ``pseudonimisering.yaml`` beside the codebook.

Format (documented with an example in ``docs/pseudonimisering.md``)::

    behouden:            # terms never replaced (functions, departments, project names)
      - Kernteam Omgevingsvisie
    verwijderen:         # always replaced; a plain list means persons
      personen: [Hans Verbeek]
      plaatsen: [Het Nieuwe Instituut]
      instellingen: [Stichting Zonnedak]
    wijken: vervangen    # districts, neighbourhoods, venues: vervangen (default) or behouden
    extra_wijken: [Oud-Crooswijk]
    losse_maanden: behouden   # "in april": behouden (default) or vervangen

Every key is optional; an empty file gives the defaults. The file is validated like the
codebook: every problem is reported with the file and line, exit code 2. YAML anchors, aliases
and tags are refused (a 600-byte file with nested aliases expands to gigabytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CodeerError
from pipeline.i18n import _, located

#: ``wijken:`` values.
REPLACE, KEEP = "vervangen", "behouden"
#: ``verwijderen:`` groups and the placeholder category of each.
REMOVE_GROUPS = {"personen": "PERSOON", "plaatsen": "LOCATIE", "instellingen": "INSTELLING"}
_KEYS = ("behouden", "verwijderen", "wijken", "extra_wijken", "losse_maanden")
_LETTER = re.compile(r"[^\W\d_]")
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                       ("str", "int", "float", "bool", "null", "timestamp", "map", "seq"))


@dataclass(frozen=True)
class Settings:
    """What the researcher configured (defaults: nothing extra, districts and dates replaced).

    Attributes:
        keep: Terms never replaced when a detector finds them (added to deduce's whitelist and
            to codeer's keep policy).
        remove: ``(category, term)`` pairs that are always replaced: persons (``PERSOON``, with
            their surname alone, like the speaker names), places (``LOCATIE``) and
            institutions (``INSTELLING``).
        replace_districts: Replace the districts, neighbourhoods and venues
            (:data:`pipeline.export.places.DISTRICTS` plus ``extra_districts``) by
            ``[LOCATIE-n]``; when false, all of them are kept.
        extra_districts: The researcher's own districts, neighbourhoods and venues.
        standalone_months: Also replace a month name without a day or a year ("in april").
        source: The file the settings came from (``None``: defaults).
    """

    keep: tuple[str, ...] = ()
    remove: tuple[tuple[str, str], ...] = ()
    replace_districts: bool = True
    extra_districts: tuple[str, ...] = ()
    standalone_months: bool = False
    source: Path | None = None


def _kind(node: object) -> str:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return _("a mapping")
    if isinstance(node, yaml.SequenceNode):
        return _("a list")
    return f"'{node.value}'"  # type: ignore[attr-defined]


class _Reader:
    """Turns the composed YAML nodes into settings, collecting every problem with its line."""

    def __init__(self, name: str):
        self.name = name
        self.errors: list[str] = []

    def error(self, node: object, message: str) -> None:
        line = node.start_mark.line + 1  # type: ignore[attr-defined]
        self.errors.append(located(self.name, line, message))

    def terms(self, node: object, what: str, min_letters: int = 2) -> list[str]:
        """A list of texts (``None`` or an empty value is an empty list)."""
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, _("{what} must be a list of terms, one per line starting with "
                               "'- '. Got {kind} instead.").format(what=what, kind=_kind(node)))
            return []
        out = []
        for i, item in enumerate(node.value, 1):
            if not isinstance(item, yaml.ScalarNode) or item.tag != _STR_TAG:
                self.error(item, _("{what} item {i} must be a text. Got {kind} instead; put it "
                                   "in quotes if it is meant as text.")
                           .format(what=what, i=i, kind=_kind(item)))
                continue
            term = " ".join(item.value.split())
            if len(_LETTER.findall(term)) < min_letters:
                self.error(item, _("{what} item {i} must hold at least {n} letters. Got "
                                   "'{term}' instead.")
                           .format(what=what, i=i, n=min_letters, term=term))
                continue
            out.append(term)
        return out

    def choice(self, node: object, what: str, options: tuple[str, str]) -> str | None:
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return None
        value = node.value.strip().casefold() if isinstance(node, yaml.ScalarNode) else None
        if value not in options:
            self.error(node, _("{what} must be '{first}' or '{second}'. Got {kind} instead.")
                       .format(what=what, first=options[0], second=options[1],
                               kind=_kind(node)))
            return None
        return value


def _check_tags(node: object, reader: _Reader) -> None:
    """Refuse YAML tags other than the plain core types (``!!python/name:...``, ``!foo``)."""
    import yaml

    stack = [node]
    while stack:
        n = stack.pop()
        if n.tag not in _CORE_TAGS:  # type: ignore[attr-defined]
            reader.error(n, _("YAML tags such as '{tag}' are not allowed. Write plain text.")
                         .format(tag=n.tag))  # type: ignore[attr-defined]
        elif isinstance(n, yaml.MappingNode):
            stack += [part for pair in n.value for part in pair]
        elif isinstance(n, yaml.SequenceNode):
            stack += n.value


def load_settings(path: Path) -> Settings:
    """Read and validate ``pseudonimisering.yaml``.

    Args:
        path: The settings file.

    Returns:
        The settings; an empty file gives the defaults.

    Raises:
        CodeerError: Missing or unreadable file, not UTF-8, YAML syntax error, anchors or
            aliases, unknown keys, wrong types, or a term both kept and removed (exit 2); every
            message names the file and line and what is expected.
    """
    import yaml

    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CodeerError(_(
            "Pseudonymisation settings {path} do not exist. Create the file (see "
            "docs/pseudonimisering.md) or leave out --pseudonymisation."
        ).format(path=path)) from None
    except OSError as exc:
        raise CodeerError(_("Cannot read {path}: {reason}.")
                          .format(path=path, reason=exc.strerror)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CodeerError(_("{file} line {line}: the file must be UTF-8. Got byte 0x{byte:02x} "
                            "instead; save it as UTF-8.")
                          .format(file=name, line=line, byte=raw[exc.start])) from None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise CodeerError(_("{file} line {line}: YAML anchors and aliases ('&', '*') "
                                    "are not allowed. Write every term out.")
                                  .format(file=name, line=event.start_mark.line + 1))
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark:
            raise CodeerError(_("{file} line {line}: YAML syntax error: {problem}.").format(
                file=name, line=mark.line + 1, problem=problem)) from None
        raise CodeerError(_("{file}: YAML syntax error: {problem}.").format(
            file=name, problem=problem)) from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
        return Settings(source=path)
    reader = _Reader(name)
    if not isinstance(node, yaml.MappingNode):
        raise CodeerError(_("{file} line 1: must be a mapping with keys such as 'behouden' and "
                            "'verwijderen'. Got {kind} instead.")
                          .format(file=name, kind=_kind(node)))
    _check_tags(node, reader)
    if reader.errors:
        raise CodeerError("\n".join(reader.errors))
    values: dict[str, object] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in _KEYS:
            shown = key if key is not None else _kind(key_node)
            reader.error(key_node, _("unknown key '{key}'. Use one of: {keys} (see "
                                     "docs/pseudonimisering.md).")
                         .format(key=shown, keys=", ".join(_KEYS)))
        elif key in values:
            reader.error(key_node, _("key '{key}' appears twice; keep one.").format(key=key))
        else:
            values[key] = value_node

    keep = reader.terms(values["behouden"], "behouden") if "behouden" in values else []
    remove: list[tuple[str, str]] = []
    if "verwijderen" in values:
        node_ = values["verwijderen"]
        if isinstance(node_, yaml.MappingNode):
            seen: set[str] = set()
            for group_node, terms_node in node_.value:
                group = group_node.value if isinstance(group_node, yaml.ScalarNode) else None
                if group not in REMOVE_GROUPS:
                    reader.error(group_node, _("verwijderen: unknown group '{group}'. Use one "
                                               "of: {groups}.")
                                 .format(group=group, groups=", ".join(REMOVE_GROUPS)))
                    continue
                if group in seen:
                    reader.error(group_node, _("verwijderen: group '{group}' appears twice; "
                                               "keep one.").format(group=group))
                    continue
                seen.add(group)
                remove += [(REMOVE_GROUPS[group], t)
                           for t in reader.terms(terms_node, f"verwijderen {group}")]
        else:
            remove += [("PERSOON", t) for t in reader.terms(node_, "verwijderen")]
    districts = (reader.choice(values["wijken"], "wijken", (REPLACE, KEEP))
                 if "wijken" in values else None)
    extra = (reader.terms(values["extra_wijken"], "extra_wijken")
             if "extra_wijken" in values else [])
    months = (reader.choice(values["losse_maanden"], "losse_maanden", (KEEP, REPLACE))
              if "losse_maanden" in values else None)
    kept = {t.casefold() for t in keep}
    both = sorted({t for _c, t in remove if t.casefold() in kept})
    if both:
        reader.error(values["verwijderen"],
                     _("{terms} must be under either 'behouden' or 'verwijderen'. Got both; "
                       "remove one.").format(terms=", ".join(repr(t) for t in both)))
    if reader.errors:
        raise CodeerError("\n".join(reader.errors))
    return Settings(
        keep=tuple(dict.fromkeys(keep)),
        remove=tuple(dict.fromkeys(remove)),
        replace_districts=districts != KEEP,
        extra_districts=tuple(dict.fromkeys(extra)),
        standalone_months=months == REPLACE,
        source=path,
    )
