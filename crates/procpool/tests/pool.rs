//! Pool tests with real worker processes. Every wait has a deadline and every test runs
//! under a watchdog, so a hang fails instead of stalling CI.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use procpool::{ApplyError, Pool, StartMethod, SubmitError, TaskError, get_context};

const T: Duration = Duration::from_secs(60);

fn watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => match h.join().unwrap() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(_) => panic!("watchdog: pool test did not finish in 120 s"),
    }
}

fn square(x: u64) -> u64 {
    x * x
}

fn pid_of(_: u32) -> u32 {
    std::process::id()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn boom(x: u32) -> u32 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

fn checked_div(p: (i32, i32)) -> Result<i32, String> {
    if p.1 == 0 {
        Err("division by zero".into())
    } else {
        Ok(p.0 / p.1)
    }
}

fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[test]
fn map_apply_starmap_imap() {
    watchdog(|| {
        let pool = Pool::new(3).unwrap();
        assert_eq!(
            pool.map(square, 0..10).unwrap(),
            (0..10).map(|x| x * x).collect::<Vec<_>>()
        );
        assert_eq!(pool.map(square, Vec::new()).unwrap(), Vec::<u64>::new());
        assert_eq!(pool.map_chunked(square, 0..100, 1).unwrap().len(), 100);
        assert!(matches!(
            pool.map_chunked(square, 0..3, 0),
            Err(ApplyError::Submit(SubmitError::ZeroChunksize))
        ));
        assert_eq!(pool.apply(square, 12).unwrap(), 144);
        assert_eq!(pool.starmap(add, vec![(1, 2), (3, 4)]).unwrap(), vec![3, 7]);
        let ordered: Vec<u64> = pool
            .imap(square, 0..50, 3)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ordered, (0..50).map(|x| x * x).collect::<Vec<_>>());
        let mut unordered: Vec<u64> = pool
            .imap_unordered(square, 0..50, 1)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        unordered.sort_unstable();
        assert_eq!(unordered, (0..50).map(|x| x * x).collect::<Vec<_>>());
        let it = pool.imap(square, 0..7, 2).unwrap();
        assert_eq!(it.len(), 7);
        pool.close();
        pool.join().unwrap();
    })
}

#[test]
fn three_workers_are_reused() {
    watchdog(|| {
        let pool = Pool::new(3).unwrap();
        let mut pids = pool.map_chunked(pid_of, 0..60, 1).unwrap();
        pids.sort_unstable();
        pids.dedup();
        assert!(pids.len() <= 3, "{pids:?}");
        assert!(!pids.contains(&std::process::id()));
        let mut workers = pool.worker_pids();
        workers.sort_unstable();
        for p in &pids {
            assert!(workers.contains(p));
        }
    })
}

