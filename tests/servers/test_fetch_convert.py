"""Body to text: hostile pages (deep nesting, odd charsets, mislabelled bytes) stay bounded."""

from __future__ import annotations

import time

import pytest

from servers.fetch.convert import media_type, render
from servers.wire.server import ToolError


def test_deeply_nested_html_converts_in_bounded_time_in_both_formats() -> None:
    deep = b"<div>" * 5000 + b"<p>core</p>" + b"</div>" * 5000
    started = time.monotonic()
    text = render(deep, "text/html", "text")
    markdown = render(deep, "text/html", "markdown")
    assert time.monotonic() - started < 10
    assert text.text == "core" and text.notes == ()
    assert markdown.text == "core"
    assert markdown.notes == ("the page is nested too deeply for markdown; this is its plain text",)


def test_text_keeps_inline_runs_together_and_drops_comments_and_scripts() -> None:
    html = (
        b"<body><h2>Title</h2><!-- hidden note --><p>one <i>two</i> three</p>"
        b"<script>var x = 1;</script>tail</body>"
    )
    lines = [line for line in render(html, "text/html", "text").text.splitlines() if line]
    assert lines == ["Title", "one two three", "tail"]


@pytest.mark.parametrize("charset", ["rot13", "bz2_codec", "no-such-charset", "base64"])
def test_charsets_that_are_not_text_encodings_fall_back_to_utf8(charset: str) -> None:
    rendered = render("caf\u00e9".encode(), f"text/plain; charset={charset}", "markdown")
    assert rendered.text == "caf\u00e9"


def test_unlabelled_bodies_are_sniffed() -> None:
    assert render(b"<!DOCTYPE html><p>x</p>", None, "markdown").media_type == "text/html"
    assert render(b"plain words", None, "markdown").text == "plain words"
    with pytest.raises(ToolError, match="unlabelled binary data"):
        render(b"\x00\x01\x02binary", None, "markdown")


def test_utf8_bom_wins_and_media_type_parameters_parse() -> None:
    assert render(b"\xef\xbb\xbfhi", "text/plain; charset=latin-1", "text").text == "hi"
    assert media_type('Text/HTML; Charset="UTF-8"; q=1') == ("text/html", "utf-8")
    assert media_type(None) == ("", None)


def test_links_and_images_are_made_absolute_against_the_final_url() -> None:
    html = b'<p><a href="../up">u</a> <img src="i.png" alt="pic"></p>'
    text = render(html, "text/html", "markdown", "https://site.example/a/b/page").text
    assert "[u](https://site.example/a/up)" in text
    assert "![pic](https://site.example/a/b/i.png)" in text
