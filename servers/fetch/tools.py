"""The two tools, their argument schemas and their results.

The handlers import the HTTP client and the HTML converter on first use, so listing tools and
the MCP handshake never pay for httpcore, bs4 or markdownify.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from servers.fetch.settings import FetchSettings
from servers.wire.server import Tool, ToolError, ToolResult

if TYPE_CHECKING:  # for annotations only: importing them costs ~0.6 s, the handlers do it
    from servers.fetch.client import Response
    from servers.fetch.convert import Rendered

__all__ = ["build_tools"]

DEFAULT_MAX_LENGTH = 50_000
MAX_TIMEOUT = 120
# A line of the page that passes for one of this server's notes (markdownify writes http\_fetch).
_FAKE_NOTE = re.compile(r"^([ \t]*)\[(http\\?_fetch:)", re.MULTILINE | re.IGNORECASE)

HTTP_FETCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 8192, "description": "http(s) URL"},
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "extra request headers; Host, Connection and Proxy-* are dropped",
        },
        "max_length": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 50_000},
        "start_index": {"type": "integer", "minimum": 0, "default": 0},
        "format": {"type": "string", "enum": ["markdown", "text", "html"], "default": "markdown"},
        "timeout": {"type": "number", "minimum": 1, "maximum": MAX_TIMEOUT, "default": 30},
    },
    "required": ["url"],
    "additionalProperties": False,
}

WEB_SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 2000},
        "count": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def build_tools(settings: FetchSettings) -> list[Tool]:
    return [
        Tool(
            "http_fetch",
            "Fetch a public http(s) URL and return its content as markdown (default), plain text "
            "or raw HTML. Long pages are returned in parts: call again with start_index to "
            "continue. Private, loopback and cloud-metadata addresses are refused.",
            HTTP_FETCH_SCHEMA,
            lambda args: http_fetch(args, settings),
            annotations={"readOnlyHint": True, "openWorldHint": True},
        ),
        Tool(
            "web_search",
            "Search the web; returns a list of results, each with title, url and snippet.",
            WEB_SEARCH_SCHEMA,
            lambda args: web_search(args, settings),
            annotations={"readOnlyHint": True, "openWorldHint": True},
        ),
    ]


def http_fetch(args: dict[str, Any], settings: FetchSettings) -> ToolResult:
    from servers.fetch.client import request

    response = request(
        args["url"], settings, timeout=float(args.get("timeout", 30)), headers=args.get("headers")
    )
    rendered = _render(response, args.get("format", "markdown"), settings)
    start = args.get("start_index", 0)
    part, following = _window(rendered.text, start, args.get("max_length", DEFAULT_MAX_LENGTH))
    structured = {
        "url": args["url"],
        "final_url": response.url,
        "status": response.status,
        "content_type": rendered.media_type,
        "title": rendered.title,
        "total_length": len(rendered.text),
        "start_index": start,
        "next_start_index": following,
        "body_truncated": response.truncated,
        "html_cut": rendered.html_cut,
        "redirects": list(response.redirects),
        "redirect_to": response.redirect_to,
        "dropped_headers": list(response.dropped_headers),
    }
    notes = _notes(response, rendered, start, len(part), following, settings)
    # Only the server's own notes start a line with "[http_fetch:"; the page's are escaped (in
    # the part shown, so a start_index inside a line is covered too).
    shown = _FAKE_NOTE.sub(r"\1\\[\2", part)
    text = "\n\n".join(block for block in (shown, "\n".join(notes)) if block)
    if response.status >= 400:
        text = f"{_status_line(response)}\n\n{text}"
    return ToolResult(text, structured, is_error=response.status >= 400)


def _render(response: Response, fmt: str, settings: FetchSettings) -> Rendered:
    from servers.fetch.convert import render

    content_type = response.header("content-type")
    try:
        return render(
            response.body,
            content_type,
            fmt,
            response.url,
            settings.max_html_converted,
            settings.convert_seconds,
        )
    except ToolError:
        if response.status >= 400:  # the status is the news, not the error page's format
            raise ToolError(_status_line(response)) from None
        raise


def _status_line(response: Response) -> str:
    return f"HTTP {response.status} {response.reason} from {response.url}"


def _window(text: str, start: int, length: int) -> tuple[str, int | None]:
    """The part of ``text`` asked for, and where the next part starts (None at the end)."""
    if start and start >= len(text):
        raise ToolError(
            f"start_index {start} is past the end of the content ({len(text)} characters)"
        )
    part = text[start : start + length]
    end = start + len(part)
    return part, (end if end < len(text) else None)


def _notes(
    response: Response,
    rendered: Rendered,
    start: int,
    shown: int,
    following: int | None,
    settings: FetchSettings,
) -> list[str]:
    """What the agent needs to know besides the content, one bracketed line each."""
    total = len(rendered.text)
    notes = [f"{note}." for note in rendered.notes]
    if total == 0:
        notes.append("the page has no text content.")
    if following is not None:
        notes.append(
            f"showing characters {start}-{start + shown} of {total}. To continue, "
            f"call http_fetch again with start_index={following}."
        )
    if response.truncated:
        notes.append(
            f"the response was longer than {settings.max_body_bytes} bytes and was cut there."
        )
    if rendered.html_cut:
        notes.append(
            f"only the first {settings.max_html_converted} bytes of HTML were converted; "
            "format=html returns all of it, paged the same way."
        )
    if response.redirects:
        notes.append(f"redirected; the content is from {response.url}")
    if response.redirect_to:
        notes.append(
            f"{response.url} redirects to another host, not followed: {response.redirect_to} "
            "(call http_fetch with that URL to read it)"
        )
    if response.dropped_headers:
        notes.append(f"not sent: {', '.join(response.dropped_headers)}")
    return [f"[http_fetch: {note}]" for note in notes]


def web_search(args: dict[str, Any], settings: FetchSettings) -> ToolResult:
    from servers.fetch.search import search

    query = args["query"]
    hits = search(query, args.get("count", 5), settings)
    results = [{"title": h.title, "url": h.url, "snippet": h.snippet} for h in hits]
    if not results:
        text = f"No results for {query!r}."
    else:
        text = "\n\n".join(
            f"{n}. {h['title'] or '(no title)'}\n   {h['url']}\n   {h['snippet']}".rstrip()
            for n, h in enumerate(results, 1)
        )
    structured = {"query": query, "provider": settings.search.provider, "results": results}
    return ToolResult(text, structured)
