"""presence by participant

Revision ID: 0014_presence_by_participant
Revises: 0013_statements
A participant's live connections are counted across every process when one more joins (the bound on
connections per participant): an index on the presence rows' participant.

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014_presence_by_participant"
down_revision: str | Sequence[str] | None = "0013_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(op.f("ix_presence_participant_id"), "presence", ["participant_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_presence_participant_id"), table_name="presence")
