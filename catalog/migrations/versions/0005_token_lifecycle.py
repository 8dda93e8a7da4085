"""Token lifecycle: api_tokens.expires_at and token_prefix, users.disabled_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A token may expire; a user may be disabled (every token of theirs then stops working). The
prefix (the token's first characters, never enough to use it) lets `automl token list` tell
tokens apart; tokens created before 0005 have none. Every existing token and user stays as it
was: no expiry, not disabled.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("token_prefix", sa.String(length=16), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("token_prefix")
        batch_op.drop_column("expires_at")
