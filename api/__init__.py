"""The matchgraph HTTP layer: JSON API under /api, server-rendered pages, metrics.

`create_app(home)` builds the FastAPI app over one `matchgraph.Engine`; `matchgraph serve` runs it
with uvicorn.
"""

from .app import create_app

__all__ = ["create_app"]
