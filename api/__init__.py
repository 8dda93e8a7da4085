"""The HTTP API of the storage layer (docs/spec.md §3)."""
