"""REST routes of the model registry."""

from __future__ import annotations

from fastapi import FastAPI

from modelcycle.server import wire
from modelcycle.server.wire import AliasPath as Alias
from modelcycle.server.wire import ModelNamePath as Name
from modelcycle.server.wire import ModelVersionPath as Version
from modelcycle.server.wire import errors
from modelcycle.store.base import Store
from modelcycle.store.entities import Stage


def add_registry_routes(app: FastAPI, store: Store) -> None:
    tags = ["registry"]
    base = "/api/registered-models"

    @app.post(base, status_code=201, tags=tags, responses=errors(409),
              openapi_extra=wire.links(201, {"name": "$response.body#/name"}, "get_registered_model",
                                       "update_registered_model", "set_registered_model_tag",
                                       "create_model_version", "list_model_versions", "rollback_model",
                                       "model_history"))
    def create_registered_model(body: wire.CreateRegisteredModel):
        return store.create_registered_model(body.name, body.description, body.tags).to_dict()

    @app.get(base, tags=tags, responses=errors())
    def list_registered_models():
        return {"models": [m.to_dict() for m in store.list_registered_models()]}

    @app.get(base + "/{name}", tags=tags, responses=errors(404))
    def get_registered_model(name: Name):
        return store.get_registered_model(name).to_dict()

    @app.patch(base + "/{name}", tags=tags, responses=errors(404))
    def update_registered_model(name: Name, body: wire.UpdateDescription):
        return store.update_registered_model(name, body.description).to_dict()

    @app.put(base + "/{name}/tags", status_code=204, tags=tags, responses=errors(404))
    def set_registered_model_tag(name: Name, body: wire.SetOptionalTag):
        store.set_registered_model_tag(name, body.key, body.value)

    @app.post(base + "/{name}/versions", status_code=201, tags=tags, responses=errors(404, 409),
              openapi_extra=wire.links(201, {"name": "$response.body#/name", "version": "$response.body#/version"},
                                       "get_model_version", "update_model_version", "set_model_version_tag",
                                       "transition_stage", "promote", "delete_model_version"))
    def create_model_version(name: Name, body: wire.CreateModelVersion):
        return store.create_model_version(name, body.run_id, body.artifact_path, body.user,
                                          body.description, body.tags).to_dict()

    @app.get(base + "/{name}/versions", tags=tags, responses=errors(404))
    def list_model_versions(name: Name, include_deleted: bool = False):
        return {"versions": [v.to_dict() for v in store.list_model_versions(name, None, include_deleted)]}

    @app.post("/api/model-versions/search", tags=tags, responses=errors(404))
    def search_model_versions(body: wire.SearchModelVersions):
        return {"versions": [v.to_dict() for v in store.list_model_versions(
            body.name, body.run_ids, body.include_deleted)]}

    @app.get(base + "/{name}/versions/{version}", tags=tags, responses=errors(404))
    def get_model_version(name: Name, version: Version):
        return store.get_model_version(name, version).to_dict()

    @app.patch(base + "/{name}/versions/{version}", tags=tags, responses=errors(404))
    def update_model_version(name: Name, version: Version, body: wire.UpdateDescription):
        return store.update_model_version(name, version, body.description).to_dict()

    @app.put(base + "/{name}/versions/{version}/tags", status_code=204, tags=tags, responses=errors(404))
    def set_model_version_tag(name: Name, version: Version, body: wire.SetOptionalTag):
        store.set_model_version_tag(name, version, body.key, body.value)

    @app.post(base + "/{name}/versions/{version}/stage", tags=tags, responses=errors(404, 409))
    def transition_stage(name: Name, version: Version, body: wire.TransitionStage):
        return store.transition_model_version_stage(
            name, version, Stage.parse(body.stage), body.user, body.reason, body.forced,
            body.expected_production, body.check_production).to_dict()

    @app.post(base + "/{name}/versions/{version}/promote", tags=tags, responses=errors(404, 409))
    def promote(name: Name, version: Version, body: wire.Promote):
        """Move a version to a stage through the model's promotion gates (409 when one refuses)."""
        from dataclasses import asdict

        from modelcycle.registry.api import promote as promote_version
        from modelcycle.tracking.client import Client

        result = promote_version(name, version, body.to, body.force, body.reason,
                                 client=Client(store=store), user=body.user)
        return {"version": result.version.to_dict(), "forced": result.forced,
                "gates": asdict(result.gates) if result.gates else None}

    @app.post(base + "/{name}/versions/{version}/delete", status_code=204, tags=tags,
              responses=errors(404, 409))
    def delete_model_version(name: Name, version: Version, body: wire.Audited):
        store.delete_model_version(name, version, body.user, body.reason)

    @app.get(base + "/{name}/aliases/{alias}", tags=tags, responses=errors(404))
    def get_model_version_by_alias(name: Name, alias: Alias):
        return store.get_model_version_by_alias(name, alias).to_dict()

    @app.put(base + "/{name}/aliases/{alias}", status_code=204, tags=tags, responses=errors(404))
    def set_model_alias(name: Name, alias: Alias, body: wire.SetAlias):
        store.set_model_alias(name, alias, body.version, body.user, body.reason)

    @app.post(base + "/{name}/aliases/{alias}/delete", status_code=204, tags=tags, responses=errors(404))
    def delete_model_alias(name: Name, alias: Alias, body: wire.Audited):
        store.delete_model_alias(name, alias, body.user, body.reason)

    @app.post(base + "/{name}/rollback", tags=tags, responses=errors(404, 409))
    def rollback_model(name: Name, body: wire.Audited):
        return store.rollback_model(name, body.user, body.reason).to_dict()

    @app.get(base + "/{name}/history", tags=tags, responses=errors(404))
    def model_history(name: Name):
        return {"transitions": [h.to_dict() for h in store.model_history(name)]}
