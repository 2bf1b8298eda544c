#!/usr/bin/env python3
"""Python ``multiprocessing`` side of the procpool comparison harness.

Runs ONE workload of the benchmark issue and prints ONE JSON line to stdout::

    {"workload": "pipe_rtt", "unit": "us/roundtrip", "higher_is_better": false,
     "pinning": "two_cores", "values": [...one per repetition...], "params": {...}}

Usage::

    python3 mp_bench.py --list
    python3 mp_bench.py --workload NAME [--quick] [--reps N] [--pin none|same|two]

The script measures itself: interpreter start-up, imports, pool creation and
child start-up all happen outside the timed region (except for the
``start_join_*`` workloads, whose subject *is* process start-up, and
``cpu_speedup``, which times ``Pool(10).map`` the way the tutorial does,
pool creation included). The Rust harness (``benches/src/bin/compare.rs``)
calls this script once per (workload, repetition) so that it can alternate
implementations rep by rep.

``--quick`` shrinks counts (about /5 to /10) but keeps the per-item units
(us per process, tasks/s, items/s, MB/s, ns per op) comparable with a full run.

``--pin`` applies to the cross-process latency workloads (see ``PINNABLE``):
``same`` pins every process involved to CPU 0, ``two`` pins the measuring
process (or the first worker) to CPU 0 and its peer to CPU 1. ``none`` (the
default) leaves placement to the scheduler.

Units: MB is 10^6 bytes. Every child process is a daemon and asks the kernel
to kill it if its parent dies, and the whole run is bounded by a SIGALRM
watchdog, so a stuck peer ends the run with an error instead of hanging it.
"""

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time

#: Upper bound on one invocation (seconds), full and --quick. Raises TimeoutError in the parent.
WATCHDOG_S = {False: 600, True: 120}
#: Bound on a single wait for a peer (seconds): join, ready handshakes.
PEER_TIMEOUT_S = 120.0

SMALL_MSG = b"0123456789abcdef"  # 16 bytes, the same size as the raw ping-pong
ITEM_64K = 64 * 1024

PIN_NAMES = {"none": "none", "same": "same_core", "two": "two_cores"}

#: The CPUs this process may run on when it starts (restored after each rep).
_START_AFFINITY = frozenset(os.sched_getaffinity(0))


# --------------------------------------------------------------------------
# Helpers that run in children (module level, so every start method works).
# --------------------------------------------------------------------------


def _die_with_parent():
    """Best effort: ask Linux to SIGKILL this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _pin(cpu):
    """Pin the calling process to ``cpu`` (``None``: leave it alone)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _child_setup(cpu):
    _die_with_parent()
    _pin(cpu)


def noop(x=None):
    """The trivial task / empty process target."""
    return x


def count(n):
    """The tutorial's CPU-bound task: count from n down to -n in steps of 1."""
    i = n
    while i > -n:
        i -= 1
    return i


def _pool_init(cpu):
    _child_setup(cpu)


def _queue_producer(q, go, n, payload, cpu):
    _child_setup(cpu)
    q.put("ready")
    if not go.wait(PEER_TIMEOUT_S):
        return
    put = q.put
    if payload is None:
        for i in range(n):
            put(i)
    else:
        for _ in range(n):
            put(payload)
    # Process exit joins the queue's feeder thread, so every item is flushed.


def _pipe_echo(conn, n, cpu):
    _child_setup(cpu)
    send, recv = conn.send, conn.recv
    for _ in range(n):
        send(recv())
    conn.close()


def _lock_hammer(lock, n, ready, go, stamps, slot, cpu):
    _child_setup(cpu)
    ready.release()
    if not go.wait(PEER_TIMEOUT_S):
        return
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    t1 = time.perf_counter_ns()
    stamps[2 * slot] = t0
    stamps[2 * slot + 1] = t1


def _event_waiter(ev, conn, n, cpu):
    _child_setup(cpu)
    for _ in range(n):
        if not ev.wait(PEER_TIMEOUT_S):
            return
        # perf_counter_ns is CLOCK_MONOTONIC on Linux: comparable across processes.
        t1 = time.perf_counter_ns()
        ev.clear()
        conn.send(t1)
    conn.close()


# --------------------------------------------------------------------------
# Parent-side helpers.
# --------------------------------------------------------------------------


def _ctx():
    """The context used for everything but start_join_{spawn,forkserver}.

    ``fork`` explicitly: it is Python 3.11's Linux default and procpool's default.
    """
    return mp.get_context("fork")


def _cpus(pin):
    """(parent_cpu, peer_cpu) for a pinning mode."""
    if pin == "none":
        return None, None
    if pin == "same":
        return 0, 0
    if pin == "two":
        if not {0, 1} <= _START_AFFINITY:
            raise SystemExit("--pin two needs CPUs 0 and 1")
        return 0, 1
    raise SystemExit(f"unknown --pin {pin!r}")


