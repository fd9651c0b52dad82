"""Benchmark: how torch's CPU threads should be set, on an idle and on a loaded machine.

    python benchmarks/threads.py                     # each run's time is printed as it ends
    python benchmarks/threads.py --steps 3 --rounds 1 --loads pinned

Times the training step of the README's first command (`scratch-lstm train`: LSTM(28, 256,
2 layers) + Linear(256, 10), the scratch backend, Adam, batches of 128 images of 28 rows) under
each way of setting the threads, each in a fresh process (OpenMP reads its settings once, when
torch loads it):

    default        torch's own default: one thread per core, OpenMP's threads spin while they wait
    passive        one thread per core, OMP_WAIT_POLICY=PASSIVE: a waiting thread sleeps at once
    spin 1k        one thread per core, GOMP_SPINCOUNT=1000: a waiting thread spins briefly, then sleeps
    1 thread       torch.set_num_threads(1)
    scratch-lstm   what the command does without --threads: one thread per core, and passive if
                   other programs kept a CPU busy as it started (scratch_lstm/_startup.py)

and under each load: ``none`` (whatever else the machine runs), ``pinned`` (a second process
spinning on CPU 0, as a busy program would) and ``free`` (the same, not pinned). Options and
loads are interleaved over ``--rounds`` rounds, so that a drift of the machine's other work
touches them alike; the table gives each option's median seconds per step over the rounds (each
round's figure: the median of ``--steps`` timed steps after an untimed one, fewer
where they pass 6 s), the spread over the rounds, and the 1-minute load average read
before each load's runs. Where torch's default collapses (tens of seconds a step on a machine
already busy), each of its runs still takes two steps: ``--steps 5 --rounds 3`` took 30 minutes
under a load average of 7-10 on 2 cores (docs/performance.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time

# name: (environment added, threads: None for torch's count); each runs in a fresh process
OPTIONS = {
    "default": ({}, None),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "spin 1k": ({"GOMP_SPINCOUNT": "1000"}, None),
    "1 thread": ({}, 1),
    "scratch-lstm": ({}, None),  # started as the command starts: its start-up chooses
}
LOADS = ("none", "pinned", "free")


def child(steps: int, threads: int | None, budget_s: float = 6.0) -> None:
    """Time ``steps`` training steps of the README's first command in this process, after one
    untimed step (fewer, but at least 1, where they pass ``budget_s`` seconds); print JSON."""
    LSTMClassifier = importlib.import_module("scratch_lstm").LSTMClassifier  # its start-up first
    import torch  # then torch, as in the command
    import torch.nn.functional as F

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = LSTMClassifier(28, 256, 10, 2, backend="scratch")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(128, 28, 28), torch.randint(0, 10, (128,))  # (B, T, I), (B,)
    times = []
    began = time.perf_counter()
    for step in range(1 + steps):
        if times and time.perf_counter() - began > budget_s:
            break
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 1:
            times.append(time.perf_counter() - start)
    print(json.dumps({"step_s": statistics.median(times), "threads": torch.get_num_threads(),
                      "wait": os.environ.get("OMP_WAIT_POLICY", "")}))


def run_option(name: str, steps: int) -> dict:
    """One option in a fresh process: its median seconds per step and its thread count."""
    extra, threads = OPTIONS[name]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                                            "OMP_NUM_THREADS")}
    env.update(extra)
    if name == "scratch-lstm":  # a script of benchmarks/: the package's start-up runs as the command's
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(steps)]
    else:  # `python -c`: the package's start-up leaves it alone
        code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                f"import threads; threads.child({steps}, {threads!r})")
        cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_load(load: str) -> subprocess.Popen | None:
    """A second process spinning on one CPU (``pinned``: on CPU 0 only), or None for ``none``."""
    if load == "none":
        return None
    spin = [sys.executable, "-c", "while True: pass"]
    if load == "pinned" and hasattr(os, "sched_setaffinity"):
        return subprocess.Popen(spin, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    return subprocess.Popen(spin)


def load_average() -> str:
    """The 1-minute load average (/proc/loadavg), or '?' where the system has none."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def measure(loads, steps: int, rounds: int, log=print) -> dict:
    """{load: {option: [seconds per step, one per round]}}, with the load averages seen and the
    thread counts used, options and loads interleaved round by round."""
    results = {load: {name: [] for name in OPTIONS} for load in loads}
    seen = {load: [] for load in loads}
    used = {load: {} for load in loads}
    for r in range(rounds):
        for load in loads:
            seen[load].append(load_average())
            spinner = start_load(load)
            try:
                time.sleep(0.5 if spinner else 0)
                for name in OPTIONS:
                    got = run_option(name, steps)
                    results[load][name].append(got["step_s"])
                    used[load][name] = f"{got['threads']}" + (" passive" if got["wait"] else "")
                    log(f"round {r + 1}/{rounds}, load {load}: {name:12s} {got['step_s'] * 1000:7.1f} ms "
                        f"per step ({used[load][name]} threads)", flush=True)
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()
    return {"steps": results, "loadavg": seen, "threads": used}


def table(found: dict) -> str:
    """The comparison as a Markdown table: ms per step (median over rounds, min-max), and each
    option against torch's default under the same load."""
    lines = ["| load | load average (1 min) | option | threads (wait) | ms per step | min-max | vs default |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for load, per in found["steps"].items():
        base = statistics.median(per["default"])
        for name, times in per.items():
            med = statistics.median(times)
            lines.append(f"| {load} | {', '.join(found['loadavg'][load])} | {name} | "
                         f"{found['threads'][load][name]} | {med * 1000:.0f} | "
                         f"{min(times) * 1000:.0f}-{max(times) * 1000:.0f} | {med / base:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Parse, measure, print the table (``--child``: one option's steps, for the parent)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20, help="timed training steps per option and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every option and load")
    p.add_argument("--loads", nargs="+", choices=LOADS, default=["none", "pinned"],
                   help="none: as the machine is; pinned: a second process spinning on CPU 0; "
                        "free: the same, not pinned")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.child, None)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the load process is ended all the same
    start = time.time()
    found = measure(args.loads, args.steps, args.rounds)
    print()
    print(f"{os.cpu_count()} CPUs ({_cpu()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{args.steps} steps x {args.rounds} rounds, {time.time() - start:.0f} s")
    print(table(found))
    return 0


def _cpu() -> str:
    from scratch_lstm.app.limits import cpu_name

    return cpu_name()


if __name__ == "__main__":
    sys.exit(main())
