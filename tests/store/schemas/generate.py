"""Write ``<revision>.db``: a SQLite database at each past schema revision, holding a known
set of rows, for tests/store/test_migrations.py to upgrade and read back.

Run it after adding a migration, and commit the new file:

    python tests/store/schemas/generate.py          # every revision before head
    python tests/store/schemas/generate.py 0001     # just one

The rows go in with raw SQL, as the code of that time would have written them; nothing
here may import the current store code beyond ``migrate.upgrade``.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect, text

HERE = Path(__file__).resolve().parent
T = 1_600_000_000_000  # 2020-09-13T12:26:40Z

RUN = "a" * 32
CHILD = "b" * 32
GONE = "c" * 32
ARTIFACT = b"legacy model bytes\n" * 100
ARTIFACT_DIGEST = hashlib.sha256(ARTIFACT).hexdigest()
DATASET_BLOB = b"PAR1 legacy dataset bytes"
LOSS = [1.0, 0.5, 1 / 3]


def past_revisions() -> list[str]:
    """Every revision but the head, oldest first."""
    from alembic.script import ScriptDirectory

    from modelcycle.store import migrate

    script = ScriptDirectory.from_config(migrate._config())
    revisions = [r.revision for r in script.walk_revisions()]  # head first
    return [r for r in reversed(revisions) if r != script.get_current_head()]


def write_rows(conn: Connection) -> None:
    """The known rows, into whichever tables the schema of ``conn`` has."""
    tables = set(inspect(conn).get_table_names())
    run = lambda sql, rows: conn.execute(text(sql), rows)  # noqa: E731
    # ids come from the database, as they did (experiments get 1 and 2)
    run("INSERT INTO experiments (name, created_at, updated_at, deleted_at) VALUES (:name, :c, :c, :d)",
        [{"name": "legacy", "c": T, "d": None}])
    run("INSERT INTO experiments (name, created_at, updated_at, deleted_at) VALUES (:name, :c, :c, :d)",
        [{"name": "old-deleted", "c": T + 1, "d": T + 500}])
    run("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (:e, :k, :v)",
        [{"e": 1, "k": "team", "v": "risk"}])
    run("INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, parent_id, deleted_at) "
        "VALUES (:id, :e, :name, :status, :start, :end, :parent, :deleted)",
        [{"id": RUN, "e": 1, "name": "old-run", "status": "FINISHED", "start": T + 1000,
          "end": T + 9000, "parent": None, "deleted": None},
         {"id": CHILD, "e": 1, "name": "old-child", "status": "FAILED", "start": T + 2000,
          "end": T + 3000, "parent": RUN, "deleted": None},
         {"id": GONE, "e": 2, "name": "gone", "status": "KILLED", "start": T + 4000,
          "end": T + 5000, "parent": None, "deleted": T + 6000}])
    run("INSERT INTO params (run_id, key, value) VALUES (:r, :k, :v)",
        [{"r": RUN, "k": "depth", "v": "6"}, {"r": RUN, "k": "model", "v": "rf"},
         {"r": CHILD, "k": "depth", "v": "3"}])
    run("INSERT INTO tags (run_id, key, value) VALUES (:r, :k, :v)",
        [{"r": RUN, "k": "team", "v": "risk"}, {"r": CHILD, "k": "note", "v": "child"}])
    if "params_json" in {c["name"] for c in inspect(conn).get_columns("runs")}:  # from 0006: also on the run's row
        run("UPDATE runs SET params_json = :p, tags_json = :t WHERE id = :r",
            [{"r": RUN, "p": '{"depth": "6", "model": "rf"}', "t": '{"team": "risk"}'},
             {"r": CHILD, "p": '{"depth": "3"}', "t": '{"note": "child"}'}])
    points = [(RUN, "loss", v, s, T + 100 + s) for s, v in enumerate(LOSS)]
    points += [(RUN, "nan metric", None, 0, T + 200), (CHILD, "acc", math.inf, 7, T + 300),
               (CHILD, "acc", -math.inf, 3, T + 301)]
    if "metrics" in tables:
        run("INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (:r, :k, :v, :s, :t)",
            [{"r": r, "k": k, "v": v, "s": s, "t": t} for r, k, v, s, t in points])
    else:  # from 0004: one chunk per call and key, little-endian float64 / int64 arrays
        chunks: dict[tuple[str, str], list] = {}
        for r, k, v, s, t in points:
            chunks.setdefault((r, k), []).append((math.nan if v is None else v, s, t))
        run("INSERT INTO metric_chunks (run_id, key, num_points, value_data, step_data, timestamp_data) "
            "VALUES (:r, :k, :n, :v, :s, :t)",
            [{"r": r, "k": k, "n": len(p), "v": struct.pack(f"<{len(p)}d", *(x[0] for x in p)),
              "s": struct.pack(f"<{len(p)}q", *(x[1] for x in p)),
              "t": struct.pack(f"<{len(p)}q", *(x[2] for x in p))} for (r, k), p in chunks.items()])
    latest = [{"r": RUN, "k": "loss", "v": LOSS[-1], "s": 2, "t": T + 102, "lo": min(LOSS), "hi": max(LOSS), "n": 3},
              {"r": RUN, "k": "nan metric", "v": None, "s": 0, "t": T + 200, "lo": None, "hi": None, "n": 1},
              {"r": CHILD, "k": "acc", "v": math.inf, "s": 7, "t": T + 300, "lo": -math.inf, "hi": math.inf, "n": 2}]
    if "num_points" in {c["name"] for c in inspect(conn).get_columns("latest_metrics")}:  # from 0012: summaries
        run("INSERT INTO latest_metrics (run_id, key, value, step, timestamp, min_value, max_value, num_points) "
            "VALUES (:r, :k, :v, :s, :t, :lo, :hi, :n)", latest)
    else:
        run("INSERT INTO latest_metrics (run_id, key, value, step, timestamp) VALUES (:r, :k, :v, :s, :t)", latest)
    run("INSERT INTO artifacts (run_id, path, digest, size, created_at) VALUES (:r, :p, :d, :s, :c)",
        [{"r": RUN, "p": "model/model.bin", "d": ARTIFACT_DIGEST, "s": len(ARTIFACT), "c": T + 400}])
    if "datasets" in tables:
        run("INSERT INTO datasets (name, version, digest, blob_digest, source, num_rows, num_columns, "
            "size, schema, profile, created_at) VALUES ('legacy-data', 1, :d, :b, 'legacy.csv', 10, 2, "
            ":size, 'columns: {}', '{}', :c)",
            [{"d": "d" * 64, "b": hashlib.sha256(DATASET_BLOB).hexdigest(), "size": len(DATASET_BLOB),
              "c": T + 700}])
    if "run_inputs" in tables:
        run("INSERT INTO run_inputs (run_id, dataset_id, role, created_at) "
            "SELECT :r, id, 'train', :c FROM datasets WHERE name = 'legacy-data'",
            [{"r": RUN, "c": T + 800}])
    if "registered_models" in tables:
        run("INSERT INTO registered_models (name, description, last_version, created_at, updated_at) "
            "VALUES ('legacy-model', 'old', 1, :c, :c)", [{"c": T + 900}])
        run("INSERT INTO model_versions (model_id, version, run_id, artifact_path, stage, description, "
            "created_by, created_at, updated_at, deleted_at) "
            "SELECT id, 1, :r, 'model', 'Production', '', 'ann', :c, :c, NULL FROM registered_models",
            [{"r": RUN, "c": T + 901}])
        run("INSERT INTO model_transitions (model_id, version, action, alias, from_value, to_value, "
            "\"user\", reason, forced, created_at) SELECT id, 1, :a, NULL, :f, :t, 'ann', '', :forced, :c "
            "FROM registered_models",
            [{"a": "register", "f": None, "t": "None", "forced": False, "c": T + 901},
             {"a": "stage", "f": "None", "t": "Production", "forced": False, "c": T + 902}])
    if "model_version_files" in tables:  # from 0007: a version's files are pinned when it is registered
        run("INSERT INTO model_version_files (version_id, path, digest, size) "
            "SELECT id, 'model.bin', :d, :s FROM model_versions", [{"d": ARTIFACT_DIGEST, "s": len(ARTIFACT)}])


def build(engine: Engine, revision: str) -> None:
    """Bring an empty database to ``revision`` and fill it with the known rows."""
    from modelcycle.store import migrate

    migrate.upgrade(engine, revision)
    with engine.begin() as conn:
        write_rows(conn)


def generate(revision: str, target: Path) -> None:
    target.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{target}")
    try:
        build(engine, revision)
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    for revision in argv or past_revisions():
        target = HERE / f"{revision}.db"
        generate(revision, target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