def _join(p):
    p.join(PEER_TIMEOUT_S)
    if p.is_alive():
        p.kill()
        p.join(5)
        raise RuntimeError(f"child {p.pid} did not finish within {PEER_TIMEOUT_S} s")
    if p.exitcode != 0:
        raise RuntimeError(f"child {p.pid} exited with {p.exitcode}")


def _start(ctx, target, args):
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    return p


# --------------------------------------------------------------------------
# Workloads. Each returns the value of ONE repetition in the workload's unit.
# --------------------------------------------------------------------------


def w_start_join(method, quick):
    ctx = mp.get_context(method)
    n = {"fork": (300, 60), "spawn": (20, 5), "forkserver": (100, 20)}[method][quick]
    # Warm-up: starts the fork server, fills caches.
    _join(_start(ctx, noop, ()))
    t0 = time.perf_counter_ns()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    t1 = time.perf_counter_ns()
    return (t1 - t0) / n / 1e3, {"processes": n, "method": method}


def w_pool_map(chunksize, quick):
    n = 10_000 if quick else 100_000
    with _ctx().Pool(2) as pool:
        pool.map(noop, range(64), 1)  # warm-up: workers are up and running
        t0 = time.perf_counter_ns()
        out = pool.map(noop, range(n), chunksize)
        t1 = time.perf_counter_ns()
    assert len(out) == n and out[-1] == n - 1
    return n / ((t1 - t0) / 1e9), {"tasks": n, "workers": 2, "chunksize": chunksize}


def w_apply_async_pipelined(quick):
    n = 2_000 if quick else 10_000
    with _ctx().Pool(2) as pool:
        pool.map(noop, range(64), 1)
        t0 = time.perf_counter_ns()
        results = [pool.apply_async(noop, (i,)) for i in range(n)]
        for r in results:
            r.get(PEER_TIMEOUT_S)
        t1 = time.perf_counter_ns()
    return n / ((t1 - t0) / 1e9), {"tasks": n, "workers": 2}


def w_apply_async_serial(quick, pin):
    n = 500 if quick else 3_000
    me, peer = _cpus(pin)
    _pin(me)
    with _ctx().Pool(2, initializer=_pool_init, initargs=(peer,)) as pool:
        for i in range(50):
            pool.apply_async(noop, (i,)).get(PEER_TIMEOUT_S)
        t0 = time.perf_counter_ns()
        for i in range(n):
            pool.apply_async(noop, (i,)).get()
        t1 = time.perf_counter_ns()
    return (t1 - t0) / n / 1e3, {"round_trips": n, "workers": 2}


def _queue_run(n, payload, pin):
    ctx = _ctx()
    me, peer = _cpus(pin)
    _pin(me)
    q = ctx.Queue()
    go = ctx.Event()
    p = _start(ctx, _queue_producer, (q, go, n, payload, peer))
    if q.get(timeout=PEER_TIMEOUT_S) != "ready":
        raise RuntimeError("producer handshake failed")
    get = q.get
    t0 = time.perf_counter_ns()
    go.set()
    x = None
    for _ in range(n):
        x = get()
    t1 = time.perf_counter_ns()
    _join(p)
    if payload is None:
        assert x == n - 1
    else:
        assert len(x) == len(payload)
    return (t1 - t0) / 1e9


def w_queue_small(quick, pin):
    n = 20_000 if quick else 200_000
    secs = _queue_run(n, None, pin)
    return n / secs, {"items": n}


def w_queue_64k(quick, pin):
    n = 1_000 if quick else 10_000
    secs = _queue_run(n, bytes(ITEM_64K), pin)
    return n * ITEM_64K / 1e6 / secs, {"items": n, "item_bytes": ITEM_64K}


def w_pipe_rtt(quick, pin):
    n = 4_000 if quick else 20_000
    warm = 200
    ctx = _ctx()
    me, peer = _cpus(pin)
    _pin(me)
    a, b = ctx.Pipe()
    p = _start(ctx, _pipe_echo, (b, n + warm, peer))
    b.close()
    for _ in range(warm):
        a.send(SMALL_MSG)
        if not a.poll(PEER_TIMEOUT_S):
            raise RuntimeError("echo child does not answer")
        a.recv()
    send, recv = a.send, a.recv
    t0 = time.perf_counter_ns()
    for _ in range(n):
        send(SMALL_MSG)
        recv()
    t1 = time.perf_counter_ns()
    _join(p)
    return (t1 - t0) / n / 1e3, {"round_trips": n, "message": "16-byte bytes object"}


def w_lock_uncontended(quick):
    n = 200_000 if quick else 1_000_000
    lock = _ctx().Lock()
    acquire, release = lock.acquire, lock.release
    for _ in range(1000):
        acquire()
        release()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    t1 = time.perf_counter_ns()
    return (t1 - t0) / n, {"iterations": n}


