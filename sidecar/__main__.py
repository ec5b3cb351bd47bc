"""``python -m sidecar`` is ``openclaw-sidecar``."""

from sidecar.cli import main

raise SystemExit(main())
