"""The codebook: YAML file -> validated, typed models, with errors that name the line.

Format (documented in ``docs/codebook.md``)::

    version: 1
    name: ...
    defaults: {threshold: 0.5, context: 1, scope: respondent}
    themes: [{id, name, description, color}]
    codes:  [{id, name, theme, color, definition, include, exclude, rules, examples,
              counter_examples, threshold}]
    background: [ordinary talk that carries no code, as contrast for the embedding coder]

Rules are small WordStat-style expressions on lemmas (see :mod:`pipeline.coding.rules`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.coding.rules import Rule, RuleSyntaxError, parse_rule
from pipeline.errors import CodeerError
from pipeline.i18n import N_, _, located

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
NonEmpty = Annotated[str, Field(min_length=1)]


def _check_rule(text: str) -> str:
    try:
        parse_rule(text)
    except RuleSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return text


RuleText = Annotated[str, Field(min_length=1), AfterValidator(_check_rule)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Defaults(_Strict):
    """Settings that apply to every code unless the code overrides them."""

    # The probability (that a researcher accepts the code) a segment needs to be coded.
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    context: int = Field(1, ge=0, le=5)
    scope: Literal["respondent", "all"] = "respondent"


class Theme(_Strict):
    """A group of codes (e.g. *Aan tafel*)."""

    id: NonEmpty
    name: NonEmpty
    description: str = ""
    color: str = "#777777"

    @field_validator("color")
    @classmethod
    def _color(cls, v: str) -> str:
        if not _COLOR.match(v):
            raise ValueError(_("must be a colour like '#0072B2'. Got '{value}' instead")
                             .format(value=v))
        return v.upper()


class Code(_Strict):
    """One code: what it means, how to find it, and what it is not."""

    id: NonEmpty
    name: NonEmpty
    theme: NonEmpty
    definition: str = ""
    include: list[NonEmpty] = []
    exclude: list[NonEmpty] = []
    rules: list[RuleText] = []
    examples: list[NonEmpty] = []
    counter_examples: list[NonEmpty] = []
    color: str | None = None
    threshold: float | None = Field(None, gt=0.0, lt=1.0)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                _("must start with a letter and hold only letters, digits, '_', '-' or '.'. Got "
                  "'{value}' instead").format(value=v)
            )
        return v

    @field_validator("color")
    @classmethod
    def _color(cls, v: str | None) -> str | None:
        if v is not None and not _COLOR.match(v):
            raise ValueError(_("must be a colour like '#0072B2'. Got '{value}' instead")
                             .format(value=v))
        return v.upper() if v else v

    @model_validator(mode="after")
    def _something_to_match(self) -> Code:
        if not self.definition.strip() and not self.rules:
            raise ValueError(
                _("needs a definition or at least one rule; it has neither, so nothing can match "
                  "it")
            )
        return self

    @property
    def parsed_rules(self) -> list[Rule]:
        """The rules as parsed expressions."""
        return [parse_rule(r) for r in self.rules]


class Codebook(_Strict):
    """A whole codebook, validated."""

    version: Literal[1] = 1
    name: NonEmpty
    description: str = ""
    defaults: Defaults = Defaults()
    themes: list[Theme] = Field(min_length=1)
    codes: list[Code] = Field(min_length=1)
    background: list[NonEmpty] = []

    def theme_of(self, code: Code) -> Theme:
        """The theme a code belongs to."""
        return next(t for t in self.themes if t.id == code.theme)

    def color_of(self, code: Code) -> str:
        """The code's own colour, else its theme's colour."""
        return code.color or self.theme_of(code).color

    def threshold_of(self, code: Code) -> float:
        """The probability the code needs (its own threshold, else the default)."""
        return code.threshold if code.threshold is not None else self.defaults.threshold


def _reference_errors(book: Codebook, lines: dict[tuple, int]) -> list[tuple[int | None, str]]:
    """Duplicate ids and codes naming a theme that does not exist, with their lines."""
    errors = []
    twice = {"themes": N_("theme id '{id}' is used twice (first as theme {first}); ids must be "
                          "unique."),
             "codes": N_("code id '{id}' is used twice (first as code {first}); ids must be "
                         "unique.")}
    for kind, items in (("themes", book.themes), ("codes", book.codes)):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in seen:
                errors.append((lines.get((kind, i, "id")),
                               _(twice[kind]).format(id=item.id, first=seen[item.id] + 1)))
            seen.setdefault(item.id, i)
    theme_ids = [t.id for t in book.themes]
    for i, code in enumerate(book.codes):
        if code.theme not in theme_ids:
            errors.append((lines.get(("codes", i, "theme")),
                           _("code '{code}' theme: names '{theme}', which does not exist. Use one "
                             "of {themes}.").format(code=code.id, theme=code.theme,
                                                    themes=theme_ids)))
    return errors


# ------------------------------------------------------------------ YAML with line numbers


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int):
        super().__init__(key)
        self.key, self.line = key, line


def _to_python(node: yaml.Node, path: tuple, lines: dict[tuple, int]):
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _YamlProblem(key_node.start_mark.line + 1,
                                   _("a key must be a plain word such as 'name'. Got a list or "
                                     "mapping as key instead"))
            key = key_node.value
            if key in out:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*path, i), lines) for i, v in enumerate(node.value)]
    return _scalar(node)


class _YamlProblem(Exception):
    """YAML that parses but that a codebook cannot hold; ``line`` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


