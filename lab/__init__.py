"""The lab: real registry, token service and clients in network namespaces (see lab/run.py)."""
