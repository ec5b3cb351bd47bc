"""The Docker Engine API surface this package uses, connecting to it, and sorting its failures.

:class:`DockerAPI` is the subset of ``docker.APIClient`` the source calls (unit tests pass fakes of it).
Every failure of a call is sorted into one of three kinds (:func:`sort_error`), because each means
something different to the source: the thing is not there (404), the engine answered but refused
(another HTTP error: e.g. a socket proxy), or the engine is unreachable (a lost connection).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from sidecar.errors import SourceError


class DockerAPI(Protocol):
    def containers(self, *, all: bool = ..., filters: dict[str, Any] | None = ...) -> Any: ...
    def inspect_container(self, container: str) -> Any: ...
    def networks(self, names: Any = ..., ids: Any = ..., filters: dict[str, Any] | None = ...) -> Any: ...
    def inspect_network(self, net_id: str) -> Any: ...
    def get_archive(self, container: str, path: str, chunk_size: int | None = ...) -> Any: ...
    def events(self, *, filters: dict[str, Any] | None = ..., decode: Literal[True] = ...) -> Any: ...
    def ping(self) -> Any: ...


class EventStream(Protocol):
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


def connect(base_url: str | None = None, timeout: float = 10.0) -> DockerAPI:
    """A low-level client from DOCKER_HOST (or ``base_url``); errors name what to fix."""
    import docker  # lazy: keeps `openclaw-sidecar --help` fast

    try:
        if base_url:
            return docker.APIClient(base_url=base_url, timeout=int(timeout), version="auto")
        return docker.from_env(timeout=int(timeout)).api
    except docker.errors.DockerException as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "default socket"
        raise SourceError(
            f"cannot connect to the Docker engine ({where}): {exc}. "
            "Mount /var/run/docker.sock (read-only is enough) or a socket proxy and set DOCKER_HOST"
        ) from None


class NotFound(SourceError):
    """404 from the engine: the container, network or path does not exist (internal to the package)."""


class ApiRefused(SourceError):
    """The engine answered with an HTTP error other than 404."""


def is_not_found(exc: BaseException) -> bool:
    return getattr(getattr(exc, "response", None), "status_code", None) == 404


def is_api_error(exc: BaseException) -> bool:
    """An HTTP answer from the engine (the engine is there, the request failed) vs a lost connection."""
    response = getattr(exc, "response", None)
    return response is not None and getattr(response, "status_code", None) is not None


def api_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    status = getattr(getattr(exc, "response", None), "status_code", "?")
    return f"HTTP {status}: {explanation or exc}"


def sort_error(exc: BaseException) -> tuple[Exception, bool]:
    """What to raise instead of an SDK call's ``exc``, and whether the engine answered at all."""
    if is_not_found(exc):
        return NotFound(str(exc)), True
    if is_api_error(exc):
        return ApiRefused(api_message(exc)), True
    return SourceError(
        f"the Docker engine is unreachable ({type(exc).__name__}: {exc}). Check that the Docker "
        "socket (or socket proxy) is mounted and DOCKER_HOST points at it"
    ), False
