"""OpenClaw pairing for containers: stable device identities and a sidecar that approves only known ones."""

__version__ = "0.1.0"