#[test]
fn errors_come_back_as_values() {
    watchdog(|| {
        let pool = Pool::new(2).unwrap();
        match pool.apply(boom, 3) {
            Err(ApplyError::Task(TaskError::Panicked { message, .. })) => {
                assert!(message.contains("three is not allowed"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // The pool survives, and map reports the first failure after all chunks finished.
        assert!(matches!(
            pool.map_chunked(boom, 0..10, 1),
            Err(ApplyError::Task(TaskError::Panicked { .. }))
        ));
        assert_eq!(pool.apply(boom, 4).unwrap(), 4);
        assert_eq!(pool.apply(checked_div, (6, 3)).unwrap(), Ok(2));
        assert_eq!(
            pool.apply(checked_div, (6, 0)).unwrap(),
            Err("division by zero".to_string())
        );
    })
}

#[test]
fn async_results_callbacks_and_timeouts() {
    watchdog(|| {
        let pool = Pool::new(2).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let errs = Arc::new(AtomicUsize::new(0));
        let (s, e) = (seen.clone(), errs.clone());
        let r = pool
            .apply_async_with(
                square,
                9,
                Some(move |v: &u64| s.store(*v as usize, Ordering::SeqCst)),
                None::<fn(&TaskError)>,
            )
            .unwrap();
        assert_eq!(r.get().unwrap(), 81);
        assert_eq!(
            seen.load(Ordering::SeqCst),
            81,
            "callback runs before the result is ready"
        );
        let r = pool
            .apply_async_with(
                boom,
                3,
                None::<fn(&u32)>,
                Some(move |_: &TaskError| {
                    e.fetch_add(1, Ordering::SeqCst);
                }),
            )
            .unwrap();
        assert!(r.get().is_err());
        assert_eq!(errs.load(Ordering::SeqCst), 1);

        let slow = pool.apply_async(sleep_ms, 300).unwrap();
        assert!(slow.successful().is_err(), "not ready yet");
        let start = Instant::now();
        let slow = match slow.get_timeout(Duration::from_millis(50)) {
            Err(procpool::GetTimeoutError::Timeout(h)) => h,
            other => panic!("{other:?}"),
        };
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(slow.wait_timeout(T));
        assert!(slow.ready());
        assert_eq!(slow.successful(), Ok(true));
        assert_eq!(slow.get().unwrap(), 300);
        let collected = pool.map_async(square, 0..5, Some(2)).unwrap();
        assert_eq!(collected.get().unwrap(), vec![0, 1, 4, 9, 16]);
    })
}

#[test]
fn async_result_is_a_future() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    watchdog(|| {
        let pool = Pool::new(1).unwrap();
        let mut fut = Box::pin(pool.apply_async(square, 5).unwrap());
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let deadline = Instant::now() + T;
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                assert_eq!(v.unwrap(), 25);
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::park_timeout(Duration::from_millis(100));
        }
    })
}

#[test]
fn close_join_terminate() {
    watchdog(|| {
        let pool = Pool::new(2).unwrap();
        assert!(matches!(
            pool.join(),
            Err(procpool::PoolError::StillRunning)
        ));
        let pending = pool.apply_async(sleep_ms, 50).unwrap();
        pool.close();
        assert!(matches!(
            pool.apply_async(square, 1),
            Err(SubmitError::NotRunning)
        ));
        pool.join().unwrap();
        assert_eq!(
            pending.get().unwrap(),
            50,
            "close lets submitted work finish"
        );

        let pool = Pool::new(2).unwrap();
        let many: Vec<_> = (0..10_000)
            .map(|_| pool.apply_async(sleep_ms, 1000).unwrap())
            .collect();
        pool.terminate();
        pool.join().unwrap();
        for r in many {
            assert!(r.wait_timeout(T));
            assert_eq!(r.get(), Err(TaskError::Terminated));
        }
        assert!(Pool::new(0).is_err());
    })
}

#[test]
fn maxtasksperchild_replaces_workers() {
    watchdog(|| {
        let pool = Pool::builder()
            .processes(2)
            .maxtasksperchild(1)
            .build()
            .unwrap();
        let mut pids = pool.map_chunked(pid_of, 0..20, 1).unwrap();
        pids.sort_unstable();
        pids.dedup();
        assert!(pids.len() >= 10, "each task on a fresh worker: {pids:?}");
        assert!(pool.replacements() >= 10);
    })
}

fn init_marker(v: u32) {
    // Visible to later tasks in the same worker process.
    INIT.store(v, Ordering::SeqCst);
}
static INIT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
fn read_init(_: u8) -> u32 {
    INIT.load(Ordering::SeqCst)
}

#[test]
fn initializer_runs_in_each_worker() {
    watchdog(|| {
        let pool = Pool::builder()
            .processes(2)
            .initializer(init_marker, 77)
            .build()
            .unwrap();
        assert!(
            pool.map_chunked(read_init, vec![0u8; 20], 1)
                .unwrap()
                .iter()
                .all(|&v| v == 77)
        );
    })
}

fn die_on_7(x: u32) -> u32 {
    if x == 7 {
        // An abrupt death mid-task: SIGKILL ourselves.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        std::thread::sleep(Duration::from_secs(10));
    }
    x
}

#[test]
fn a_killed_worker_fails_only_its_task() {
    watchdog(|| {
        let pool = Pool::new(2).unwrap();
        let results: Vec<_> = (0..20)
            .map(|i| pool.apply_async(die_on_7, i).unwrap())
            .collect();
        for (i, r) in results.into_iter().enumerate() {
            match r.get_timeout(T) {
                Ok(v) => assert_eq!(v as usize, i),
                Err(procpool::GetTimeoutError::Failed(TaskError::WorkerLost {
                    signal,
                    pid,
                    ..
                })) => {
                    assert_eq!(i, 7);
                    assert_eq!(signal, Some(9));
                    assert!(pid > 0);
                }
                Err(e) => panic!("task {i}: {e:?}"),
            }
        }
        assert!(pool.replacements() >= 1);
        assert_eq!(pool.apply(square, 3).unwrap(), 9);
    })
}

#[test]
fn chaos_random_worker_kills() {
    watchdog(|| {
        let pool = Arc::new(Pool::new(2).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let killer = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                    let pids = pool.worker_pids();
                    if let Some(&p) = pids.get(n as usize % pids.len().max(1)) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    n += 1;
                }
            })
        };
        let rs: Vec<_> = (0..2000u64)
            .map(|i| pool.apply_async(square, i).unwrap())
            .collect();
        let (mut ok, mut lost) = (0, 0);
        for (i, r) in rs.into_iter().enumerate() {
            match r.get_timeout(T) {
                Ok(v) => {
                    assert_eq!(v, (i * i) as u64, "wrong result for task {i}");
                    ok += 1;
                }
                Err(procpool::GetTimeoutError::Failed(TaskError::WorkerLost { .. })) => lost += 1,
                Err(e) => panic!("task {i}: {e:?}"),
            }
        }
        stop.store(true, Ordering::SeqCst);
        killer.join().unwrap();
        assert_eq!(ok + lost, 2000);
        assert!(ok > 0);
        eprintln!(
            "chaos: {ok} ok, {lost} lost, {} replacements",
            pool.replacements()
        );
    })
}

