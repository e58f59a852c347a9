"""standing version

Revision ID: 0008_standing_version
Revises: 0007_captions
Each event's standing version: bumped with every ban, removal, withdrawn link or waiting-room decision, and
polled by every process to re-check its connections without relying on Redis.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008_standing_version"
down_revision: str | Sequence[str] | None = "0007_captions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("standing_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("standing_version")
