"""The evidence checks grading rules name (openscore/data/grading/*.yaml).

Each check answers one yes/no question about the collected evidence and returns the evidence it
rests on. A check that finds nothing still says what it searched and where (negative evidence),
so a `closed` grade is never a bare claim. Checks read observations only; they never touch files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openscore.evidence.model import EvidenceBundle, Observation
from openscore.report import Evidence, LicenceFacts, LicenceResult

if TYPE_CHECKING:
    from openscore.evidence.inherited import InheritedCard


@dataclass
class BaseInfo:
    """The base model this checkpoint derives from, as far as openscore can tell."""

    family: str | None  # known_bases family ("llama-2") or None
    repo_id: str | None  # Hub id when declared or detected
    via: str  # "provenance", "card", "config", "prose"
    licence: LicenceFacts | None  # the base's licence, when known
    training_data: str | None = None  # "open" / "partial" / "closed": the base's pre-training data (known_bases.yaml)
    relation: str | None = None  # the card's base_model_relation (adapter, merge, quantized, finetune)
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class GradingContext:
    bundle: EvidenceBundle
    licence: LicenceResult
    base: BaseInfo | None = None
    #: dataset id -> resolved licence facts (only for datasets whose card was read)
    dataset_licences: dict[str, LicenceFacts] = field(default_factory=dict)
    #: the declared base's card, for a repository without one (`--linked`): graded in place of the missing card
    #: on the grading map's `inherit_from_base` dimensions
    inherited: InheritedCard | None = None


@dataclass
class CheckOutcome:
    hit: bool
    evidence: list[Evidence] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)


CheckFn = Callable[..., CheckOutcome]
CHECKS: dict[str, CheckFn] = {}


def check(fn: CheckFn) -> CheckFn:
    CHECKS[fn.__name__] = fn
    return fn


def _ev(observations: list[Observation]) -> list[Evidence]:
    return [o.evidence for o in observations]


def _looked(ctx: GradingContext, what: str, *, file: str | None = None, extractor: str = "grading@1.0") -> Evidence:
    """Negative evidence: where a check looked and found nothing."""
    return Evidence(source=ctx.bundle.source, file=file, snippet=f"not found: {what}", rule="searched",
                    extractor=extractor)


def _card_file(ctx: GradingContext) -> str | None:
    fm = ctx.bundle.first("card.front_matter") or ctx.bundle.first("card.section.") or None
    return fm.evidence.file if fm else None


def _outcome(ctx: GradingContext, found: list[Observation], what: str, *, file: str | None = None) -> CheckOutcome:
    if found:
        return CheckOutcome(True, _ev(found), [what])
    return CheckOutcome(False, [_looked(ctx, what, file=file)], [what])


# -- the card --------------------------------------------------------------------------------

@check
def card_present(ctx: GradingContext) -> CheckOutcome:
    missing = ctx.bundle.find("card.missing")
    if missing:
        return CheckOutcome(False, _ev(missing), ["README.md model card"])
    return _outcome(ctx, ctx.bundle.find("card.front_matter") or ctx.bundle.find("card.section."), "README.md model card")


@check
def front_matter(ctx: GradingContext) -> CheckOutcome:
    obs = ctx.bundle.find("card.front_matter")
    present = [o for o in obs if o.value == "present"]
    if present:
        return CheckOutcome(True, _ev(present), ["YAML front matter in the card"])
    return CheckOutcome(False, _ev(obs) or [_looked(ctx, "YAML front matter")],
                        ["YAML front matter in the card (absent or invalid: no_front_matter)"])


@check
def card_sections(ctx: GradingContext, topics: list[str], min: int = 1) -> CheckOutcome:
    """At least `min` of `topics` have a card section with real (non-placeholder) content."""
    filled, seen = [], []
    for topic in topics:
        obs = ctx.bundle.find(f"card.section.{topic}")
        seen.extend(obs)
        good = [o for o in obs if o.value.get("filled")]
        if good:
            filled.append(good[0])
    what = f"filled card sections ({', '.join(topics)}; need {min})"
    if len(filled) >= min:
        return CheckOutcome(True, _ev(filled), [what])
    # placeholder-only sections are evidence of emptiness, cite them
    return CheckOutcome(False, _ev(seen) or [_looked(ctx, what, file=_card_file(ctx))], [what])


@check
def card_field(ctx: GradingContext, key: str) -> CheckOutcome:
    found = [o for o in ctx.bundle.find(f"card.field.{key}") if o.value not in (None, "", [], {})]
    return _outcome(ctx, found, f"card front matter `{key}`", file=_card_file(ctx))


@check
def sample_outputs(ctx: GradingContext) -> CheckOutcome:
    return card_field(ctx, key="widget")


# -- files and refs ----------------------------------------------------------------------------

def _files(ctx: GradingContext, kind: str, what: str) -> CheckOutcome:
    return _outcome(ctx, ctx.bundle.find(f"file.{kind}"), what)


@check
def weights_published(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "weights", "weight files (safetensors, bin, gguf, onnx...) in the repository")


@check
def weights_in_card(ctx: GradingContext) -> CheckOutcome:
    """The card loads this repository's weights, or its own suite's (`from_pretrained("org/name")`): its own
    statement that they are published, when the input holds no weight files (a card-only copy)."""
    return _outcome(ctx, ctx.bundle.find("card.content.weights"),
                    "from_pretrained() of this repository (or its own suite) in the card", file=_card_file(ctx))


def _incomplete(ctx: GradingContext, needle: str) -> list[Observation]:
    return [o for o in ctx.bundle.find("input.incomplete")
            if any(needle in reason for reason in o.value.get("missing", []))]


@check
def weights_unseen(ctx: GradingContext) -> CheckOutcome:
    """The input cannot show the weights: a card-only copy, or a shard index naming absent shards."""
    what = "weight files in the input (a card-only copy or an index naming absent shards cannot show them)"
    found = [] if ctx.bundle.find("file.weights") else _incomplete(ctx, "no weight files") + _incomplete(ctx, "shard(s) absent")
    return CheckOutcome(bool(found), _ev(found), [what])


@check
def card_library(ctx: GradingContext) -> CheckOutcome:
    """The card names the open-source library that implements and runs the model: `library_name`, or an
    import in its code (`from transformers import ...`)."""
    found = [o for o in ctx.bundle.find("card.field.library_name") if o.value] + ctx.bundle.find("card.content.library")
    return _outcome(ctx, found, "library_name, or an import of an open-source model library in the card's code",
                    file=_card_file(ctx))


@check
def config_unseen(ctx: GradingContext) -> CheckOutcome:
    """The input has no config.json, so the architecture it would name cannot be seen."""
    found = _incomplete(ctx, "config.json")
    return CheckOutcome(bool(found), _ev(found), ["config.json in the input"])


@check
def modeling_code(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "modeling_code", "modelling code (modeling_*.py, configuration_*.py) in the repository")


@check
def architecture_config(ctx: GradingContext) -> CheckOutcome:
    """config.json names an architecture: its code lives in an open library (transformers...)."""
    return _outcome(ctx, ctx.bundle.find("config.architectures") or ctx.bundle.find("config.model_type"),
                    "config.json `architectures` / `model_type`", file="config.json")


@check
def training_code_in_repo(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "training_code", "training scripts (train*.py, finetune*.py, ...) in the repository")


@check
def eval_code_in_repo(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "eval_code", "evaluation scripts (eval*.py, evaluate*.py, ...) in the repository")


@check
def data_code_in_repo(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "data_code", "data preparation scripts (prepare*.py, preprocess*.py, ...) in the repository")


@check
def training_args(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "training_args", "training arguments / trainer state in the repository")


@check
def optimizer_state(ctx: GradingContext) -> CheckOutcome:
    return _files(ctx, "optimizer_state", "optimizer state files in the repository")


@check
def eval_results(ctx: GradingContext) -> CheckOutcome:
    found = (ctx.bundle.find("card.field.model-index") + ctx.bundle.find("file.eval_results")
             + [o for o in ctx.bundle.find("card.section.evaluation") if o.value.get("filled")])
    return _outcome(ctx, found, "card model-index, an evaluation section, or eval result files", file=_card_file(ctx))


@check
def intermediate_checkpoints(ctx: GradingContext) -> CheckOutcome:
    return _outcome(ctx, ctx.bundle.find("ref.intermediate") + ctx.bundle.find("card.content.checkpoints"),
                    "branches/tags or folders with intermediate checkpoints (step1000, checkpoint-N), "
                    "or intermediate checkpoints the card describes")


@check
def gated(ctx: GradingContext) -> CheckOutcome:
    found = [o for o in ctx.bundle.find("gating") if o.value] + ctx.bundle.find_prefix("card.field.extra_gated_")
    return _outcome(ctx, found, "Hub gating or extra_gated_* fields in the card", file=_card_file(ctx))


# -- links -------------------------------------------------------------------------------------

#: card sections whose links speak about the model itself; elsewhere (comparisons, architecture
#: background, benchmark tables) links cite other people's work
OWN_SECTIONS = (None, "description", "citation", "resources")


def _links(ctx: GradingContext, kind: str) -> list[Observation]:
    return [o for o in ctx.bundle.find(f"link.{kind}")
            if not o.value.get("table") and o.value.get("section") in OWN_SECTIONS]


@check
def code_link(ctx: GradingContext) -> CheckOutcome:
    return _outcome(ctx, _links(ctx, "code"), "links to GitHub/GitLab repositories in the card",
                    file=_card_file(ctx))


@check
def preprint(ctx: GradingContext) -> CheckOutcome:
    """An `arxiv:` tag, or an arXiv link where the card speaks about its own paper (evidence.linked.own_paper)."""
    from openscore.evidence.linked import own_paper

    tags = [o for o in ctx.bundle.find("card.field.tags")
            if any(str(t).lower().startswith("arxiv:") for t in (o.value if isinstance(o.value, list) else []))]
    links = [o for o in ctx.bundle.find("link.preprint") if own_paper(o)]
    return _outcome(ctx, tags + links, "arXiv tag, an arXiv link the card calls its paper, or one in its citation",
                    file=_card_file(ctx))


@check
def paper(ctx: GradingContext) -> CheckOutcome:
    """A peer-reviewed venue linked from the card, or (linked evidence) an arXiv preprint with a journal
    reference or DOI, or a DOI Crossref lists as a journal or proceedings article."""
    linked = [o for o in ctx.bundle.find("linked.preprint") + ctx.bundle.find("linked.paper")
              if o.value.get("peer_reviewed")]
    return _outcome(ctx, _links(ctx, "paper") + linked,
                    "peer-reviewed paper link (DOI, ACL Anthology, OpenReview) in the card, or a linked preprint "
                    "published in a journal or proceedings", file=_card_file(ctx))


@check
def paper_venue(ctx: GradingContext) -> CheckOutcome:
    """(linked evidence) A bibliographic index lists a peer-reviewed venue for the paper the card cites as its
    own (evidence.venues). Without linked evidence nothing was searched, so an offline grade stays as it was."""
    if "venues" not in ctx.bundle.collectors:
        return CheckOutcome(False)
    return _outcome(ctx, [o for o in ctx.bundle.find("linked.venue") if o.value.get("peer_reviewed")],
                    "a peer-reviewed venue Semantic Scholar lists for the paper the card cites as its own")


def _linked_code(ctx: GradingContext, key: str, open_licence: bool) -> list[Observation]:
    from openscore.licences import resolve

    return [o for o in ctx.bundle.find("linked.code") if o.value.get("exists") and o.value.get(key)
            and (not open_licence or (o.value.get("licence") and resolve(o.value["licence"]).open))]


#: what each kind of linked code is, for the searched text
_LINKED_CODE = {"training": "training code (train*.py, training configs)", "eval": "evaluation code",
                "data": "data preparation code"}


@check
def code_linked(ctx: GradingContext, kind: str, open_licence: bool = False) -> CheckOutcome:
    """A GitHub repository the card links holds `kind` code (training, eval, data), optionally under an
    open licence (linked evidence)."""
    what = f"{_LINKED_CODE[kind]} in a linked GitHub repository" + (" under an open licence" if open_licence else "")
    return _outcome(ctx, _linked_code(ctx, f"{kind}_code", open_licence), what)


@check
def code_documented_linked(ctx: GradingContext) -> CheckOutcome:
    """A linked repository with training code has a README and a docs/ folder."""
    return _outcome(ctx, [o for o in _linked_code(ctx, "training_code", False) if o.value.get("documented")],
                    "a README and a docs/ folder in the linked repository with training code")


@check
def hardware_documented(ctx: GradingContext) -> CheckOutcome:
    found = [o for o in ctx.bundle.find("card.section.hardware") if o.value.get("filled")]
    found += [o for o in ctx.bundle.find("card.field.co2_eq_emissions")
              if isinstance(o.value, dict) and o.value.get("hardware_used")]
    found += ctx.bundle.find("card.content.hardware")
    return _outcome(ctx, found, "hardware / compute section, co2_eq_emissions.hardware_used, or GPU counts and "
                                "types or training time in the card's text", file=_card_file(ctx))


@check
def architecture_documented(ctx: GradingContext) -> CheckOutcome:
    """An architecture section with content, or a hyperparameter table anywhere in the card."""
    found = [o for o in ctx.bundle.find("card.section.architecture") if o.value.get("filled")]
    found += ctx.bundle.find("card.content.architecture")
    return _outcome(ctx, found, "an architecture section or a hyperparameter table (n_layers, d_model, heads...) "
                                "in the card", file=_card_file(ctx))


# -- data --------------------------------------------------------------------------------------

@check
def datasets_listed(ctx: GradingContext) -> CheckOutcome:
    named = [o for o in ctx.bundle.find("card.field.datasets") if _dataset_names(o.value)]
    return _outcome(ctx, ctx.bundle.find("dataset") + named,
                    "training datasets named in the card (`datasets:` or Hub dataset links)", file=_card_file(ctx))


def _dataset_names(value) -> list[str]:
    """The dataset ids a card's `datasets:` value names: a string or a list's strings (`datasets: 7` names none)."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@check
