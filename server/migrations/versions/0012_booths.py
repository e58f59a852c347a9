"""booths

Revision ID: 0012_booths
Revises: 0011_recordings
Interpretation booths: which booths an interpreter's link works in, who was on air in each booth when (times
only), and the booths' "slow down" notices to the chair.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012_booths"
down_revision: str | Sequence[str] | None = "0011_recordings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "booth_members",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["role_grants.id"],
            name=op.f("fk_booth_members_grant_id_role_grants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grant_id", "language", name=op.f("pk_booth_members")),
    )
    op.create_table(
        "booth_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("began", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_booth_turns_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_booth_turns_participant_id_participants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booth_turns")),
    )
    with op.batch_alter_table("booth_turns", schema=None) as batch_op:
        batch_op.create_index("ix_booth_turns_session_started", ["session_id", "started_at"], unique=False)
    op.create_table(
        "booth_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_booth_notices_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_booth_notices_participant_id_participants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["interventions.id"],
            name=op.f("fk_booth_notices_entry_id_interventions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booth_notices")),
    )
    with op.batch_alter_table("booth_notices", schema=None) as batch_op:
        batch_op.create_index("ix_booth_notices_session_at", ["session_id", "at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("booth_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_booth_notices_session_at")
    op.drop_table("booth_notices")
    with op.batch_alter_table("booth_turns", schema=None) as batch_op:
        batch_op.drop_index("ix_booth_turns_session_started")
    op.drop_table("booth_turns")
    op.drop_table("booth_members")
