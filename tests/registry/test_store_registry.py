"""The registry part of the Store contract. Every test takes the ``store`` fixture and so runs
unchanged on SQLite, on PostgreSQL and through a tracking server (the HTTP client store)."""

from __future__ import annotations

import pytest

from modelcycle import AlreadyExists, Conflict, InvalidInput, NotFound, Stage

UNKNOWN_RUN = "0" * 32
ARCHIVED, NONE, PRODUCTION, STAGING = (s.value for s in (Stage.ARCHIVED, Stage.NONE, Stage.PRODUCTION,
                                                         Stage.STAGING))


@pytest.fixture
def run_id(store) -> str:
    return store.create_run(store.create_experiment("registry").id).id


def _versions(store, name: str, count: int, run_id: str) -> list[int]:
    return [store.create_model_version(name, run_id, "model", "ana").version for _ in range(count)]


def _stages(store, name: str) -> dict[int, str]:
    return {v.version: v.stage.value for v in store.list_model_versions(name)}


def _promote(store, name: str, version: int, user: str = "ana", reason: str = ""):
    return store.transition_model_version_stage(name, version, Stage.PRODUCTION, user, reason)


def _moves(store, name: str) -> list[tuple]:
    """The stage changes of the audit log: (action, version, from, to, reason)."""
    return [(h.action, h.version, h.from_value, h.to_value, h.reason) for h in store.model_history(name)
            if h.action in ("stage", "rollback")]


# ---------------------------------------------------------------------------- registered models
def test_create_get_and_list_registered_models(store):
    churn = store.create_registered_model("churn", "predicts who leaves", {"team": "growth"})
    assert (churn.name, churn.description, churn.tags) == ("churn", "predicts who leaves", {"team": "growth"})
    assert churn.aliases == {} and churn.latest_version is None and churn.production_version is None
    assert churn.created_at > 0 and churn.updated_at >= churn.created_at
    assert store.get_registered_model("churn") == churn
    fraud = store.create_registered_model("fraud")
    assert fraud.id != churn.id and (fraud.description, fraud.tags) == ("", {})
    assert [m.name for m in store.list_registered_models()] == ["churn", "fraud"]
    assert store.list_registered_models()[0] == churn


def test_a_taken_model_name_is_refused(store):
    store.create_registered_model("churn", "first")
    with pytest.raises(AlreadyExists, match="churn"):
        store.create_registered_model("churn", "second")
    assert store.get_registered_model("churn").description == "first"


def test_update_description_and_tags_of_models_and_versions(store, run_id):
    store.create_registered_model("churn", "draft", {"a": "1"})
    assert store.update_registered_model("churn", "final").description == "final"
    store.set_registered_model_tag("churn", "a", "2")
    store.set_registered_model_tag("churn", "owner", "ana")
    assert store.get_registered_model("churn").tags == {"a": "2", "owner": "ana"}
    store.set_registered_model_tag("churn", "a", None)  # None deletes
    assert store.get_registered_model("churn").tags == {"owner": "ana"}

    version = store.create_model_version("churn", run_id, "model", "ana", "v1 notes", {"validated": "no"})
    assert (version.description, version.tags) == ("v1 notes", {"validated": "no"})
    assert store.update_model_version("churn", 1, "better notes").description == "better notes"
    store.set_model_version_tag("churn", 1, "validated", "yes")
    store.set_model_version_tag("churn", 1, "reviewer", "bo")
    assert store.get_model_version("churn", 1).tags == {"validated": "yes", "reviewer": "bo"}
    store.set_model_version_tag("churn", 1, "reviewer", None)
    assert store.get_model_version("churn", 1).tags == {"validated": "yes"}
    assert store.get_model_version("churn", 1).description == "better notes"


# ---------------------------------------------------------------------------- versions
def test_a_version_records_its_source_and_creates_the_model(store, run_id):
    version = store.create_model_version("churn", run_id, "model/", "ana", "first")
    assert (version.name, version.version, version.run_id, version.artifact_path) == ("churn", 1, run_id, "model")
    assert version.source == f"runs:/{run_id}/model" and version.ref == "churn@1"
    assert (version.stage, version.created_by, version.aliases, version.deleted) == (Stage.NONE, "ana", (), False)
    assert store.get_model_version("churn", 1) == version
    model = store.get_registered_model("churn")
    assert (model.latest_version, model.production_version) == (1, None)
    (entry,) = store.model_history("churn")
    assert (entry.action, entry.version, entry.from_value, entry.to_value, entry.user) == (
        "register", 1, None, NONE, "ana")
    assert entry.reason == f"from runs:/{run_id}/model" and not entry.forced


