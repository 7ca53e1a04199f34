"""What every response carries for the browser's protection, and what a public answer never shows
(the server's folders)."""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
