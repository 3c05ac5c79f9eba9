"""Deployments on a SQL database. A change is one UPDATE naming the revision it was computed
from (compare-and-set), plus its event and its registry audit entry, in one transaction: of two
changes made from the same revision one commits, the other is a Conflict and writes nothing."""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelcycle.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound
from modelcycle.store import schema as t
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import ArmStats, Deployment, DeploymentEvent
from modelcycle.store.validation import (
    check_arm_stats, check_deployment_changes, check_deployment_event, check_deployment_name, check_model_name,
    check_model_version, check_name, check_stats_window,
)

d, e, s = t.deployments.c, t.deployment_events.c, t.deployment_stats.c
_JSON_FIELDS = ("arms", "shares", "steps", "config")
# Events that are not changes of the deployment stay in its history but not in the registry's log.
NOT_AUDITED = frozenset({"hold", "analysis_failed"})


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def _deployment(row) -> Deployment:
    return Deployment(row.name, row.model_name, row.strategy, row.state, row.stable_version, row.candidate_version,
                      orjson.loads(row.arms), orjson.loads(row.shares), tuple(orjson.loads(row.steps)),
                      row.step_index, row.step_started_at, row.failures, orjson.loads(row.config), row.epoch,
                      row.revision, row.created_at, row.updated_at, row.updated_by)


def _event(row) -> DeploymentEvent:
    return DeploymentEvent(row.seq, row.time_ms, row.kind, orjson.loads(row.from_shares) if row.from_shares else None,
                           orjson.loads(row.to_shares) if row.to_shares else None, orjson.loads(row.numbers),
                           row.reason, row.actor, row.epoch)


def _not_found(name: str) -> NotFound:
    return NotFound(f"No deployment named {name!r}. List them with `modelcycle deploy ls`, or make one with "
                    f"`modelcycle deploy create {name} --model MODEL@production`.")