def card_field_unreadable(ctx: GradingContext, field: str) -> CheckOutcome:
    """The card sets `field` to a value of the wrong type (`datasets: 7`): what it names cannot be read."""
    found = [o for o in ctx.bundle.find("card.invalid-field") if o.value.get("field") == field]
    return _outcome(ctx, found, f"card `{field}:` of the wrong type", file=_card_file(ctx))


@check
def datasets_open(ctx: GradingContext) -> CheckOutcome:
    """Every listed dataset's card was read, is not gated and carries an open licence."""
    obs = ctx.bundle.find("dataset")
    what = "dataset cards with an open licence and no gating"
    if not obs:
        return CheckOutcome(False, [_looked(ctx, what)], [what])
    ok = all(o.value.get("checked") and not o.value.get("gated")
             and (facts := ctx.dataset_licences.get(o.value["id"])) is not None and facts.open for o in obs)
    return CheckOutcome(ok, _ev(obs), [what])


@check
def datasets_published(ctx: GradingContext) -> CheckOutcome:
    """Every training dataset the card names is shared: a Hub dataset, found and not gated when its card
    was read, else the card's own statement that it is on the Hub. Availability only (OSAI's criterion:
    "open for inspection or shared"); licences are graded under `licenses`."""
    obs = ctx.bundle.find("dataset")
    what = "training datasets named in the card, each shared on the Hub without gating"
    if not obs:
        return CheckOutcome(False, [_looked(ctx, what)], [what])
    shared = all(not o.value.get("gated") and not o.value.get("missing") for o in obs)
    return CheckOutcome(shared, _ev(obs), [what])


