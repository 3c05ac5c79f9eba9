"""`modelcycle train SPEC`: run a declared training (search, evaluation, registration, promotion)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from modelcycle.render import console, emit, err_console, fmt_value

app = typer.Typer()  # no name: its command sits at the top level


@app.command()
def train(
    spec: Annotated[Path, typer.Argument(help="The training spec, a YAML file.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the spec (fields, class, datasets, columns) "
                                                             "and stop.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Search, cross-validate, evaluate and register the model SPEC declares, then offer it to the
    model's promotion gates (a refusal is reported; the exit code stays 0)."""
    from modelcycle.training.spec import TrainingSpec, train as run_spec

    parsed = TrainingSpec.load(spec)
    if dry_run:
        console.print(Text(f"{spec.name} is valid: {_describe(parsed)}"))
        return
    result = run_spec(parsed, progress=progress and err_console.is_terminal)
    _print(result)


def _describe(spec) -> str:
    d, s = spec.data, spec.search
    what = spec.model.class_.rpartition(".")[2]
    search = (f"{s.n_trials} trials of {s.sampler} over {', '.join(s.space)}" if s is not None
              else "no search (the parameters as given)")
    metrics = ", ".join(spec.metrics) if spec.metrics else "the default score"
    evaluation = d.eval or f"{d.test_size:g} of {d.train} held out"
    by = spec.evaluation.slices + spec.evaluation.sensitive
    register = (f"registered as {spec.registration.name}" + (", then offered to its promotion gates"
                                                             if spec.registration.promote else "")
                if spec.registration is not None else "not registered")
    slices = f", sliced by {', '.join(str(b if isinstance(b, str) else b.get('column')) for b in by)}" if by else ""
    return (f"{what} on {d.train} (target {d.target}); {search}; {spec.cv}-fold CV on {metrics}; evaluated on "
            f"{evaluation}{slices}; {register}.")


def _print(result) -> None:
    evaluation = result.evaluation
    params = ", ".join(f"{k}={fmt_value(v)}" for k, v in result.best_params.items()) or "as given"
    console.print(Text.assemble(("Trained ", ""), (result.spec.run_name, "bold"),
                                f" in {result.seconds:.1f} s: {params}; cross-validated {result.objective} "
                                f"{fmt_value(result.best_value)} (run {result.run_id})"))
    rows = [{"metric": k, "value": v} for k, v in evaluation.metrics.items()]
    emit(rows, ["metric", "value"], "table", title=f"Evaluation on {evaluation.dataset or 'the held-out rows'}")
    for report in evaluation.fairness:
        gaps = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in report.gaps().items())
        console.print(Text(f"Fairness across {report.column}: {gaps}"))
    comparison = evaluation.comparison
    if comparison is not None:
        _print_comparison(comparison)
    if result.version is None:
        return
    name, version = result.version.name, result.version.version
    if result.promoted:
        console.print(Text.assemble("Registered ", (f"{name} version {version}", "bold"), ": ",
                                    ("promoted to Production", "green"), _gates(result.gates)))
    elif result.refusal:
        console.print(Text.assemble("Registered ", (f"{name} version {version}", "bold"), ": ",
                                    ("not promoted", "red"), f", the gates refused: {result.refusal}"))
    else:
        console.print(Text.assemble("Registered ", (f"{name} version {version}", "bold"), " (not offered for "
                                    "promotion)."))


def _gates(report) -> str:
    if report is None or not report.results:
        return " (nothing in Production to compare with)"
    return "; gates: " + "; ".join(f"{g.rule}: {g.detail}" for g in report.results)


def _print_comparison(comparison) -> None:
    better = {"candidate": "challenger", "baseline": "champion"}
    rows = [{"metric": r["metric"], "challenger": r["candidate"], "champion": r["baseline"],
             "difference": r["difference"], "better": better.get(r["better"], r["better"])} for r in comparison.rows]
    emit(rows, ["metric", "challenger", "champion", "difference", "better"], "table",
         title=f"Challenger against the champion, {comparison.baseline}, on the same rows")
    test = comparison.test
    if test is not None:
        console.print(Text(f"ROC AUC {test.difference:+.4f} ({100 * test.confidence:.0f}% CI {test.ci_low:+.4f} to "
                           f"{test.ci_high:+.4f}); DeLong p = {test.p_value:.3g} two-sided, "
                           f"{test.p_value_improvement:.3g} for an improvement."))
