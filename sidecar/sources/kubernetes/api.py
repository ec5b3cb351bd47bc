"""The Kubernetes API calls the sidecar makes, through ``kubernetes_asyncio`` — imported only here, lazily.

Why this library: see docs/DESIGN.md ("Kubernetes client"). Every call returns plain JSON (dicts): the
sidecar keeps a few facts per pod (:class:`~.pods.PodInfo`), never the client's model objects, so a
watch over thousands of pods stays small. Failures are sorted into two classes: :class:`Gone` (HTTP 410,
the resourceVersion is too old: relist) and :class:`~sidecar.errors.SourceError` (the API is unreachable
or refused us: the watch is down, callers back off and reconnect).

The calls and the RBAC verbs they need (k8s/pairing/rbac.yaml): pods list/watch/get; tokenreviews create
(enrollment only); the enrollment ConfigMap get/patch by resourceNames. Never secrets, never pods/exec.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sidecar.errors import ConfigError, SourceError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
WATCH_TIMEOUT_S = 290  # server-side watch timeout; the watch resumes from its last resourceVersion
LIST_PAGE = 500


class NotFound(Exception):
    """HTTP 404."""


class Gone(Exception):
    """HTTP 410: the resourceVersion is no longer available; list again."""


def in_cluster(environ: Any = os.environ) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and (SA_DIR / "token").exists()


def available() -> bool:
    try:
        import kubernetes_asyncio  # noqa: F401
    except ImportError:
        return False
    return True


def _missing() -> ConfigError:
    return ConfigError(
        "source kubernetes needs the Kubernetes client: pip install 'openclaw-pairing[kubernetes]' "
        "(the project's image has it)"
    )


def _sort(exc: BaseException, what: str) -> Exception:
    from kubernetes_asyncio.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        if exc.status == 410:
            return Gone(str(exc.reason))
        return SourceError(f"Kubernetes API refused {what}: HTTP {exc.status} {exc.reason}")
    return SourceError(f"Kubernetes API unreachable ({what}): {type(exc).__name__}: {exc}")


class KubeAPI:
    """One ApiClient and the handful of calls the source and the enrollment endpoint make."""

    def __init__(self, api_client: Any, own_namespace: str) -> None:
        from kubernetes_asyncio import client

        self._client = api_client
        self.own_namespace = own_namespace
        # Any: the generated signatures want model objects; we send and read plain JSON.
        self._core: Any = client.CoreV1Api(api_client)
        self._auth: Any = client.AuthenticationV1Api(api_client)

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> KubeAPI:
        """In a pod: the ServiceAccount's config; elsewhere: ``$KUBECONFIG`` / ``~/.kube/config``."""
        if not available():
            raise _missing()
        from kubernetes_asyncio import client
        from kubernetes_asyncio import config as kube_config

        config: Any = kube_config

        configuration = client.Configuration()
        try:
            if kubeconfig is None and in_cluster():
                config.load_incluster_config(client_configuration=configuration)
                namespace = (SA_DIR / "namespace").read_text().strip() or "default"
            else:
                path = kubeconfig or os.environ.get("KUBECONFIG") or None
                await config.load_kube_config(config_file=path, client_configuration=configuration)
                _, active = config.list_kube_config_contexts(path)
                namespace = ((active or {}).get("context") or {}).get("namespace") or "default"
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"no Kubernetes API configuration (in-cluster or KUBECONFIG): {exc}") from None
        return cls(client.ApiClient(configuration), namespace)

    async def close(self) -> None:
        await self._client.close()

    # --- pods ---------------------------------------------------------------------------------------

    async def list_pods(self, namespace: str, selector: str) -> tuple[list[dict[str, Any]], str]:
        """Every pod matching ``selector`` (paged) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"label_selector": selector, "limit": LIST_PAGE}
            if token:
                kwargs["_continue"] = token
            call = self._core.list_namespaced_pod(namespace, _preload_content=False, **kwargs)
            page = await self._json(call, f"list pods in {namespace}")
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout_s: int = WATCH_TIMEOUT_S
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) events after ``resource_version``, bookmarks included; ends at the timeout."""
        from kubernetes_asyncio import watch

        stream = watch.Watch(return_type="object")
        try:
            async with stream.stream(
                self._core.list_namespaced_pod,
                namespace,
                label_selector=selector,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_s,
            ) as events:
                async for event in events:
                    yield str(event["type"]), dict(event["raw_object"])
        except Exception as exc:
            raise _sort(exc, "watch pods") from exc

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        call = self._core.read_namespaced_pod(name, namespace, _preload_content=False)
        try:
            return await self._json(call, f"get pod {namespace}/{name}")
        except NotFound:
            return None

    # --- enrollment ---------------------------------------------------------------------------------

    async def token_review(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The TokenReview's ``status`` (authenticated, user, audiences, error)."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": audiences},
        }
        call = self._auth.create_token_review(body, _preload_content=False)
        review = await self._json(call, "create tokenreviews")
        return dict(review.get("status") or {})

    async def get_configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        call = self._core.read_namespaced_config_map(name, namespace, _preload_content=False)
        try:
            cm = await self._json(call, f"get configmap {namespace}/{name}")
        except NotFound:
            return None
        return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}

    async def patch_configmap(self, namespace: str, name: str, data: dict[str, str | None]) -> None:
        """JSON merge patch of ``data`` (None deletes a key)."""
        call = self._core.patch_namespaced_config_map(
            name,
            namespace,
            {"data": data},
            _content_type="application/merge-patch+json",
            _preload_content=False,
        )
        await self._json(call, f"patch configmap {name}")

    # --- plumbing -----------------------------------------------------------------------------------

    async def _json(self, call: Any, what: str) -> dict[str, Any]:
        """Await a generated call made with ``_preload_content=False``: the response's JSON, no models.

        Raises :class:`NotFound` (404), :class:`Gone` (410) or SourceError (anything else that is not 2xx,
        or the API unreachable).
        """
        try:
            response = await call
            body = await response.read()
        except Exception as exc:
            raise _sort(exc, what) from exc
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {"message": body[:200].decode("utf-8", "replace")}
        status = int(response.status)
        if status == 404:
            raise NotFound(what)
        if status == 410:
            raise Gone(str(data.get("message") or "resourceVersion too old"))
        if not 200 <= status <= 299:
            raise SourceError(
                f"Kubernetes API refused {what}: HTTP {status} {data.get('message') or ''}".strip()
            )
        if not isinstance(data, dict):
            raise SourceError(f"Kubernetes API sent unexpected JSON for {what}")
        return data
