"""N worker processes on one node: one per GPU, each pinned to its device, supervised by the parent.

``kftune tune SPEC --workers N`` on a plain machine makes this process the chief (on 127.0.0.1, a free
port) and starts N ``kftune tune`` worker processes; on a worker pod (Kubeflow, Vertex, Kubernetes)
it starts N worker processes that all report to the remote chief. Workers speak keras-tuner's own
chief/worker protocol. A worker that dies is started again with the same tuner id, so the chief
hands it its trial back; a worker that keeps dying gives its trial back to the queue. Children die
with their parent (PR_SET_PDEATHSIG), so a SIGKILLed parent leaves no orphan and the same command
resumes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from kftune import kt_compat
from kftune.errors import SearchAborted
from kftune.run.distributed.chief import ChiefHooks
from kftune.run.distributed.roles import Role
from kftune.run.record import RunRecord, TuningResult

MAX_RESTARTS = 3  # per worker slot, before its trial goes back to the queue
STOP_GRACE_S = 60.0  # after the search, how long workers get to exit on their own


def visible_accelerators() -> list[str]:
    """Device ids this process may use: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def default_workers() -> int:
    """One worker per visible accelerator, else 1."""
    return max(len(visible_accelerators()), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In a launched worker: exit when the launching process dies (set up by KFTUNE_PARENT_PID)."""
    parent = os.environ.get("KFTUNE_PARENT_PID")
    if not parent:
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's own cleanup still stops its workers
    if os.getppid() != int(parent):  # the parent died before the line above
        os._exit(1)


@dataclass
class Slot:
    tuner_id: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    done: bool = False
    history: list[int] = field(default_factory=list)  # exit codes of earlier processes


class WorkerProcesses:
    """Start, watch and stop the worker processes of this node."""

    def __init__(self, command: list[str], slots: list[Slot], files: dict[Path, str]) -> None:
        self.command, self.slots, self.files = command, slots, files

    @classmethod
    def plan(
        cls, spec_json: str, uri: str, workdir: Any, n: int, logs: Path, tuner_env: Callable[[int], dict[str, str]]
    ) -> WorkerProcesses:
        """N slots; slot i gets ``tuner_env(i)``, a device of its own when there are accelerators, and a
        share of the CPU threads when there are none."""
        devices = visible_accelerators()
        threads = max((os.cpu_count() or 1) // n, 1)
        slots = []
        for i in range(n):
            env = {"KFTUNE_PARENT_PID": str(os.getpid()), **tuner_env(i)}
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = devices[i % len(devices)]
            else:
                env.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", str(threads)))
                env.setdefault("TF_NUM_INTRAOP_THREADS", os.environ.get("TF_NUM_INTRAOP_THREADS", str(threads)))
            tuner_id = env.get("KERASTUNER_TUNER_ID") or f"rank-{env.get('KFTUNE_LOCAL_RANK', i)}"
            slots.append(Slot(tuner_id, env, logs / f"{tuner_id}.log"))
        spec_path = logs / "spec.json"  # the validated spec (one given as a dict has no file)
        command = [sys.executable, "-m", "kftune.cli", "tune", str(spec_path), "--output", uri, "--workers", "1", "-q"]
        return cls(command + (["--workdir", str(workdir)] if workdir else []), slots, {spec_path: spec_json})

    def start(self, slot: Slot) -> None:
        for path, text in self.files.items():
            if not path.exists():  # written when started: a --fresh run clears the state first
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        with slot.log.open("ab") as log:
            slot.proc = subprocess.Popen(self.command, env={**os.environ, **slot.env}, stdout=log, stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        for slot in self.slots:
            self.start(slot)

    def supervise(self, give_up: Callable[[Slot], None]) -> list[str]:
        """Restart workers that died; a slot that died MAX_RESTARTS times is handed to ``give_up``."""
        notes = []
        for slot in self.slots:
            rc = slot.proc.poll() if slot.proc is not None and not slot.done else None
            if rc is None:
                continue
            slot.history.append(rc)
            if rc == 0:
                slot.done = True
            elif slot.restarts < MAX_RESTARTS:
                slot.restarts += 1
                notes.append(f"{slot.tuner_id} exited with {rc}; started again ({slot.restarts}/{MAX_RESTARTS})")
                self.start(slot)
            else:
                slot.done = True
                notes.append(f"{slot.tuner_id} exited with {rc} {MAX_RESTARTS + 1} times; its trial goes back to the queue")
                give_up(slot)
        return notes

    def alive(self) -> list[Slot]:
        return [s for s in self.slots if s.proc is not None and s.proc.poll() is None]

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let workers exit on their own for ``grace_s``, then terminate, then kill."""
        deadline = time.monotonic() + grace_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for slot in self.alive():
                slot.proc.send_signal(sig)
            deadline = time.monotonic() + 10
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (a pod being stopped) unwinds like Ctrl-C, so workers are stopped and the lock released."""
    def raise_exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LocalChiefHooks(ChiefHooks):
    """The chief of a one-node search: serves the oracle on 127.0.0.1 and runs the worker processes."""

    def __init__(self, role: Role, workers: WorkerProcesses) -> None:
        super().__init__(role)
        self.workers = workers
        self.started = False

    def start_workers(self) -> None:
        """Start the worker processes (once). Called as soon as the output is locked (and cleared by
        --fresh), so their Python and framework start-up overlaps the chief's; they wait for its state."""
        if not self.started:
            self.started = True
            self.workers.start_all()

    def search(self, tuner: Any, search: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        self.start_workers()
        try:
            super().search(tuner, search, *args, **kwargs)
            self.workers.stop()
        finally:
            self.workers.stop(grace_s=0)

    def on_poll(self, oracle: Any, run: RunRecord) -> None:
        def give_up(slot: Slot) -> None:
            with kt_compat.oracle_lock(oracle):
                kt_compat.requeue_ongoing(oracle, slot.tuner_id)
            if all(s.done and s.history[-1] != 0 for s in self.workers.slots):
                self.failed(run, oracle, RuntimeError(f"every worker died; logs in {slot.log.parent}"))

        self.notes.extend(self.workers.supervise(give_up))


def run_node_workers(workers: WorkerProcesses, spec_hash: str, uri: str, local_dir: Path) -> TuningResult:
    """A worker pod with several GPUs: run its worker processes until each has been told to stop."""
    with stop_on_signals():
        workers.start_all()
        try:
            while any(not s.done for s in workers.slots):
                workers.supervise(lambda slot: None)
                time.sleep(0.5)
        finally:
            workers.stop(grace_s=0)
    failed = [s.tuner_id for s in workers.slots if s.history and s.history[-1] != 0]
    if len(failed) == len(workers.slots):
        raise SearchAborted(f"all {len(failed)} worker processes failed; logs in {workers.slots[0].log.parent}")
    return TuningResult(
        output=uri, local_dir=local_dir, best_hyperparameters={}, best_objective=None, best_trial_id=None,
        trials_completed=0, trials_failed=0, best_model_path=None, spec_hash=spec_hash,
        stopped_because="the chief stopped the search" + (f" (workers {', '.join(failed)} failed)" if failed else ""),
    )