@check
def datasheet_linked(ctx: GradingContext) -> CheckOutcome:
    """The card links documentation of its data that it calls a data card, dataset card or datasheet."""
    return _outcome(ctx, ctx.bundle.find("link.datasheet"), "a link the card calls a data card or datasheet",
                    file=_card_file(ctx))


@check
def dataset_cards_datasheets(ctx: GradingContext) -> CheckOutcome:
    """Linked evidence: the Hub cards of the training datasets document their data as datasheets
    (openscore.evidence.dataset_card): at least one card read, every card read is one, and the datasets the
    card declares as its training data (front matter `datasets:`) are among them. The card of one source of a
    declared mix is no datasheet of the mix (mpt-7b-instruct declares mosaicml/dolly_hhrlhf, whose card was not
    read, and links databricks-dolly-15k, one of its sources). Without linked evidence it says nothing (no
    cards were looked for)."""
    if "dataset-cards" not in ctx.bundle.collectors:
        return CheckOutcome(False)
    cards = ctx.bundle.find("dataset.card")
    read = {o.value.get("id") for o in cards}
    field = ctx.bundle.first("card.field.datasets")
    declared = [] if field is None else _dataset_names(field.value)
    unread = [o for o in ctx.bundle.find("dataset") if o.value.get("id") in declared and o.value.get("id") not in read]
    what = "training datasets' Hub cards documenting their data as a datasheet (composition, collection...)"
    hit = bool(cards) and not unread and all(o.value.get("datasheet") for o in cards)
    return CheckOutcome(hit, _ev(cards + unread) or [_looked(ctx, what)], [what])


