"""What a card's text says, whatever its headings: architecture and hardware facts, intermediate
checkpoints, where the card loads its own weights from, and (for lineage and provenance) the base a
"Base model:" bullet declares.

Headings vary too much to carry these facts alone (mpt-7b puts its `n_layers | 32` table under
"Model Description" and "8 A100-40GBs" under "Training Configuration"). Each recogniser reads one
line at a time (tables are counted row by row), so the cost is linear in the card's length.
"""

from __future__ import annotations

import re

from openscore.evidence.card import find_card, section_rules, split_front_matter
from openscore.evidence.context import CollectContext, own_ids
from openscore.evidence.model import CollectorOutput, Observation

EXTRACTOR = "card-content@1.0"
#: hyperparameter names of an architecture table or list (a row `| n_layers | 32 |`, `- d_model: 4096`)
_HYPER = re.compile(
    r"^\s*(?:[|*-]\s*)?\**\s*(?P<key>n_layers|num_layers|num_hidden_layers|n_heads|num_heads|num_attention_heads|"
    r"d_model|hidden[ _]size|hidden[ _]dim(?:ension)?|model[ _]dim(?:ension)?|layers|heads|attention heads|"
    r"vocab(?:ulary)?[ _]size|vocab|sequence[ _]length|context[ _](?:length|window)|max[ _]seq(?:uence)?[ _]len(?:gth)?|"
    r"n_ctx|intermediate[ _]size|ffn[ _]dim|mlp[ _]ratio|activation|positional (?:embeddings?|encoding)|"
    r"normali[sz]ation|rope[ _]theta|num[ _]key[ _]value[ _]heads)\**\s*[|:]\s*\**\s*[\w.'\"-]",
    re.I)
#: "- **Architecture:** Same as bloom, see config.json", "* Model architecture: decoder-only transformer"
_ARCH_BULLET = re.compile(r"^\s*[-*+]\s*\**\s*(?:model )?architecture\**\s*:\**\s*\S.{10,}", re.I)
#: a table whose header row names the hyperparameters as columns (Pythia: | Params | n_layers | d_model | ...)
_HYPER_HEADER = re.compile(r"^\s*\|.*\b(?:n_layers|num_layers|layers)\b.*\|.*\b(?:d_model|hidden|model dim|heads)\b", re.I)
_GPU = (r"(?:NVIDIA\s+)?(?:A100|H100|H800|H200|A800|V100|A10G?|A6000|L40S?|MI250X?|MI300X?|RTX\s?\d{4}|"
        r"TPU\s?v\d\w*|GPUs?|TPUs?|Gaudi\d?)")
_HARDWARE = re.compile(
    rf"\b\d[\d,.]{{0,12}}\s*(?:x\s*|×\s*)?{_GPU}"
    rf"|\b{_GPU}[\w-]*\s*(?:x|×)\s*\d+"
    r"|\b\d[\d,.]{0,12}\s*(?:k\s*)?(?:GPU|TPU)[- ]hours\b"
    r"|\btrained (?:on|using) [^.]{0,40}\b(?:A100|H100|H800|A800|V100|TPU|GPUs?|nodes?)\b"
    r"|\btrain\w*\b[^.]{0,80}\bfor (?:about |approximately |roughly |~)?\d[\d,.]{0,12}\s*(?:hours|days|weeks)\b",
    re.I)
#: hardware advice to users ("a node with 4 GPUs is recommended") is not the training hardware
_ADVICE = re.compile(r"\b(?:recommend\w*|requires?|at least|inference|deploy\w*|you (?:can|need|will))\b", re.I)
#: "**Base model**: org/name", "- Finetuned from model: [org/name](https://huggingface.co/org/name)"
_BASE_BULLET = re.compile(
    r"^\s*(?:[-*+]\s*)?\**\s*(?:base[ _]model|fine-?tuned from(?: model)?|finetuned from(?: model)?|parent model)"
    r"(?:\s*\[optional\])?\s*\**\s*:\s*\**\s*(?:\[[^\]]*\]\()?\s*(?:https?://huggingface\.co/)?"
    r"(?P<id>[A-Za-z0-9][\w.-]*/[\w.-]+)",
    re.I)
_CHECKPOINTS = re.compile(
    r"\bintermediate (?:model )?checkpoints?\b|\b\d[\d,]*\s+(?:intermediate\s+)?checkpoints\b"
    r"|\brevision\s*=\s*[\"'](?:step|checkpoint|ckpt)[\w-]*\d|\bcheckpoints? (?:every|at every) \d",
    re.I)