# Tags a codebook may spell out (``!!str 007``); anything else (``!!python/name:...``) is
# refused before it is constructed.
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq",
                                                   "map")}


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _scalar(node: yaml.ScalarNode):
    if node.tag in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:merge"):
        return node.value  # a lone "=" or "<<" is text here
    if node.tag not in _PLAIN_TAGS and node.tag != "tag:yaml.org,2002:timestamp":
        raise _YamlProblem(node.start_mark.line + 1,
                           _("the tag '{tag}' is not allowed in a codebook. Remove it and write "
                             "the value as plain text").format(tag=_short(node.tag)))
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        raise _YamlProblem(node.start_mark.line + 1,
                           _("'{value}' must be a valid {tag} value. Remove the tag or fix the "
                             "value").format(value=node.value, tag=_short(node.tag))) from None
    finally:
        loader.dispose()


def _check_events(text: str) -> None:
    """Refuse anchors, aliases and unusual tags before anything is built from them.

    An alias repeats a part of the file; nested aliases ("billion laughs") make a file of a
    few hundred bytes expand to billions of items, and a recursive alias never ends.

    Raises:
        _YamlProblem: At the first anchor, alias or tag that a codebook does not need.
    """
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _YamlProblem(line, _("anchors and aliases ('&name', '*name') are not allowed "
                                       "in a codebook. Write the text out in full where it is "
                                       "needed"))
        tag = getattr(event, "tag", None)
        if tag and tag != "!" and tag not in _PLAIN_TAGS:
            raise _YamlProblem(line, _("the tag '{tag}' is not allowed in a codebook. Remove it "
                                       "and write the value as plain text")
                               .format(tag=_short(tag)))


# What an error location is called: a code or theme by its id, an item of a list by its
# number (the YAML keys themselves stay as they are written).
_SUBJECTS = {"codes": N_("code '{id}'"), "themes": N_("theme '{id}'")}
_ITEMS = {"rules": N_("rule {n}"), "examples": N_("example {n}"),
          "counter_examples": N_("counter-example {n}"), "include": N_("include {n}"),
          "exclude": N_("exclude {n}")}
_ITEM = N_("item {n}")


def _where(loc: tuple, data, lines: dict[tuple, int]) -> tuple[int | None, str]:
    """Best line number and a readable subject ("code 'L3' rule 2") for an error location."""
    line = None
    for cut in range(len(loc), -1, -1):
        if tuple(loc[:cut]) in lines:
            line = lines[tuple(loc[:cut])]
            break
    parts = []
    if len(loc) >= 2 and loc[0] in ("codes", "themes") and isinstance(loc[1], int):
        try:
            ident = data[loc[0]][loc[1]].get("id", f"#{loc[1] + 1}")
        except (KeyError, IndexError, AttributeError, TypeError):
            ident = f"#{loc[1] + 1}"
        parts.append(_(_SUBJECTS[loc[0]]).format(id=ident))
        rest = loc[2:]
    else:
        rest = loc
    fields = []
    for i, part in enumerate(rest):
        if isinstance(part, int):
            prev = rest[i - 1] if i else ""
            item = _(_ITEMS.get(prev, _ITEM)).format(n=part + 1)
            if fields and fields[-1] == prev:
                fields[-1] = item
            else:
                fields.append(item)
        else:
            fields.append(str(part))
    parts.extend(fields)
    return line, " ".join(parts)


