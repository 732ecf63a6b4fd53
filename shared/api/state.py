"""The app's services: the factory given to `create_app`, called per request (production's is cheap: the
runtime caches the engine and settings; tests pass a fixed value)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from shared.api.services import ApiServices


class ServicesHolder:
    def __init__(self, factory: Callable[[], ApiServices]) -> None:
        self._factory = factory

    def get(self) -> ApiServices:
        return self._factory()


def services(request: Request) -> ApiServices:
    holder: ServicesHolder = request.app.state.services
    return holder.get()
