//! Signals: `EINTR` during every blocking call neither surfaces as an error nor cuts a timeout
//! short.
//!
//! The test binary installs a no-op `SIGUSR1` handler *without* `SA_RESTART`, so every system
//! call that the signal interrupts returns `EINTR` (futex, poll, waitid, read...). A helper
//! thread sends `SIGUSR1` to the waiting thread (with `pthread_kill`) every 500 µs for as long
//! as the call under test blocks. Each timed call must end in its timeout error with at least
//! the timeout elapsed; each untimed call must return its value once the other side acts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration::{figure, watchdog};
use nix::sys::pthread::{Pthread, pthread_kill, pthread_self};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use procpool::{
    Barrier, BarrierWaitError, BoundedSemaphore, Condition, Event, GetError, GetTimeoutError,
    JoinableQueue, Lock, Pipe, Pool, Process, Queue, RLock, RecvTimeoutError, Semaphore,
    StartMethod, Value, get_context,
};

/// Signals caught by the handler, all tests together.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigusr1(_: nix::libc::c_int) {
    // Async-signal-safe: one atomic add.
    CAUGHT.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // No SA_RESTART: interrupted system calls fail with EINTR instead of restarting.
        let action = SigAction::new(
            SigHandler::Handler(on_sigusr1),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler only performs an atomic add on a static, which is
        // async-signal-safe; no other code in this binary relies on SIGUSR1's previous
        // disposition.
        unsafe { sigaction(Signal::SIGUSR1, &action) }.expect("install SIGUSR1 handler");
    });
}

/// Runs `f` on the calling thread while a helper thread sends it `SIGUSR1` every 500 µs;
/// returns `f`'s value and how many signals were sent while it ran.
fn under_signals<R>(f: impl FnOnce() -> R) -> (R, u64) {
    install_handler();
    let target: Pthread = pthread_self();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop2.load(Ordering::Acquire) {
            if pthread_kill(target, Signal::SIGUSR1).is_ok() {
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        sent
    });
    let r = f();
    // The sender must stop before this thread could exit.
    stop.store(true, Ordering::Release);
    let sent = sender.join().expect("signal sender");
    (r, sent)
}

static CALLS: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);

const T: Duration = Duration::from_millis(150);

/// Times `f` under signals and checks that it took at least `T`; `f` returns whether its
/// result was the expected timeout.
fn assert_times_out(what: &str, f: impl FnOnce() -> bool) {
    let (r, sent) = under_signals(|| {
        let start = Instant::now();
        let timed_out = f();
        (timed_out, start.elapsed())
    });
    let (timed_out, elapsed) = r;
    assert!(timed_out, "{what}: did not end in its timeout error");
    assert!(
        elapsed >= T,
        "{what}: returned after {elapsed:?}, before its timeout {T:?} ({sent} signals)"
    );
    assert!(
        sent >= 10,
        "{what}: only {sent} signals were sent during the wait"
    );
    CALLS.fetch_add(1, Ordering::Relaxed);
    SENT.fetch_add(sent, Ordering::Relaxed);
}

/// Runs a blocking call under signals while `release` (on another thread, after `T`) makes
/// it able to complete; `call` returns whether the call returned the expected value.
fn assert_completes(
    what: &str,
    release: impl FnOnce() + Send + 'static,
    call: impl FnOnce() -> bool,
) {
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(T);
        release();
    });
    let (ok, sent) = under_signals(call);
    releaser.join().expect("releaser");
    assert!(
        ok,
        "{what}: a blocking call interrupted by signals returned an error"
    );
    assert!(sent >= 10, "{what}: only {sent} signals were sent");
    CALLS.fetch_add(1, Ordering::Relaxed);
    SENT.fetch_add(sent, Ordering::Relaxed);
}

fn run(f: impl FnOnce() + Send + 'static) {
    watchdog(Duration::from_secs(60), f);
}

// ------------------------------------------------------------------ children and tasks

