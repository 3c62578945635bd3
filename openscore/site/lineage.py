"""Family trees from provenance: who derives from whom, as detected from weights and as declared.

Edges run from a model to its base. A detected edge comes from `provenance.base` (and `parents` of a
merge), labelled with the verdict; a declared edge from the declared base (provenance's, or the
card's `base_model` when the weights were not read). When both name
the same base the edge is drawn once as "declared + detected"; a declared base the weights do not
support is drawn dashed in the warning colour. Families are the connected parts of that graph, laid
out in layers (bases on top) with a simple deterministic layout: layer = longest path from a root,
order inside a layer by the mean position of the node's bases, then by name. Cycles (which only
bad data makes) are broken at the edge that closes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openscore.site.rows import declared_bases, repo_of
from openscore.site.store import AuditedModel

NODE_HEIGHT, LAYER_GAP, NODE_GAP, MARGIN = 34, 64, 24, 12
CHAR_WIDTH, MAX_LABEL, LABEL_CHAR = 7.0, 44, 5.6
#: Verdicts that deny any weight inheritance, so a declared base contradicts them.
_NO_BASE = ("independent", "architecture-clone")


@dataclass
class Edge:
    child: str
    parent: str
    detected: str | None = None  # the verdict when the weights say so
    declared: bool = False
    unsupported: bool = False  # declared, but the weights point elsewhere or to no base at all
    relation: str | None = None  # the card's base_model_relation (finetune, quantized, merge, adapter)

    @property
    def kind(self) -> str:
        if self.detected and self.declared:
            return "both"
        return "detected" if self.detected else "declared"

    @property
    def label(self) -> str:
        """The edge's words: the relation (the verdict, else the card's relation) and where it was seen."""
        relation = self.detected or self.relation or "declared base"
        seen = "weights + card" if self.kind == "both" else "weights" if self.detected else "card only"
        return f"{relation} · {seen}"


@dataclass
class Node:
    id: str
    label: str
    page: str | None  # site-relative model page when the model is on the site
    layer: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0


@dataclass
class Family:
    nodes: list[Node]
    edges: list[Edge]
    width: float = 0.0
    height: float = 0.0
    paths: list[dict] = field(default_factory=list)  # drawn edges: geometry plus the Edge

    @property
    def name(self) -> str:
        """The family's name: its first root (a node with no base), as the leaderboard's family filter shows it."""
        return min(node.id for node in self.nodes if node.layer == 0)


def _edges(models: list[AuditedModel]) -> dict[tuple[str, str], Edge]:
    edges: dict[tuple[str, str], Edge] = {}
    for model in models:
        provenance = model.latest.provenance
        detected = [repo_of(ref) for ref in [provenance.base, *provenance.parents] if ref] if provenance else []
        for parent in detected:
            if parent != model.repo_id:
                edges.setdefault((model.repo_id, parent), Edge(model.repo_id, parent)).detected = provenance.verdict
        for declared in map(repo_of, declared_bases(model.latest)):
            if declared and declared != model.repo_id:
                edge = edges.setdefault((model.repo_id, declared), Edge(model.repo_id, declared))
                edge.declared = True
                edge.relation = _declared_relation(model)
                edge.unsupported = bool(provenance) and not edge.detected and (
                    bool(detected) or provenance.verdict in _NO_BASE
                )
    return edges


def _declared_relation(model: AuditedModel) -> str | None:
    """How the card says the model relates to its base: provenance's reading, else the front matter (strings only)."""
    if model.latest.provenance is not None:
        return model.latest.provenance.declared_relation
    front = model.latest.card.get("front_matter") if isinstance(model.latest.card, dict) else None
    value = front.get("base_model_relation") if isinstance(front, dict) else None
    return value.strip()[:40] or None if isinstance(value, str) else None


def _components(node_ids: list[str], edges: list[Edge]) -> list[list[str]]:
    neighbours: dict[str, set[str]] = {n: set() for n in node_ids}
    for edge in edges:
        neighbours[edge.child].add(edge.parent)
        neighbours[edge.parent].add(edge.child)
    seen: set[str] = set()
    components = []
    for start in sorted(node_ids):
        if start in seen:
            continue
        stack, part = [start], []
        seen.add(start)
        while stack:
            node = stack.pop()
            part.append(node)
            for other in sorted(neighbours[node] - seen):
                seen.add(other)
                stack.append(other)
        components.append(sorted(part))
    return components


