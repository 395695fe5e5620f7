"""Every name kftune gives a file or object, in a run's folder and in its store.

One place, so the engine, the distributed roles, the sync order and the readers of a previous run
(warm start, the report, the pipeline components) can never disagree on a spelling. Changing a
name here changes the on-disk layout: old runs would no longer resume (tests/test_layout_compat.py).
"""

from __future__ import annotations

# ----------------------------------------------------------------- results (top of the output folder)
BEST_HYPERPARAMETERS = "best_hyperparameters.json"
BEST_MODEL = "best_model.keras"
TRIALS = "trials.csv"
REPORT = "report.html"
RUN_RECORD = "run.json"
SPEC = "spec.json"
RESULT_FILES = (BEST_HYPERPARAMETERS, BEST_MODEL, TRIALS, REPORT, RUN_RECORD, SPEC)

# ----------------------------------------------------------------- state (keras-tuner's project folder)
STATE_DIR = "state"
STATE_FILE = "kftune_state.json"  # spec hash, fingerprint and search seed: what a resume must match
EVENTS_FILE = "kftune_events.jsonl"  # trial start/end events with wall times
TRIAL_SECONDS = "kftune_seconds.json"  # each ended trial's wall seconds; uploaded before oracle.json
TRIAL_LOG = "kftune_trials.log"  # the full traceback of every failed trial (the console shows one line)
ORACLE_FILE = "oracle.json"  # keras-tuner's oracle state: the commit point of a trial
BEST_MODEL_STATE = "best_model.keras"  # the best trial's model so far
BEST_MODEL_PENDING = "best_model.pending.keras"  # a trial's model before the oracle has recorded the trial
BEST_MODEL_INFO = "best_model.json"  # which trial BEST_MODEL_STATE belongs to
TRIAL_WEIGHTS = "kftune.weights.h5"  # Hyperband: the weights a promoted trial continues from
MODELS_DIR = "models"  # distributed: workers' candidate models, one per trial that beat the best
CHIEF_FILE = "chief.json"  # distributed, store rendezvous: where the chief serves the oracle

LOCK_NAME = ".kftune.lock"  # lives only in the store

# Never synced: the lock, temp files, a not-yet-promoted model.
SYNC_EXCLUDE = (LOCK_NAME, "*.tmp", f"{STATE_DIR}/{BEST_MODEL_PENDING}")
# Upload order after each trial: the trial's own files, then keras-tuner's oracle.json (the commit
# point of the state), then what reports the trial (the results and the event log): whatever a reader
# or a new pod sees as started or COMPLETED in the store is also so in the state it resumes from.
# TRIAL_SECONDS is in the first tier, so a trial the store's oracle.json has ended has its seconds too.
SYNC_TIERS = ((ORACLE_FILE, f"*/{ORACLE_FILE}"), (TRIALS, BEST_HYPERPARAMETERS, RUN_RECORD, f"{STATE_DIR}/{EVENTS_FILE}"))


def state_key(name: str) -> str:
    """A state file's key relative to the output (``state/<name>``)."""
    return f"{STATE_DIR}/{name}"


def trial_dir_name(trial_id: str) -> str:
    return f"trial_{trial_id}"


def trial_weights_key(trial_id: str) -> str:
    return f"{STATE_DIR}/{trial_dir_name(trial_id)}/{TRIAL_WEIGHTS}"


def model_key(trial_id: str) -> str:
    """Where a worker uploads a trial's model (distributed runs)."""
    return f"{STATE_DIR}/{MODELS_DIR}/{trial_dir_name(trial_id)}.keras"