def test_versions_count_up_and_a_deleted_number_is_never_reused(store, run_id):
    assert _versions(store, "churn", 3, run_id) == [1, 2, 3]
    assert _versions(store, "fraud", 1, run_id) == [1]  # numbered per model
    store.delete_model_version("churn", 3, "ana", "bad data")
    assert store.get_registered_model("churn").latest_version == 2
    assert _versions(store, "churn", 1, run_id) == [4]
    store.delete_model_version("churn", 1, "ana")
    assert [v.version for v in store.list_model_versions("churn")] == [2, 4]
    everything = store.list_model_versions("churn", include_deleted=True)
    assert [(v.version, v.deleted) for v in everything] == [(1, True), (2, False), (3, True), (4, False)]
    with pytest.raises(NotFound, match="deleted") as caught:
        store.get_model_version("churn", 3)
    assert "latest version is 4" in str(caught.value)
    with pytest.raises(NotFound):
        store.delete_model_version("churn", 3, "ana")  # already gone
    deletions = [(h.version, h.reason) for h in store.model_history("churn") if h.action == "delete"]
    assert deletions == [(3, "bad data"), (1, "")]


def test_list_model_versions_by_run(store, run_id):
    other = store.create_run(store.create_experiment("other").id).id
    store.create_model_version("churn", run_id, "model", "ana")  # churn 1
    store.create_model_version("churn", other, "model", "ana")  # churn 2
    store.create_model_version("fraud", other, "clf", "ana")  # fraud 1
    store.create_model_version("fraud", run_id, "clf", "ana")  # fraud 2

    def refs(**kwargs):
        return [(v.name, v.version) for v in store.list_model_versions(**kwargs)]

    assert refs(run_ids=[run_id]) == [("churn", 1), ("fraud", 2)]
    assert refs(run_ids=[other]) == [("churn", 2), ("fraud", 1)]
    assert refs(run_ids=[run_id, other]) == refs() == [("churn", 1), ("churn", 2), ("fraud", 1), ("fraud", 2)]
    assert refs(name="fraud", run_ids=[other]) == [("fraud", 1)]
    assert refs(run_ids=[]) == []
    assert refs(run_ids=[UNKNOWN_RUN]) == []
    store.delete_model_version("churn", 1, "ana")
    assert refs(run_ids=[run_id]) == [("fraud", 2)]
    assert refs(run_ids=[run_id], include_deleted=True) == [("churn", 1), ("fraud", 2)]
    with pytest.raises(InvalidInput, match="run id"):
        store.list_model_versions(run_ids=["not-a-run-id"])


def test_registering_from_a_deleted_run_is_a_conflict(store, run_id):
    store.delete_run(run_id)
    with pytest.raises(Conflict, match="restore"):
        store.create_model_version("churn", run_id, "model", "ana")
    with pytest.raises(NotFound):
        store.get_registered_model("churn")  # nothing half-made
    store.restore_run(run_id)
    assert store.create_model_version("churn", run_id, "model", "ana").version == 1