fn hold_lock((lock, held, release): (Lock, Event, Event)) {
    let _g = lock.acquire();
    held.set();
    release.wait_timeout(Duration::from_secs(30));
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

// ------------------------------------------------------------------ timed calls

#[test]
fn timed_lock_waits_survive_signals() {
    run(|| {
        // Held by another process, so the wait is a real cross-process futex wait.
        let lock = Lock::new().unwrap();
        let (held, release) = (Event::new().unwrap(), Event::new().unwrap());
        let mut p = Process::new(hold_lock, (lock.clone(), held.clone(), release.clone()));
        p.start().unwrap();
        assert!(held.wait_timeout(Duration::from_secs(20)));
        assert_times_out("Lock::acquire_timeout", || lock.acquire_timeout(T).is_err());
        assert_times_out("Lock::acquire_deadline", || {
            lock.acquire_deadline(Instant::now() + T).is_err()
        });
        let v = Value::with_lock(0u64, lock.clone()).unwrap();
        assert_times_out("Value::lock_timeout", || v.lock_timeout(T).is_err());
        release.set();
        assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), 0);

        // An RLock held by another thread.
        let rl = RLock::new().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let rl2 = rl.clone();
        let holder = std::thread::spawn(move || {
            let _g = rl2.acquire();
            tx.send(()).unwrap();
            let _ = done_rx.recv_timeout(Duration::from_secs(30));
        });
        rx.recv().unwrap();
        assert_times_out("RLock::acquire_timeout", || rl.acquire_timeout(T).is_err());
        done_tx.send(()).unwrap();
        holder.join().unwrap();
    });
}

#[test]
fn timed_semaphore_event_condition_barrier_waits_survive_signals() {
    run(|| {
        let s = Semaphore::new(0).unwrap();
        assert_times_out("Semaphore::acquire_timeout", || {
            s.acquire_timeout(T).is_err()
        });
        let b = BoundedSemaphore::new(1).unwrap();
        let _g = b.acquire();
        assert_times_out("BoundedSemaphore::acquire_timeout", || {
            b.acquire_timeout(T).is_err()
        });

        let e = Event::new().unwrap();
        assert_times_out("Event::wait_timeout", || !e.wait_timeout(T));

        let c = Condition::new(Lock::new().unwrap()).unwrap();
        let g = c.acquire();
        assert_times_out("Condition::wait_timeout", || c.wait_timeout(T) == Ok(false));
        assert_times_out("Condition::wait_for_timeout", || {
            c.wait_for_timeout(|| false, T) == Ok(false)
        });
        drop(g);

        let barrier = Barrier::new(2, None).unwrap();
        assert_times_out("Barrier::wait_timeout", || {
            barrier.wait_timeout(T) == Err(BarrierWaitError::Timeout)
        });
    });
}

#[test]
fn timed_queue_waits_survive_signals() {
    run(|| {
        let q = Queue::<u64>::new(1).unwrap();
        assert_times_out("Queue::get_timeout", || {
            q.get_timeout(T) == Err(GetError::Empty)
        });
        q.put(1).unwrap();
        assert_times_out("Queue::put_timeout", || {
            q.put_timeout(2, T).is_err_and(|e| e.is_full())
        });
        let j = JoinableQueue::<u64>::new(0).unwrap();
        j.put(1).unwrap();
        assert_times_out("JoinableQueue::join_timeout", || j.join_timeout(T).is_err());
    });
}

#[test]
fn timed_process_and_pool_waits_survive_signals() {
    run(|| {
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::ForkServer,
        ] {
            let mut p = get_context(method).process(nap, 5_000);
            p.start().unwrap();
            assert_times_out(&format!("Process::join_timeout ({method})"), || {
                p.join_timeout(T).is_err_and(|e| e.is_timeout())
            });
            p.kill().unwrap();
            assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), -9);
        }

        let pool = Pool::new(1).unwrap();
        let r = pool.apply_async(sleep_ms, 3_000).unwrap();
        assert_times_out("AsyncResult::wait_timeout", || !r.wait_timeout(T));
        assert_times_out("AsyncResult::get_timeout", || {
            matches!(r_get_timeout(&pool), GetTimeoutError::Timeout(_))
        });
        let mut it = pool.imap(sleep_ms, [3_000u64], 1).unwrap();
        assert_times_out("IMap::next_timeout", || it.next_timeout(T).is_err());
        pool.terminate();
        pool.join().unwrap();
    });
}

/// A fresh slow task's `get_timeout` (a timed-out `get_timeout` consumes the handle).
fn r_get_timeout(pool: &Pool) -> GetTimeoutError<u64> {
    let r = pool.apply_async(sleep_ms, 3_000).unwrap();
    r.get_timeout(T).expect_err("a 3 s task finished in 150 ms")
}

// ------------------------------------------------------------------ blocking calls