@check
def datasets_unchecked(ctx: GradingContext) -> CheckOutcome:
    found = [o for o in ctx.bundle.find("dataset") if not o.value.get("checked")]
    return _outcome(ctx, found, "datasets whose cards could not be checked")


# -- licences ----------------------------------------------------------------------------------

def _licence_evidence(ctx: GradingContext, what: str) -> list[Evidence]:
    return list(ctx.licence.evidence) or [_looked(ctx, what, file=_card_file(ctx))]


@check
def licence_known(ctx: GradingContext) -> CheckOutcome:
    what = "a licence in the card (license/license_name/license_link) or a LICENSE file"
    return CheckOutcome(ctx.licence.resolved.id not in ("unknown", "other"), _licence_evidence(ctx, what), [what])


@check
def licence_open(ctx: GradingContext) -> CheckOutcome:
    what = "an open (OSI-approved or open-data) licence"
    return CheckOutcome(bool(ctx.licence.resolved.open), _licence_evidence(ctx, what), [what])


def _closed_datasets(ctx: GradingContext) -> list[Observation]:
    return [o for o in ctx.bundle.find("dataset")
            if (facts := ctx.dataset_licences.get(o.value["id"])) is not None and not facts.open]


@check
def licence_part_closed(ctx: GradingContext) -> CheckOutcome:
    """Code, weights or data are known to be under a licence that is not open (a licence file or card
    sentence for that part, or a training dataset whose card names a non-open licence)."""
    what = "a part (code, weights, data) under a licence that is not open"
    parts = [p for p, facts in ctx.licence.parts.items() if not facts.open]
    datasets = _closed_datasets(ctx)
    hit = bool(parts or datasets)
    return CheckOutcome(hit, (_licence_evidence(ctx, what) if parts else []) + _ev(datasets), [what])


