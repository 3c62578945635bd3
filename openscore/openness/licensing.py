"""The model's licence as the card declares it and as its licence files say, resolved to facts.

The card is what the author claims; LICENSE texts are what actually binds. The card wins for the
resolved licence when it names one openscore recognises; otherwise a licence that governs the weights
(MODEL_LICENSE, or a card sentence licensing the weights) decides, then the most confident licence
file. Disagreement between the two is a finding (openscore.openness.findings). When code, weights or
data are licensed apart, `parts` says which licence governs which.
"""

from __future__ import annotations

from openscore.evidence.model import EvidenceBundle, Observation
from openscore.report import LicenceFacts, LicenceResult

UNRESOLVED = ("unknown", "other")


def _value(bundle: EvidenceBundle, key: str) -> tuple[str | None, Observation | None]:
    obs = bundle.first(f"card.field.{key}")
    if obs is None or not isinstance(obs.value, (str, int, float)) or obs.value == "":
        return None, obs
    return str(obs.value), obs


def licence_files(bundle: EvidenceBundle) -> list[Observation]:
    """Identified licence texts (not NOTICE or use policies), most confident first, then by path."""
    found = [o for o in bundle.find("licence.file") if o.value.get("id") not in (None, *UNRESOLVED)]
    return sorted(found, key=lambda o: (-(o.value.get("confidence") or 0.0), o.value["file"]))


def no_licence() -> LicenceFacts:
    return LicenceFacts(id="unknown", name="No licence declared or found", open=False)


def evaluate_licence(bundle: EvidenceBundle) -> LicenceResult:
    from openscore.licences import resolve

    declared, declared_obs = _value(bundle, "license")
    name, name_obs = _value(bundle, "license_name")
    link, link_obs = _value(bundle, "license_link")
    evidence = [o.evidence for o in (declared_obs, name_obs, link_obs) if o is not None]
    all_files = bundle.find("licence.file") + bundle.find("licence.notice") + bundle.find("licence.policy")
    files = [{"file": o.value["file"], "id": o.value.get("id"), "confidence": o.value.get("confidence")}
             for o in all_files]
    files = [{**f, "covers": o.value.get("covers")} for f, o in zip(files, all_files)]
    resolved = resolve(declared, license_name=name, license_link=link) if (declared or name) else None
    identified = licence_files(bundle)
    parts = _parts(bundle, identified)
    if (resolved is None or resolved.id in UNRESOLVED) and "weights" in parts:
        resolved = parts["weights"][0]
        evidence.append(parts["weights"][1].evidence)
    general = [o for o in identified if o.value.get("covers") is None]
    if (resolved is None or resolved.id in UNRESOLVED) and (general or identified):
        resolved = resolve((general or identified)[0].value["id"])
    evidence += [o.evidence for o in all_files] + [o.evidence for o in bundle.find("licence.prose")]
    resolved = resolved or no_licence()
    split = {part: facts for part, (facts, _) in sorted(parts.items())}
    if split and any(f.id != resolved.id for f in split.values()):
        split.setdefault("weights", resolved)
    else:
        split = {}  # one licence for everything: nothing to split
    return LicenceResult(declared=declared, resolved=resolved, files=files, parts=split, evidence=evidence)


def _parts(bundle: EvidenceBundle, identified: list[Observation]) -> dict[str, tuple[LicenceFacts, Observation]]:
    """part -> (facts, the observation): a licence file named for the part wins over a card sentence."""
    from openscore.licences import resolve

    out: dict[str, tuple[LicenceFacts, Observation]] = {}
    linked = [o.model_copy(update={"value": {"covers": "code", "id": o.value["licence"]}})
              for o in bundle.find("linked.code") if o.value.get("exists") and o.value.get("licence")]
    for obs in identified + bundle.find("licence.prose") + linked:
        part = obs.value.get("covers")
        if part and part not in out and obs.value.get("id") not in (None, *UNRESOLVED):
            out[part] = (resolve(obs.value["id"]), obs)
    return out


def dataset_licences(bundle: EvidenceBundle) -> dict[str, LicenceFacts]:
    """Dataset id -> resolved licence, for the datasets whose Hub card was read."""
    from openscore.licences import resolve

    return {o.value["id"]: resolve(o.value["licence"]) for o in bundle.find("dataset")
            if o.value.get("checked") and isinstance(o.value.get("licence"), str)}
