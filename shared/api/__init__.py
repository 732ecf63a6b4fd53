"""The management HTTP API (DESIGN section 9): a FastAPI app served by the Functions host through
`func.AsgiMiddleware` (see `shared.triggers.api`). `create_app()` builds it without any I/O."""

from shared.api.app import create_app

__all__ = ["create_app"]