class SqlDeployments:
    """Mixed into SqlStore: uses its transactions and the registry's audit helpers."""

    def _deployment_row(self, conn: Connection, name: str):
        row = conn.execute(select(t.deployments).where(d.name == name)).first()
        if row is None:
            raise _not_found(name)
        return row

    def _check_arms(self, conn: Connection, model_id: int, model_name: str, fields: dict,
                    named_before: set[int] = frozenset()) -> None:
        """The versions ``fields`` name exist, except those the deployment named already: a
        version deleted while deployed must not stop its deployment from being rolled back."""
        versions = set(fields.get("arms", {}).values())
        versions |= {fields.get(k) for k in ("stable_version", "candidate_version")} - {None}
        for version in sorted(versions - named_before):
            self._version_row(conn, model_id, model_name, version)  # NotFound naming it
        if set(fields["shares"]) - set(fields["arms"]):
            raise InvalidInput(f"The shares name arms the deployment does not have: "
                               f"{sorted(set(fields['shares']) - set(fields['arms']))}; its arms are "
                               f"{sorted(fields['arms'])}.")

    def _add_event(self, conn: Connection, row, kind: str, before: dict | None, after: dict | None,
                   numbers: dict | None, reason: str, user: str, epoch: int | None, model_id: int,
                   version: int | None) -> None:
        seq = conn.execute(select(func.coalesce(func.max(e.seq), 0) + 1).where(e.deployment_id == row.id)).scalar()
        conn.execute(insert(t.deployment_events).values(
            deployment_id=row.id, seq=seq, time_ms=now_ms(), kind=kind,
            from_shares=None if before is None else _dumps(before), to_shares=None if after is None else _dumps(after),
            numbers=_dumps(numbers or {}), reason=reason, actor=user, epoch=epoch))
        if kind in NOT_AUDITED:
            return
        detail = f" {_dumps(numbers)}" if numbers else ""
        self._audit(conn, model_id, version, "deployment", user,
                    f"deployment {row.name!r} {kind}{': ' + reason if reason else ''}{detail}",
                    None if before is None else _dumps(before)[:250], None if after is None else _dumps(after)[:250])

    # ------------------------------------------------------------------ the API
    def create_deployment(self, name: str, model_name: str, stable_version: int, user: str,
                          config: dict | None = None, reason: str = "") -> Deployment:
        check_deployment_name(name)
        check_model_name(model_name)
        stable_version = check_model_version(stable_version)
        check_deployment_event(user, "create", reason, None, None)
        fields = check_deployment_changes({"config": config or {}})
        now = now_ms()
        try:
            with self._write() as conn:
                model_id = self._model_id(conn, model_name)
                self._version_row(conn, model_id, model_name, stable_version)
                conn.execute(insert(t.deployments).values(
                    name=name, model_name=model_name, strategy="single", state="active",
                    stable_version=stable_version, candidate_version=None, arms=_dumps({"stable": stable_version}),
                    shares=_dumps({"stable": 100.0}), steps="[]", step_index=0, step_started_at=now, failures=0,
                    config=_dumps(fields["config"]), epoch=0, revision=1, created_at=now, updated_at=now,
                    updated_by=user))
                row = self._deployment_row(conn, name)
                self._add_event(conn, row, "create", None, {"stable": 100.0}, {"stable_version": stable_version},
                                reason, user, None, model_id, stable_version)
                return _deployment(row)
        except IntegrityError:
            raise AlreadyExists(f"A deployment named {name!r} already exists; see it with `modelcycle deploy status "
                                f"{name}`, or choose another name.") from None

    def get_deployment(self, name: str) -> Deployment:
        check_deployment_name(name)
        with self._read() as conn:
            return _deployment(self._deployment_row(conn, name))

    def list_deployments(self) -> list[Deployment]:
        with self._read() as conn:
            return [_deployment(r) for r in conn.execute(select(t.deployments).order_by(d.name))]

    def update_deployment(self, name: str, revision: int, user: str, kind: str, reason: str = "",
                          numbers: dict | None = None, epoch: int | None = None, **changes) -> Deployment:
        check_deployment_name(name)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            raise InvalidInput(f"A deployment revision is a whole number of at least 1; got {revision!r}.")
        check_deployment_event(user, kind, reason, numbers, epoch)
        changes = check_deployment_changes(changes)
        with self._write() as conn:
            row = self._deployment_row(conn, name)
            if row.revision != revision:
                raise Conflict(f"The deployment {name!r} changed since revision {revision} was read (it is at "
                               f"revision {row.revision}, last changed by {row.updated_by}); read it again and "
                               "retry if the change still applies.")
            if epoch is not None and epoch < row.epoch:
                raise Conflict(f"The lease epoch {epoch} of this change is older than the deployment's "
                               f"({row.epoch}): another worker leads the analysis of {name!r} now.")
            merged = {k: changes.get(k, orjson.loads(getattr(row, k))) for k in ("arms", "shares")}
            merged.update({k: changes.get(k, getattr(row, k)) for k in ("stable_version", "candidate_version")})
            model_id = self._model_id(conn, row.model_name, lock=True)
            named = set(orjson.loads(row.arms).values()) | {row.stable_version, row.candidate_version} - {None}
            self._check_arms(conn, model_id, row.model_name, merged, named)
            values = {k: _dumps(v) if k in _JSON_FIELDS else v for k, v in changes.items()}
            stored = conn.execute(update(t.deployments).where(d.id == row.id, d.revision == revision).values(
                **values, revision=revision + 1, updated_at=now_ms(), updated_by=user,
                epoch=max(row.epoch, epoch or 0)))
            if stored.rowcount != 1:  # a writer that committed between our read and this update
                raise Conflict(f"The deployment {name!r} changed while this change was written; read it again.")
            before = orjson.loads(row.shares)
            after = changes.get("shares", before)
            self._add_event(conn, row, kind, before, after, numbers, reason, user, epoch, model_id,
                            merged["candidate_version"] or merged["stable_version"])
            return _deployment(self._deployment_row(conn, name))

    def deployment_events(self, name: str, after_seq: int = 0) -> list[DeploymentEvent]:
        check_deployment_name(name)
        with self._read() as conn:
            row = self._deployment_row(conn, name)
            return [_event(r) for r in conn.execute(select(t.deployment_events).where(
                e.deployment_id == row.id, e.seq > int(after_seq)).order_by(e.seq))]

    def record_deployment_stats(self, name: str, worker: str, start_ms: int, end_ms: int,
                                stats: list[ArmStats]) -> None:
        check_deployment_name(name)
        check_name("worker", worker)
        check_stats_window(start_ms, end_ms)
        check_arm_stats(stats)
        with self._write() as conn:
            row = self._deployment_row(conn, name)
            for arm in stats:
                stmt = self._insert(t.deployment_stats).values(
                    deployment_id=row.id, start_ms=start_ms, end_ms=end_ms, worker=worker, arm=arm.arm,
                    version=arm.version, requests=arm.requests, errors=arm.errors, latency=_dumps(list(arm.latency)))
                # A flush sent again (a retry) replaces its first copy instead of counting twice.
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=[s.deployment_id, s.start_ms, s.worker, s.arm],
                    set_={"end_ms": stmt.excluded.end_ms, "version": stmt.excluded.version,
                          "requests": stmt.excluded.requests, "errors": stmt.excluded.errors,
                          "latency": stmt.excluded.latency}))

    def deployment_stats(self, name: str, since_ms: int, until_ms: int | None = None) -> dict[str, ArmStats]:
        check_deployment_name(name)
        check_stats_window(since_ms, until_ms if until_ms is not None else since_ms)
        with self._read() as conn:
            row = self._deployment_row(conn, name)
            query = select(s.arm, s.version, s.requests, s.errors, s.latency).where(
                s.deployment_id == row.id, s.end_ms > since_ms)
            if until_ms is not None:
                query = query.where(s.end_ms <= until_ms)
            total: dict[str, ArmStats] = {}
            for arm, version, requests, errors, latency in conn.execute(query.order_by(s.end_ms)):
                one = ArmStats(arm, version, requests, errors, tuple(orjson.loads(latency)))
                total[arm] = total[arm] + one if arm in total else one
            return total

