"""The HTTP API of the storage layer (spec section 3)."""
