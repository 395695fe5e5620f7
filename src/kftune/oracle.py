"""Compatibility: ``kftune.oracle.GPOracle`` is now :class:`kftune.search.gp.oracle.GPOracle`."""

from kftune.search.gp.oracle import GPOracle

__all__ = ["GPOracle"]