# ---------------------------------------------------------------------------- stages
def test_stages_and_a_single_production_version(store, run_id):
    _versions(store, "churn", 3, run_id)
    assert store.transition_model_version_stage("churn", 1, Stage.STAGING, "ana").stage is Stage.STAGING
    assert store.transition_model_version_stage("churn", 1, "production", "ana").stage is Stage.PRODUCTION
    assert _stages(store, "churn") == {1: PRODUCTION, 2: NONE, 3: NONE}
    assert store.get_registered_model("churn").production_version == 1

    assert _promote(store, "churn", 2, user="bo", reason="better recall").stage is Stage.PRODUCTION
    assert _stages(store, "churn") == {1: ARCHIVED, 2: PRODUCTION, 3: NONE}
    assert store.get_registered_model("churn").production_version == 2
    assert _moves(store, "churn") == [
        ("stage", 1, NONE, STAGING, ""),
        ("stage", 1, STAGING, PRODUCTION, ""),
        ("stage", 1, PRODUCTION, ARCHIVED, "replaced in Production by version 2"),
        ("stage", 2, NONE, PRODUCTION, "better recall"),
    ]
    demotion = [h for h in store.model_history("churn") if h.to_value == ARCHIVED][0]
    assert demotion.user == "bo" and not demotion.forced

    store.transition_model_version_stage("churn", 2, Stage.ARCHIVED, "ana", "retired")
    assert _stages(store, "churn") == {1: ARCHIVED, 2: ARCHIVED, 3: NONE}
    assert store.get_registered_model("churn").production_version is None
    with pytest.raises(InvalidInput, match="stage"):
        store.transition_model_version_stage("churn", 3, "Live", "ana")


def test_a_move_to_the_stage_a_version_is_in_changes_nothing(store, run_id):
    _versions(store, "churn", 1, run_id)
    _promote(store, "churn", 1)
    entries = len(store.model_history("churn"))
    assert _promote(store, "churn", 1).stage is Stage.PRODUCTION
    assert len(store.model_history("churn")) == entries
    assert _stages(store, "churn") == {1: PRODUCTION}


def test_every_transition_is_in_the_history_with_who_why_and_whether_forced(store, run_id):
    _versions(store, "churn", 2, run_id)
    store.transition_model_version_stage("churn", 1, Stage.STAGING, "ana", "for QA")
    store.transition_model_version_stage("churn", 1, Stage.PRODUCTION, "bo", "QA passed")
    store.transition_model_version_stage("churn", 2, Stage.PRODUCTION, "cy", "override", forced=True)
    store.set_model_alias("churn", "champion", 2, "dee", "the winner")
    store.rollback_model("churn", "eve", "incident 42")
    history = store.model_history("churn")
    assert [h.id for h in history] == sorted(h.id for h in history)
    assert all(h.name == "churn" and h.created_at > 0 for h in history)
    got = [(h.action, h.version, h.alias, h.from_value, h.to_value, h.user, h.reason, h.forced) for h in history]
    assert got == [
        ("register", 1, None, None, NONE, "ana", f"from runs:/{run_id}/model", False),
        ("register", 2, None, None, NONE, "ana", f"from runs:/{run_id}/model", False),
        ("stage", 1, None, NONE, STAGING, "ana", "for QA", False),
        ("stage", 1, None, STAGING, PRODUCTION, "bo", "QA passed", False),
        ("stage", 1, None, PRODUCTION, ARCHIVED, "cy", "replaced in Production by version 2", False),
        ("stage", 2, None, NONE, PRODUCTION, "cy", "override", True),
        ("alias", 2, "champion", None, "2", "dee", "the winner", False),
        ("stage", 2, None, PRODUCTION, ARCHIVED, "eve", "rolled back to version 1", False),
        ("rollback", 1, None, ARCHIVED, PRODUCTION, "eve", "incident 42", False),
    ]


# ---------------------------------------------------------------------------- aliases
def test_aliases_are_set_moved_and_deleted(store, run_id):
    _versions(store, "churn", 2, run_id)
    store.set_model_alias("churn", "champion", 1, "ana")
    store.set_model_alias("churn", "challenger", 2, "ana")
    champion = store.get_model_version_by_alias("churn", "champion")
    assert (champion.version, champion.aliases) == (1, ("champion",))
    assert store.get_registered_model("churn").aliases == {"challenger": 2, "champion": 1}

    store.set_model_alias("churn", "champion", 2, "bo", "v2 won the A/B test")
    assert store.get_model_version_by_alias("churn", "champion").version == 2
    assert store.get_model_version("churn", 2).aliases == ("challenger", "champion")
    assert store.get_model_version("churn", 1).aliases == ()
    store.set_model_alias("churn", "champion", 2, "bo")  # already there: no new entry

    store.delete_model_alias("churn", "challenger", "ana", "test over")
    assert store.get_registered_model("churn").aliases == {"champion": 2}
    with pytest.raises(NotFound, match="challenger"):
        store.get_model_version_by_alias("churn", "challenger")
    with pytest.raises(NotFound):
        store.delete_model_alias("churn", "challenger", "ana")
    entries = [(h.action, h.alias, h.version, h.from_value, h.to_value, h.user, h.reason)
               for h in store.model_history("churn") if h.alias]
    assert entries == [
        ("alias", "champion", 1, None, "1", "ana", ""),
        ("alias", "challenger", 2, None, "2", "ana", ""),
        ("alias", "champion", 2, "1", "2", "bo", "v2 won the A/B test"),
        ("unalias", "challenger", 2, "2", None, "ana", "test over"),
    ]


