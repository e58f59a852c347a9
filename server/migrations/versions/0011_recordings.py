"""recordings

Revision ID: 0011_recordings
Revises: 0010_help_threads
A session's recordings (who started and stopped them, at most one running per session) and their segment
files (one track written by one process, laid on one timeline by wall-clock time); who may open a session's
archive.

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011_recordings"
down_revision: str | Sequence[str] | None = "0010_help_threads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_by_name", sa.String(length=120), nullable=False),
        sa.Column("stopped_by_name", sa.String(length=120), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_recordings_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["participants.id"],
            name=op.f("fk_recordings_started_by_id_participants"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_session_started", ["session_id", "started_at"], unique=False)
        batch_op.create_index(
            "uq_recordings_one_running",
            ["session_id"],
            unique=True,
            sqlite_where=sa.text("state = 'recording'"),
            postgresql_where=sa.text("state = 'recording'"),
        )
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("container", sa.String(length=8), nullable=False),
        sa.Column("codecs", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bytes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("writer", sa.String(length=40), nullable=False),
        sa.Column("stored_at", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_segments_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_segments")),
    )
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recording_segments_recording_track", ["recording_id", "track", "started_at"], unique=False
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("archive_access", sa.String(length=8), server_default="staff", nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("archive_access")
    with op.batch_alter_table("recording_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_segments_recording_track")
    op.drop_table("recording_segments")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("uq_recordings_one_running")
        batch_op.drop_index("ix_recordings_session_started")
    op.drop_table("recordings")
