"""The sync engine: ports, the pure planner and safety rails, and the engine that runs a plan.

Imports only calsync.domain (architecture.md): it never sees HTTP, SQL or Graph JSON.
"""
