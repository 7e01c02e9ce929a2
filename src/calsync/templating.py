"""The event template language: literal text with `{field}` placeholders and `{a|b|"text"}` fallbacks.

Why a language of our own: templates are written by administrators but filled with values from feeds,
which may hold anything. `str.format` and Jinja interpret their input (attribute access, filters, loops);
here a template is parsed once, at configuration time, into literal text and placeholders, and rendering
only concatenates strings: a value from a feed is never parsed, so `{subject}` whose value is "{body}" or
"{0.__class__}" is shown as written. Rendering never raises and its output is capped.

Syntax:
- `{name}`: the value of a field (names are matched case-insensitively; spaces and hyphens read as `_`).
- `{a|b|c}`: the first of a, b, c whose value is not empty (after trimming spaces).
- `{a|"text"}`: a double-quoted alternative is literal text (it may not contain `"`, `|` or `}`).
- `{{` and `}}`: literal braces.

A name that is not among the known fields is refused when the template is parsed, naming the known
ones, so a typo is reported by `calsync` at start instead of leaving every subject empty.

This module imports no calsync package: the configuration (calsync.settings) checks templates when it
is loaded and the domain (calsync.domain.templates) renders them, and those two layers may not import
each other.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

# The fields every event offers to templates; a profile's `extra_fields` add the source's own. The
# activity type and module are read from the field a profile names (`activity_type_field`, `module_field`),
# else from an extra field of that name.
CORE_FIELDS: tuple[str, ...] = ("subject", "body", "location", "categories")
BUILTIN_FIELDS: tuple[str, ...] = (*CORE_FIELDS, "activity_type", "module")
MAX_TEMPLATE = 2000  # characters of one template: a template is a line of configuration, not a document
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SPACES = re.compile(r"\s+")

Part = str | tuple[str, ...]
"""A literal run of text, or a placeholder's alternatives: field names, or `"text"` for literal text."""


class TemplateError(ValueError):
    """A template cannot be used; the message says where and why (for the configuration's problem list)."""


def field_name(raw: str) -> str:
    """The canonical spelling of a field name: lower case, spaces and hyphens read as `_` (as CSV headers
    are read), so `{Activity Type}`, `{activity-type}` and `{activity_type}` are one field."""
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; `render` fills it. Build it with `parse_template`."""

    text: str
    parts: tuple[Part, ...]

    @property
    def fields(self) -> frozenset[str]:
        """The field names the template reads."""
        return frozenset(
            alt for part in self.parts if isinstance(part, tuple) for alt in part if not alt.startswith('"')
        )

    def render(self, values: Mapping[str, str], *, limit: int, single_line: bool = False) -> str:
        """The template filled with `values` (a missing field is empty), at most `limit` characters.

        `single_line` folds runs of white space (newlines included) into one space, in the values and
        in the template's own text alike, for subjects and locations. Values are inserted as they are:
        never parsed, never raising.
        """
        out: list[str] = []
        size = 0
        for part in self.parts:
            if size > limit:
                break
            text = part if isinstance(part, str) else _first(part, values)
            if single_line:  # a subject is one line, whatever the template's author typed
                text = _SPACES.sub(" ", text)
            text = text[: limit + 1 - size]
            out.append(text)
            size += len(text)
        return "".join(out)[:limit].strip()


def _first(alternatives: tuple[str, ...], values: Mapping[str, str]) -> str:
    for alt in alternatives:
        if alt.startswith('"'):
            return alt[1:-1]
        value = values.get(alt, "")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def parse_template(text: str, known: Collection[str]) -> Template:
    """Parse `text`; every field it names must be in `known` (canonical names, see `field_name`).

    Raises:
        TemplateError: unbalanced braces, an empty or malformed placeholder, an unknown field.
    """
    if len(text) > MAX_TEMPLATE:
        raise TemplateError(f"is longer than {MAX_TEMPLATE} characters")
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i + 1 : i + 2] == ch:
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise TemplateError(f"a '}}' at character {i + 1} closes nothing (write '}}}}' for a brace)")
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        end = text.find("}", i + 1)
        if end < 0:
            raise TemplateError(f"the '{{' at character {i + 1} is never closed (write '{{{{' for a brace)")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_placeholder(text[i + 1 : end], i + 1, known))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _placeholder(inner: str, position: int, known: Collection[str]) -> tuple[str, ...]:
    alternatives: list[str] = []
    for raw in inner.split("|"):
        alt = raw.strip()
        if len(alt) >= 2 and alt[0] == alt[-1] == '"' and '"' not in alt[1:-1]:
            alternatives.append(alt)
            continue
        if "{" in alt or '"' in alt:
            raise TemplateError(f"the placeholder at character {position} is malformed")
        name = field_name(alt)
        if not name:
            raise TemplateError(f"the placeholder at character {position} has an empty alternative")
        if not _NAME.match(name) or name not in known:
            raise TemplateError(
                f"unknown field {alt!r} at character {position} (known: {', '.join(sorted(known))})"
            )
        alternatives.append(name)
    return tuple(alternatives)