_IMPORT = re.compile(r"^\s*(?:>>>\s*)?(?:from|import)\s+(?P<module>[A-Za-z_][\w]*)")
#: longer lines (inline HTML, minified tables) are not read for content: it keeps every pattern linear
MAX_LINE = 4000
#: a quoted hub id in code (`from_pretrained("org/name")`, `checkpoint = "org/name"`, `pipeline(model="org/name")`)
_QUOTED_ID = re.compile(r"[\"'](?P<id>[A-Za-z0-9][\w.-]*/[\w.-]+)[\"']")


def _suite(hub_id: str, own: set[str]) -> bool:
    """`hub_id` is this repository, or a sibling of its own suite: same organisation, same first name part
    (Pythia's card loads `EleutherAI/pythia-70m-deduped` as the example for every size)."""
    hub_id = hub_id.lower()
    if hub_id in own:
        return True
    org, _, name = hub_id.partition("/")
    return any(o.partition("/")[0] == org and re.split(r"[-_.]", o.partition("/")[2])[0] == re.split(r"[-_.]", name)[0]
               for o in own if "/" in o and not o.startswith("local/"))


def body_start(text: str) -> tuple[int, list[str]]:
    """(0-based index of the first line after the front matter, the card's lines)."""
    fm_text, first, lines = split_front_matter(text)
    return (first + fm_text.count("\n") + 1 if fm_text is not None else 0), lines


def declared_base(text: str) -> list[tuple[str, int, str]]:
    """(hub id, 1-based line, the line) of every "Base model: org/name" bullet in a card's body: the
    card's own statement of its base, for lineage and for provenance's declared-base verification."""
    start, lines = body_start(text)
    found = []
    for number, line in enumerate(lines[start:], start=start + 1):
        m = _BASE_BULLET.match(line)
        if m:
            found.append((m.group("id").rstrip(".,;"), number, line.strip()))
    return found


def collect_card_content(ctx: CollectContext) -> CollectorOutput:
    out = CollectorOutput(extractor=EXTRACTOR)
    name = find_card(ctx)
    out.searched.append("card text for hyperparameter tables, GPU counts and types, training time, "
                        "'Base model:' bullets, intermediate checkpoints, from_pretrained of this repository, "
                        "imports of open-source model libraries")
    text = ctx.read_text(name) if name else None
    if text is None:
        return out
    start, lines = body_start(text)
    own = own_ids(ctx.inventory.ref.repo_id)

    def note(kind: str, value, number: int, line: str) -> None:
        out.observations.append(Observation(
            kind=f"card.content.{kind}", value=value,
            evidence=ctx.cite(rule=f"collect/card-content/{kind}", extractor=EXTRACTOR, file=name, line=number,
                              snippet=line.strip()),
        ))

    hyper: dict[str, int] = {}  # hyperparameter -> first line
    hardware = checkpoints = weights = False
    libraries, library = set(section_rules()[0].libraries), False
    for number, line in enumerate(lines[start:], start=start + 1):
        if len(line) > MAX_LINE:
            continue
        m = _HYPER.match(line)
        if m:
            hyper.setdefault(m.group("key").lower().replace(" ", "_"), number)
        elif _HYPER_HEADER.match(line):
            hyper.setdefault("table", number)
            hyper.setdefault("table-columns", number)
        elif _ARCH_BULLET.match(line):
            hyper.setdefault("statement", number)
            hyper.setdefault("statement-line", number)
        if not hardware and (h := _HARDWARE.search(line)) and not _ADVICE.search(line):
            hardware = True
            note("hardware", h.group(0), number, line)
        if not checkpoints and _CHECKPOINTS.search(line):
            checkpoints = True
            note("checkpoints", True, number, line)
        if not library and (imp := _IMPORT.match(line)) and imp.group("module") in libraries:
            library = True
            note("library", imp.group("module"), number, line)
        if not weights:
            w = next((q for q in _QUOTED_ID.finditer(line) if _suite(q.group("id"), own)), None)
            if w is not None:
                weights = True
                note("weights", w.group("id"), number, line)
    if len(hyper) >= 2:
        first = min(hyper.values())
        note("architecture", sorted(k for k in hyper if not k.startswith(("table", "statement"))) or ["stated"],
             first, lines[first - 1])
    return out
