"""A small EventBridge event-pattern matcher for the operators the template uses.

Why write one: moto stores the rule's pattern but cannot match a pattern against an array of
objects (detail.containers[].exitCode), and the real TestEventPattern API needs AWS. This follows
the documented semantics: every pattern key must match (AND); a list of values matches when any
of them matches any event value (OR); arrays in the event are flattened, so a pattern on
`containers.exitCode` matches when any container's exitCode matches; `$or` takes a list of
sub-patterns. An operator this file does not know raises, so the test fails instead of passing
silently when the template starts using one.
"""

from __future__ import annotations

import operator
from typing import Any

_NUMERIC = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _numeric(conditions: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(_NUMERIC[op](value, bound) for op, bound in pairs)


def _value_matches(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        # Plain values match exactly and by type: "0" does not match 0.
        return value is not _MISSING and type(matcher) is type(value) and matcher == value
    if len(matcher) != 1:
        raise ValueError(f"one operator per matcher, got {matcher}")
    ((name, argument),) = matcher.items()
    if name == "exists":
        return (value is not _MISSING) is argument
    if value is _MISSING:
        return False
    if name == "numeric":
        return _numeric(argument, value)
    if name == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if name == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        return value not in excluded
    raise ValueError(f"operator {name!r} is not modelled by this matcher")


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(alternative, event) for alternative in rule):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            objects = [v for v in _flatten(value) if isinstance(v, dict)]
            if not any(matches(rule, obj) for obj in objects):
                return False
        elif isinstance(rule, list):
            values = [_MISSING] if value is _MISSING else _flatten(value)
            if not any(_value_matches(m, v) for m in rule for v in values):
                return False
        else:
            raise ValueError(f"pattern values must be lists or objects, got {rule!r} at {key!r}")
    return True
