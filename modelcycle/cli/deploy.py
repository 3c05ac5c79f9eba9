"""`modelcycle deploy ...`: deployments (canary, A/B, shadow, blue-green) from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from modelcycle.cli.common import client
from modelcycle.render import Output, OutputOpt, console, emit, fmt_time

app = typer.Typer(name="deploy", help="Deployments: canary releases, A/B tests, shadow traffic, blue-green switches.",
                  no_args_is_help=True)

ReasonOpt = Annotated[str, typer.Option("--reason", "-m", help="Why: kept in the audit log.")]
IntervalOpt = Annotated[str, typer.Option("--interval", help="Time per step: 30s, 1m, ...")]


def _s():
    from modelcycle.rollout import strategies

    return strategies


def _user() -> str:
    from modelcycle.tracking.context import current_user

    return current_user()


def _shares(d) -> str:
    return ", ".join(f"{arm}=v{v} {d.shares.get(arm, 0):g}%" for arm, v in d.arms.items())


def _done(d, what: str) -> None:
    console.print(f"{d.name}: {what} ({d.strategy}, {d.state}; {_shares(d)})", markup=False, highlight=False)


@app.command("create")
def deploy_create(name: str, model: Annotated[str, typer.Option("--model", help="e.g. fraud@production")],
                  reason: ReasonOpt = "") -> None:
    """Make a deployment serving one version to all traffic."""
    _done(_s().create(client().store, name, model, _user(), reason), "created")


@app.command("canary")
def deploy_canary(
    name: str,
    candidate: Annotated[str, typer.Option("--candidate", help="e.g. fraud@challenger")],
    steps: Annotated[str, typer.Option("--steps", help="Candidate shares, percent.")] = "5,25,50,100",
    interval: IntervalOpt = "1m",
    max_failures: Annotated[int, typer.Option("--max-failures", min=1)] = 2,
    checks: Annotated[Optional[Path], typer.Option("--checks", help="YAML file of the analysis checks.")] = None,
    fallback: Annotated[bool, typer.Option("--fallback", help="Answer with stable when the candidate fails.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Promote past the registry's gates (recorded).")] = False,
    reason: ReasonOpt = "",
) -> None:
    """Shift traffic to a candidate step by step; each interval's analysis decides."""
    s = _s()
    loaded = s.Checks.from_yaml(checks) if checks else None
    d = s.canary(client().store, name, candidate, s.parse_steps(steps), _user(), s.parse_interval(interval),
                 max_failures, loaded, fallback, force, reason)
    _done(d, "canary started")


@app.command("ab")
def deploy_ab(
    name: str,
    arms: Annotated[str, typer.Option("--arms", help="REF=WEIGHT,...: fraud@production=50,fraud@challenger=50")],
    sticky_key: Annotated[Optional[str], typer.Option("--sticky-key", help="Request field keying the arm.")] = None,
    reason: ReasonOpt = "",
) -> None:
    """Split traffic between arms; the same key always gets the same arm."""
    from modelcycle.exceptions import InvalidInput

    parsed = []
    for item in arms.split(","):
        ref, _, weight = item.rpartition("=")
        try:
            parsed.append((ref, float(weight)))
        except ValueError:
            raise InvalidInput(f"An arm is REF=WEIGHT (e.g. fraud@production=50); got {item!r}.") from None
    _done(_s().ab(client().store, name, parsed, _user(), sticky_key, reason), "A/B test started")


@app.command("shadow")
def deploy_shadow(name: str, candidate: Annotated[str, typer.Option("--candidate")],
                  share: Annotated[float, typer.Option("--share", help="Percent of requests copied.")] = 100.0,
                  reason: ReasonOpt = "") -> None:
    """Copy a share of the traffic to the candidate; its answers are logged, never returned."""
    _done(_s().shadow(client().store, name, candidate, share, _user(), reason), "shadow started")


@app.command("bluegreen")
def deploy_bluegreen(name: str, candidate: Annotated[str, typer.Option("--candidate")], interval: IntervalOpt = "1m",
                     grace: Annotated[float, typer.Option("--grace", help="Seconds the old version stays loaded.")]
                     = 300.0,
                     force: Annotated[bool, typer.Option("--force")] = False, reason: ReasonOpt = "") -> None:
    """Load and check the candidate, then switch all traffic at once."""
    s = _s()
    _done(s.bluegreen(client().store, name, candidate, _user(), s.parse_interval(interval), grace, force, reason),
          "blue-green started")


@app.command("ls")
def deploy_ls(output: OutputOpt = Output.table) -> None:
    rows = [{"name": d.name, "model": d.model_name, "strategy": d.strategy, "state": d.state, "arms": _shares(d),
             "step": f"{d.step_index + 1}/{len(d.steps)}" if d.steps else "", "updated": fmt_time(d.updated_at),
             "by": d.updated_by} for d in client().store.list_deployments()]
    emit(rows, ["name", "model", "strategy", "state", "arms", "step", "updated", "by"], output.value,
         title="Deployments")


