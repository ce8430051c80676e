"""Turn a response body into the text the agent reads: markdown, plain text or raw HTML.

HTML goes through BeautifulSoup with ``script``/``style``/``noscript``/``template`` removed
(markdownify's ``strip`` keeps a tag's text, which for a script is code, not content), then
markdownify. Other textual types are returned as they are; binary types are refused rather than
dumped as mojibake. markdownify and bs4 are imported here, so import this module lazily.

The page is hostile, so the work is bounded: the parse and the conversion stop at a time budget
(Python 3.13.0's ``html.parser`` takes quadratic time on some unclosed constructs, 26 s for
200 KB of ``<a``), only charsets on an allowlist are decoded (``punycode`` decodes in quadratic
time, ``idna`` raises), and control characters (terminal escapes among them) never reach the
agent.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
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
# Labels of the encodings the web uses (WHATWG Encoding Standard), as Python names them. Any
# other label (punycode, idna, utf-7, unicode_escape, base64, ...) is read as UTF-8.
_CHARSET_LABELS = (
    *("utf-8", "utf-16", "utf-16le", "utf-16be", "utf-32", "utf-32le", "utf-32be", "ascii"),
    *(f"iso-8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
    *(f"windows-{n}" for n in range(1250, 1259)),
    *("koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp866", "cp874", "tis-620", "gbk"),
    *("gb18030", "gb2312", "big5", "big5hkscs", "euc-jp", "iso-2022-jp", "shift_jis"),
    *("cp932", "euc-kr", "cp949", "cp950"),
)
_CHARSETS = frozenset(codecs.lookup(label).name for label in _CHARSET_LABELS)
# Every control character but TAB and LF: CR, NUL, ESC (terminal escapes), DEL and C1.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
CONVERT_SECONDS = 20.0  # the parse and conversion of one page: ~8 s for 2 MiB of plain HTML
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Rendered:
    text: str
    media_type: str
    title: str | None
    html_cut: bool = False  # only the first max_html bytes of the HTML were converted
    notes: tuple[str, ...] = ()  # what the agent should know about how this was converted


class _OutOfTime(Exception):
    """The budget for converting one page is spent (raised from inside the parser)."""


@dataclass(frozen=True)
class _Budget:
    seconds: float
    deadline: float
    clock: Callable[[], float]

    def check(self) -> None:
        if self.clock() >= self.deadline:
            raise _OutOfTime


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
    body: bytes,
    content_type: str | None,
    fmt: str,
    base_url: str = "",
    max_html: int = 1 << 21,
    seconds: float = CONVERT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Rendered:
    """The body as ``fmt`` (markdown|text|html); relative links made absolute to ``base_url``;
    control characters removed.

    Converting HTML costs ~2-4 ms per KiB here (parser and markdownify are pure Python), so only
    the first ``max_html`` bytes are converted, within ``seconds`` (the fetch's time cap does
    not cover this step); markup that takes longer is refused, not waited for.
    """
    budget = _Budget(seconds, clock() + seconds, clock)
    rendered = _render(body, content_type, fmt, base_url, max_html, budget)
    title = _clean(rendered.title) if rendered.title else rendered.title
    return Rendered(
        _clean(rendered.text), rendered.media_type, title, rendered.html_cut, rendered.notes
    )


def _clean(text: str) -> str:
    return _CONTROLS.sub("", text)


def _render(
    body: bytes, content_type: str | None, fmt: str, base_url: str, max_html: int, budget: _Budget
) -> Rendered:
    kind, charset = media_type(content_type)
    kind = kind or _sniff(body)
    if kind in _HTML_TYPES:
        cut = fmt != "html" and len(body) > max_html
        text = _decode(body[:max_html] if cut else body, charset or _meta_charset(body))
        if fmt == "html":
            return Rendered(text, kind, None)
        try:
            return _from_html(text, kind, fmt, base_url, cut, budget)
        except _OutOfTime:
            raise ToolError(
                f"converting this page's HTML took longer than {budget.seconds:g} s (markup "
                "that the parser handles slowly, such as many unclosed tags or comments); "
                "format=html returns the page as sent"
            ) from None
    if kind.startswith("text/") or kind in _TEXT_TYPES or kind.endswith(("+json", "+xml")):
        return Rendered(_decode(body, charset), kind, None)
    raise ToolError(
        f"the response is {kind or 'unlabelled binary data'} ({len(body)} bytes); "
        "http_fetch returns HTML and text only"
    )


def _from_html(
    html: str, kind: str, fmt: str, base_url: str, cut: bool, budget: _Budget
) -> Rendered:
    soup = _parse(html, budget)
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    if base_url:  # the agent can only follow a link it can fetch: make them absolute
        for tag, attr in (("a", "href"), ("img", "src")):
            for node in soup.find_all(tag, attrs={attr: True}):
                node[attr] = urljoin(base_url, str(node[attr]).strip())
    notes: tuple[str, ...] = ()
    if fmt == "text":
        text = _plain_text(soup, budget)
    else:
        try:
            text = _markdown(soup, budget)
        except RecursionError:  # markdownify recurses per element; a hostile page nests deeply
            text = _plain_text(soup, budget)
            notes = ("the page is nested too deeply for markdown; this is its plain text",)
    return Rendered(_BLANK_LINES.sub("\n\n", text).strip(), kind, title or None, cut, notes)


def _parse(html: str, budget: _Budget) -> Any:
    """BeautifulSoup's tree of ``html``, built under ``budget``: html.parser calls the soup's
    handlers once per construct, including in its slow end-of-input loop, so checking the
    clock there stops any slow parse within a few milliseconds of the deadline."""
    from bs4 import BeautifulSoup

    class TimedSoup(BeautifulSoup):
        def handle_starttag(self, *args: Any, **kwargs: Any) -> Any:
            budget.check()
            return super().handle_starttag(*args, **kwargs)

        def handle_data(self, data: str) -> None:
            budget.check()
            super().handle_data(data)

    return TimedSoup(html, "html.parser")


def _markdown(soup: Any, budget: _Budget) -> str:
    from markdownify import MarkdownConverter

    class TimedConverter(MarkdownConverter):
        def process_element(self, node: Any, parent_tags: Any = None) -> str:
            budget.check()  # a tag's cost grows with its depth (find_parent per tag)
            return super().process_element(node, parent_tags=parent_tags)

    return TimedConverter(heading_style="ATX", bullets="-").convert_soup(soup)


def _plain_text(root: Any, budget: _Budget) -> str:
    """The visible text, one line per block element; iterative, so any nesting depth is fine
    (bs4's insert_after and markdownify both cost per level of nesting)."""
    from bs4 import CData, NavigableString

    out: list[str] = []
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        budget.check()
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
        name = codecs.lookup(charset or "utf-8").name
    except LookupError:  # unknown (charset=no-such-thing)
        name = "utf-8"
    return body.decode(name if name in _CHARSETS else "utf-8", "replace")