def test_deleting_a_version_drops_its_aliases(store, run_id):
    _versions(store, "churn", 2, run_id)
    store.set_model_alias("churn", "champion", 1, "ana")
    store.set_model_alias("churn", "shadow", 2, "ana")
    store.delete_model_version("churn", 1, "ana", "leaked labels")
    assert store.get_registered_model("churn").aliases == {"shadow": 2}
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("churn", "champion")
    last = store.model_history("churn")[-2:]
    assert [(h.action, h.alias, h.version, h.reason) for h in last] == [
        ("unalias", "champion", 1, "version deleted"), ("delete", None, 1, "leaked labels")]


def test_a_production_version_cannot_be_deleted(store, run_id):
    _versions(store, "churn", 2, run_id)
    _promote(store, "churn", 1)
    with pytest.raises(Conflict, match="Production"):
        store.delete_model_version("churn", 1, "ana")
    assert store.get_model_version("churn", 1).stage is Stage.PRODUCTION
    assert not [h for h in store.model_history("churn") if h.action == "delete"]
    store.transition_model_version_stage("churn", 1, Stage.ARCHIVED, "ana")
    store.delete_model_version("churn", 1, "ana")
    assert [v.version for v in store.list_model_versions("churn")] == [2]


# ---------------------------------------------------------------------------- rollback
def test_rollback_walks_back_through_the_holders_of_production(store, run_id):
    _versions(store, "churn", 3, run_id)
    for version in (1, 2, 3):
        _promote(store, "churn", version)
    back = store.rollback_model("churn", "ana", "v3 drifts")
    assert (back.version, back.stage) == (2, Stage.PRODUCTION)
    assert _stages(store, "churn") == {1: ARCHIVED, 2: PRODUCTION, 3: ARCHIVED}
    assert store.rollback_model("churn", "ana").version == 1
    assert _stages(store, "churn") == {1: PRODUCTION, 2: ARCHIVED, 3: ARCHIVED}
    before = store.model_history("churn")
    with pytest.raises(Conflict, match="no earlier version"):
        store.rollback_model("churn", "ana")
    assert store.model_history("churn") == before  # a refused rollback writes nothing
    assert _stages(store, "churn") == {1: PRODUCTION, 2: ARCHIVED, 3: ARCHIVED}
    rollbacks = [(h.version, h.from_value, h.to_value, h.reason) for h in before if h.action == "rollback"]
    assert rollbacks == [(2, ARCHIVED, PRODUCTION, "v3 drifts"),
                         (1, ARCHIVED, PRODUCTION, "rollback from version 2")]


def test_a_promotion_after_a_rollback_rolls_back_to_the_version_it_replaced(store, run_id):
    _versions(store, "churn", 3, run_id)
    _promote(store, "churn", 1)
    _promote(store, "churn", 2)
    assert store.rollback_model("churn", "ana").version == 1
    _promote(store, "churn", 3)
    assert store.rollback_model("churn", "ana").version == 1


def test_rollback_skips_deleted_versions(store, run_id):
    _versions(store, "churn", 3, run_id)
    for version in (1, 2, 3):
        _promote(store, "churn", version)
    store.delete_model_version("churn", 2, "ana")
    assert store.rollback_model("churn", "ana").version == 1
    assert _stages(store, "churn") == {1: PRODUCTION, 3: ARCHIVED}


