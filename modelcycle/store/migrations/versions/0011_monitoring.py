"""monitoring: the monitor's time series per model version and window, alert state, its event log

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitor_results',
    sa.Column('model', sa.String(length=250), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('window_end', sa.BigInteger(), nullable=False),
    sa.Column('metric', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('labels', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'version', 'window_start', 'metric', name=op.f('pk_monitor_results'))
    )
    op.create_index('ix_monitor_results_model_metric_window_start', 'monitor_results',
                    ['model', 'metric', 'window_start'], unique=False)
    op.create_table('monitor_alerts',
    sa.Column('model', sa.String(length=250), nullable=False),
    sa.Column('fingerprint', sa.String(length=250), nullable=False),
    sa.Column('rule', sa.String(length=250), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('active_at', sa.BigInteger(), nullable=True),
    sa.Column('fired_at', sa.BigInteger(), nullable=True),
    sa.Column('resolved_at', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('model', 'fingerprint', name=op.f('pk_monitor_alerts'))
    )
    op.create_table('monitor_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('model', sa.String(length=250), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_monitor_events'))
    )
    op.create_index('ix_monitor_events_model_seq', 'monitor_events', ['model', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_monitor_events_model_seq', table_name='monitor_events')
    op.drop_table('monitor_events')
    op.drop_table('monitor_alerts')
    op.drop_index('ix_monitor_results_model_metric_window_start', table_name='monitor_results')
    op.drop_table('monitor_results')
