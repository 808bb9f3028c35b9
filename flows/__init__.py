"""Prefect flows: thin wrappers that compose a config and call dynlearn's library functions."""