def load_codebook(path: Path) -> tuple[Codebook, str]:
    """Read and validate a codebook file.

    Returns:
        The codebook and the SHA-256 of the file's bytes (recorded with every coding).

    Raises:
        CodeerError: Missing file, YAML syntax error or any validation error (exit 2); the
            message names the file, the line and the field, and what is expected.
    """
    path = Path(path)
    if not path.exists():
        raise CodeerError(_("Codebook {path} does not exist. Pass --codebook FILE.")
                          .format(path=path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CodeerError(located(path.name, line, _(
            "must be UTF-8 text. Got byte 0x{byte:02x} (byte {n} of the file) instead. Save the "
            "codebook as UTF-8 (in your editor: Save as, encoding UTF-8)."
        ).format(byte=raw[exc.start], n=exc.start + 1))) from None
    lines: dict[tuple, int] = {}
    try:
        _check_events(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None or not isinstance(node, yaml.MappingNode):
            raise _YamlProblem(1, _("must be a mapping with 'name', 'themes' and 'codes'"))
        data = _to_python(node, (), lines)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(
            exc.character)
        raise CodeerError(located(path.name, line, _(
            "the character {char} is not allowed in YAML. Remove it.").format(char=char))
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CodeerError(located(path.name, mark.line + 1 if mark else None,
                                   _("YAML syntax error: {problem}.").format(problem=problem))
                          ) from None
    except _YamlProblem as exc:
        raise CodeerError(located(path.name, exc.line, f"{exc.message}.")) from None
    except _DuplicateKey as exc:
        raise CodeerError(located(path.name, exc.line, _(
            "key '{key}' appears twice in the same block; keep one.").format(key=exc.key))
        ) from None
    except RecursionError:
        raise CodeerError(located(path.name, None, _(
            "nests lists or mappings too deeply to be a codebook. Check the indentation."))
        ) from None
    try:
        book = Codebook.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            line, subject = _where(tuple(err["loc"]), data, lines)
            msg = _message(err)
            messages.append(located(path.name, line, f"{subject}: {msg}" if subject else msg))
        raise CodeerError("\n".join(messages)) from None
    problems = _reference_errors(book, lines)
    if problems:
        raise CodeerError("\n".join(located(path.name, line, msg) for line, msg in problems))
    return book, hashlib.sha256(raw).hexdigest()


# pydantic's own messages (after "Input should be" became "must be") that a codebook can meet,
# marked so that they are translated; any other stays as pydantic words it.
_PYDANTIC_FIXED = (
    N_("must be a valid number, unable to parse string as a number"),
    N_("must be a valid integer, unable to parse string as an integer"),
    N_("must be a valid integer, got a number with a fractional part"),
    N_("must be a valid number"),
    N_("must be a valid integer"),
    N_("must be a finite number"),
    N_("must be a valid string"),
    N_("must be a valid list"),
    N_("must be a valid boolean"),
)
# ... and those with a value in them: pydantic's text is the template with the value left out.
_PYDANTIC_VALUE = {
    "greater_than": N_("must be greater than {value}"),
    "greater_than_equal": N_("must be greater than or equal to {value}"),
    "less_than": N_("must be less than {value}"),
    "less_than_equal": N_("must be less than or equal to {value}"),
    "model_type": N_("must be a valid dictionary or instance of {value}"),
}


def _pydantic_message(kind: str, msg: str) -> str:
    """pydantic's English ``msg`` in the current language, where codeer knows it."""
    if msg in _PYDANTIC_FIXED:
        return _(msg)
    template = _PYDANTIC_VALUE.get(kind)
    if template is not None:
        head = template.replace("{value}", "")
        if msg.startswith(head):
            return _(template).format(value=msg[len(head):])
    if kind == "literal_error" and msg.startswith("must be "):
        # "'respondent' or 'all'": pydantic's list of the allowed values
        choices = re.split(r", | or ", msg[len("must be "):])
        if len(choices) == 1:
            return _("must be {value}").format(value=choices[0])
        return _("must be {choices} or {last}").format(choices=", ".join(choices[:-1]),
                                                       last=choices[-1])
    return msg


def _message(err: dict) -> str:
    kind = err["type"]
    msg = err["msg"]
    if kind == "extra_forbidden":
        return _("unknown key. Check its spelling against docs/codebook.md")
    if kind == "missing":
        return _("is required but missing")
    if kind == "string_too_short":
        return _("must not be empty")
    if kind == "too_short":
        return _("must hold at least one item")
    if msg.startswith("Value error, "):  # a validator's message, translated where raised
        msg = msg[len("Value error, ") :]
    # pydantic says "Input should be ..."; codeer's errors say "must be ... Got ... instead".
    if msg.startswith("Input should be "):
        msg = _pydantic_message(kind, "must be " + msg[len("Input should be "):])
    got = err.get("input")
    if kind.endswith("_type") or kind.startswith(("greater", "less", "literal")):
        return _("{problem}. Got {got!r} instead").format(problem=msg, got=got)
    return msg + ("" if msg.endswith(".") else ".")