def _layers(nodes: list[str], edges: list[Edge]) -> dict[str, int]:
    """Longest distance from a root, following child -> parent edges upwards; cycles cut."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        parents[edge.child].append(edge.parent)
    layer: dict[str, int] = {}
    on_path: set[str] = set()

    def depth(node: str) -> int:
        if node in layer:
            return layer[node]
        on_path.add(node)
        above = [depth(p) for p in sorted(parents[node]) if p not in on_path]
        on_path.discard(node)
        layer[node] = 1 + max(above) if above else 0
        return layer[node]

    for node in sorted(nodes):
        depth(node)
    return layer


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "\u2026"


def families(models: list[AuditedModel]) -> list[Family]:
    """Every family with at least one edge, laid out; largest first, then by first member's id."""
    pages = {m.repo_id: f"models/{m.path}.html" for m in models}
    all_edges = sorted(_edges(models).values(), key=lambda e: (e.child, e.parent))
    node_ids = sorted({e.child for e in all_edges} | {e.parent for e in all_edges})
    result = []
    for members in _components(node_ids, all_edges):
        member_set = set(members)
        edges = [e for e in all_edges if e.child in member_set]
        layer_of = _layers(members, edges)
        nodes = {n: Node(n, _label(n), pages.get(n), layer_of[n]) for n in members}
        result.append(_place(nodes, edges))
    return sorted(result, key=lambda f: (-len(f.nodes), f.nodes[0].id if f.nodes else ""))


def _place(nodes: dict[str, Node], edges: list[Edge]) -> Family:
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        parents[edge.child].append(edge.parent)
    depth = max(node.layer for node in nodes.values())
    rows: list[list[Node]] = []
    for layer in range(depth + 1):
        row = [n for n in nodes.values() if n.layer == layer]

        def position(node: Node) -> tuple[float, str]:
            above = [nodes[p].x for p in parents[node.id] if nodes[p].layer < layer]
            return (sum(above) / len(above) if above else 0.0, node.id)

        row.sort(key=position)
        x = MARGIN
        for node in row:
            node.width = round(len(node.label) * CHAR_WIDTH + 20, 1)
            node.x, node.y = x, MARGIN + layer * (NODE_HEIGHT + LAYER_GAP)
            x += node.width + NODE_GAP
        rows.append(row)
    width = max(sum(n.width for n in row) + NODE_GAP * (len(row) - 1) for row in rows) + 2 * MARGIN
    for row in rows:  # centre each layer
        used = sum(n.width for n in row) + NODE_GAP * (len(row) - 1)
        shift = (width - 2 * MARGIN - used) / 2
        for node in row:
            node.x = round(node.x + shift, 1)
    family = Family(
        nodes=sorted(nodes.values(), key=lambda n: (n.layer, n.x)),
        edges=edges,
        width=round(width, 1),
        height=MARGIN * 2 + (depth + 1) * NODE_HEIGHT + depth * LAYER_GAP,
    )
    for edge in edges:
        child, parent = nodes[edge.child], nodes[edge.parent]
        x1, y1 = parent.x + parent.width / 2, parent.y + NODE_HEIGHT
        x2, y2 = child.x + child.width / 2, child.y
        if child.layer <= parent.layer:  # an edge the cycle cut: route it along the side
            y1, y2 = parent.y + NODE_HEIGHT / 2, child.y + NODE_HEIGHT / 2
        mid = (y1 + y2) / 2
        family.paths.append(
            {
                "edge": edge,
                "d": f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}",
                # beside the curve's middle, clear of the line itself
                "label_x": round((x1 + x2) / 2 + 6, 1),
                "label_y": round(mid + 4, 1),
            }
        )
    # an edge label must not run off the picture's right edge (labels are 10 px text, about 5.6 px a character)
    widest = max((p["label_x"] + len(p["edge"].label) * LABEL_CHAR + MARGIN for p in family.paths), default=0.0)
    family.width = round(max(family.width, widest), 1)
    return family