def _open_parts(ctx: GradingContext) -> tuple[dict[str, LicenceFacts], list[Observation], list[Observation]]:
    """OSAI's parts besides the weights ("model weights, training code, and training data") under an open
    licence: (code / data parts of a licence file or card sentence, linked repositories holding training code
    under an open licence, training datasets whose card names an open licence). A code licence counts where
    training code is published under it; a model repository's licence for its own code alone covers inference
    and modelling code (the index grades Gemma's "only inference code shared under Apache 2.0" and Baichuan 2's
    repository code under Apache-2.0 with "Code: not released" closed)."""
    parts = {p: facts for p, facts in ctx.licence.parts.items() if p != "weights" and facts.open}
    if "code" in parts and not training_code_in_repo(ctx).hit:
        del parts["code"]
    datasets = [o for o in ctx.bundle.find("dataset")
                if (facts := ctx.dataset_licences.get(o.value["id"])) is not None and facts.open]
    return parts, _linked_code(ctx, "training_code", True), datasets


def open_parts(ctx: GradingContext) -> set[str]:
    """Which of weights, training code and training data are under open licences (a profile's `min_open_parts`)."""
    parts, linked, datasets = _open_parts(ctx)
    return ({"weights"} if ctx.licence.resolved.open else set()) | set(parts) | (
        {"code"} if linked else set()) | ({"data"} if datasets else set())


