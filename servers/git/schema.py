"""Builders for the tools' input schemas (JSON Schema objects, unknown arguments refused).

The policy annotates arguments by these names, so every tool schema is closed
(``additionalProperties: false``): an argument the policy never saw can't reach git.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PATH", "boolean", "closed", "enum", "integer", "string", "strings"]

PATH: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 4096,
    "description": "Repository directory. Defaults to the working directory set by "
    "git_set_working_dir; relative paths are taken from that directory.",
}


def string(description: str, max_length: int = 4096) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": description}


def boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


def integer(description: str, minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def enum(values: list[str], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": values, "description": description}


def strings(description: str, max_items: int = 1000) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 4096},
        "maxItems": max_items,
        "description": description,
    }


def closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema
