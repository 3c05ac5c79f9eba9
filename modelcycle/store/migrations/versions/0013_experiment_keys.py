"""the keys of each experiment

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00.000000

experiment_keys holds the keys of params, metrics and tags logged in each experiment, kept by
triggers after inserts into their tables, and filled in here from the rows there are. Keys of
deleted runs stay listed: they were logged in the experiment.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KEY_TABLES = (('params', 'param'), ('tags', 'tag'), ('latest_metrics', 'metric'))


def upgrade() -> None:
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
    sqlite = op.get_bind().dialect.name == 'sqlite'
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


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, _kind in KEY_TABLES:
        op.execute(f"DROP TRIGGER tr_{table}_experiment_key" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        op.execute("DROP FUNCTION mc_remember_experiment_key()")
    op.drop_table('experiment_keys')
