"""Distributed tuning on keras-tuner's own chief/worker protocol: the chief and worker role hooks.

In keras-tuner's scheme the chief only serves the oracle over gRPC and a worker only holds an
``OracleClient`` (no ``.trials``), so the single-process duties after each trial are split: the
chief holds the run lock, owns the oracle, writes the results, syncs the state and applies the
budgets after every trial a worker ends; a worker runs trials and, when one beats the best so far,
uploads its model to the store before it reports the trial. Operations: docs/distributed.md.
"""
