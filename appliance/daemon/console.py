"""The daemon's web console: pending escalations with approve/deny, sessions, recent answers.

Loopback by default. Every request, pages included, needs the console token (Jupyter-style: the
daemon prints ``http://127.0.0.1:PORT/?token=...`` once and stores the token 0600). The first
visit with ``?token=`` trades it for an ``HttpOnly; SameSite=Strict`` cookie and redirects, so the
token leaves the address bar. Anything without a valid token is answered 401 and counted (any
web page can send such requests to loopback; the 1st, 10th, 100th ... are audited).

The console lives under a secret path, ``/c/<random>/``, and its cookie is limited to that
path: browsers keep cookies apart by host, never by port, so a cookie for ``/`` went with every
request to any program on 127.0.0.1 the browser was sent to, and that program had the token.
A notice after an answer is kept by the console and named by a random key in the URL: the page
shows no text from its URL. While escalations wait the page does not reload itself, so no
button moves under the approver's pointer when one above it goes.

CSRF: a form post must carry the token again as a hidden field (a page on another origin cannot
read it), and a request whose ``Origin`` or ``Host`` is not this console's is refused, which also
stops DNS rebinding. Pages are server-rendered HTML with inline CSS and no script, so nothing is
fetched from anywhere else; every value shown is HTML-escaped.
"""

from __future__ import annotations

import hmac
import html
import secrets
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote, urlsplit

from appliance.chokepoint.escalation.display import shown_arguments, shown_value
from appliance.config.paths import AppPaths
from appliance.daemon.bounded_http import BoundedHandler, BoundedServer
from appliance.daemon.hub import Hub, Pending
from appliance.daemon.pages import render_policy, render_session

__all__ = ["Console", "render_index"]

CHANNEL = "web-console"
_COOKIE = "ironcurtain_console"
_MAX_FORM = 16 * 1024
_NOTICES = 64  # answers' notices kept for their redirect (oldest forgotten)
_CSS = (
    "body{font:15px system-ui,sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
    "text-align:left;vertical-align:top}code{word-break:break-all}"
    ".esc{border:2px solid #c60;padding:1em;margin:1em 0}button{font-size:1em;margin-right:1em}"
)


class _FormRefused(Exception):
    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why

    def page(self, base: str) -> str:
        return _layout(
            f"<h2>{self.status.value} {self.status.phrase}</h2><p>{_e(self.why)}</p>", base=base
        )


def _form_length(values: list[str]) -> int:
    """The length of a form from its ``Content-Length`` headers: exactly one, of ASCII digits,
    1 to ``_MAX_FORM``; else :class:`_FormRefused` (400 or 413). ``int()`` alone takes ``-5``,
    ``+5``, ``1_0`` and Arabic-Indic digits, and raises on 5000 digits."""
    if len(values) != 1:
        raise _FormRefused(HTTPStatus.BAD_REQUEST, "a form needs one Content-Length header")
    value = values[0].strip()
    if not (value.isascii() and value.isdigit()):
        raise _FormRefused(HTTPStatus.BAD_REQUEST, "Content-Length must be a number of bytes")
    digits = value.lstrip("0") or "0"  # int() refuses more than 4300 digits, zeros too
    if len(digits) > len(str(_MAX_FORM)) or int(digits) > _MAX_FORM:
        raise _FormRefused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a form is at most {_MAX_FORM} bytes"
        )
    if digits == "0":
        raise _FormRefused(HTTPStatus.BAD_REQUEST, "the form is empty")
    return int(digits)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(value: str) -> str:
    """A value the call chose, HTML-escaped after its bidi overrides, zero-width and other
    unprintable characters are shown as escapes and mixed scripts flagged (as on the terminal
    and Signal): HTML escaping alone leaves U+202E free to reorder the path the approver reads."""
    return _e(shown_value(value))


def _escalation(item: Pending, token: str, base: str) -> str:
    req = item.request
    targets = "".join(
        f"<tr><th>{_n(role)}</th><td><code>{_n(v)}</code></td></tr>"
        for role, values in req.targets.items()
        for v in values
    )
    arguments, _ = shown_arguments(req.arguments, None)  # whole: the console approves any call
    hidden = (
        f'<input type="hidden" name="csrf" value="{_e(token)}">'
        f'<input type="hidden" name="id" value="{_e(item.short_id)}">'
        f'<input type="hidden" name="digest" value="{_e(req.call_digest)}">'
    )
    return (
        f'<div class="esc" id="esc-{_e(item.short_id)}"><h3>[{_e(item.short_id)}] '
        f"{_n(req.server)}/{_n(req.tool)} — session {_n(req.session_id)}</h3>"
        f"<table>{targets}<tr><th>arguments</th><td><code>{_e(arguments)}</code></td></tr>"
        f"<tr><th>reason</th><td>{_n(req.reason)} (rule <code>{_n(req.rule)}</code>)</td></tr>"
        f"<tr><th>call digest</th><td><code>{_e(req.call_digest)}</code></td></tr></table>"
        f'<form method="post" action="{base}answer">{hidden}'
        f'<button name="decision" value="approve" id="approve-{_e(item.short_id)}">Approve</button>'
        f'<button name="decision" value="deny" id="deny-{_e(item.short_id)}">Deny</button>'
        "</form></div>"
    )


