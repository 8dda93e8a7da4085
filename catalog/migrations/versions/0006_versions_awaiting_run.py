"""Versions awaiting their ingestion run: a partial index for the run dispatcher's poll

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A confirm records the version with no run (`flow_run_id` NULL), the run's request; the API's
run dispatcher creates the run and records it (api/run_dispatch.py), and polls for requests
left without one. The index holds only those few rows, so the poll costs the same however many
versions the catalog keeps. Nothing else changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_dataset_versions_awaiting_run",
        "dataset_versions",
        ["created_at"],
        unique=False,
        sqlite_where=sa.text("flow_run_id IS NULL"),
        postgresql_where=sa.text("flow_run_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_versions_awaiting_run", table_name="dataset_versions")
