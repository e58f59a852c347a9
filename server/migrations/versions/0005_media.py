"""media relays

Revision ID: 0005_media
Revises: 0004_attendance
Which process owns each session's media relay.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005_media"
down_revision: str | Sequence[str] | None = "0004_attendance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "media_relays",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=40), nullable=False),
        sa.Column("base_url", sa.String(length=300), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_media_relays_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_media_relays")),
    )
    with op.batch_alter_table("media_relays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_relays_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("media_relays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_relays_instance_id"))
    op.drop_table("media_relays")
