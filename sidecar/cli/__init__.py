"""Placeholder CLI; replaced by the gateway-client work (issue 4)."""


def main() -> int:
    raise SystemExit("not implemented yet")
