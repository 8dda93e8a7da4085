"""jobs.deleted_at for the jobs of datasets deleted before 0003 (their models and plots read
as gone, as a delete now makes them)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

A job takes the deleted_at of its dataset. A separate migration so that catalogs already at
0003 get it too. Their objects are left where they are: `automl fsck --repair` moves them to
the user's trash (unrecorded objects of deleted jobs).
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DATASET_DELETED_AT = (
    "SELECT d.deleted_at FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
    "WHERE v.id = jobs.version_id"
)


def upgrade() -> None:
    op.execute(
        f"UPDATE jobs SET deleted_at = ({_DATASET_DELETED_AT}) "
        f"WHERE deleted_at IS NULL AND ({_DATASET_DELETED_AT}) IS NOT NULL"
    )


def downgrade() -> None:
    """Nothing to undo: the column stays (0003 owns it), and which rows this set is unknown."""
