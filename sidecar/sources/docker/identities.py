"""Reading the identity a container publishes (``device.pub.json``) through the engine's archive API.

Why this way: the sidecar never execs into containers and never mounts their volumes; the archive API
returns the one file, bounded in size, refused unless it is a regular file (no links, devices, or tricks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sidecar.identity.keys import PublicIdentity
from sidecar.sources.docker.api import ApiRefused, DockerAPI, NotFound
from sidecar.sources.docker.archive import (
    IdentityUnavailable,
    check_archive_stat,
    parse_identity_archive,
    read_bounded,
)
from sidecar.sources.docker.scope import DockerSourceOptions

ARCHIVE_CHUNK = 16 * 1024


def read_published_identity(
    call: Callable[..., Any],
    api: DockerAPI,
    container_id: str,
    path: str,
    options: DockerSourceOptions,
) -> PublicIdentity:
    """The verified public identity at ``path`` in the container; IdentityUnavailable says why not."""
    try:
        chunks, stat = call(api.get_archive, container_id, path, chunk_size=ARCHIVE_CHUNK)
    except NotFound:
        raise IdentityUnavailable(
            f"{path} does not exist in the container: publish the identity there (openclaw-entrypoint "
            f"does) or point label {options.identity_path_label} at it"
        ) from None
    except ApiRefused as exc:
        raise IdentityUnavailable(f"{path}: the engine refused the read ({exc})") from None
    try:
        check_archive_stat(stat, path)
        data = read_bounded(chunks)
    finally:
        with contextlib.suppress(Exception):
            chunks.close()
    return parse_identity_archive(data, path)