@check
def licence_part_open(ctx: GradingContext) -> CheckOutcome:
    """Training code or data licensed apart from the weights under an open licence (`_open_parts`): a licence
    file or card sentence for the part, a linked repository holding training code, a training dataset's card."""
    what = "training code or data licensed apart under an open licence"
    parts, linked, datasets = _open_parts(ctx)
    evidence = (_licence_evidence(ctx, what) if parts or not (linked or datasets) else []) + _ev(linked + datasets)
    return CheckOutcome(bool(parts or linked or datasets), evidence, [what])


# -- lineage -----------------------------------------------------------------------------------

@check
def derivative(ctx: GradingContext) -> CheckOutcome:
    """The model derives from a base (declared in card/config or prose, or detected from weights)."""
    what = "a declared (card base_model, config _name_or_path, prose) or detected base model"
    if ctx.base is not None:
        return CheckOutcome(True, list(ctx.base.evidence), [what])
    return CheckOutcome(False, [_looked(ctx, what)] + _ev(ctx.bundle.find("card.front_matter")), [what])


@check
def base_licence_open(ctx: GradingContext) -> CheckOutcome:
    what = "the base model's licence (known_bases.yaml or the reference registry)"
    if ctx.base is None or ctx.base.licence is None:
        return CheckOutcome(False, [_looked(ctx, what)], [what])
    return CheckOutcome(bool(ctx.base.licence.open), list(ctx.base.evidence), [what])


@check
def base_known(ctx: GradingContext) -> CheckOutcome:
    """The base is a known published model family (its weights exist publicly)."""
    what = "a base model from a known, published family"
    if ctx.base is None or ctx.base.family is None:
        return CheckOutcome(False, [_looked(ctx, what)], [what])
    return CheckOutcome(True, list(ctx.base.evidence), [what])


@check
def base_training_data(ctx: GradingContext, level: str) -> CheckOutcome:
    """The known base's pre-training data is available at `level` (open / partial), per known_bases.yaml."""
    what = f"the base model's training data being {level} (openscore/data/known_bases.yaml)"
    if ctx.base is None or ctx.base.training_data != level:
        return CheckOutcome(False, [_looked(ctx, what)], [what])
    note = Evidence(source=ctx.bundle.source, snippet=f"known base {ctx.base.family}: training data {level}",
                    rule="known-bases", extractor="known-bases@1.0")
    return CheckOutcome(True, [*ctx.base.evidence, note], [what])


def run_check(name: str, ctx: GradingContext, args: dict[str, Any]) -> CheckOutcome:
    return CHECKS[name](ctx, **args)
