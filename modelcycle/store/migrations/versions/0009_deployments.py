"""deployments: a model's traffic routed between versions, their history and per-worker stats

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deployments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('model_name', sa.String(length=250), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('stable_version', sa.Integer(), nullable=True),
    sa.Column('candidate_version', sa.Integer(), nullable=True),
    sa.Column('arms', sa.Text(), nullable=False),
    sa.Column('shares', sa.Text(), nullable=False),
    sa.Column('steps', sa.Text(), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('step_started_at', sa.BigInteger(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('config', sa.Text(), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_by', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments')),
    sa.UniqueConstraint('name', name=op.f('uq_deployments_name'))
    )
    op.create_table('deployment_events',
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('from_shares', sa.Text(), nullable=True),
    sa.Column('to_shares', sa.Text(), nullable=True),
    sa.Column('numbers', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=250), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_deployment_events_deployment_id_deployments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deployment_id', 'seq', name=op.f('pk_deployment_events'))
    )
    op.create_table('deployment_stats',
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('start_ms', sa.BigInteger(), nullable=False),
    sa.Column('end_ms', sa.BigInteger(), nullable=False),
    sa.Column('worker', sa.String(length=250), nullable=False),
    sa.Column('arm', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.BigInteger(), nullable=False),
    sa.Column('latency', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployments.id'], name=op.f('fk_deployment_stats_deployment_id_deployments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('deployment_id', 'start_ms', 'worker', 'arm', name=op.f('pk_deployment_stats'))
    )
    op.create_index(op.f('ix_deployment_stats_deployment_id_end_ms'), 'deployment_stats', ['deployment_id', 'end_ms'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_deployment_stats_deployment_id_end_ms'), table_name='deployment_stats')
    op.drop_table('deployment_stats')
    op.drop_table('deployment_events')
    op.drop_table('deployments')
