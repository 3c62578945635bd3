"""`openscore lock` and `openscore verify`: pin model files, then check snapshots against the pins."""

from __future__ import annotations

import click


@click.command("lock")
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", "lock_path", default="openscore.lock", show_default=True,
              type=click.Path(dir_okay=False), help="Lock file to write.")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub endpoint (default: huggingface.co).")
@click.option("--token", envvar="HF_TOKEN", help="Hub token for gated repositories.")
def lock_cmd(sources, lock_path, endpoint, token) -> None:
    """Pin SOURCES (Hub repo[@rev], folder, sample:NAME) to their commit with every file's sha256 and size."""
    from openscore.lock import lock_sources

    lock = lock_sources(list(sources), lock_path, endpoint=endpoint, token=token,
                        progress=lambda msg: click.echo(f"openscore: {msg}", err=True))
    for model in lock.models:
        click.echo(f"locked {model.repo_id}@{model.sha} ({len(model.files)} files)", err=True)
    files = sum(len(model.files) for model in lock.models)
    click.echo(f"wrote {lock_path}: {len(lock.models)} model(s), {files} files pinned", err=True)


@click.command("verify")
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False))
@click.option("--lock", "lock_path", default="openscore.lock", show_default=True,
              type=click.Path(dir_okay=False), help="Lock file to check against.")
@click.option("--offline", is_flag=True, help="Never touch the network: Hub entries without a local folder are skipped.")
@click.option("--model", "model", metavar="REPO_ID", help="Check only this lock entry (or map FOLDERS to it).")
@click.option("--endpoint", envvar="HF_ENDPOINT", help="Hub endpoint (default: huggingface.co).")
@click.option("--token", envvar="HF_TOKEN", help="Hub token for gated repositories.")
@click.pass_context
def verify_cmd(ctx: click.Context, folders, lock_path, offline, model, endpoint, token) -> None:
    """Check local FOLDERS (default: the folders recorded in the lock) against the lock file.

    Exit 0 when every file matches, 1 when a file is modified, missing or an unlisted weight file.
    """
    from openscore.cli.console import echo, paint_err
    from openscore.lock import verify
    from openscore.textstyle import pad

    checks = verify(lock_path, list(folders), offline=offline, model=model, endpoint=None if offline else endpoint,
                    token=None if offline else token)
    meaning = {"ok": "pass", "failed": "fail"}
    for check in checks:
        status = pad(paint_err, "gate", check.status.upper(), 7, meaning.get(check.status, check.status))
        echo(f"{status} {check.repo_id} ({check.target}) [{lock_path}:{check.line}]", err=True)
        for problem in check.problems:
            click.echo(f"  {problem.kind:<8} {problem.message}", err=True)
        if check.note:
            click.echo(f"  note: {check.note}", err=True)
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "failed", "skipped")}
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    verdict = paint_err("gate", "FAILED", "fail") if counts["failed"] else paint_err("gate", "OK", "pass")
    echo(f"{verdict}: {counts['ok']} of {len(checks)} model(s) match {lock_path}{skipped}", err=True)
    ctx.exit(1 if counts["failed"] else 0)