#[test]
fn task_time_limit() {
    watchdog(|| {
        let pool = Pool::builder()
            .processes(1)
            .task_time_limit(Duration::from_millis(200))
            .build()
            .unwrap();
        match pool.apply(sleep_ms, 5_000) {
            Err(ApplyError::Task(TaskError::TimeLimit { limit_ms: 200, .. })) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(pool.apply(sleep_ms, 1).unwrap(), 1);
    })
}

#[test]
fn pools_under_spawn_and_forkserver() {
    watchdog(|| {
        for m in [StartMethod::Spawn, StartMethod::ForkServer] {
            let pool = Pool::builder()
                .processes(2)
                .context(get_context(m))
                .build()
                .unwrap();
            assert_eq!(
                pool.map(square, 0..20).unwrap(),
                (0..20).map(|x| x * x).collect::<Vec<_>>(),
                "{m:?}"
            );
            pool.close();
            pool.join().unwrap();
        }
    })
}

/// (pid, start, end) of a task sleeping `ms`, in CLOCK_MONOTONIC nanoseconds.
fn timed_sleep(ms: u64) -> (u32, u64, u64) {
    let now = || {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    };
    let start = now();
    std::thread::sleep(Duration::from_millis(ms));
    (std::process::id(), start, now())
}

#[test]
fn a_burst_spreads_over_idle_workers() {
    watchdog(|| {
        let pool = Pool::new(3).unwrap();
        // Many tiny tasks first: the pool learns that tasks are short and deepens prefetch.
        pool.map_chunked(square, 0..500, 1).unwrap();
        let rs: Vec<_> = (0..3)
            .map(|_| pool.apply_async(timed_sleep, 300).unwrap())
            .collect();
        let runs: Vec<(u32, u64, u64)> = rs.into_iter().map(|r| r.get().unwrap()).collect();
        let mut pids: Vec<u32> = runs.iter().map(|r| r.0).collect();
        pids.sort_unstable();
        pids.dedup();
        assert_eq!(
            pids.len(),
            3,
            "three long tasks on three idle workers: {runs:?}"
        );
        let last_start = runs.iter().map(|r| r.1).max().unwrap();
        let first_end = runs.iter().map(|r| r.2).min().unwrap();
        assert!(
            last_start < first_end,
            "the three tasks overlapped: {runs:?}"
        );
    })
}

static SHARED: std::sync::OnceLock<(procpool::Queue<u32>, procpool::Lock)> =
    std::sync::OnceLock::new();

fn init_shared(objs: (procpool::Queue<u32>, procpool::Lock)) {
    objs.0.put(std::process::id()).unwrap();
    let _ = SHARED.set(objs);
}

fn report_under_lock(x: u32) -> u32 {
    let (q, lock) = SHARED.get().expect("initializer ran");
    let _g = lock.acquire();
    q.put(x + 100_000).unwrap();
    x
}

#[test]
fn initializer_hands_shared_objects_to_every_worker() {
    watchdog(|| {
        for m in [StartMethod::Fork, StartMethod::Spawn] {
            let q = procpool::Queue::<u32>::new(0).unwrap();
            let lock = procpool::Lock::new().unwrap();
            let pool = Pool::builder()
                .processes(2)
                .context(get_context(m))
                .initializer(init_shared, (q.clone(), lock.clone()))
                .build()
                .unwrap();
            assert_eq!(
                pool.map_chunked(report_under_lock, 0..10, 1).unwrap().len(),
                10
            );
            pool.close();
            pool.join().unwrap();
            let mut got = Vec::new();
            while let Ok(v) = q.try_get() {
                got.push(v);
            }
            let (reports, pids): (Vec<u32>, Vec<u32>) =
                got.into_iter().partition(|&v| v >= 100_000);
            let mut reports = reports;
            reports.sort_unstable();
            assert_eq!(reports, (100_000..100_010).collect::<Vec<_>>(), "{m:?}");
            assert_eq!(
                pids.len(),
                2,
                "one initializer run per worker under {m:?}: {pids:?}"
            );
        }
    })
}
