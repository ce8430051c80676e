"""A small, strict JSON-Schema checker for tool arguments.

Tool input schemas are plain objects with typed properties. This checker covers the subset
MCP tool schemas use (type, properties, required, additionalProperties, items, enum, const,
minimum/maximum, minLength/maxLength, minItems/maxItems, anyOf/oneOf) and treats everything it
does not understand conservatively: an unknown ``type`` never validates. It returns the first
problem as a human sentence naming the argument path, or ``None`` when the value fits.

Unknown keys are refused unless the schema says ``additionalProperties: true`` explicitly:
an agent must not smuggle arguments a server might read but the policy never saw.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_arguments", "schema_problem"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
    "null": (type(None),),
}
_MAX_DEPTH = 32


def check_arguments(arguments: object, schema: dict[str, Any]) -> str | None:
    """Return why ``arguments`` does not fit ``schema``, or None if it does."""
    if not isinstance(arguments, dict):
        return f"arguments must be an object, got {_kind(arguments)}"
    return schema_problem(arguments, schema, "arguments", 0)


def schema_problem(value: object, schema: object, where: str, depth: int) -> str | None:
    if depth > _MAX_DEPTH:
        return f"{where}: nested too deeply"
    if schema is True or schema == {}:
        return None
    if not isinstance(schema, dict):
        return f"{where}: the tool's schema is not understood"
    for check in (_check_type, _check_enum, _check_combinators, _check_bounds):
        problem = check(value, schema, where, depth)
        if problem:
            return problem
    if isinstance(value, dict):
        return _check_object(value, schema, where, depth)
    if isinstance(value, list | tuple):
        return _check_array(value, schema, where, depth)
    return None


def _check_type(value: object, schema: dict[str, Any], where: str, depth: int) -> str | None:
    wanted = schema.get("type")
    if wanted is None:
        return None
    names = wanted if isinstance(wanted, list) else [wanted]
    if any(_is_type(value, name) for name in names):
        return None
    return f"{where}: expected {' or '.join(map(str, names))}, got {_kind(value)}"


def _is_type(value: object, name: object) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    types = _TYPES.get(name) if isinstance(name, str) else None
    if types is None:
        return False
    if bool not in types and isinstance(value, bool):
        return False
    return isinstance(value, types)


def _check_enum(value: object, schema: dict[str, Any], where: str, depth: int) -> str | None:
    if "const" in schema and value != schema["const"]:
        return f"{where}: must be {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(v) for v in schema["enum"])
        return f"{where}: {_short(value)} is not one of {allowed}"
    return None


def _check_combinators(value: object, schema: dict[str, Any], where: str, depth: int) -> str | None:
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options is None:
            continue
        matches = [o for o in options if schema_problem(value, o, where, depth + 1) is None]
        if not matches or (key == "oneOf" and len(matches) > 1):
            return f"{where}: does not match the allowed shapes"
    for option in schema.get("allOf", ()):
        problem = schema_problem(value, option, where, depth + 1)
        if problem:
            return problem
    return None


def _check_bounds(value: object, schema: dict[str, Any], where: str, depth: int) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where}: {value} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where}: {value} is above the maximum {schema['maximum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{where}: longer than {schema['maxLength']} characters"
    if isinstance(value, list | tuple):
        if len(value) < schema.get("minItems", 0):
            return f"{where}: needs at least {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where}: has more than {schema['maxItems']} items"
    return None


def _check_object(value: dict, schema: dict[str, Any], where: str, depth: int) -> str | None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            return f"{where}: missing required argument {name!r}"
    extra = schema.get("additionalProperties", False)
    for key, item in value.items():
        if not isinstance(key, str):
            return f"{where}: keys must be strings"
        if key in properties:
            sub = properties[key]
        elif extra is False:
            return f"{where}: unknown argument {key!r}"
        else:
            sub = extra
        problem = schema_problem(item, sub, f"{where}.{key}", depth + 1)
        if problem:
            return problem
    return None


def _check_array(value: list | tuple, schema: dict[str, Any], where: str, depth: int) -> str | None:
    items = schema.get("items")
    if items is None:
        return None
    for index, item in enumerate(value):
        problem = schema_problem(item, items, f"{where}[{index}]", depth + 1)
        if problem:
            return problem
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
