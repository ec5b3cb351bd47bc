"""The finding catalogue, one module per part of the troubleshooting flowchart (rows only, no logic)."""

from sidecar.doctor.catalogue import connection, deployment, identity

ENTRIES = (*connection.ENTRIES, *identity.ENTRIES, *deployment.ENTRIES)
