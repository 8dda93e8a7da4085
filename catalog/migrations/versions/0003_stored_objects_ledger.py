"""stored_objects ledger (every object kept for a user, with its size), datasets.status
(active -> deleting -> deleted), jobs.deleted_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Existing data is carried over: deleted datasets become `deleted`; each ready version of a live
dataset is recorded `live` with its Parquet size, and each failed version's kept upload `kept`
with its declared size. Models and plots made before this migration have no recorded size and
are not in the ledger (`automl fsck` reports them).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_objects",
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("upload_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.create_index("ix_stored_objects_user_state", ["user_id", "state"], unique=False)
        batch_op.create_index(
            "ix_stored_objects_dataset_state", ["dataset_id", "state"], unique=False
        )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )
    if op.get_bind().dialect.name != "sqlite":
        # The default only fills existing rows; the code always sets the status. SQLite would
        # have to rebuild the table (which its foreign keys refuse) to drop it, so keeps it.
        op.alter_column("datasets", "status", server_default=None)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE datasets SET status = 'deleted' WHERE deleted_at IS NOT NULL")
    op.execute(
        "INSERT INTO stored_objects (key, user_id, dataset_id, category, state, size_bytes, "
        "upload_id, job_id, created_at, updated_at) "
        "SELECT v.parquet_key, d.user_id, d.id, 'datasets', 'live', v.size_bytes, v.upload_id, "
        "NULL, v.updated_at, v.updated_at FROM dataset_versions v "
        "JOIN datasets d ON d.id = v.dataset_id "
        "WHERE v.status = 'ready' AND v.deleted_at IS NULL AND d.deleted_at IS NULL "
        "AND v.size_bytes IS NOT NULL"
    )
    op.execute(
        "INSERT INTO stored_objects (key, user_id, dataset_id, category, state, size_bytes, "
        "upload_id, job_id, created_at, updated_at) "
        "SELECT u.temp_key, d.user_id, d.id, 'datasets', 'kept', u.size_bytes, u.id, "
        "NULL, v.updated_at, v.updated_at FROM dataset_versions v "
        "JOIN datasets d ON d.id = v.dataset_id JOIN uploads u ON u.id = v.upload_id "
        "WHERE v.status = 'failed' AND u.status = 'failed' AND v.deleted_at IS NULL "
        "AND d.deleted_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("status")
    with op.batch_alter_table("stored_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_stored_objects_dataset_state")
        batch_op.drop_index("ix_stored_objects_user_state")
    op.drop_table("stored_objects")
