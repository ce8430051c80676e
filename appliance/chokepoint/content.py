"""A tool result's MCP content blocks as the one text the agent reads.

Every front (Code Mode's bridge, Docker mode's gate, ``mcp-proxy``) hands the agent text, so each
block kind has one rendering here, and nothing a server sends is silently dropped:

- ``text``: as it is;
- ``resource`` holding ``text`` (an embedded text resource): its URI on a line, then the text;
- binary content (``image``, ``audio``, a ``resource`` holding a ``blob``): never passed on as
  bytes — the agent gets a line naming the kind, MIME type and size, and saying the bytes were
  withheld, so code that expected them fails with a reason instead of decoding a placeholder;
- ``resource_link``: its URI and name (the agent cannot read resources; it can name one);
- any other kind: its name, marked as not shown.

Values a server chose (URIs, names, MIME types) are cut to a short length: they are shown, not
trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["content_text"]

_SHORT = 200  # characters of a server-chosen label (URI, name, MIME type)


def content_text(content: Sequence[Any]) -> str:
    return "\n".join(_block(block) for block in content)


def _block(block: Any) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        return _withheld(str(kind), _label(block.get("mimeType")), block.get("data"))
    if kind == "resource":
        return _resource(block.get("resource"))
    if kind == "resource_link":
        name = _label(block.get("name"))
        return f"[resource link {_label(block.get('uri'))}{f' ({name})' if name else ''}]"
    return f"[{_label(kind) or 'unknown'} content, not shown]"


def _resource(resource: Any) -> str:
    if not isinstance(resource, dict):
        return "[resource content, malformed]"
    uri, mime = _label(resource.get("uri")), _label(resource.get("mimeType"))
    if isinstance(resource.get("text"), str):
        return f"[resource {uri}{f' {mime}' if mime else ''}]\n{resource['text']}"
    return _withheld(f"resource {uri}", mime, resource.get("blob"))


def _withheld(what: str, mime: str, data: Any) -> str:
    size = len(data) if isinstance(data, str) else 0
    mime = f" {mime}" if mime else ""
    return f"[{what}{mime}, {size} base64 chars: binary content is not passed to the agent]"


def _label(value: Any) -> str:
    return value[:_SHORT] if isinstance(value, str) else ""