def test_rollback_with_no_earlier_holder_is_a_conflict(store, run_id):
    _versions(store, "churn", 2, run_id)
    with pytest.raises(Conflict, match="nothing to roll back"):
        store.rollback_model("churn", "ana")  # nothing in Production
    _promote(store, "churn", 1)
    with pytest.raises(Conflict):
        store.rollback_model("churn", "ana")  # the first holder
    _promote(store, "churn", 2)
    store.delete_model_version("churn", 1, "ana")
    with pytest.raises(Conflict, match="deleted"):
        store.rollback_model("churn", "ana")  # the only earlier holder is gone
    assert _stages(store, "churn") == {2: PRODUCTION}


# ---------------------------------------------------------------------------- checked promotion
def test_a_checked_promotion_is_refused_when_production_changed(store, run_id):
    _versions(store, "churn", 3, run_id)
    promoted = store.transition_model_version_stage("churn", 1, Stage.PRODUCTION, "ana",
                                                     expected_production=None, check_production=True)
    assert promoted.stage is Stage.PRODUCTION
    before = store.model_history("churn")
    with pytest.raises(Conflict, match="changed") as caught:
        store.transition_model_version_stage("churn", 2, Stage.PRODUCTION, "ana",
                                             expected_production=None, check_production=True)
    assert "version 1" in str(caught.value)
    with pytest.raises(Conflict):
        store.transition_model_version_stage("churn", 2, Stage.PRODUCTION, "ana",
                                             expected_production=3, check_production=True)
    assert store.model_history("churn") == before
    assert _stages(store, "churn") == {1: PRODUCTION, 2: NONE, 3: NONE}

    store.transition_model_version_stage("churn", 2, Stage.PRODUCTION, "ana",
                                         expected_production=1, check_production=True)
    assert _stages(store, "churn") == {1: ARCHIVED, 2: PRODUCTION, 3: NONE}
    with pytest.raises(Conflict):  # the caller compared against 1, which is no longer there
        store.transition_model_version_stage("churn", 3, Stage.PRODUCTION, "ana",
                                             expected_production=1, check_production=True)
    store.transition_model_version_stage("churn", 2, Stage.ARCHIVED, "ana")
    with pytest.raises(Conflict, match="no version"):
        store.transition_model_version_stage("churn", 3, Stage.PRODUCTION, "ana",
                                             expected_production=2, check_production=True)
    # Without the check, the expectation is not consulted.
    assert store.transition_model_version_stage("churn", 3, Stage.PRODUCTION, "ana",
                                                expected_production=2).stage is Stage.PRODUCTION


# ---------------------------------------------------------------------------- errors
def test_an_unknown_model_or_run_is_not_found(store, run_id):
    store.create_model_version("churn", run_id, "model", "ana")
    calls = [
        lambda: store.get_registered_model("nope"),
        lambda: store.update_registered_model("nope", "d"),
        lambda: store.set_registered_model_tag("nope", "k", "v"),
        lambda: store.list_model_versions("nope"),
        lambda: store.get_model_version("nope", 1),
        lambda: store.get_model_version_by_alias("nope", "champion"),
        lambda: store.transition_model_version_stage("nope", 1, Stage.STAGING, "ana"),
        lambda: store.set_model_alias("nope", "champion", 1, "ana"),
        lambda: store.delete_model_alias("nope", "champion", "ana"),
        lambda: store.delete_model_version("nope", 1, "ana"),
        lambda: store.rollback_model("nope", "ana"),
        lambda: store.model_history("nope"),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="No registered model named 'nope'"):
            call()
    with pytest.raises(NotFound, match=UNKNOWN_RUN):
        store.create_model_version("churn", UNKNOWN_RUN, "model", "ana")
    assert [m.name for m in store.list_registered_models()] == ["churn"]


def test_an_unknown_version_is_not_found_and_says_the_latest(store, run_id):
    _versions(store, "churn", 2, run_id)
    for call in (lambda: store.get_model_version("churn", 7),
                 lambda: store.update_model_version("churn", 7, "d"),
                 lambda: store.set_model_version_tag("churn", 7, "k", "v"),
                 lambda: store.transition_model_version_stage("churn", 7, Stage.PRODUCTION, "ana"),
                 lambda: store.set_model_alias("churn", "champion", 7, "ana"),
                 lambda: store.delete_model_version("churn", 7, "ana")):
        with pytest.raises(NotFound, match="no version 7; its latest version is 2"):
            call()
    assert _stages(store, "churn") == {1: NONE, 2: NONE}


