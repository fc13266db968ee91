"""Label selectors (string and structured forms) and the metadata field selectors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import names


class SelectorError(ValueError):
    """The selector cannot be parsed."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # one of: =, !=, in, notin, exists, !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!exists":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
        raise AssertionError(self.operator)


Selector = tuple[Requirement, ...]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\(([^()]*)\)$")
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*([^=!\s]*)$")
_NOT_EXISTS = re.compile(rf"^!\s*({_KEY})$")
_EXISTS = re.compile(rf"^({_KEY})$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside a `( ... )` value set."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if depth != 0:
        raise SelectorError(f"unbalanced parentheses in {text!r}")
    return [p.strip() for p in parts]


def _checked(requirement: Requirement) -> Requirement:
    problems = names.qualified_name(requirement.key)
    for value in requirement.values:
        problems += names.label_value(value)
    if problems:
        raise SelectorError(f"invalid requirement {requirement.key!r}: {'; '.join(problems)}")
    return requirement


def parse_label_selector(text: str) -> Selector:
    """Parse `a=b,c!=d,e in (f,g),h notin (i),j,!k`; an empty string selects everything."""
    if not text.strip():
        return ()
    requirements = []
    for part in _split_top_level(text):
        if match := _SET.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQUALITY.match(part):
            operator = "!=" if match.group(2) == "!=" else "="
            requirements.append(Requirement(match.group(1), operator, (match.group(3),)))
        elif match := _NOT_EXISTS.match(part):
            requirements.append(Requirement(match.group(1), "!exists"))
        elif match := _EXISTS.match(part):
            requirements.append(Requirement(match.group(1), "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {part!r}")
    return tuple(_checked(r) for r in requirements)


_EXPRESSION_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def from_label_selector(selector: Mapping[str, Any]) -> Selector:
    """The structured `metav1.LabelSelector` form (matchLabels + matchExpressions)."""
    requirements = [Requirement(k, "=", (v,)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        operator = _EXPRESSION_OPERATORS.get(expression.get("operator", ""))
        if operator is None:
            raise SelectorError(f"{expression.get('operator')!r} is not a valid label selector operator")
        requirements.append(Requirement(expression["key"], operator, tuple(expression.get("values") or ())))
    return tuple(requirements)


def to_string(selector: Selector) -> str:
    """The string form `parse_label_selector` reads (as in a Scale's status.selector)."""
    def one(r: Requirement) -> str:
        match r.operator:
            case "exists":
                return r.key
            case "!exists":
                return f"!{r.key}"
            case "=" | "!=":
                return f"{r.key}{r.operator}{r.values[0]}"
        return f"{r.key} {r.operator} ({','.join(r.values)})"

    return ",".join(one(r) for r in selector)


def matches(selector: Selector, labels: Mapping[str, str] | None) -> bool:
    return all(r.matches(labels or {}) for r in selector)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    equal: bool
    value: str


FIELD_SELECTABLE = ("metadata.name", "metadata.namespace")
_FIELD = re.compile(r"^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$")


def parse_field_selector(text: str) -> tuple[FieldRequirement, ...]:
    """`metadata.name=x,metadata.namespace!=y`; other fields are rejected like the real server does."""
    if not text.strip():
        return ()
    requirements = []
    for part in _split_top_level(text):
        match = _FIELD.match(part)
        if not match:
            raise SelectorError(f"invalid selector: {part!r}; can't understand {part!r}")
        if match.group(1) not in FIELD_SELECTABLE:
            raise SelectorError(f'field label not supported: {match.group(1)}')
        requirements.append(FieldRequirement(match.group(1), match.group(2) != "!=", match.group(3).strip()))
    return tuple(requirements)


def field_matches(requirements: tuple[FieldRequirement, ...], metadata: Mapping[str, Any]) -> bool:
    def value_of(field: str) -> str:
        return str(metadata.get(field.removeprefix("metadata."), ""))

    return all((value_of(r.field) == r.value) == r.equal for r in requirements)
