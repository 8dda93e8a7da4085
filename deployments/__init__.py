"""How the flows are served and triggered locally (`prefect.yaml` holds the same for production)."""
