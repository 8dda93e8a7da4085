"""The plain client of the Prefect API: starting deployment runs, reading their state, events."""
