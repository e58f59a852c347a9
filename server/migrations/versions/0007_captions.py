"""captions

Revision ID: 0007_captions
Revises: 0006_moderation
Live caption lines, stored as the session transcript, and each session's caption sequence.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007_captions"
down_revision: str | Sequence[str] | None = "0006_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "captions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captioner_id", sa.Integer(), nullable=True),
        sa.Column("captioner_name", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["captioner_id"],
            ["participants.id"],
            name=op.f("fk_captions_captioner_id_participants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_captions_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captions")),
        sa.UniqueConstraint("session_id", "seq", name="uq_captions_session_seq"),
    )
    with op.batch_alter_table("captions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_captions_session_language_seq", ["session_id", "language", "seq"], unique=False
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("captions_seq", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("captions_seq")
    with op.batch_alter_table("captions", schema=None) as batch_op:
        batch_op.drop_index("ix_captions_session_language_seq")
    op.drop_table("captions")
