"""`modelcycle models ...`: the registry from the command line."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import client, parse_pairs
from modelcycle.render import Output, OutputOpt, console, emit, fmt_time

app = typer.Typer(name="models", help="Registered models: versions, stages, aliases, promotion, rollback, lineage.",
                  no_args_is_help=True)

ReasonOpt = Annotated[str, typer.Option("--reason", "-m", help="Why: kept in the audit log.")]


def _api():
    from modelcycle import registry

    return registry


@app.command("ls")
def models_ls(output: OutputOpt = Output.table) -> None:
    """List registered models with their latest and Production versions and aliases."""
    rows = [{"name": m.name, "latest": m.latest_version, "production": m.production_version,
             "aliases": ", ".join(f"{a}→{v}" for a, v in m.aliases.items()), "updated": fmt_time(m.updated_at),
             "description": m.description} for m in _api().list_models()]
    emit(rows, ["name", "latest", "production", "aliases", "updated", "description"], output.value,
         title="Registered models")


def _versions_rows(versions) -> list[dict]:
    return [{"version": v.version, "stage": v.stage.value, "aliases": ", ".join(v.aliases), "run_id": v.run_id,
             "path": v.artifact_path, "created": fmt_time(v.created_at), "by": v.created_by,
             "tags": ", ".join(f"{k}={val}" for k, val in v.tags.items()), "deleted": "yes" if v.deleted else ""}
            for v in versions]


@app.command("versions")
def models_versions(
    name: str,
    all_: Annotated[bool, typer.Option("--all", help="Include deleted versions.")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """The versions of a model, oldest first."""
    versions = client().store.list_model_versions(name, include_deleted=all_)
    columns = ["version", "stage", "aliases", "run_id", "path", "created", "by", "tags"] + (["deleted"] if all_ else [])
    emit(_versions_rows(versions), columns, output.value, title=f"Versions of {name}")


@app.command("show")
def models_show(name: str) -> None:
    """A model: description, tags, promotion policy, versions and aliases."""
    model = client().store.get_registered_model(name)
    policy = _api().get_promotion_policy(name)
    console.print(Text.assemble((model.name, "bold"), f"  latest version {model.latest_version or '-'}, "
                                f"Production: {model.production_version or 'none'}",
                                f"\n  {model.description}" if model.description else ""))
    rules = [f"metric {policy.metric} ({'higher' if policy.higher_is_better else 'lower'} is better, "
             f"margin {policy.min_delta:+g}, same '{policy.eval_role}' dataset)" if policy.metric else "no metric gate",
             "signature must stay compatible" if policy.check_signature else "no signature check"]
    if policy.significance is not None:
        rules.append(f"the gain must be significant at {policy.significance:g} (paired DeLong test)")
    if policy.required_tags:
        rules.append(f"required tags: {', '.join(policy.required_tags)}")
    console.print("  Promotion gates: " + "; ".join(rules), markup=False)
    emit(_versions_rows(client().store.list_model_versions(name)),
         ["version", "stage", "aliases", "run_id", "created", "by", "tags"], "table", title="Versions")


@app.command("register")
def models_register(
    source: Annotated[str, typer.Argument(help="runs:/RUN_ID/PATH of a model logged with mc.log_model.")],
    name: Annotated[str, typer.Argument(help="The registered model's name (created if new).")],
    description: Annotated[str, typer.Option(help="Description of this version.")] = "",
    tag: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE, repeatable.")] = None,
) -> None:
    """Register a logged model as the next version of NAME (checked first: nothing half-registered)."""
    version = _api().register_model(source, name, description, parse_pairs(tag))
    console.print(Text.assemble("Registered ", (version.name, "bold"), f" version {version.version} from {source}."))


@app.command("promote")
def models_promote(
    name: str,
    version: int,
    to: Annotated[str, typer.Option("--to", help="production, staging, archived or none.")] = "production",
    force: Annotated[bool, typer.Option("--force", help="Promote even if a gate refuses (recorded).")] = False,
    reason: ReasonOpt = "",
) -> None:
    """Move a version to a stage; into Production through the model's gates."""
    from modelcycle.registry import PromotionRefused

    try:
        result = _api().promote(name, version, to, force=force, reason=reason)
    except PromotionRefused as refused:
        _print_gates(refused.report)
        raise
    if result.gates is not None:
        _print_gates(result.gates)
    note = (" (forced past a gate; recorded)", "yellow") if result.forced else ""
    console.print(Text.assemble(f"{name} version {version} is now in ", (result.version.stage.value, "bold"), ".",
                                note))


def _print_gates(report) -> None:
    if not report.results:
        champion = f"version {report.champion}" if report.champion else "no version in Production"
        console.print(f"Gates: nothing to compare against ({champion}).")
        return
    emit([{"gate": r.rule, "result": "pass" if r.passed else "REFUSED", "detail": r.detail} for r in report.results],
         ["gate", "result", "detail"], "table",
         title=f"Gates for version {report.candidate} against version {report.champion}",
         styles={"result": "bold"})


