"""doctor: the troubleshooting page as checks — which 1008 error it is, why here, and the exact fix.

``findings`` is the catalogue (stable ids, why, fix), ``classify`` reads error texts, ``checks`` look at
the system (read-only), ``diagnose`` runs them and connects the dots, ``fix`` makes only safe local
repairs (never an approval), ``report`` prints, ``catalogue_md`` generates docs/troubleshooting.md.
Entry points: ``openclaw-sidecar doctor`` and ``openclaw-entrypoint --doctor`` (sidecar/cli/doctor.py).
"""