def render_index(hub: Hub, token: str, *, base: str, notice: str = "") -> str:
    """The main page. ``notice`` is the console's own message about an answer, never text from
    the URL. It reloads itself every 2 s only while nothing waits: a reload while escalations
    are shown would move the buttons under a pointer when one above goes (an escalation's
    timeout is known to the agent that caused it, to the second)."""
    pending = hub.pending()
    sessions = "".join(
        f'<tr><td><a href="{base}session/{quote(s.session_id, safe="")}">'
        f"{_e(s.session_id)}</a></td>"
        f"<td>{s.pid}</td><td>{s.started:%Y-%m-%d %H:%M:%S}</td>"
        f"<td>{sum(p.request.session_id == s.session_id for p in pending)}</td></tr>"
        for s in hub.sessions
    )
    answers = "".join(
        f"<tr><td>{_e(a.get('ts', ''))}</td><td>{_e(a.get('channel', ''))}</td>"
        f"<td>{_e(a.get('shortId', ''))}</td><td>{_e(a.get('outcome', ''))}</td>"
        f"<td>{_e(a.get('reason', ''))}</td></tr>"
        for a in hub.answers()[-20:][::-1]
    )
    body = "".join(_escalation(p, token, base) for p in pending) or "<p>No pending escalations.</p>"
    still = (
        f'<p id="still">This page does not reload itself while escalations wait. <a href="{base}">'
        "Reload</a> to see new ones.</p>"
        if pending
        else ""
    )
    flash = f'<p id="notice"><strong>{_e(notice)}</strong></p>' if notice else ""
    return _layout(
        f"{flash}<h2>Pending escalations ({len(pending)})</h2>{still}{body}"
        f"<h2>Running sessions ({len(hub.sessions)})</h2><table><tr><th>session</th><th>pid</th>"
        f"<th>started (UTC)</th><th>pending</th></tr>{sessions}</table>"
        "<h2>Recent answers</h2><table><tr><th>time</th><th>channel</th><th>id</th>"
        f"<th>outcome</th><th>why</th></tr>{answers}</table>",
        base=base,
        refresh=not pending,
    )


def _layout(body: str, *, base: str, refresh: bool = False) -> str:
    reload = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{reload}'
        f"<title>IronCurtain console</title><style>{_CSS}</style></head><body>"
        f'<h1>IronCurtain</h1><p><a href="{base}">escalations and sessions</a> | '
        f'<a href="{base}policy">policy and budgets</a></p>{body}</body></html>'
    )


class Console:
    """Serve the console on ``host:port`` (port 0 picks one) in a background thread."""

    def __init__(
        self,
        hub: Hub,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        paths: AppPaths | None = None,
    ) -> None:
        self.hub, self.token, self.paths = hub, token, paths
        self._secret = secrets.token_urlsafe(24)  # the path's part: see the module docstring
        self._notices: OrderedDict[str, str] = OrderedDict()
        self._notices_lock = threading.Lock()
        # connections bounded in number, time and head size (bounded_http); refusals counted
        self._server = BoundedServer((host, port), _handler(self), self._refused)
        self.host, self.port = host, self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def _refused(self, why: str) -> None:
        self.hub.refuse_counted(CHANNEL, why)  # anyone can cause one: counted, not each audited

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base(self) -> str:
        """The path the console's pages live under (and its cookie is limited to)."""
        return f"/c/{self._secret}/"

    def url(self) -> str:
        return f"{self.origin}/?token={self.token}"

    def below_base(self, path: str) -> str | None:
        """The rest of ``path`` under :attr:`base`, or None when it is not under it."""
        if not path.startswith("/c/"):
            return None
        secret, slash, rest = path[len("/c/") :].partition("/")
        if not slash or not hmac.compare_digest(secret.encode(), self._secret.encode()):
            return None
        return rest

    def hide_secret(self, text: str) -> str:
        return text.replace(self._secret, "...")

    def keep_notice(self, text: str) -> str:
        """Keep an answer's notice; return the random key its redirect names."""
        key = secrets.token_urlsafe(12)
        with self._notices_lock:
            self._notices[key] = text
            while len(self._notices) > _NOTICES:
                self._notices.popitem(last=False)
        return key

    def notice(self, key: str) -> str:
        with self._notices_lock:
            return self._notices.get(key, "")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token_ok(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())


