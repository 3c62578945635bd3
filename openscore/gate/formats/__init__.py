"""Renderers of a GateResult: each module turns the same decision into one format.

`--format NAME[:PATH]` picks them (see openscore.gate.outputs); all are pure functions of the result
(no clock, no environment), so the same run renders byte-identical files.
"""
