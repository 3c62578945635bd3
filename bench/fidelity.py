"""How often openscore's grades agree with the experts' (OSAI index cells, MOT classes and components).

Audits (without weights) every ../shared/data/realcards folder the match table
(openscore/data/anchor_matches.yaml) pairs with an OSAI index entry or an MOT model file, and prints:
  OSAI  exact / within-one / two-off per dimension and overall, by match quality, for all dimensions
        and for the repository-observable ones; openscore's `unknown` is counted apart; for exact and
        same-version matches, how the cells that differ are argued in the match table's `disputed` list
        (outside evidence, experts wrong or outdated, a reading of the criterion), and any not argued;
  MOT   the class each side gives and the share of components on which both agree (included or not).

Usage: python bench/fidelity.py [--cases] [--linked]
  default   the repository alone (no network);
  --cases   also every cell two steps off, and each differing cell of the exact matches with its argument;
  --linked  also linked evidence, answered by the loopback fakes of tests/fakelinked.py and
            tests/fakehub.py from bench/linked_answers.yaml (file paths recorded from public snapshots of
            the repositories the matched cards link, dataset licences as the index cites them, the venues
            that published the cards' papers, excerpts of dataset cards, the realcards card of a base a
            repository without a card declares); what is
            not recorded there answers 503 ("not checked"); a throw-away cache
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT / ".." / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="store_true",
                        help="list every cell two steps off, and each argued cell of the exact matches")
    parser.add_argument("--linked", action="store_true", help="with linked evidence from the loopback fakes")
    args = parser.parse_args()
    if args.linked:
        with _fake_linked():
            run(args)
    else:
        run(args)


@contextlib.contextmanager
def _fake_linked():
    import yaml

    from tests.fakehub import FakeHub
    from tests.fakelinked import FakeLinked

    answers = yaml.safe_load((ROOT / "bench" / "linked_answers.yaml").read_text("utf-8"))
    fake, hub = FakeLinked(), FakeHub()
    fake.unknown_status = 503  # a repository not recorded is "not checked", never "does not exist"
    hub.unrecorded_datasets_unavailable = True  # likewise a Hub dataset not recorded
    for repo, facts in answers["github"].items():
        fake.add_repo(repo, licence=facts["licence"], paths=tuple(facts["paths"]))
    for arxiv_id, facts in answers["arxiv"].items():
        fake.add_arxiv(arxiv_id, facts["title"], facts["published"])
    for paper_id, facts in answers["venues"].items():
        fake.add_s2_paper([paper_id], facts["title"], facts["venue"], facts.get("type"))
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        for dataset_id, facts in answers["hub_datasets"].items():
            card = Path(cache) / "datasets" / dataset_id
            card.mkdir(parents=True)
            body = facts.get("card") or f"# {dataset_id}\n"
            card.joinpath("README.md").write_text(f"---\nlicense: {facts['licence']}\n---\n{body}", "utf-8")
            hub.add_repo(dataset_id, card, dataset=True, gated=facts.get("gated", False))
        for repo_id, facts in answers["hub_models"].items():
            card = Path(cache) / "models" / repo_id
            card.mkdir(parents=True)
            card.joinpath("README.md").write_bytes((SHARED / "realcards" / facts["card"]).read_bytes())
            hub.add_repo(repo_id, card, gated=facts.get("gated", False))
        os.environ.update({**fake.environ(), "OPENSCORE_CACHE": str(Path(cache) / "cache"), "HF_ENDPOINT": hub.endpoint,
                           "OPENSCORE_HUB_TRIES": "1"})
        os.environ.pop("HF_HUB_OFFLINE", None)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            fake.close()
            hub.close()


def run(args) -> None:

    from openscore.anchors import mot, osai
    from openscore.anchors.fidelity import STEP, Tally, compare_osai, load_matches
    from openscore.audit import audit
    from openscore.rubrics import load_rubric

    table = load_matches()
    realcards = (SHARED / "realcards").resolve()
    if not realcards.is_dir():
        sys.exit(f"no reference data at {realcards}")
    reports: dict[str, object] = {}

    def report(folder: str):
        if folder not in reports:
            reports[folder] = audit(str(realcards / folder), weights=False, rubrics=["osai-v3", "mof"],
                                    linked=args.linked)
        return reports[folder]

    rubric = load_rubric("osai-v3")
    dims = rubric.dimension_ids
    groups = {"exact+same-version": ("same_model", "same_version"), "base model": ("base_model",),
              "family": ("family",)}
    print("OSAI index (osai-v3), by match quality")
    for title, qualities in groups.items():
        tallies = {"all": Tally(), **{d: Tally() for d in dims}}
        observable = {"all": Tally(), **{d: Tally() for d in table.osai_observable}}
        split = {True: Tally(), False: Tally()}  # README-only folders or not
        matches = [m for m in table.osai if m.quality in qualities]
        differing: list[tuple[str, str, str, str]] = []  # folder, dimension, ours, theirs
        for m in matches:
            entry = osai.load(SHARED / "anchors" / "osai-main-database" / m.entry)
            theirs = osai.grades(entry, rubric)
            rep = report(m.folder)
            ours = {g.dimension: g.grade for g in rep.rubrics["osai-v3"].grades}
            compare_osai(ours, theirs, m.folder, dims, tallies)
            differing += [(m.folder, d, ours.get(d, "unknown"), theirs.get(d, "n/a")) for d in dims
                          if theirs.get(d) in STEP and ours.get(d) in STEP and ours[d] != theirs[d]]
            compare_osai(ours, theirs, m.folder, table.osai_observable, observable)
            readme_only = [p.name for p in (realcards / m.folder).iterdir()] == ["README.md"]
            compare_osai(ours, theirs, m.folder, dims, {"all": split[readme_only], **{d: Tally() for d in dims}})
        print(f"\n== {title}: {len(matches)} folders")
        print(f"  all dimensions         {tallies['all'].line()}")
        print(f"  repository-observable  {observable['all'].line()}")
        print(f"  README-only folders    {split[True].line()}")
        print(f"  folders with files     {split[False].line()}")
        for d in dims:
            t = tallies[d]
            n = t.compared
            exact = f"{100 * t.exact / n:3.0f} %" if n else "  - "
            print(f"    {d:24s} n={n:2d} exact {exact}  one-off {t.one_off:2d}  two-off {t.two_off:2d}  unknown {t.unknown}")
        if args.cases and tallies["all"].cases:
            print("  two steps off:")
            for case in tallies["all"].cases:
                print(f"    {case}")
        if title == "exact+same-version":
            _disputes(table, differing, set(table.osai_observable), args.cases)

    print("\nModel Openness Tool (MOF classes)")
    comp_agree = comp_total = 0
    class_agree = defaultdict(lambda: [0, 0])
    for m in table.mot:
        expert = mot.load(SHARED / "anchors" / "mot" / "models" / m.entry)
        theirs = mot.classify(expert)
        ours_result = report(m.folder).rubrics["mof"]
        included_theirs = set(mot.components(expert))
        included_ours = {g.dimension for g in ours_result.grades if g.grade in ("open", "partial")}
        ids = load_rubric("mof").dimension_ids
        agree = sum((d in included_theirs) == (d in included_ours) for d in ids)
        comp_agree += agree
        comp_total += len(ids)
        same = theirs.label == ours_result.classification
        class_agree[m.quality][0] += same
        class_agree[m.quality][1] += 1
        print(f"  {m.folder:50s} {m.quality:13s} experts {theirs.label:32s} openscore {ours_result.classification:32s}"
              f" components {agree}/{len(ids)}")
    print(f"  component agreement {100 * comp_agree / max(comp_total, 1):.0f} % of {comp_total}")
    for quality, (a, n) in class_agree.items():
        print(f"  class agreement ({quality}): {a}/{n}")


def _disputes(table, differing, observable: set[str], cases: bool) -> None:
    """How the differing cells are argued in the match table's `disputed` list (and which entries no longer
    differ offline: with --linked some agree)."""
    why: dict[str, int] = defaultdict(int)
    unargued = []
    for folder, dim, ours, theirs in differing:
        dispute = table.dispute(folder, dim)
        if dispute is None and dim not in observable:
            why["not observable (trainingcode, code: the code repository)"] += 1
            continue
        why[dispute.why if dispute else "not argued"] += 1
        if dispute is None:
            unargued.append(f"{folder}/{dim}: {ours} vs experts {theirs}")
        elif cases:
            print(f"    {dispute.why:8s} {folder}/{dim}: {ours} vs experts {theirs}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(why.items()))
    n_obs = sum(d in observable for _, d, _, _ in differing)
    print(f"  differing cells: {len(differing)} ({n_obs} repository-observable), argued in the match table: {counts}")
    for line in unargued:
        print(f"    not argued: {line}")
    cells = {(f, d) for f, d, _, _ in differing}
    agreeing = [f"{d.folder}/{d.dimension}" for d in table.disputed if (d.folder, d.dimension) not in cells]
    if agreeing:
        print(f"  disputed in the match table but agreeing (or unknown) now: {', '.join(agreeing)}")


if __name__ == "__main__":
    main()