def test_an_unknown_alias_is_not_found_and_lists_the_known_ones(store, run_id):
    _versions(store, "churn", 1, run_id)
    with pytest.raises(NotFound, match="no aliases"):
        store.get_model_version_by_alias("churn", "champion")
    store.set_model_alias("churn", "shadow", 1, "ana")
    with pytest.raises(NotFound, match="its aliases are shadow"):
        store.get_model_version_by_alias("churn", "champion")
    with pytest.raises(NotFound, match="champion"):
        store.delete_model_alias("churn", "champion", "ana")


def test_looking_up_a_reserved_alias_does_not_advise_setting_it(store, run_id):
    _versions(store, "churn", 1, run_id)
    with pytest.raises((NotFound, InvalidInput)) as caught:
        store.get_model_version_by_alias("churn", "production")
    assert "models alias churn production" not in str(caught.value)


def test_malformed_model_names_are_invalid_and_read_the_same_everywhere(store, run_id):
    for name in ("", "   ", "a@b", "a/b", "a:b", " churn", "churn ", "x" * 251):
        for call in (lambda: store.create_registered_model(name),
                     lambda: store.create_model_version(name, run_id, "model", "ana"),
                     lambda: store.get_registered_model(name),
                     lambda: store.get_model_version(name, 1),
                     lambda: store.set_model_alias(name, "champion", 1, "ana"),
                     lambda: store.list_model_versions(name),
                     lambda: store.model_history(name)):
            with pytest.raises(InvalidInput, match="model name"):
                call()
    assert store.list_registered_models() == []


def test_a_model_name_that_is_not_a_string_reads_the_same_everywhere(store, run_id):
    for name in (123, None):
        for call in (lambda: store.get_registered_model(name),
                     lambda: store.create_model_version(name, run_id, "model", "ana"),
                     lambda: store.create_registered_model(name)):
            with pytest.raises(InvalidInput, match="model name must be a non-empty string"):
                call()
    assert store.list_registered_models() == []


def test_malformed_or_reserved_aliases_are_invalid(store, run_id):
    _versions(store, "churn", 1, run_id)
    for alias in ("production", "Production", "latest", "staging", "archived", "none", "3", "42", "-x",
                  "two words", "x" * 251, 7):
        with pytest.raises(InvalidInput, match="alias|names a stage"):
            store.set_model_alias("churn", alias, 1, "ana")
    assert store.get_registered_model("churn").aliases == {}
    assert [h.action for h in store.model_history("churn")] == ["register"]


def test_an_alias_that_cannot_be_a_url_segment_reads_the_same_everywhere(store, run_id):
    _versions(store, "churn", 1, run_id)
    for alias in ("", "a/b"):
        with pytest.raises(InvalidInput, match="alias"):
            store.set_model_alias("churn", alias, 1, "ana")


def test_malformed_versions_are_invalid(store, run_id):
    _versions(store, "churn", 3, run_id)
    for version in (0, -1, True, "3", 2.0):
        for call in (lambda: store.get_model_version("churn", version),
                     lambda: store.update_model_version("churn", version, "d"),
                     lambda: store.set_model_version_tag("churn", version, "k", "v"),
                     lambda: store.transition_model_version_stage("churn", version, Stage.STAGING, "ana"),
                     lambda: store.delete_model_version("churn", version, "ana")):
            with pytest.raises(InvalidInput, match="A model version is a positive integer"):
                call()
    for version in (0, -1):
        with pytest.raises(InvalidInput, match="A model version is a positive integer"):
            store.set_model_alias("churn", "champion", version, "ana")
    assert _stages(store, "churn") == {1: NONE, 2: NONE, 3: NONE}
    assert store.get_registered_model("churn").aliases == {}
    assert [h.action for h in store.model_history("churn")] == ["register"] * 3


def test_set_alias_refuses_a_version_that_is_not_an_int(store, run_id):
    _versions(store, "churn", 3, run_id)
    for version in ("3", True, 1.0):
        with pytest.raises(InvalidInput, match="A model version is a positive integer"):
            store.set_model_alias("churn", "champion", version, "ana")
    assert store.get_registered_model("churn").aliases == {}


