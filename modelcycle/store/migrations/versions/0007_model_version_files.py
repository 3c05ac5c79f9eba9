"""the digests of a registered version's files, pinned at registration

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000

A version named only its run and folder, so a later write to that folder changed what the
version loaded. Its files' digests are now stored with it. Existing versions pin what their
folder holds at the upgrade.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_version_files',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['model_versions.id'], name=op.f('fk_model_version_files_version_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id', 'path', name=op.f('pk_model_version_files'))
    )
    # substr, length and || mean the same on SQLite and PostgreSQL.
    op.execute("INSERT INTO model_version_files (version_id, path, digest, size) "
               "SELECT v.id, substr(a.path, length(v.artifact_path) + 2), a.digest, a.size "
               "FROM model_versions v JOIN artifacts a ON a.run_id = v.run_id "
               "AND substr(a.path, 1, length(v.artifact_path) + 1) = v.artifact_path || '/'")


def downgrade() -> None:
    op.drop_table('model_version_files')
