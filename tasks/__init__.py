"""Small retryable Prefect tasks, one concern a module."""