@app.command("alias")
def models_alias(
    name: str,
    alias: str,
    version: Annotated[Optional[int], typer.Argument(help="The version the alias points at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: ReasonOpt = "",
) -> None:
    """Point ALIAS (champion, challenger, ...) at a version, or remove it with --delete."""
    if delete:
        _api().delete_alias(name, alias, reason)
        console.print(f"Removed alias {alias} of {name}.", markup=False)
        return
    if version is None:
        raise typer.BadParameter("give the VERSION the alias points at, or --delete.")
    _api().set_alias(name, alias, version, reason)
    console.print(f"{name}@{alias} → version {version}.", markup=False)


@app.command("rollback")
def models_rollback(name: str, reason: ReasonOpt = "") -> None:
    """Give Production back to the version that held it before the current one."""
    before = client().store.get_registered_model(name).production_version
    version = _api().rollback(name, reason)
    console.print(f"Rolled back {name}: Production is version {version.version} again "
                  f"(version {before} archived).", markup=False)


@app.command("archive")
def models_archive(name: str, version: int, reason: ReasonOpt = "") -> None:
    """Move a version to Archived."""
    _api().archive(name, version, reason)
    console.print(f"Archived {name} version {version}.", markup=False)


@app.command("delete")
def models_delete(name: str, version: int, reason: ReasonOpt = "") -> None:
    """Delete a version (its number is not reused; the audit log keeps its history)."""
    _api().delete_model_version(name, version, reason)
    console.print(f"Deleted {name} version {version}.", markup=False)


@app.command("policy")
def models_policy(
    name: str,
    metric: Annotated[Optional[str], typer.Option(help="Run metric the candidate must beat the champion on.")] = None,
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="For losses and errors.")] = False,
    min_delta: Annotated[float, typer.Option(help="Margin the candidate must win by (negative: may lose by).")] = 0.0,
    eval_role: Annotated[str, typer.Option(help="Role of the evaluation dataset both runs must share.")] = "eval",
    require_tag: Annotated[Optional[list[str]], typer.Option(help="Tag a candidate must carry, repeatable.")] = None,
    no_signature_check: Annotated[bool, typer.Option("--no-signature-check")] = False,
    significance: Annotated[Optional[float], typer.Option(
        help="With --metric roc_auc: the gain must be significant at this level (one-sided DeLong test "
             "recorded by mc.evaluate with baseline=).")] = None,
) -> None:
    """Set the promotion gates of a model."""
    from modelcycle.registry import PromotionPolicy

    policy = PromotionPolicy(metric, not lower_is_better, min_delta, eval_role, tuple(require_tag or ()),
                             not no_signature_check, significance)
    _api().set_promotion_policy(name, policy)
    console.print(f"Promotion gates of {name} set.", markup=False)
    models_show(name)


@app.command("lineage")
def models_lineage(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS, NAME@production, models:/NAME/VERSION.")],
    output: OutputOpt = Output.table,
) -> None:
    """Where a version came from: its run, the datasets it was trained and evaluated on, the code."""
    info = _api().lineage(ref)
    if output is Output.json:
        import orjson

        print(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return
    run, code = info["run"], info["code"]
    aliases = f"  aliases {', '.join(info['aliases'])}" if info["aliases"] else ""
    commit = code["commit"] or "not recorded (not run from a git repository)"
    console.print(Text.assemble(
        (info["model"], "bold"), f" version {info['version']}  stage {info['stage']}{aliases}\n"
        f"  └─ run {run['id']} ({run['name']}, experiment {run['experiment']}, {run['status']})\n"
        + "".join(f"      ├─ dataset {d['dataset']} as {d['role']}\n" for d in info["datasets"])
        + f"      └─ code {commit}"
        + (" (uncommitted changes)" if code["dirty"] == "true" else "")
        + (f"  {code['entry_point']}" if code["entry_point"] else "")))


@app.command("history")
def models_history(
    name: str,
    output: OutputOpt = Output.table,
) -> None:
    """The audit log of a model: every registration, stage change, alias move, rollback, deletion."""
    rows = []
    for h in _api().model_history(name):
        if h.action in ("alias", "unalias"):
            change = f"{h.alias}: {h.from_value or '-'} → {h.to_value or '-'}"
        else:
            change = f"{h.from_value or '-'} → {h.to_value or '-'}"
        rows.append({"when": fmt_time(h.created_at), "version": h.version, "action": h.action, "change": change,
                     "user": h.user, "forced": "FORCED" if h.forced else "", "reason": h.reason})
    emit(rows, ["when", "version", "action", "change", "user", "forced", "reason"], output.value,
         title=f"History of {name}")
