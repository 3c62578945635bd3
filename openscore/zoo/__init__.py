"""The provenance zoo: small trained checkpoints and their derivatives, with the verdicts expected.

`build(dest, quick=...)` writes Hub-like folders a detector can be run on; `expected_relation`
says what a comparison of any two zoo cases should conclude. The case list is data
(openscore/zoo/cases.yaml).
"""

from openscore.zoo.build import ZooCase, build, load_model
from openscore.zoo.catalogue import load_catalogue

__all__ = ["ZooCase", "build", "load_catalogue", "load_model"]
