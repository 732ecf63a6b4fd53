"""The management HTTP API (DESIGN section 9): a FastAPI app served by the Functions host through
`func.AsgiMiddleware` (see `shared.triggers.api`). `shared.api.app.create_app()` builds it without any I/O;
nothing here imports FastAPI, so the app's other functions never load it (it costs about 0.3 s)."""
