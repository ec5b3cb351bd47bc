"""Placeholder replaced by the identity work (issue 3)."""


def main() -> int:
    raise SystemExit("not implemented yet")