def test_a_version_without_a_user_is_invalid(store, run_id):
    with pytest.raises(InvalidInput, match="user"):
        store.create_model_version("churn", run_id, "model", None)
    with pytest.raises(NotFound):
        store.get_registered_model("churn")


def test_an_overlong_user_is_invalid(store, run_id):
    with pytest.raises(InvalidInput, match="The user is 251 characters; the limit is 250"):
        store.create_model_version("churn", run_id, "model", "u" * 251)
    _versions(store, "churn", 1, run_id)
    with pytest.raises(InvalidInput, match="The user is 251 characters; the limit is 250"):
        store.transition_model_version_stage("churn", 1, Stage.STAGING, "u" * 251)
    assert _stages(store, "churn") == {1: NONE}


def test_an_overlong_artifact_path_is_invalid(store, run_id):
    with pytest.raises(InvalidInput, match="artifact path"):
        store.create_model_version("churn", run_id, "m" * 1001, "ana")


# ---------------------------------------------------------------------------- pinned files
def _log_file(store, run_id: str, tmp_path, path: str, content: bytes):
    local = tmp_path / "upload.bin"
    local.write_bytes(content)
    return store.log_artifact(run_id, local, path)


def test_a_version_pins_the_digests_of_its_files(store, run_id, tmp_path):
    weights = _log_file(store, run_id, tmp_path, "model/weights.bin", b"weights")
    manifest = _log_file(store, run_id, tmp_path, "model/model.yaml", b"manifest")
    nested = _log_file(store, run_id, tmp_path, "model/extra/notes.txt", b"notes")
    _log_file(store, run_id, tmp_path, "model-2/weights.bin", b"other weights")  # not under model/
    _log_file(store, run_id, tmp_path, "modelling.txt", b"a sibling with the same prefix")
    pinned = {"weights.bin": weights.digest, "model.yaml": manifest.digest, "extra/notes.txt": nested.digest}

    version = store.create_model_version("churn", run_id, "model", "ana")
    assert version.files == pinned
    store.set_model_alias("churn", "champion", 1, "ana")
    assert store.get_model_version("churn", 1).files == pinned
    assert store.get_model_version_by_alias("churn", "champion").files == pinned
    assert [v.files for v in store.list_model_versions("churn")] == [pinned]
    assert store.create_model_version("churn", run_id, "nothing-here", "ana").files == {}


def test_the_files_of_a_registered_version_cannot_change(store, run_id, tmp_path):
    weights = _log_file(store, run_id, tmp_path, "model/weights.bin", b"weights")
    _log_file(store, run_id, tmp_path, "model/model.yaml", b"manifest")
    store.create_model_version("churn", run_id, "model", "ana")
    store.transition_model_version_stage("churn", 1, Stage.PRODUCTION, "ana")
    history = store.model_history("churn")

    for path, content in (("model/weights.bin", b"other weights"), ("model/new.bin", b"new"),
                          ("model/deeper/new.bin", b"new")):
        with pytest.raises(Conflict, match=rf"{path}' is in the folder of version 1 of 'churn'.*cannot "
                                           r"change.*another path"):
            _log_file(store, run_id, tmp_path, path, content)
    files = {a.path: a.digest for a in store.list_artifact_files(run_id, "model")}
    assert files["model/weights.bin"] == weights.digest and len(files) == 2
    assert b"".join(store.open_artifact(run_id, "model/weights.bin")) == b"weights"
    assert store.model_history("churn") == history

    # the same bytes again change nothing; other folders of the run stay writable
    assert _log_file(store, run_id, tmp_path, "model/weights.bin", b"weights").digest == weights.digest
    _log_file(store, run_id, tmp_path, "model-2/weights.bin", b"other weights")
    _log_file(store, run_id, tmp_path, "modelling.txt", b"sibling")

    # a deleted version is no longer served, and no longer holds its folder
    store.transition_model_version_stage("churn", 1, Stage.ARCHIVED, "ana")
    store.delete_model_version("churn", 1, "ana")
    _log_file(store, run_id, tmp_path, "model/weights.bin", b"retrained")
