"""attendance

Revision ID: 0004_attendance
Revises: 0003
Keeps every connection to a session with its join and leave times, for the session record.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_attendance"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("instance_id", sa.String(length=40), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_attendance_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_attendance_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
    )
    op.create_index("ix_attendance_connection", "attendance", ["instance_id", "sid"], unique=False)
    op.create_index("ix_attendance_session_joined", "attendance", ["session_id", "joined_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_attendance_session_joined", table_name="attendance")
    op.drop_index("ix_attendance_connection", table_name="attendance")
    op.drop_table("attendance")
