"""The one SQL schema for every backend. Changes go through a new Alembic revision."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
    PrimaryKeyConstraint, String, Table, Text, UniqueConstraint, text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are milliseconds since the epoch (UTC) everywhere.
experiments = Table(
    "experiments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

experiment_tags = Table(
    "experiment_tags", metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("deleted_at", BigInteger, nullable=True),
    # The run's params and tags as one JSON object each, rewritten from the params and tags
    # tables in the transaction that changes them: a page of runs loads without reading them.
    Column("params_json", Text, nullable=False, server_default="{}"),
    Column("tags_json", Text, nullable=False, server_default="{}"),
    Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),
    Index("ix_runs_parent_id", "parent_id"),
)

# params, tags and latest_metrics are read by (run_id, key) in searches: on SQLite they are
# stored clustered on that key (WITHOUT ROWID), so a lookup is one B-tree probe, not two.
params = Table(
    "params", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    sqlite_with_rowid=False,
)

# Every point ever logged, in chunks: the points one call logged for one key, packed as
# little-endian arrays (float64 values, int64 steps and timestamps; see store/points.py). NaN
# and infinities are stored bit for bit. Chunks of a key are read back in id order.
metric_chunks = Table(
    "metric_chunks", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("num_points", Integer, nullable=False),
    Column("value_data", LargeBinary, nullable=False),
    Column("step_data", LargeBinary, nullable=False),
    Column("timestamp_data", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_id_key_id", "run_id", "key", "id"),
)

# The point with the highest (step, timestamp) per key, kept for fast search and ordering, and
# a summary of the whole history: the least and greatest value (NaN left out, as it compares
# with nothing; NULL when every value is NaN) and the number of points.
latest_metrics = Table(
    "latest_metrics", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("min_value", Float(precision=53), nullable=True),
    Column("max_value", Float(precision=53), nullable=True),
    Column("num_points", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("run_id", "key"),
    Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_with_rowid=False,
)

artifacts = Table(
    "artifacts", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "path"),
)

# A dataset version: content stored once as a Parquet blob, identified by a digest of its rows.
datasets = Table(
    "datasets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("blob_digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("name", "version"),
    UniqueConstraint("name", "digest"),
)

# Which runs used which dataset versions, and as what (train, eval, reference, ...).
run_inputs = Table(
    "run_inputs", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(50), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "dataset_id", "role"),
    Index("ix_run_inputs_dataset_id", "dataset_id"),
)

# ---------------------------------------------------------------------------- model registry
registered_models = Table(
    "registered_models", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    # Versions are numbered from this counter, so a deleted version's number is never reused.
    Column("last_version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags", metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

model_versions = Table(
    "model_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("artifact_path", String(1000), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    UniqueConstraint("model_id", "version"),
    Index("ix_model_versions_run_id", "run_id"),
    # At most one Production version per model, whatever the number of concurrent writers.
    Index("ux_model_versions_production", "model_id", unique=True,
          sqlite_where=text("stage = 'Production'"), postgresql_where=text("stage = 'Production'")),
)

# The digests of a version's files, pinned when it is registered: relative to its artifact path.
# Loading the version checks every byte against them, and the run's folder refuses writes that
# would change them.
model_version_files = Table(
    "model_version_files", metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    PrimaryKeyConstraint("version_id", "path"),
)

model_version_tags = Table(
    "model_version_tags", metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("version_id", "key"),
)

model_aliases = Table(
    "model_aliases", metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(250), nullable=False),
    Column("version_id", Integer, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("model_id", "alias"),
)

# The audit log: every registration, stage change, alias move, rollback and deletion.
# Versions are kept by number, not by key, so the log outlives what it describes.
model_transitions = Table(
    "model_transitions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=True),
    Column("action", String(16), nullable=False),
    Column("alias", String(250), nullable=True),
    Column("from_value", String(250), nullable=True),
    Column("to_value", String(250), nullable=True),
    Column("user", String(250), nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_transitions_model_id_id", "model_id", "id"),
)


leases = Table(
    # Work that must happen once (a canary step, an alert evaluation) is done by the holder of a
    # lease; an expired lease is taken over. The epoch grows with each new holder: writes made
    # under a lease can name it, so a holder that lost its lease cannot overwrite its successor.
    "leases", metadata,
    Column("name", String(250), primary_key=True),
    Column("owner", String(250), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)


# A deployment routes a model's traffic between versions (canary, A/B, shadow, blue-green). Every
# write names the revision it read (compare-and-set), and the analysis writes also the lease epoch
# of the worker that made them, so a leader that lost its lease cannot overwrite its successor.
deployments = Table(
    "deployments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("model_name", String(250), nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("stable_version", Integer, nullable=True),
    Column("candidate_version", Integer, nullable=True),
    Column("arms", Text, nullable=False),  # JSON {arm: version}
    Column("shares", Text, nullable=False),  # JSON {arm: percent}
    Column("steps", Text, nullable=False),  # JSON [percent, ...]
    Column("step_index", Integer, nullable=False),
    Column("step_started_at", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("config", Text, nullable=False),  # JSON
    Column("epoch", BigInteger, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

# The history of a deployment: every change of shares, pause, analysis, promotion and rollback.
deployment_events = Table(
    "deployment_events", metadata,
    Column("deployment_id", Integer, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_shares", Text, nullable=True),
    Column("to_shares", Text, nullable=True),
    Column("numbers", Text, nullable=False),  # JSON
    Column("reason", Text, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("epoch", BigInteger, nullable=True),
    PrimaryKeyConstraint("deployment_id", "seq"),
)

# What each serving worker saw of each arm over one of its flush intervals; the leader sums them.
deployment_stats = Table(
    "deployment_stats", metadata,
    Column("deployment_id", Integer, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("worker", String(250), nullable=False),
    Column("arm", String(64), nullable=False),
    Column("version", Integer, nullable=True),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("latency", Text, nullable=False),  # JSON: counts per latency bucket (store.entities.LATENCY_BOUNDS_MS)
    PrimaryKeyConstraint("deployment_id", "start_ms", "worker", "arm"),
    Index("ix_deployment_stats_deployment_id_end_ms", "deployment_id", "end_ms"),
)


# The monitor's time series: one value per (model, version, window, metric). A window is written
# once, in one transaction with its "rows" metric, which marks it finished; late labels rewrite
# only its performance metrics.
monitor_results = Table(
    "monitor_results", metadata,
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),  # 0: predictions logged without a version
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("metric", String(250), nullable=False),
    Column("value", Float, nullable=True),  # NULL: not computable in this window
    Column("labels", Text, nullable=False),  # JSON
    Column("computed_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("model", "version", "window_start", "metric"),
    Index("ix_monitor_results_model_metric_window_start", "model", "metric", "window_start"),
)

# Alert state, written by the holder of the model's monitor lease: a restart or a second monitor
# process carries on from it instead of losing or repeating an alert.
monitor_alerts = Table(
    "monitor_alerts", metadata,
    Column("model", String(250), nullable=False),
    Column("fingerprint", String(250), nullable=False),
    Column("rule", String(250), nullable=False),
    Column("state", String(16), nullable=False),
    Column("active_at", BigInteger, nullable=True),
    Column("fired_at", BigInteger, nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Column("data", Text, nullable=False),  # JSON
    PrimaryKeyConstraint("model", "fingerprint"),
)

# What the monitor did: each notification attempt (the send log), action and silence.
monitor_events = Table(
    "monitor_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("model", String(250), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", Text, nullable=False),  # JSON
    Index("ix_monitor_events_model_seq", "model", "seq"),
)

# The keys of params, metrics and tags ever logged in an experiment (kind: param, metric or tag),
# for the column picker of the web UI. Kept by triggers after an insert into params, tags and
# latest_metrics (see migration 0013): a new key of a run costs one row, a known one nothing.
experiment_keys = Table(
    "experiment_keys", metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("key", String(250), nullable=False),
    PrimaryKeyConstraint("experiment_id", "kind", "key"),
    sqlite_with_rowid=False,
)

# Views of the web UI too long for a URL, by a short id derived from their query string: the same
# query always gets the same id, and saving it again changes nothing.
saved_views = Table(
    "saved_views", metadata,
    Column("id", String(16), primary_key=True),
    Column("query", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
