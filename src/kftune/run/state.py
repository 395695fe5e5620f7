"""A run's own state beside keras-tuner's: which search this is (spec hash, seed) and what happened when.

keras-tuner with ``overwrite=False`` would silently reload a project made by a different search
space; the state file's spec hash is what lets kftune refuse that with a clear message instead.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from kftune.errors import ResumeError
from kftune.layout import STATE_FILE
from kftune.results.files import now_iso, write_json
from kftune.spec import TuningSpec, fingerprint_diff


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None when it is missing or cut short by a kill."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_state(state_dir: Path, spec: TuningSpec, command: str) -> tuple[dict[str, Any], bool]:
    """``(state, is_new)``: the saved state when it belongs to this spec (ResumeError when it belongs
    to another), else a new one in memory. Writes nothing: a run owns its state only once its first
    trial can start (:func:`commit_state`), so a start-up failure (a bad label) never pins the spec."""
    path = state_dir / STATE_FILE
    state = read_json(path)
    fingerprint = spec.search_fingerprint()
    if state is not None:
        if state.get("spec_hash") != spec.spec_hash:
            changed = fingerprint_diff(state.get("fingerprint", {}), fingerprint)
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise ResumeError(
                f"{state_dir.parent}: saved state belongs to a different spec (changed: {shown or 'unknown'}); "
                f"rerun with --fresh to start over, or use another --output"
            )
        return state, False
    seed = spec.tuner.seed if spec.tuner.seed is not None else random.SystemRandom().randrange(2**31)
    state = {
        "spec_hash": spec.spec_hash,
        "fingerprint": fingerprint,
        "seed": seed,
        "created_at": now_iso(),
        "command": command,
    }
    return state, True


def commit_state(state_dir: Path, state: dict[str, Any], is_new: bool) -> None:
    """Write a new state file (the run now owns its output); a resumed one is already there."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if is_new or not (state_dir / STATE_FILE).exists():
        write_json(state_dir / STATE_FILE, state)


def check_or_init_state(state_dir: Path, spec: TuningSpec, command: str) -> dict[str, Any]:
    """Refuse to resume a state made by a different search; otherwise return (or create and write) it."""
    state, is_new = read_state(state_dir, spec, command)
    commit_state(state_dir, state, is_new)
    return state


class EventLog:
    """Append-only trial events (start/end with wall time), the source of per-trial seconds and resume facts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a kill

    def add(self, **event: Any) -> None:
        event["t"] = time.time()
        self.events.append(event)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, default=str) + "\n")

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.events:
            if e.get("event") == "trial_end" and e.get("seconds") is not None:
                out[e["trial_id"]] = float(e["seconds"])
        return out

    def ended(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "trial_end"]

    def last_start(self, trial_id: str) -> dict[str, Any] | None:
        starts = [e for e in self.events if (e.get("event"), e.get("trial_id")) == ("trial_start", trial_id)]
        return starts[-1] if starts else None
