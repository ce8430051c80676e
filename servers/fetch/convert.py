"""Turn a response body into the text the agent reads: markdown, plain text or raw HTML.

HTML goes through BeautifulSoup with ``script``/``style``/``noscript``/``template`` removed
(markdownify's ``strip`` keeps a tag's text, which for a script is code, not content), then
markdownify. Other textual types are returned as they are; binary types are refused rather than
dumped as mojibake. markdownify and bs4 are imported here, so import this module lazily.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from servers.wire.server import ToolError

__all__ = ["Rendered", "media_type", "render"]

FORMATS = ("markdown", "text", "html")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-ndjson"}
    | {"application/yaml", "application/x-yaml", "application/toml", "application/rss+xml"}
    | {"application/atom+xml", "application/ld+json", "image/svg+xml"}
)
_DROPPED_TAGS = ["script", "style", "noscript", "template", "head"]
_BLOCK_TAGS = frozenset(
    [
        *("p", "div", "br", "li", "tr", "pre", "blockquote", "section", "article", "header"),
        *("footer", "nav", "aside", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dt"),
        *("dd", "hr", "form", "main", "figure", "figcaption", "td", "th"),
    ]
)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Rendered:
    text: str
    media_type: str
    title: str | None
    html_cut: bool = False  # only the first max_html bytes of the HTML were converted
    notes: tuple[str, ...] = ()  # what the agent should know about how this was converted


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """('text/html', 'utf-8') from 'text/HTML; charset="UTF-8"'."""
    if not content_type:
        return "", None
    kind, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip().strip("\"'").lower()
    return kind.strip().lower(), charset


def render(
    body: bytes, content_type: str | None, fmt: str, base_url: str = "", max_html: int = 1 << 21
) -> Rendered:
    """The body as ``fmt`` (markdown|text|html); relative links made absolute to ``base_url``.

    Converting HTML costs ~2 ms per KiB here (parser and markdownify are pure Python), so only
    the first ``max_html`` bytes are converted: the fetch's time cap does not cover this step.
    """
    kind, charset = media_type(content_type)
    kind = kind or _sniff(body)
    if kind in _HTML_TYPES:
        cut = fmt != "html" and len(body) > max_html
        text = _decode(body[:max_html] if cut else body, charset or _meta_charset(body))
        if fmt == "html":
            return Rendered(text, kind, None)
        return _from_html(text, kind, fmt, base_url, cut)
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+json", "+xml")):
        return Rendered(_decode(body, charset), kind, None)
    raise ToolError(
        f"the response is {kind or 'unlabelled binary data'} ({len(body)} bytes); "
        "http_fetch returns HTML and text only"
    )


def _from_html(html: str, kind: str, fmt: str, base_url: str, cut: bool) -> Rendered:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    if base_url:  # the agent can only follow a link it can fetch: make them absolute
        for tag, attr in (("a", "href"), ("img", "src")):
            for node in soup.find_all(tag, attrs={attr: True}):
                node[attr] = urljoin(base_url, str(node[attr]).strip())
    notes: tuple[str, ...] = ()
    if fmt == "text":
        text = _plain_text(soup)
    else:
        from markdownify import MarkdownConverter

        try:
            text = MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup)
        except RecursionError:  # markdownify recurses per element; a hostile page nests deeply
            text = _plain_text(soup)
            notes = ("the page is nested too deeply for markdown; this is its plain text",)
    return Rendered(_BLANK_LINES.sub("\n\n", text).strip(), kind, title or None, cut, notes)


def _plain_text(root: Any) -> str:
    """The visible text, one line per block element; iterative, so any nesting depth is fine
    (bs4's insert_after and markdownify both cost per level of nesting)."""
    from bs4 import CData, NavigableString

    out: list[str] = []
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            out.append("\n")
        elif isinstance(node, NavigableString):
            if type(node) in (NavigableString, CData):  # not comments, doctypes, PIs
                out.append(str(node))
        else:
            if node.name in _BLOCK_TAGS:
                out.append("\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
    return "\n".join(" ".join(line.split()) for line in "".join(out).splitlines())


def _sniff(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if b"\0" in body[:4096]:
        return ""
    try:
        body[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 4092:  # not just a character cut at the sample's edge
            return ""
    return "text/plain"


def _meta_charset(body: bytes) -> str | None:
    found = _META_CHARSET.search(body[:4096])
    return found.group(1).decode("ascii").lower() if found else None


def _decode(body: bytes, charset: str | None) -> str:
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", "replace")
    try:
        return body.decode(codecs.lookup(charset or "utf-8").name, "replace")
    except LookupError:  # unknown, or not a text encoding at all (charset=rot13, bz2_codec)
        return body.decode("utf-8", "replace")
