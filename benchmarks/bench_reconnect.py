"""How late a waiting worker hears from a chief that comes (back) up: gRPC's default channel vs kftune's.

A worker starts before its chief (the launcher starts both at once; pods come up in any order) or
outlives a preempted chief. Its calls wait for the channel (``wait_for_ready``), and gRPC retries a
refused connection with a back-off growing 1.6x from 1 s to 120 s: the longer the chief was down,
the longer the worker keeps waiting after it is back. kftune's channel (``kt_compat.CHANNEL_OPTIONS``)
caps that back-off at 1 s. Each row: a real keras-tuner ``OracleServicer`` starts ``delay`` seconds
after the worker's ``GetSpace`` call; the figure is the time from the server starting to the answer.

    python benchmarks/bench_reconnect.py                  # delays 3, 10, 30, 60 s; 2 repeats
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer_lag(options: tuple, delay: float) -> float:
    import grpc
    import keras_tuner as kt
    from keras_tuner.src import protos

    from kftune.kt_compat import serve_oracle

    address = f"127.0.0.1:{free_port()}"
    stub = protos.get_service_grpc().OracleStub(grpc.insecure_channel(address, options=options))
    hp = kt.HyperParameters()
    hp.Int("x", 0, 10)
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=5, hyperparameters=hp)
    oracle._set_project_dir(tempfile.mkdtemp(prefix="kftune-reconnect-"), "p")
    up: dict = {}

    def serve() -> None:
        time.sleep(delay)
        up["t"] = time.monotonic()
        up["server"] = serve_oracle(oracle, address)

    threading.Thread(target=serve, daemon=True).start()
    stub.GetSpace(protos.get_service().GetSpaceRequest(), wait_for_ready=True, timeout=600)
    lag = time.monotonic() - up["t"]
    up["server"][0].stop(0)
    return lag


def main(argv=None) -> None:
    from kftune.kt_compat import CHANNEL_OPTIONS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delays", type=float, nargs="+", default=[3, 10, 30, 60])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    print("| chief up after (s) | default channel: answer after (s, median) | kftune's channel (s) | ratio |")
    print("|---|---|---|---|")
    for delay in args.delays:
        old, new = [], []
        for _ in range(args.repeats):  # interleaved: the same load for both
            old.append(answer_lag((), delay))
            new.append(answer_lag(CHANNEL_OPTIONS, delay))
        o, n = float(np.median(old)), float(np.median(new))
        print(f"| {delay:.0f} | {o:.2f} | {n:.2f} | {o / n:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
