"""Prefect flows, one a module, each named as its flow (setup_storage.py -> setup-storage)."""
