"""`openscore audit`: audit models (one or a batch), write their reports, print a summary and a tally.

The work is openscore.batch's: this module turns options into jobs, shows progress (a live line on a
terminal, a line per model elsewhere) and the closing tally, and renders the requested output.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from openscore.cli.console import ByteMeter, echo, paint
from openscore.cli.limits import limit_options
from openscore.cli.options import check_budget_needs_sparse, read_budget_option, sparse_option
from openscore.errors import UsageError
from openscore.textstyle import unpainted

FORMATS = ("text", "json", "cyclonedx")


@click.command("audit")
@click.argument("sources", nargs=-1, metavar="[SRC]...")
@click.option("--from", "lists", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="A list of sources, one `SRC [ID]` a line, `#` comments (repeatable).")
@click.option("--org", "orgs", multiple=True, metavar="ORG", help="Every model of this Hub user or organisation (repeatable).")
@click.option("--search", default=None, metavar="QUERY", help="Hub models whose id matches QUERY.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many models per --org/--search listing.")
@click.option("--id", "identity", default=None, metavar="ORG/NAME[@REV]",
              help="The repo id a local folder SRC stands for (one SRC); in a list, the second field of a line.")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder the reports are written to (<org>/<name>/<sha>.json).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="What to print (or write with -o): a summary, the report JSON, or a CycloneDX 1.6 AI-BOM.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the --format output to FILE instead of stdout (one SRC only for json/cyclonedx).")
@click.option("--rubric", "rubrics", multiple=True, metavar="ID",
              help="Rubric to grade against (repeatable; default: osai-v3, osai-v1, mof, osaid).")
@click.option("--no-weights", is_flag=True, help="Do not read weights: card, licence and files only (fast).")
@sparse_option("sample")
@read_budget_option()
@click.option("--jobs", "-j", type=click.IntRange(min=1, max=256), default=1, show_default=True,
              help="Models audited at once (network waits overlap; fingerprints stay within the cores).")
@click.option("--engine", type=click.Choice(("threads", "ray")), default="threads", show_default=True,
              help="Run the audits in threads here, or as Ray tasks (pip install 'openscore[ray]').")
@click.option("--address", default=None, metavar="ADDR", help="Ray cluster to join (default: start Ray locally).")
@click.option("--force", is_flag=True, help="Audit again models whose commit already has a report.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run state (JSON lines) for resuming; default: REPORTS/.openscore/batch-state.jsonl.")
@click.option("--max-rps", type=click.FloatRange(min=0.01), default=None,
              help="At most this many Hub requests per second (besides honouring Retry-After and RateLimit).")
@click.option("--endpoint", default=None, metavar="URL", help="Hub endpoint (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, metavar="T", help="Hub token for gated or private repositories.")
@click.option("--overrides", "overrides_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of reviewed overrides (<org>/<name>.yaml); default: ./overrides when it exists.")
@click.option("--linked", is_flag=True, help="Also read what the card links: GitHub repositories, arXiv, DOI papers, "
              "the venue of its paper (Semantic Scholar), Hub dataset cards (cached; GITHUB_TOKEN, "
              "S2_API_KEY honoured).")
@click.option("--offline", is_flag=True, help="Keep the audit to the repository alone (as HF_HUB_OFFLINE does for "
              "linked sources); overrides --linked.")
@limit_options
def audit_cmd(sources, lists, orgs, search, limit, identity, reports_dir, fmt, output, rubrics, no_weights, sample,
              read_budget, jobs, engine, address, force, state_path, max_rps, endpoint, token, overrides_dir, linked,
              offline):
    """Audit SRC (Hub `org/name[@rev]`, a local folder, or `sample:NAME`) for openness and provenance.

    With no SRC (and no --from/--org/--search), audits the embedded sample models (works offline).
    A model whose commit already has a report is skipped unless --force; an interrupted run resumes.
    Exit: 0 done, 4 some models of a batch failed (a lone model exits with its own code, 10-22)."""
    from openscore.audit import rubric_dimensions
    from openscore.batch import BatchOptions, make_engine, run_batch

    check_budget_needs_sparse(sample)
    rubric_dimensions(rubrics)  # a typo fails before any download
    job_list = _jobs(sources, lists, orgs, search, limit, identity, endpoint, token)
    if output is not None and fmt != "text" and max(len(job_list), len(sources)) > 1:
        raise UsageError(f"-o with --format {fmt} takes one SRC, got {max(len(job_list), len(sources))}")
    if overrides_dir is None and Path("overrides").is_dir():
        overrides_dir = Path("overrides")
    options = BatchOptions(endpoint=endpoint, token=token, weights=not no_weights, sample=sample,
                           read_budget=read_budget,
                           rubrics=tuple(rubrics), overrides_dir=str(overrides_dir) if overrides_dir else None,
                           force=force, max_rps=max_rps, linked=linked and not offline)
    view = _View(reports_dir, fmt, keep=output is not None)
    runner = make_engine(engine, jobs, address)
    try:
        step_lines = jobs == 1 and engine == "threads"
        result = run_batch(job_list, options, reports_dir, engine=runner, state_path=state_path,
                           on_start=view.start, on_outcome=view.outcome,
                           progress=view.step if step_lines else None,
                           byte_progress=view.fingerprint if step_lines else None)
    finally:
        view.close()
        runner.close()
    view.tally(result)
    if output is not None:
        from openscore.atomic import write_text

        text = "\n".join(view.rendered[job.key] for job in job_list if job.key in view.rendered)  # input order
        write_text(output, text if text.endswith("\n") else text + "\n")
    error = result.error()
    if error is not None:
        raise error


def _jobs(sources, lists, orgs, search, limit, identity, endpoint, token):
    from openscore.batch import Job, hub_listing, read_list, unique
    from openscore.samples import SAMPLE_NAMES

    if identity is not None and len(sources) != 1:
        raise UsageError(f"--id names one local folder SRC, got {len(sources)} SRC")
    found = [Job(spec, identity) for spec in sources]
    for path in lists:
        found += read_list(path)
    for org in orgs:
        found += hub_listing(org=org, search=search, limit=limit, endpoint=endpoint, token=token)
    if search is not None and not orgs:
        found += hub_listing(search=search, limit=limit, endpoint=endpoint, token=token)
    if not (sources or lists or orgs or search is not None):
        found = [Job(f"sample:{name}") for name in SAMPLE_NAMES]
    return unique(found)


class _View:
    """Progress on stderr (live line on a terminal, a line per model elsewhere), outputs for stdout."""

    def __init__(self, reports_dir: Path, fmt: str, *, keep: bool):
        from openscore.cli.console import err_console

        self.reports_dir, self.fmt, self.keep = reports_dir, fmt, keep  # keep: for -o; else streamed to stdout
        self.console = err_console()
        self.rendered: dict[str, str] = {}  # job key -> output, written in input order (jobs finish in any)
        self.done = self.failed = self.total = self.printed = 0
        self.started = time.monotonic()
        self._bar = self._bar_context = None
        self._meter = ByteMeter("  fingerprint")

    def start(self, todo: int, resumed: int) -> None:
        self.total, self.started = todo, time.monotonic()
        if resumed:
            self.console.print(f"resuming an interrupted run: {resumed} models already done, {todo} left",
                               markup=False)
        if self.console.is_terminal and not self.console.is_dumb_terminal and todo > 1:
            from openscore.cli.console import progress_bar

            self._bar_context = progress_bar("auditing", todo, unit="models")
            self._bar = self._bar_context.__enter__()

    def step(self, message: str) -> None:
        self.console.print(f"  {message}", markup=False)

    def fingerprint(self, done: int, total: int) -> None:
        """A one-model run's fingerprint bytes: a live line of their own, unless the batch's line is up."""
        if self._bar is None:
            self._meter(done, total)

    def outcome(self, outcome) -> None:
        from openscore.cli.console import styled

        self.done += 1
        self.failed += outcome.status == "failed"
        if outcome.status == "failed":
            line = f"{styled('severity', 'error')} {outcome.error_class} (exit {outcome.exit_code}): {outcome.error}"
        elif outcome.status == "unchanged":
            line = f"unchanged: {outcome.repo_id}@{outcome.sha[:12]} already has a report"
        else:
            line = f"report: {self.reports_dir / outcome.report} ({outcome.seconds:.1f} s)"
        if self._bar is not None:
            if outcome.status == "failed":
                self.console.print(f"{_escape(outcome.key)}: {line}")
            rate = self.done / max(time.monotonic() - self.started, 1e-9) * 60
            failed = f", {styled('severity', 'error')}: {self.failed}" if self.failed else ""
            self._bar.update(self.done, note=f"({rate:,.1f}/min{failed})")
        else:
            self.console.print(f"[{self.done}/{self.total}] {_escape(outcome.key)}: {line}")
        if outcome.status != "failed":
            self._render(outcome)

    def _render(self, outcome) -> None:
        from openscore.report import load_report

        path = self.reports_dir / outcome.report
        report = load_report(path)  # an earlier run's report ("unchanged") is read back like any other
        if self.fmt == "text":
            from openscore.openness.summary import summary_text

            text = summary_text(report, path, paint=unpainted if self.keep else paint)
        elif self.fmt == "json":
            text = report.to_json()
        else:
            from openscore.bom import cyclonedx_json

            text = cyclonedx_json(report)
        if self.keep:
            self.rendered[outcome.key] = text
        else:  # streamed (a live bar on stderr lets stdout through above it): a batch keeps no outputs
            if self.printed:
                echo("")
            echo(text, nl=not text.endswith("\n"))
            self.printed += 1

    def close(self) -> None:
        self._meter.close()
        if self._bar_context is not None:
            self._bar_context.__exit__(None, None, None)
            self._bar_context = self._bar = None

    def tally(self, result) -> None:
        from openscore.cli.console import styled

        t = result.tally()
        parts = [f"audited {t['audited']}", f"unchanged {t['unchanged']}"]
        failed = f"failed {t['failed']}"
        if t["failed"]:
            failed = f"{styled('severity', 'error')}: {failed} (" + ", ".join(
                f"{label}: {n}" for label, n in t["failed_by_class"].items()) + ")"
        parts.append(failed)
        if t["resumed"]:
            parts.append(f"resumed past {t['resumed']}")
        minutes = max(result.seconds, 1e-9) / 60
        self.console.print(f"{result.total} models: " + ", ".join(parts)
                           + f"; {_duration(result.seconds)} ({len(result.outcomes) / minutes:,.1f} models/min)")


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:.0f} s" if minutes >= 1 else f"{seconds:.1f} s"
