"""The quota's sums read from indexes alone: the user's reservations and stored sizes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Every upload-url sums the user's live reservations and stored bytes under the user's lock (on
SQLite, under the one write lock every user shares). With the indexes on (user_id, status) and
(user_id, state), each row summed was a lookup in the table, whose rows of many users lie
interleaved: the reservation took 0.19 ms at 32 users with no upload and 0.76 ms once they had
16,000, and upload-url's p99 over a 30 s paced row grew with it (docs/benchmarks.md, "Round 8").
The same indexes with the summed columns last hold everything the sums read, in one range
per user: 0.27 ms at 16,000. They replace the narrower ones, whose lookups they also serve.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.drop_index("ix_uploads_user_status")
        batch_op.create_index(
            "ix_uploads_user_reservations",
            ["user_id", "status", "expires_at", "reserved_bytes"],
            unique=False,
        )
    with op.batch_alter_table("stored_objects") as batch_op:
        batch_op.drop_index("ix_stored_objects_user_state")
        batch_op.create_index(
            "ix_stored_objects_user_sizes",
            ["user_id", "state", "category", "size_bytes"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("stored_objects") as batch_op:
        batch_op.drop_index("ix_stored_objects_user_sizes")
        batch_op.create_index("ix_stored_objects_user_state", ["user_id", "state"], unique=False)
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.drop_index("ix_uploads_user_reservations")
        batch_op.create_index("ix_uploads_user_status", ["user_id", "status"], unique=False)