#[test]
fn blocking_sync_calls_survive_signals() {
    run(|| {
        let lock = Lock::new().unwrap();
        std::mem::forget(lock.acquire());
        let l2 = lock.clone();
        assert_completes(
            "Lock::acquire",
            move || l2.release().unwrap(),
            || !lock.acquire().previous_owner_died(),
        );

        let s = Semaphore::new(0).unwrap();
        let s2 = s.clone();
        assert_completes(
            "Semaphore::acquire",
            move || s2.release().unwrap(),
            || {
                s.acquire().forget();
                true
            },
        );

        let e = Event::new().unwrap();
        let e2 = e.clone();
        assert_completes("Event::wait", move || e2.set(), || e.wait());

        let c = Condition::new(Lock::new().unwrap()).unwrap();
        let flag = Arc::new(AtomicBool::new(false));
        let (c2, flag2) = (c.clone(), flag.clone());
        assert_completes(
            "Condition::wait_for",
            move || {
                let _g = c2.acquire();
                flag2.store(true, Ordering::SeqCst);
                c2.notify_all().unwrap();
            },
            || {
                let _g = c.acquire();
                c.wait_for(|| flag.load(Ordering::SeqCst)).is_ok()
            },
        );

        let barrier = Barrier::new(2, None).unwrap();
        let b2 = barrier.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        assert_completes(
            "Barrier::wait",
            move || {
                let _ = tx.send(b2.wait());
            },
            || barrier.wait().is_ok(),
        );
        assert!(rx.recv().unwrap().is_ok());
    });
}

#[test]
fn blocking_queue_calls_survive_signals() {
    run(|| {
        let q = Queue::<u64>::new(1).unwrap();
        let q2 = q.clone();
        assert_completes(
            "Queue::get",
            move || q2.put(42).unwrap(),
            || q.get() == Ok(42),
        );
        q.put(1).unwrap();
        let q2 = q.clone();
        assert_completes(
            "Queue::put (full)",
            move || assert_eq!(q2.get(), Ok(1)),
            || q.put(2).is_ok(),
        );
        assert_eq!(q.get(), Ok(2));

        let j = JoinableQueue::<u64>::new(0).unwrap();
        j.put(7).unwrap();
        let j2 = j.clone();
        assert_completes(
            "JoinableQueue::join",
            move || {
                j2.get().unwrap();
                j2.task_done().unwrap();
            },
            || {
                j.join();
                true
            },
        );
    });
}

#[test]
fn blocking_process_and_pool_calls_survive_signals() {
    run(|| {
        for method in [
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::ForkServer,
        ] {
            let mut p = get_context(method).process(nap, 300);
            p.start().unwrap();
            assert_completes(
                &format!("Process::join ({method})"),
                || {},
                || p.join() == Ok(0),
            );
        }
        let pool = Pool::new(2).unwrap();
        let r = pool.apply_async(sleep_ms, 300).unwrap();
        assert_completes("AsyncResult::get", || {}, || r.get() == Ok(300));
        assert_completes(
            "Pool::map",
            || {},
            || pool.map(sleep_ms, [300u64, 250, 200]) == Ok(vec![300, 250, 200]),
        );
        pool.close();
        pool.join().unwrap();
    });
}

#[test]
fn pipe_waits_survive_signals() {
    run(|| {
        let (a, b) = Pipe::duplex().unwrap();
        assert_times_out("Connection::recv_timeout", || {
            matches!(b.recv_timeout::<u64>(T), Err(RecvTimeoutError::Timeout))
        });
        assert_times_out("Connection::poll_timeout", || {
            b.poll_timeout(T).is_ok_and(|ready| !ready)
        });
        assert_times_out("pipe::wait", || {
            procpool::pipe::wait(&[&b], Some(T)).is_ok_and(|r| r.is_empty())
        });

        // Blocking receive: the message comes after a while.
        let a = Arc::new(a);
        let a2 = a.clone();
        assert_completes(
            "Connection::recv",
            move || a2.send(&42u64).unwrap(),
            || b.recv::<u64>().is_ok_and(|v| v == 42),
        );
        // Blocking send: a message larger than the pipe's buffer, read after a while.
        let (rx, tx) = Pipe::one_way().unwrap();
        let big = vec![5u8; 4 << 20];
        assert_completes(
            "Connection::send (pipe full)",
            move || assert_eq!(rx.recv_bytes().unwrap().len(), 4 << 20),
            || tx.send_bytes(&big).is_ok(),
        );
    });
}

/// Prints the totals (run with `--test-threads=1 --nocapture` to see them all; the name
/// sorts last).
#[test]
fn zz_report_signal_figures() {
    figure(
        "signals",
        format!(
            "{} blocking calls interrupted by {} SIGUSR1 signals ({} caught), none failed or returned early",
            CALLS.load(Ordering::Relaxed),
            SENT.load(Ordering::Relaxed),
            CAUGHT.load(Ordering::Relaxed)
        ),
    );
}
