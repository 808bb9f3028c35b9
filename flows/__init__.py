"""Prefect flows: thin wrappers that compose a config and call dynlearn's public API.

One module per stage (generate, ingest, train, evaluate, forecast) and the pipeline that chains
generate, train and evaluate; `_shared` holds what they share (task policy, cache keys, whole
outputs, artifacts, the command line); `serve` defines the scheduled deployments in one table
and `server` runs them on a Prefect server with PostgreSQL (`make serve`).
"""
