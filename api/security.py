"""What every response carries for the browser's protection, what a public answer never shows
(the server's folders), and the one write-token check both faces (HTTP, MCP) run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matchgraph.core.errors import Unauthorized

if TYPE_CHECKING:
    from matchgraph.engine.engine import Engine

    from .guard import ClientGuard

# Pages load scripts and styles from /static only; inline style attributes (score bars) are the
# one exception. /docs (Swagger UI from /docs/assets, api/docs.py) starts itself with an inline
# script, so its policy allows that and nothing from elsewhere.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"), (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeadersMiddleware:
    """The usual security headers on every response, and a Content-Security-Policy on pages."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "").startswith("/docs")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                media = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if media.startswith(b"text/html"):
                    headers.append((b"content-security-policy", (DOCS_CSP if docs else PAGE_CSP).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def public_text(text: str | None, home: Path) -> str | None:
    """`text` without the server's folders: a public response names the home folder as <home>."""
    return text.replace(str(home), "<home>") if text else text


def public_model(name: str | None) -> str | None:
    """A model named by a local path is shown by its last part only."""
    return Path(name).name if name and ("/" in name or "\\" in name) and Path(name).is_absolute() else name


BLOCKED = "too many wrong tokens from this client; try again in a minute"


class TokenRefused(Exception):
    """A write refused by `check_write_token`. `reason`: "blocked" (too many wrong tokens from
    this client in the last minute), or Unauthorized's "disabled", "missing", "wrong"; the
    message is the engine's (each face adds how to send the token)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_write_token(engine: "Engine", given: str | None, guard: "ClientGuard | None" = None,
                      request: Any = None) -> None:
    """The engine's token rule for a write, as HTTP and MCP both run it: with the app's `guard`
    and the HTTP `request`, a client past server.token_failures_per_minute wrong tokens is
    refused for the minute before its token is looked at, and each wrong token counts against
    it (stdio MCP has neither). Raises TokenRefused."""
    guarded = guard is not None and request is not None
    if guarded and given and guard.token_blocked(request):
        raise TokenRefused("blocked", BLOCKED)
    try:
        engine.authorize(given)
    except Unauthorized as exc:
        if guarded and exc.reason == "wrong":
            guard.token_failed(request)
        raise TokenRefused(exc.reason, str(exc)) from None
