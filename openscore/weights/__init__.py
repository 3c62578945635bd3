"""Weight fingerprints and their comparison: does a checkpoint's weights come from a known base?

    fp = fingerprint(source, headers, layout)      # one streaming pass, a few MB out
    fp.save("model.osfp"); Fingerprint.load(...)    # safetensors file, JSON in __metadata__
    compare(reference_fp, candidate_fp).verdict     # identical | renamed-copy | recast-copy | derived | ...
"""

from openscore.weights.compare import Comparison, TensorMatch, compare
from openscore.weights.fingerprint import FINGERPRINT_VERSION, Fingerprint, TensorPrint, fingerprint

__all__ = ["FINGERPRINT_VERSION", "Comparison", "Fingerprint", "TensorMatch", "TensorPrint", "compare", "fingerprint"]
