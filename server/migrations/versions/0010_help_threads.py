"""help threads

Revision ID: 0010_help_threads
Revises: 0009_polls
The help desk: an attendee's private request for technical help in a session (category, the figures their
page measured) and its messages with staff; at most one request not yet closed per attendee and session.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010_help_threads"
down_revision: str | Sequence[str] | None = "0009_polls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "help_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("participant_name", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_name", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_help_threads_participant_id_participants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_help_threads_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_threads")),
    )
    with op.batch_alter_table("help_threads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_help_threads_session_state", ["session_id", "state", "opened_at"], unique=False
        )
        batch_op.create_index(
            "uq_help_threads_one_open",
            ["session_id", "participant_id"],
            unique=True,
            sqlite_where=sa.text("state != 'closed'"),
            postgresql_where=sa.text("state != 'closed'"),
        )
    op.create_table(
        "help_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=120), nullable=False),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["participants.id"],
            name=op.f("fk_help_messages_author_id_participants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["help_threads.id"],
            name=op.f("fk_help_messages_thread_id_help_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_messages")),
    )
    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.create_index("ix_help_messages_thread", ["thread_id", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("help_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_help_messages_thread")
    op.drop_table("help_messages")
    with op.batch_alter_table("help_threads", schema=None) as batch_op:
        batch_op.drop_index("uq_help_threads_one_open")
        batch_op.drop_index("ix_help_threads_session_state")
    op.drop_table("help_threads")
