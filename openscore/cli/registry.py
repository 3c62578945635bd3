"""`openscore registry add|list|match|remove|sync|export|pull`: the reference fingerprints a candidate is matched against."""

from __future__ import annotations

from pathlib import Path

import click

from openscore.atomic import canonical_json
from openscore.cli.fingerprint import fingerprint_with_progress
from openscore.cli.options import check_budget_needs_sparse, read_budget_option, sparse_option


@click.group("registry")
def registry_group() -> None:
    """Reference fingerprints of known base models (shipped + ~/.cache/openscore/registry)."""


@registry_group.command("add")
@click.argument("src")
@click.option("--id", "entry_id", required=True, help="Registry id, e.g. org/name or org/name@revision.")
@click.option("--licence", "--license", "licence", default=None, help="Licence id of the model (SPDX or named).")
def add_cmd(src: str, entry_id: str, licence: str | None) -> None:
    """Fingerprint SRC (or load a fingerprint file) and store it in the user registry."""
    from openscore.weights.registry import Registry

    registry = Registry.load()
    entry = registry.add(fingerprint_with_progress(src), entry_id, licence=licence)
    click.echo(f"added {entry.id} ({len(entry.files)} weight files) to {registry.user_dir}")


@registry_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_cmd(fmt: str) -> None:
    """Every registry entry: id, licence, family, source, and the parent it derives from (lineage)."""
    from openscore.weights.registry import Registry

    entries = Registry.load().entries()
    if fmt == "json":
        click.echo(canonical_json([e.model_dump(mode="json") for e in entries]), nl=False)
        return
    for e in entries:
        click.echo(f"{e.id}\t{e.licence or '-'}\t{e.family or '-'}\t{e.source}\t{e.parent or '-'}"
                   + ("\tsampled" if e.sample else ""))


@registry_group.command("match")
@click.argument("src")
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 100))
@sparse_option()
@read_budget_option()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def match_cmd(src: str, top: int, sparse: bool, read_budget, fmt: str) -> None:
    """The registry entries SRC is most strongly related to."""
    check_budget_needs_sparse(sparse)
    from openscore.weights.registry import Registry

    from openscore.sources import parse_hub_spec

    hub = parse_hub_spec(src) if not Path(src).exists() else None  # a Hub id never matches its own entry
    matches = Registry.load().match(fingerprint_with_progress(src, sample=sparse, read_budget=read_budget), top=top,
                                    exclude=hub[0] if hub else None)
    if fmt == "json":
        click.echo(canonical_json([m.model_dump(mode="json", exclude={"comparison": {"tensors"}}) for m in matches]),
                   nl=False)
        return
    for m in matches:
        c = m.comparison
        click.echo(f"{m.id}\t{c.verdict}\tconfidence {c.confidence:.3f}\tscore {c.score:.3f}\t{c.reason}")


@registry_group.command("remove")
@click.argument("entry_id", metavar="ID")
def remove_cmd(entry_id: str) -> None:
    """Delete the user registry entry ID (shipped entries cannot be removed)."""
    from openscore.weights.registry import Registry

    registry = Registry.load()
    registry.remove(entry_id)
    click.echo(f"removed {entry_id} from {registry.user_dir}")


@registry_group.command("sync")
@click.option("--only", multiple=True, metavar="ID", help="Sync only this curated base (repeatable).")
@click.option("--family", "families", multiple=True, metavar="F", help="Sync only this family (repeatable).")
@click.option("--refresh", is_flag=True, help="Fingerprint again bases already registered at the current commit.")
@click.option("--endpoint", default=None, metavar="URL", help="Hub endpoint (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, metavar="T", help="Hub token (gated bases need one with access).")
@read_budget_option()
def sync_cmd(only, families, refresh, endpoint, token, read_budget) -> None:
    """Fingerprint the curated popular bases (known_bases.yaml) into the user registry by sampled reads.

    Resumable: bases already registered at the Hub's current commit are skipped."""
    from openscore.cli.console import ByteMeter, mib
    from openscore.errors import UsageError
    from openscore.weights.registry import Registry
    from openscore.weights.sync import selected, sync

    repos = selected(tuple(only), tuple(families))
    if not repos:
        raise UsageError("registry sync: no curated base matches --only/--family (see openscore/data/known_bases.yaml)")
    registry = Registry.load()
    done = [0]

    def report(repo_id: str, status: str, note: str) -> None:
        done[0] += 1
        click.echo(f"[{done[0]}/{len(repos)}] {repo_id}: {status} ({note})", err=True)

    outcome = sync(registry, repos, endpoint=endpoint or None, token=token, refresh=refresh, report=report,
                   progress=lambda repo: ByteMeter(f"sync {repo.id}"), read_budget=read_budget)
    tally = ", ".join(f"{outcome.count(s)} {s}" for s in ("added", "up-to-date", "gated", "absent", "failed",
                                                           "not-reached") if outcome.count(s))
    click.echo(f"synced {len(repos)} bases into {registry.user_dir}: {tally}; "
               f"{mib(outcome.bytes_read)} MiB read from the Hub")


@registry_group.command("export")
@click.argument("dest", type=click.Path(file_okay=False))
def export_cmd(dest: str) -> None:
    """Write the whole registry (shipped + user entries) as static files into DEST: index.yaml + *.osfp."""
    from openscore.weights.publish import export
    from openscore.weights.registry import Registry

    entries = export(Registry.load(), Path(dest))
    click.echo(f"exported {len(entries)} entries to {dest}")


@registry_group.command("pull")
@click.argument("origin", metavar="URL-or-DIR")
def pull_cmd(origin: str) -> None:
    """Fetch a registry published by `registry export` (an http(s) URL or a folder) into the user registry.

    Every fingerprint is checked against the index's sha256 before anything is written."""
    from openscore.weights.publish import pull
    from openscore.weights.registry import Registry

    registry = Registry.load()
    entries = pull(origin, registry)
    click.echo(f"pulled {len(entries)} entries from {origin} into {registry.user_dir}")
