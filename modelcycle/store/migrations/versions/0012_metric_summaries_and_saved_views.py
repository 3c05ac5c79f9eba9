"""metric summaries on latest_metrics; the keys of each experiment; saved views of the web UI

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00.000000

Each (run, key) of latest_metrics gains the least and greatest value of its whole history (NaN
left out; NULL when every value is NaN) and its number of points, filled in from metric_chunks.
experiment_keys holds the keys of params, metrics and tags logged in each experiment, kept by
triggers after inserts into their tables. saved_views keeps the UI's views too long for a URL, by a short id made from their query.
"""

from alembic import op
import numpy as np
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Frozen copy of store/points.py's format: values are little-endian float64.
VALUES = np.dtype('<f8')
BATCH = 1000
KEY_TABLES = (('params', 'param'), ('tags', 'tag'), ('latest_metrics', 'metric'))


def upgrade() -> None:
    op.add_column('latest_metrics', sa.Column('min_value', sa.Float(precision=53), nullable=True))
    op.add_column('latest_metrics', sa.Column('max_value', sa.Float(precision=53), nullable=True))
    op.add_column('latest_metrics', sa.Column('num_points', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table(
        'saved_views',
        sa.Column('id', sa.String(length=16), nullable=False),
        sa.Column('query', sa.Text(), nullable=False),
        sa.Column('created_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views')),
    )

    op.create_table(
        'experiment_keys',
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'],
                                name=op.f('fk_experiment_keys_experiment_id_experiments'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('experiment_id', 'kind', 'key', name=op.f('pk_experiment_keys')),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    sqlite = conn.dialect.name == 'sqlite'
    if not sqlite:
        op.execute("""
            CREATE FUNCTION mc_remember_experiment_key() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO experiment_keys (experiment_id, kind, key)
                SELECT experiment_id, TG_ARGV[0], NEW.key FROM runs WHERE id = NEW.run_id
                ON CONFLICT DO NOTHING;
                RETURN NULL;
            END $$""")
    # After an insert only: an upsert that updates a row (a known key of the run) fires none.
    for table, kind in KEY_TABLES:
        if sqlite:
            op.execute(f"CREATE TRIGGER tr_{table}_experiment_key AFTER INSERT ON {table} BEGIN "
                       f"INSERT OR IGNORE INTO experiment_keys (experiment_id, kind, key) "
                       f"SELECT experiment_id, '{kind}', NEW.key FROM runs WHERE id = NEW.run_id; END")
        else:
            op.execute(f"CREATE TRIGGER tr_{table}_experiment_key AFTER INSERT ON {table} FOR EACH ROW "
                       f"EXECUTE FUNCTION mc_remember_experiment_key('{kind}')")
        op.execute(f"INSERT INTO experiment_keys (experiment_id, kind, key) SELECT DISTINCT runs.experiment_id, "
                   f"'{kind}', {table}.key FROM {table} JOIN runs ON runs.id = {table}.run_id")

    chunks = sa.table('metric_chunks', sa.column('id'), sa.column('run_id'), sa.column('key'),
                      sa.column('num_points'), sa.column('value_data'))
    latest = sa.table('latest_metrics', sa.column('run_id'), sa.column('key'), sa.column('min_value'),
                      sa.column('max_value'), sa.column('num_points'))
    update = (sa.update(latest)
              .where(latest.c.run_id == sa.bindparam('r'), latest.c.key == sa.bindparam('k'))
              .values(min_value=sa.bindparam('lo'), max_value=sa.bindparam('hi'), num_points=sa.bindparam('n')))
    # Streamed (a server-side cursor on PostgreSQL): a history is held one (run, key) at a time.
    rows = conn.execute(
        sa.select(chunks.c.run_id, chunks.c.key, chunks.c.num_points, chunks.c.value_data)
        .order_by(chunks.c.run_id, chunks.c.key, chunks.c.id)
        .execution_options(stream_results=True, yield_per=BATCH))
    pending, current, count, lo, hi = [], None, 0, np.nan, np.nan

    def summary() -> dict:
        return {'r': current[0], 'k': current[1], 'n': count,
                'lo': None if np.isnan(lo) else float(lo), 'hi': None if np.isnan(hi) else float(hi)}

    for run_id, key, num_points, data in rows:
        if (run_id, key) != current:
            if current is not None:
                pending.append(summary())
            current, count, lo, hi = (run_id, key), 0, np.nan, np.nan
        values = np.frombuffer(data, VALUES)
        count += num_points
        if values.size:
            # fmin/fmax leave NaN out unless every value is NaN
            lo, hi = np.fmin(lo, np.fmin.reduce(values)), np.fmax(hi, np.fmax.reduce(values))
        if len(pending) >= BATCH:
            conn.execute(update, pending)
            pending.clear()
    rows.close()
    if current is not None:
        pending.append(summary())
    if pending:
        conn.execute(update, pending)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, _kind in KEY_TABLES:
        op.execute(f"DROP TRIGGER tr_{table}_experiment_key" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        op.execute("DROP FUNCTION mc_remember_experiment_key()")
    op.drop_table('experiment_keys')
    op.drop_table('saved_views')
    # Plain ALTER TABLE, as in 0006: a rebuild on SQLite would lose the WITHOUT ROWID layout.
    for column in ('num_points', 'max_value', 'min_value'):
        op.drop_column('latest_metrics', column)
