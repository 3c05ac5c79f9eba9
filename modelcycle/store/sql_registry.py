"""The model registry on the SQL store: registered models, versions, stages, aliases and the
audit log. Every change and its audit entry are written in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelcycle.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound, StoreUnavailable
from modelcycle.store import schema as t
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import ModelVersion, RegisteredModel, Stage, Transition
from modelcycle.store.validation import (
    MAX_TAG_VALUE_LENGTH, RESERVED_ALIASES, check_alias, check_artifact_path, check_audit, check_key,
    check_model_name, check_model_version, check_run_id, check_tag_value, check_tags, check_text,
)


def _alias_to_find(alias: object) -> str:
    """An alias to look up or remove: any text (a malformed one is simply not found)."""
    if not isinstance(alias, str) or not alias:
        raise InvalidInput(f"An alias is a non-empty string (e.g. champion); got {alias!r}.")
    return check_text("The alias", alias)


def _check_description(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"The description must be a string; got {value!r}.")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(f"The description is {len(value)} characters; the limit is {MAX_TAG_VALUE_LENGTH}.")
    return check_text("The description", value)


class SqlRegistry:
    """Mixed into SqlStore: uses its ``_read``/``_write`` transactions and ``_insert``."""

    # ------------------------------------------------------------------ helpers
    def _model_id(self, conn: Connection, name: str, lock: bool = False) -> int:
        query = select(t.registered_models.c.id).where(t.registered_models.c.name == check_model_name(name))
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()  # serialises changes to one model's stages
        model_id = conn.execute(query).scalar_one_or_none()
        if model_id is None:
            raise NotFound(f"No registered model named {name!r}. List them with `modelcycle models ls`, "
                           "or register one with `modelcycle models register runs:/RUN_ID/model NAME`.")
        return model_id

    def _version_row(self, conn: Connection, model_id: int, name: str, version: int):
        v = t.model_versions.c
        row = conn.execute(select(t.model_versions).where(
            v.model_id == model_id, v.version == version)).first()
        if row is None or row.deleted_at is not None:
            latest = conn.execute(select(func.max(v.version)).where(
                v.model_id == model_id, v.deleted_at.is_(None))).scalar()
            gone = " (it was deleted)" if row is not None else ""
            known = f"its latest version is {latest}" if latest else "it has no versions"
            raise NotFound(f"The model {name!r} has no version {version}{gone}; {known}. "
                           f"List them with `modelcycle models versions {name}`.")
        return row

    def _production(self, conn: Connection, model_id: int):
        v = t.model_versions.c
        return conn.execute(select(t.model_versions).where(
            v.model_id == model_id, v.stage == Stage.PRODUCTION.value)).first()

    def _audit(self, conn: Connection, model_id: int, version: int | None, action: str, user: str,
               reason: str = "", from_value: object = None, to_value: object = None,
               alias: str | None = None, forced: bool = False) -> None:
        conn.execute(insert(t.model_transitions).values(
            model_id=model_id, version=version, action=action, alias=alias,
            from_value=None if from_value is None else str(from_value),
            to_value=None if to_value is None else str(to_value),
            user=user, reason=reason, forced=bool(forced), created_at=now_ms()))

    def _refuse_changing_a_version(self, conn: Connection, run_id: str, path: str, digest: str) -> None:
        """A registered version is the files pinned when it was registered: a write into its
        folder is refused unless it stores the very bytes pinned at that path. Called with the
        run locked, as registration locks it."""
        v, m, f = t.model_versions.c, t.registered_models.c, t.model_version_files.c
        for version_id, version, name, folder in conn.execute(
                select(v.id, v.version, m.name, v.artifact_path).join(t.registered_models, m.id == v.model_id)
                .where(v.run_id == run_id, v.deleted_at.is_(None)).order_by(v.id)):
            if not path.startswith(folder + "/"):
                continue
            pinned = conn.execute(select(f.digest).where(
                f.version_id == version_id, f.path == path[len(folder) + 1:])).scalar_one_or_none()
            if pinned != digest:
                raise Conflict(
                    f"{path!r} is in the folder of version {version} of {name!r} (runs:/{run_id}/{folder}), "
                    "and the files of a registered version cannot change. Log to another path (e.g. "
                    f"mc.log_model(model, '{folder}-2')) or in a new run, and register that as a new version.")

    def _set_tag(self, conn: Connection, table, owner: str, owner_id: int, key: str, value: str | None) -> None:
        """Set (an upsert, so that concurrent writers of one key both succeed) or delete a tag."""
        if value is None:
            conn.execute(delete(table).where(table.c[owner] == owner_id, table.c.key == key))
            return
        stmt = self._insert(table).values({owner: owner_id, "key": key, "value": check_tag_value(key, value)})
        conn.execute(stmt.on_conflict_do_update(index_elements=[owner, "key"], set_={"value": stmt.excluded.value}))

    def _versions(self, conn: Connection, where, name_of: dict[int, str] | None = None) -> list[ModelVersion]:
        v, m = t.model_versions.c, t.registered_models.c
        rows = conn.execute(select(t.model_versions, m.name).join(
            t.registered_models, m.id == v.model_id).where(where).order_by(m.name, v.version)).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {}
        for vid, key, value in conn.execute(select(t.model_version_tags).where(
                t.model_version_tags.c.version_id.in_(ids))):
            tags.setdefault(vid, {})[key] = value
        aliases: dict[int, list[str]] = {}
        for alias, vid in conn.execute(select(t.model_aliases.c.alias, t.model_aliases.c.version_id).where(
                t.model_aliases.c.version_id.in_(ids)).order_by(t.model_aliases.c.alias)):
            aliases.setdefault(vid, []).append(alias)
        f = t.model_version_files.c
        files: dict[int, dict[str, str]] = {}
        for vid, path, digest in conn.execute(select(f.version_id, f.path, f.digest).where(
                f.version_id.in_(ids)).order_by(f.version_id, f.path)):
            files.setdefault(vid, {})[path] = digest
        return [ModelVersion(r.name, r.version, r.run_id, r.artifact_path, Stage(r.stage), r.description,
                             r.created_at, r.updated_at, r.created_by, tags.get(r.id, {}),
                             tuple(aliases.get(r.id, ())), r.deleted_at is not None, files.get(r.id, {}))
                for r in rows]

    def _version(self, conn: Connection, model_id: int, version: int) -> ModelVersion:
        v = t.model_versions.c
        return self._versions(conn, (v.model_id == model_id) & (v.version == version))[0]

    def _models(self, conn: Connection, where) -> list[RegisteredModel]:
        m, v, a = t.registered_models.c, t.model_versions.c, t.model_aliases.c
        rows = conn.execute(select(t.registered_models).where(where).order_by(m.name)).all()
        ids = [r.id for r in rows]
        if not ids:
            return []
        tags: dict[int, dict[str, str]] = {}
        for mid, key, value in conn.execute(select(t.registered_model_tags).where(
                t.registered_model_tags.c.model_id.in_(ids))):
            tags.setdefault(mid, {})[key] = value
        aliases: dict[int, dict[str, int]] = {}
        for mid, alias, version in conn.execute(select(a.model_id, a.alias, v.version).join(
                t.model_versions, v.id == a.version_id).where(a.model_id.in_(ids)).order_by(a.alias)):
            aliases.setdefault(mid, {})[alias] = version
        latest = dict(conn.execute(select(v.model_id, func.max(v.version)).where(
            v.model_id.in_(ids), v.deleted_at.is_(None)).group_by(v.model_id)).all())
        production = dict(conn.execute(select(v.model_id, v.version).where(
            v.model_id.in_(ids), v.stage == Stage.PRODUCTION.value)).all())
        return [RegisteredModel(r.id, r.name, r.description, r.created_at, r.updated_at,
                                tags.get(r.id, {}), aliases.get(r.id, {}), latest.get(r.id),
                                production.get(r.id)) for r in rows]

    def _insert_model(self, conn: Connection, name: str, description: str) -> int:
        stamp = now_ms()
        return conn.execute(insert(t.registered_models).values(
            name=name, description=description, last_version=0, created_at=stamp, updated_at=stamp,
        ).returning(t.registered_models.c.id)).scalar_one()

    # ------------------------------------------------------------------ registered models
    def create_registered_model(self, name: str, description: str = "",
                                tags: dict[str, str] | None = None) -> RegisteredModel:
        check_model_name(name)
        description = _check_description(description or "")
        tags = check_tags(tags)
        try:
            with self._write() as conn:
                model_id = self._insert_model(conn, name, description)
                if tags:
                    conn.execute(insert(t.registered_model_tags), [
                        {"model_id": model_id, "key": k, "value": v} for k, v in tags.items()])
        except IntegrityError:
            raise AlreadyExists(f"A model named {name!r} is already registered. Register a new version "
                                f"of it with `modelcycle models register SOURCE {name}`.") from None
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            return self._models(conn, t.registered_models.c.id == model_id)[0]

    def list_registered_models(self) -> list[RegisteredModel]:
        with self._read() as conn:
            return self._models(conn, t.registered_models.c.id.is_not(None))

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        description = _check_description(description)
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            conn.execute(update(t.registered_models).where(t.registered_models.c.id == model_id)
                         .values(description=description, updated_at=now_ms()))
        return self.get_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: str | None) -> None:
        check_key("tag", key)
        with self._write() as conn:
            self._set_tag(conn, t.registered_model_tags, "model_id", self._model_id(conn, name), key, value)

    # ------------------------------------------------------------------ versions
    def create_model_version(self, name: str, run_id: str, artifact_path: str, user: str,
                             description: str = "", tags: dict[str, str] | None = None) -> ModelVersion:
        check_model_name(name)
        check_audit(user, "")
        check_run_id(run_id)
        artifact_path = check_artifact_path(artifact_path)
        description = _check_description(description or "")
        tags = check_tags(tags)
        m = t.registered_models.c
        for _attempt in range(5):
            try:
                with self._write() as conn:
                    query = select(t.runs.c.deleted_at).where(t.runs.c.id == run_id)
                    if conn.dialect.name == "postgresql":
                        query = query.with_for_update()  # artifact writes to the run wait for the pins
                    run = conn.execute(query).first()
                    if run is None:
                        raise NotFound(f"No run with id {run_id} to register a model from.")
                    if run.deleted_at is not None:
                        raise Conflict(f"The run {run_id} is deleted; restore it before registering "
                                       "its model.")
                    model_id = conn.execute(select(m.id).where(m.name == name)).scalar_one_or_none()
                    if model_id is None:
                        model_id = self._insert_model(conn, name, "")
                    stamp = now_ms()
                    # The counter's update also locks the model's row until commit.
                    version = conn.execute(update(t.registered_models).where(m.id == model_id).values(
                        last_version=m.last_version + 1, updated_at=stamp).returning(m.last_version)
                    ).scalar_one()
                    version_id = conn.execute(insert(t.model_versions).values(
                        model_id=model_id, version=version, run_id=run_id, artifact_path=artifact_path,
                        stage=Stage.NONE.value, description=description, created_by=user,
                        created_at=stamp, updated_at=stamp).returning(t.model_versions.c.id)).scalar_one()
                    if tags:
                        conn.execute(insert(t.model_version_tags), [
                            {"version_id": version_id, "key": k, "value": v} for k, v in tags.items()])
                    a = t.artifacts.c
                    pins = [{"version_id": version_id, "path": path[len(artifact_path) + 1:], "digest": digest,
                             "size": size} for path, digest, size in conn.execute(
                        select(a.path, a.digest, a.size).where(
                            a.run_id == run_id, a.path.startswith(artifact_path + "/", autoescape=True)))]
                    if pins:
                        conn.execute(insert(t.model_version_files), pins)
                    self._audit(conn, model_id, version, "register", user,
                                f"from runs:/{run_id}/{artifact_path}", None, Stage.NONE.value)
                    return self._version(conn, model_id, version)
            except IntegrityError:
                continue  # another process created the same model at the same moment: again
        raise StoreUnavailable(f"Could not register a version of {name!r}: too many concurrent writers.")

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        version = check_model_version(version)
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            self._version_row(conn, model_id, name, version)
            return self._version(conn, model_id, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        _alias_to_find(alias)
        a, v = t.model_aliases.c, t.model_versions.c
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            version = conn.execute(select(v.version).join(t.model_versions, v.id == a.version_id).where(
                a.model_id == model_id, a.alias == alias)).scalar_one_or_none()
            if version is None and alias.lower() in RESERVED_ALIASES:
                raise InvalidInput(f"{alias!r} is a stage or 'latest', never an alias; load it as "
                                   f"models:/{name}@{alias.lower()}.")
            if version is None:
                known = conn.execute(select(a.alias).where(a.model_id == model_id).order_by(a.alias)).scalars().all()
                try:
                    check_alias(alias)
                    how = f" Set one with `modelcycle models alias {name} {alias} VERSION`."
                except InvalidInput:  # never settable: suggesting it would only lead to another error
                    how = (f" {alias!r} is not an alias name: an alias starts with a letter or '_' and has "
                           "letters, digits, '_', '-' or '.' (e.g. champion).")
                raise NotFound(f"The model {name!r} has no alias {alias!r}; "
                               + (f"its aliases are {', '.join(known)}." if known else "it has no aliases.") + how)
            return self._version(conn, model_id, version)

    def list_model_versions(self, name: str | None = None, run_ids: Sequence[str] | None = None,
                            include_deleted: bool = False) -> list[ModelVersion]:
        v = t.model_versions.c
        where = v.id.is_not(None)
        if not include_deleted:
            where = where & v.deleted_at.is_(None)
        if run_ids is not None:
            where = where & v.run_id.in_([check_run_id(r) for r in run_ids])
        with self._read() as conn:
            if name is not None:
                where = where & (v.model_id == self._model_id(conn, name))
            return self._versions(conn, where)

    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion:
        version = check_model_version(version)
        description = _check_description(description)
        with self._write() as conn:
            model_id = self._model_id(conn, name)
            row = self._version_row(conn, model_id, name, version)
            conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                         .values(description=description, updated_at=now_ms()))
            return self._version(conn, model_id, version)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        version = check_model_version(version)
        check_key("tag", key)
        with self._write() as conn:
            row = self._version_row(conn, self._model_id(conn, name), name, version)
            self._set_tag(conn, t.model_version_tags, "version_id", row.id, key, value)

    # ------------------------------------------------------------------ transitions
    def _set_stage(self, conn: Connection, model_id: int, row, stage: Stage, action: str, user: str,
                   reason: str, forced: bool = False) -> None:
        conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                     .values(stage=stage.value, updated_at=now_ms()))
        self._audit(conn, model_id, row.version, action, user, reason, row.stage, stage.value, forced=forced)

    def transition_model_version_stage(self, name: str, version: int, stage: Stage, user: str,
                                       reason: str = "", forced: bool = False,
                                       expected_production: int | None = None,
                                       check_production: bool = False) -> ModelVersion:
        version = check_model_version(version)
        stage = Stage.parse(stage)
        check_audit(user, reason)
        try:
            with self._write() as conn:
                model_id = self._model_id(conn, name, lock=True)
                row = self._version_row(conn, model_id, name, version)
                current = self._production(conn, model_id)
                if check_production and (current.version if current else None) != expected_production:
                    held = f"version {current.version}" if current else "no version"
                    raise Conflict(
                        f"Production of {name!r} changed while version {version} was checked: it is now "
                        f"{held}, not {expected_production or 'none'}. Promote again to check against it.")
                if row.stage == stage.value:
                    return self._version(conn, model_id, version)
                if stage is Stage.PRODUCTION and current is not None:
                    self._set_stage(conn, model_id, current, Stage.ARCHIVED, "stage", user,
                                    f"replaced in Production by version {version}")
                self._set_stage(conn, model_id, row, stage, "stage", user, reason, forced)
                return self._version(conn, model_id, version)
        except IntegrityError:
            # The partial unique index caught a second Production version from a racing writer.
            raise Conflict(f"Another promotion of {name!r} committed at the same moment; "
                           "check `modelcycle models history` and promote again.") from None

    def rollback_model(self, name: str, user: str, reason: str = "") -> ModelVersion:
        check_audit(user, reason)
        tr = t.model_transitions.c
        with self._write() as conn:
            model_id = self._model_id(conn, name, lock=True)
            current = self._production(conn, model_id)
            if current is None:
                raise Conflict(f"No version of {name!r} is in Production, so there is nothing to roll "
                               f"back. Promote one with `modelcycle models promote {name} VERSION`.")
            # Replay the holders of Production: a promotion pushes, a rollback pops.
            holders: list[int] = []
            for action, version in conn.execute(select(tr.action, tr.version).where(
                    tr.model_id == model_id, tr.to_value == Stage.PRODUCTION.value,
                    tr.action.in_(("stage", "rollback"))).order_by(tr.id)):
                if action == "rollback" and holders:
                    holders.pop()
                if not holders or holders[-1] != version:
                    holders.append(version)
            live = {r.version: r for r in conn.execute(select(t.model_versions).where(
                t.model_versions.c.model_id == model_id, t.model_versions.c.deleted_at.is_(None)))}
            while holders and holders[-1] == current.version:
                holders.pop()
            target = next((live[v] for v in reversed(holders) if v in live and v != current.version), None)
            if target is None:
                raise Conflict(f"Version {current.version} of {name!r} is the first to hold Production "
                               "(or the ones before it were deleted): there is no earlier version to roll "
                               "back to.")
            self._set_stage(conn, model_id, current, Stage.ARCHIVED, "stage", user,
                            f"rolled back to version {target.version}")
            self._set_stage(conn, model_id, target, Stage.PRODUCTION, "rollback", user,
                            reason or f"rollback from version {current.version}")
            return self._version(conn, model_id, target.version)

    def set_model_alias(self, name: str, alias: str, version: int, user: str, reason: str = "") -> None:
        version = check_model_version(version)
        check_alias(alias)
        check_audit(user, reason)
        a = t.model_aliases.c
        with self._write() as conn:
            model_id = self._model_id(conn, name, lock=True)
            row = self._version_row(conn, model_id, name, version)
            before = conn.execute(select(t.model_versions.c.version).join(
                t.model_aliases, a.version_id == t.model_versions.c.id).where(
                a.model_id == model_id, a.alias == alias)).scalar_one_or_none()
            if before == version:
                return
            conn.execute(delete(t.model_aliases).where(a.model_id == model_id, a.alias == alias))
            conn.execute(insert(t.model_aliases).values(model_id=model_id, alias=alias, version_id=row.id))
            self._audit(conn, model_id, version, "alias", user, reason, before, version, alias=alias)

    def delete_model_alias(self, name: str, alias: str, user: str, reason: str = "") -> None:
        _alias_to_find(alias)
        check_audit(user, reason)
        a = t.model_aliases.c
        with self._write() as conn:
            model_id = self._model_id(conn, name, lock=True)
            before = conn.execute(select(t.model_versions.c.version).join(
                t.model_aliases, a.version_id == t.model_versions.c.id).where(
                a.model_id == model_id, a.alias == alias)).scalar_one_or_none()
            if before is None:
                raise NotFound(f"The model {name!r} has no alias {alias!r}.")
            conn.execute(delete(t.model_aliases).where(a.model_id == model_id, a.alias == alias))
            self._audit(conn, model_id, before, "unalias", user, reason, before, None, alias=alias)

    def delete_model_version(self, name: str, version: int, user: str, reason: str = "") -> None:
        version = check_model_version(version)
        check_audit(user, reason)
        a = t.model_aliases.c
        with self._write() as conn:
            model_id = self._model_id(conn, name, lock=True)
            row = self._version_row(conn, model_id, name, version)
            if row.stage == Stage.PRODUCTION.value:
                raise Conflict(f"Version {version} of {name!r} is in Production. Promote another version "
                               f"or archive it (`modelcycle models archive {name} {version}`) first.")
            for (alias,) in conn.execute(select(a.alias).where(a.version_id == row.id)).all():
                self._audit(conn, model_id, version, "unalias", user, "version deleted", version, None,
                            alias=alias)
            conn.execute(delete(t.model_aliases).where(a.version_id == row.id))
            conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                         .values(deleted_at=now_ms(), updated_at=now_ms()))
            self._audit(conn, model_id, version, "delete", user, reason, row.stage, None)

    def model_history(self, name: str) -> list[Transition]:
        tr = t.model_transitions.c
        with self._read() as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(select(t.model_transitions).where(tr.model_id == model_id).order_by(tr.id)).all()
        return [Transition(r.id, name, r.version, r.action, r.alias, r.from_value, r.to_value, r.user,
                           r.reason, r.forced, r.created_at) for r in rows]