def w_lock_contended(quick, pin):
    n = 100_000 if quick else 500_000  # per process
    ctx = _ctx()
    me, peer = _cpus(pin)
    _pin(me)
    lock = ctx.Lock()
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    stamps = ctx.Array("q", 4, lock=False)
    procs = [
        _start(ctx, _lock_hammer, (lock, n, ready, go, stamps, 0, me)),
        _start(ctx, _lock_hammer, (lock, n, ready, go, stamps, 1, peer)),
    ]
    for _ in procs:
        if not ready.acquire(timeout=PEER_TIMEOUT_S):
            raise RuntimeError("lock hammer did not start")
    go.set()
    for p in procs:
        _join(p)
    elapsed = max(stamps[1], stamps[3]) - min(stamps[0], stamps[2])
    return elapsed / (2 * n), {"iterations_per_process": n, "processes": 2}


def w_event_wake(quick, pin):
    n = 60 if quick else 300
    ctx = _ctx()
    me, peer = _cpus(pin)
    _pin(me)
    ev = ctx.Event()
    a, b = ctx.Pipe()
    p = _start(ctx, _event_waiter, (ev, b, n, peer))
    b.close()
    samples = []
    for _ in range(n):
        time.sleep(0.002)  # let the waiter fall asleep in ev.wait()
        t0 = time.perf_counter_ns()
        ev.set()
        if not a.poll(PEER_TIMEOUT_S):
            raise RuntimeError("event waiter does not answer")
        samples.append(a.recv() - t0)
    _join(p)
    # Median over the samples of this repetition: wake-ups have a long tail.
    return statistics.median(samples) / 1e3, {"samples": n, "per_rep": "median"}


def w_cpu_speedup(quick):
    total = 4_000 if quick else 20_000
    t0 = time.perf_counter_ns()
    for n in range(total):
        count(n)
    t1 = time.perf_counter_ns()
    # As in the tutorial: the timed region includes creating and closing Pool(10).
    with _ctx().Pool(10) as pool:
        pool.map(count, range(total))
    t2 = time.perf_counter_ns()
    seq, par = (t1 - t0) / 1e9, (t2 - t1) / 1e9
    return seq / par, {"total": total, "sequential_s": seq, "pool10_s": par}


# name -> (unit, higher_is_better, pinnable, function(quick, pin))
WORKLOADS = {
    "start_join_fork": ("us/process", False, False, lambda q, _p: w_start_join("fork", q)),
    "start_join_spawn": ("us/process", False, False, lambda q, _p: w_start_join("spawn", q)),
    "start_join_forkserver": (
        "us/process",
        False,
        False,
        lambda q, _p: w_start_join("forkserver", q),
    ),
    "pool_map_default": ("tasks/s", True, False, lambda q, _p: w_pool_map(None, q)),
    "pool_map_chunk1": ("tasks/s", True, False, lambda q, _p: w_pool_map(1, q)),
    "apply_async_pipelined": ("tasks/s", True, False, lambda q, _p: w_apply_async_pipelined(q)),
    "apply_async_serial": ("us/roundtrip", False, True, w_apply_async_serial),
    "queue_small": ("items/s", True, True, w_queue_small),
    "queue_64k": ("MB/s", True, True, w_queue_64k),
    "pipe_rtt": ("us/roundtrip", False, True, w_pipe_rtt),
    "lock_uncontended": ("ns/op", False, False, lambda q, _p: w_lock_uncontended(q)),
    "lock_contended": ("ns/op", False, True, w_lock_contended),
    "event_wake": ("us", False, True, w_event_wake),
    "cpu_speedup": ("x", True, False, lambda q, _p: w_cpu_speedup(q)),
}

PINNABLE = [name for name, spec in WORKLOADS.items() if spec[2]]


def _on_alarm(signum, frame):
    raise TimeoutError("mp_bench.py watchdog: the run took too long (a peer is stuck?)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", help="workload name (see --list)")
    ap.add_argument("--quick", action="store_true", help="smaller counts, fewer reps")
    ap.add_argument("--reps", type=int, help="repetitions (default 5, 3 with --quick)")
    ap.add_argument("--pin", choices=sorted(PIN_NAMES), default="none")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    args = ap.parse_args(argv)

    if args.list:
        for name, (unit, hib, pinnable, _) in WORKLOADS.items():
            print(f"{name}\t{unit}\t{'higher' if hib else 'lower'}_is_better"
                  f"\t{'pinnable' if pinnable else '-'}")
        return 0
    if args.workload not in WORKLOADS:
        ap.error(f"--workload must be one of: {', '.join(WORKLOADS)}")
    unit, hib, pinnable, fn = WORKLOADS[args.workload]
    if args.pin != "none" and not pinnable:
        ap.error(f"{args.workload} does not take --pin")
    reps = args.reps if args.reps is not None else (3 if args.quick else 5)
    if reps < 1:
        ap.error("--reps must be >= 1")

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(WATCHDOG_S[args.quick] * reps)

    values, params = [], {}
    for _ in range(reps):
        value, params = fn(args.quick, args.pin)
        values.append(value)
        os.sched_setaffinity(0, _START_AFFINITY)
    signal.alarm(0)

    print(json.dumps({
        "workload": args.workload,
        "unit": unit,
        "higher_is_better": hib,
        "pinning": PIN_NAMES[args.pin],
        "quick": args.quick,
        "values": values,
        "params": params,
        "python": sys.version.split()[0],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
