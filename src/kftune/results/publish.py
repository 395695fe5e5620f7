"""Publishing a finished run's results where the next run (e.g. the next scheduled one) warm-starts from."""

from __future__ import annotations

from pathlib import Path

from kftune.layout import RESULT_FILES


def publish(local_dir: Path, uri: str) -> list[str]:
    """Copy a finished run's result files to ``uri`` (e.g. ``gs://bucket/kftune/latest``), where the next
    scheduled run warm-starts from (kftune reads its trials.csv and best_hyperparameters.json).

    Only kftune's result file names are written or removed there (a result this run lacks is
    deleted, so the prefix never mixes two runs); the tuner state is not copied. Returns the names
    written.
    """
    from kftune.storage import open_store

    local_dir = Path(local_dir)
    store = open_store(uri.rstrip("/"))
    present = [name for name in RESULT_FILES if (local_dir / name).is_file()]
    store.upload_files([(local_dir / name, name) for name in present])
    for name in RESULT_FILES:
        if name not in present:
            store.delete(name)
    return present


__all__ = ["publish"]
