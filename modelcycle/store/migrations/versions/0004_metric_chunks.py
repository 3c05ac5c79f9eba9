"""metric points in chunks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 08:30:00.000000

Every metric point was a row of ``metrics``; they move to ``metric_chunks``, one chunk per
(run, key) holding its history in order (step, timestamp, then the order logged). NULL values,
which stood for NaN, become NaN.
"""

from array import array
import sys

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Frozen copies of store/points.py's format, so later changes there cannot alter this step.
CHUNK = 65_536
SWAP = sys.byteorder != "little"


def _pack(typecode, items):
    packed = array(typecode, items)
    if SWAP:
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode, data):
    unpacked = array(typecode)
    unpacked.frombytes(data)
    if SWAP:
        unpacked.byteswap()
    return unpacked.tolist()


def upgrade() -> None:
    chunks = op.create_table(
        'metric_chunks',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.Column('num_points', sa.Integer(), nullable=False),
        sa.Column('value_data', sa.LargeBinary(), nullable=False),
        sa.Column('step_data', sa.LargeBinary(), nullable=False),
        sa.Column('timestamp_data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_metric_chunks_run_id_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_chunks')),
    )
    op.create_index('ix_metric_chunks_run_id_key_id', 'metric_chunks', ['run_id', 'key', 'id'], unique=False)

    conn = op.get_bind()
    old = sa.table('metrics', sa.column('id'), sa.column('run_id'), sa.column('key'), sa.column('value'),
                   sa.column('step'), sa.column('timestamp'))
    rows = conn.execute(sa.select(old.c.run_id, old.c.key, old.c.value, old.c.step, old.c.timestamp)
                        .order_by(old.c.run_id, old.c.key, old.c.step, old.c.timestamp, old.c.id))
    pending, current, points = [], None, []

    def flush():
        for start in range(0, len(points), CHUNK):
            part = points[start:start + CHUNK]
            pending.append({
                'run_id': current[0], 'key': current[1], 'num_points': len(part),
                'value_data': _pack('d', [float('nan') if p[0] is None else p[0] for p in part]),
                'step_data': _pack('q', [p[1] for p in part]),
                'timestamp_data': _pack('q', [p[2] for p in part]),
            })
        points.clear()
        if len(pending) >= 1000:
            conn.execute(chunks.insert(), pending)
            pending.clear()

    for run_id, key, value, step, timestamp in rows:
        if (run_id, key) != current:
            if points:
                flush()
            current = (run_id, key)
        points.append((value, step, timestamp))
    if points:
        flush()
    if pending:
        conn.execute(chunks.insert(), pending)
    op.drop_table('metrics')


def downgrade() -> None:
    old = op.create_table(
        'metrics',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.Column('value', sa.Float(precision=53), nullable=True),
        sa.Column('step', sa.BigInteger(), nullable=False),
        sa.Column('timestamp', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name='fk_metrics_run_id_runs', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_metrics'),
    )
    op.create_index('ix_metrics_run_id_key_step', 'metrics', ['run_id', 'key', 'step'], unique=False)
    conn = op.get_bind()
    chunks = sa.table('metric_chunks', sa.column('id'), sa.column('run_id'), sa.column('key'),
                      sa.column('value_data'), sa.column('step_data'), sa.column('timestamp_data'))
    for run_id, key, values, steps, stamps in conn.execute(
            sa.select(chunks.c.run_id, chunks.c.key, chunks.c.value_data, chunks.c.step_data,
                      chunks.c.timestamp_data).order_by(chunks.c.id)).fetchall():
        conn.execute(old.insert(), [
            {'run_id': run_id, 'key': key, 'value': None if v != v else v, 'step': s, 'timestamp': t}
            for v, s, t in zip(_unpack('d', values), _unpack('q', steps), _unpack('q', stamps))])
    op.drop_table('metric_chunks')