def _status(name: str, output: str) -> None:
    from modelcycle.store.clock import now_ms

    store = client().store
    d = store.get_deployment(name)
    since = max(d.step_started_at, now_ms() - 300_000)
    seconds = max(0.001, (now_ms() - since) / 1000)
    found = store.deployment_stats(name, since)
    rows = []
    for arm, version in d.arms.items():
        a = found.get(arm)
        rows.append({"arm": arm, "version": version, "share": f"{d.shares.get(arm, 0):g}%",
                     "req/s": f"{(a.requests if a else 0) / seconds:.2f}",
                     "errors": f"{a.error_rate:.2%}" if a else "", "p99 ms": a.latency_quantile_ms(0.99) if a else None})
    arm_columns = ["arm", "version", "share", "req/s", "errors", "p99 ms"]
    events = store.deployment_events(name)[-15:]
    if output == "json":  # one document: the deployment, its arms and its history
        _print_json({"deployment": d.to_dict(), "arms": rows,
                     "history": [{**e.to_dict(), "time": fmt_time(e.time_ms)} for e in events]})
        return
    if output == "csv":  # one table: the arms
        emit(rows, arm_columns, output)
        return
    console.print(f"{d.name}: {d.model_name}, {d.strategy}, {d.state}, revision {d.revision}; "
                  f"step {d.step_index + 1}/{len(d.steps) or 1}, failures {d.failures}", markup=False,
                  highlight=False)
    emit(rows, arm_columns, output, title="Arms")
    emit([{"time": fmt_time(e.time_ms), "kind": e.kind, "to": "" if e.to_shares is None else
           ", ".join(f"{k} {v:g}%" for k, v in e.to_shares.items()), "reason": e.reason, "by": e.actor,
           "numbers": ", ".join(f"{k}={v}" for k, v in e.numbers.items())} for e in events],
         ["time", "kind", "to", "reason", "by", "numbers"], output, title="History")


def _print_json(document) -> None:
    import orjson

    print(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())


@app.command("status")
def deploy_status(name: str, watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s.")] = False,
                  output: Annotated[Output, typer.Option(
                      "--output", "-o", help="table, json (one document) or csv (the arms).")] = Output.table,
                  ) -> None:
    """Versions, shares, request rate, error rate and p99 per arm, and the analysis history."""
    while True:
        if watch:
            console.clear()
        _status(name, output.value)
        if not watch:
            return
        time.sleep(2)


@app.command("report")
def deploy_report(name: str,
                  html: Annotated[Optional[Path], typer.Option("--output", "-o", "--html",
                                                               help="Also write the report as HTML here.")] = None,
                  power: Annotated[float, typer.Option(min=0.5, max=0.99)] = 0.8,
                  output: Annotated[Output, typer.Option(
                      "--format", help="table, json (one document) or csv (one row per arm).")] = Output.table,
                  ) -> None:
    """The A/B statistics per arm from the prediction log and its labels (for shadow traffic:
    agreement with stable, latency and errors)."""
    from modelcycle.rollout.report import ab_report, shadow_report, to_html

    store = client().store
    if store.get_deployment(name).strategy == "shadow":
        found = shadow_report(name, store)
        arm_rows = [{"arm": arm, **numbers} for arm, numbers in found.arms.items()]
        if output is Output.json:
            _print_json(found.to_dict())
            return
        emit(arm_rows, ["arm", "requests", "errors", "error_rate", "p50_ms", "p99_ms"], output.value,
             title=f"{name}: arms")
        if output is Output.table:
            agreement = "no rows answered by both yet" if found.agreement is None else f"{found.agreement:.2%}"
            console.print(f"agreement with stable: {agreement} over {found.compared} rows", markup=False)
        return
    report = ab_report(name, store, power=power)
    if html is not None:
        html.write_text(to_html(report), encoding="utf-8")
    arm_columns = ["arm", "version", "requests", "labelled", "outcome", "share"]
    arm_rows = [{"arm": a.arm, "version": a.version, "requests": a.requests, "labelled": a.labelled,
                 "outcome": a.outcome, "share": a.expected_share} for a in report.arms]
    difference_columns = ["difference", "low", "high", "p_value", "test", "more_samples_per_arm"]
    if output is Output.json:
        _print_json(report.to_dict())
        return
    if output is Output.csv:  # each arm's row carries its difference from the first arm
        against = {c["b"]: c for c in report.comparisons}
        rows = []
        for r in arm_rows:
            c = against.get(r["arm"], {})
            rows.append({**r, **{k: c.get(k) for k in difference_columns}, "test": c.get("test", c.get("note"))})
        emit(rows, arm_columns + difference_columns, "csv")
        return
    emit(arm_rows, arm_columns, output.value, title=f"{name}: arms")
    emit([{**c, "test": c.get("test", c.get("note"))} for c in report.comparisons], ["a", "b", *difference_columns],
         output.value, title="Differences")
    if report.srm_p_value is not None:
        console.print(("SAMPLE RATIO MISMATCH" if report.srm else "sample ratio ok")
                      + f": chi2 {report.srm_chi2:.3f}, p {report.srm_p_value:.3g}", markup=False)
    if html is not None:
        console.print(f"wrote {html}", markup=False)


@app.command("promote")
def deploy_promote(name: str, force: Annotated[bool, typer.Option("--force", help="Past the gates (recorded).")]
                   = False, reason: ReasonOpt = "") -> None:
    """Make the candidate stable now, and move Production to it through the registry's gates."""
    _done(_s().promote(client().store, name, _user(), reason, force=force or None), "promoted")


@app.command("rollback")
def deploy_rollback(name: str, reason: ReasonOpt = "") -> None:
    """Give all traffic back to stable at once."""
    _done(_s().rollback(client().store, name, _user(), reason), "rolled back")


@app.command("pause")
def deploy_pause(name: str, reason: ReasonOpt = "") -> None:
    """Hold the shares where they are; no analysis decides until resume."""
    _done(_s().pause(client().store, name, _user(), reason), "paused")


@app.command("resume")
def deploy_resume(name: str, reason: ReasonOpt = "") -> None:
    _done(_s().resume(client().store, name, _user(), reason), "resumed")
