"""kftune's ``bayesian`` algorithm: a Gaussian-process keras-tuner Oracle.

``encoding`` (space -> arrays) -> ``model`` (the GP) -> ``acquisition`` (which candidate) ->
``oracle`` (the keras-tuner Oracle that composes them). Importing this package imports keras-tuner
and scipy; :mod:`kftune.search` re-exports :class:`GPOracle` lazily for that reason.
"""

from kftune.search.gp.oracle import GPOracle

__all__ = ["GPOracle"]