def _handler(console: Console) -> type[BoundedHandler]:
    class Handler(BoundedHandler):
        server_version = "IronCurtain"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:
            return  # the audit records what matters; no token-bearing URLs in logs

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            # not no-referrer: with it Chromium sends "Origin: null" on our own form posts
            self.send_header("Referrer-Policy", "same-origin")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                "frame-ancestors 'none'",
            )
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _cookie_token(self) -> str:
            jar = SimpleCookie()
            try:
                jar.load(self.headers.get("Cookie", ""))
            except Exception:
                return ""
            morsel = jar.get(_COOKIE)
            return morsel.value if morsel else ""

        def _same_origin(self) -> bool:
            """Host must name this console (no DNS rebinding); Origin, when sent, too."""
            host = self.headers.get("Host", "")
            if host != f"{console.host}:{console.port}":
                return False
            origin = self.headers.get("Origin")
            return origin is None or origin == console.origin

        def _where(self) -> str:
            """The request for the audit: its path, with the console's secret part hidden
            (the audit is shown on the page), cut to 120 characters and neutralised."""
            shown = console.hide_secret(urlsplit(self.path).path)
            return f"{self.command} {shown_value(shown[:120])}"

        def _deny(self, why: str, *, counted: bool = True) -> None:
            """401. Before the token is checked any web page can cause one (an ``<img>`` to
            loopback): counted, not each audited; a form without its CSRF token always is."""
            where = self._where()
            if counted:
                console.hub.refuse_counted(CHANNEL, why, where)
            else:
                console.hub.refuse(CHANNEL, f"{why} ({where})")
            self._send(
                HTTPStatus.UNAUTHORIZED, "<h1>401</h1><p>Open the URL the daemon printed.</p>"
            )

        def _form(self) -> bytes:
            length = _form_length(self.headers.get_all("Content-Length") or [])
            try:  # within the request's deadline (bounded_http), however slowly it trickles
                return self.rfile.read(length)
            except TimeoutError:
                raise _FormRefused(HTTPStatus.REQUEST_TIMEOUT, "the form did not arrive") from None

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if not self._same_origin():
                return self._deny("foreign Host or Origin")
            given = query.get("token", [""])[0]
            if given:
                if not console.token_ok(given):
                    return self._deny("bad token")
                # Path: the browser sends it to no other port's program (which it would for /)
                cookie = (
                    f"{_COOKIE}={console.token}; HttpOnly; SameSite=Strict; Path={console.base}"
                )
                headers = {"Location": console.base, "Set-Cookie": cookie}
                return self._send(HTTPStatus.SEE_OTHER, "", headers)
            if not console.token_ok(self._cookie_token()):
                return self._deny("missing or bad token")
            rest = console.below_base(url.path)
            if rest is None:
                return self._deny("not the console's path")
            if rest:
                return self._page(rest)
            notice = console.notice(query.get("n", [""])[0])
            page = render_index(console.hub, console.token, base=console.base, notice=notice)
            self._send(HTTPStatus.OK, page)

        def _page(self, rest: str) -> None:
            body = None
            if console.paths is not None and rest == "policy":
                body = render_policy(console.paths)
            elif console.paths is not None and rest.startswith("session/"):
                body = render_session(console.paths, unquote(rest.removeprefix("session/")))
            if body is None:
                return self._not_found()
            self._send(HTTPStatus.OK, _layout(body, base=console.base))

        def _not_found(self) -> None:
            self._send(HTTPStatus.NOT_FOUND, _layout("<h2>not found</h2>", base=console.base))

        def do_POST(self) -> None:
            if not self._same_origin():
                return self._deny("foreign Host or Origin")
            if not console.token_ok(self._cookie_token()):
                return self._deny("missing or bad token")
            rest = console.below_base(urlsplit(self.path).path)
            if rest is None:
                return self._deny("not the console's path")
            if rest != "answer":
                return self._not_found()
            try:
                raw = self._form()
            except _FormRefused as refused:
                self.close_connection = True  # the rest of the stream is not a request
                return self._send(refused.status, refused.page(console.base))
            form = parse_qs(raw.decode("utf-8", "replace"))
            field = {k: v[0] for k, v in form.items() if len(v) == 1}
            if not console.token_ok(field.get("csrf", "")):
                return self._deny("form without the CSRF token", counted=False)
            result = console.hub.answer(
                field.get("id", ""), field.get("decision", ""), field.get("digest", ""), CHANNEL
            )
            key = console.keep_notice(result.message if result.ok else f"refused: {result.message}")
            self._send(HTTPStatus.SEE_OTHER, "", {"Location": f"{console.base}?n={key}"})

    return Handler
