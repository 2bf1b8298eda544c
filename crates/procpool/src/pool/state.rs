//! The parent's bookkeeping for a pool, and the handler thread that drives it.
//!
//! One handler thread per pool receives results from the shared result queue, runs
//! completions (and so user callbacks) outside the state lock, watches the workers, fails the
//! task a dead worker held with `WorkerLost`, re-dispatches the tasks it had not started,
//! starts replacements, enforces the task time limit, and shuts the pool down.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::{ByteBuf, GetError, Queue, SharedAtomics};
use parking_lot::Mutex;

use super::launch::{self, ExitInfo, WorkerProcess};
use super::task::{Code, FromWorker, TaskError, ToWorker, ToWorkerRef};
use super::worker::{self, FINISHED, InitArgs, SLOT_WORDS, STARTED, STARTED_AT, WorkerArgs};
use crate::Context;

/// How many tasks (chunks) one worker may hold, given the average task duration: deep queues
/// keep workers busy with tiny tasks (no wake-up per task); for tasks of a millisecond or more
/// a worker holds only the one it runs, so work is handed out as workers free up — as from
/// Python's shared task queue — and a task never waits behind a long one on a busy worker.
fn prefetch_for(avg_task_ns: u64) -> usize {
    match avg_task_ns {
        0..=100_000 => 64,
        100_001..=1_000_000 => 8,
        _ => 1,
    }
}

/// How often the handler checks on the workers when results keep flowing.
const CHECK_EVERY: Duration = Duration::from_millis(20);
/// How long the handler waits for a result before checking on the workers.
const RESULT_WAIT: Duration = Duration::from_millis(10);
/// How long workers get to exit after `Stop` on a graceful shutdown.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Sequence number of the message `close` and `terminate` put on the result queue to wake
/// the handler at once (real dispatches start at 1).
pub(crate) const WAKE_SEQ: u64 = 0;

pub(crate) type Completion = Box<dyn FnOnce(Result<Vec<u8>, TaskError>) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Closed,
    Terminated,
}

struct Task {
    code: Code,
    payload: Vec<u8>,
    complete: Completion,
}

struct Worker {
    process: WorkerProcess,
    tasks: Queue<ToWorker>,
    /// Dispatched sequence numbers, oldest first.
    inflight: VecDeque<u64>,
    assigned: u64,
    retiring: bool,
    killed_for_time: Option<u64>,
}

/// The initializer as the parent keeps it: encoded once, its descriptors duplicated for each
/// worker started.
pub(crate) struct InitSpec {
    pub(crate) code: Code,
    pub(crate) payload: Vec<u8>,
    pub(crate) fds: Vec<std::os::fd::OwnedFd>,
}

impl InitSpec {
    fn for_worker(&self) -> std::io::Result<InitArgs> {
        use std::os::fd::AsFd;
        Ok(InitArgs {
            entry: self.code.entry,
            func: self.code.func,
            payload: ByteBuf::from(self.payload.clone()),
            fds: self
                .fds
                .iter()
                .map(|f| ipc_core::FdArg::new(f.as_fd()))
                .collect::<std::io::Result<_>>()?,
        })
    }
}

pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) maxtasks: u64,
    pub(crate) init: Option<InitSpec>,
    pub(crate) context: Context,
    pub(crate) time_limit: Option<Duration>,
}

pub(crate) struct State {
    pub(crate) phase: Phase,
    workers: Vec<Option<Worker>>,
    /// Tasks not yet handed to a worker, oldest first.
    pending: VecDeque<Task>,
    /// Tasks handed to a worker, by dispatch sequence number (kept whole until their result
    /// arrives, so that a task a dead worker never started can be handed to another).
    dispatched: HashMap<u64, Task>,
    next_seq: u64,
    replacements: u64,
    /// Moving average of task durations (ns); starts pessimistic (long tasks).
    avg_task_ns: u64,
}

impl State {
    /// Whether any submitted task has not finished.
    fn has_tasks(&self) -> bool {
        !self.pending.is_empty() || !self.dispatched.is_empty()
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) results: Queue<FromWorker>,
    progress: SharedAtomics,
    pub(crate) config: Config,
}

impl Inner {
    pub(crate) fn start(config: Config) -> std::io::Result<Arc<Inner>> {
        let progress = SharedAtomics::new(config.processes * SLOT_WORDS)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                phase: Phase::Running,
                workers: (0..config.processes).map(|_| None).collect(),
                pending: VecDeque::new(),
                dispatched: HashMap::new(),
                next_seq: 1,
                replacements: 0,
                avg_task_ns: u64::MAX / 16,
            }),
            results: Queue::unbounded()?,
            progress,
            config,
        });
        {
            let mut st = inner.state.lock();
            for i in 0..inner.config.processes {
                let w = inner.spawn_worker(i)?;
                st.workers[i] = Some(w);
            }
        }
        Ok(inner)
    }

    fn spawn_worker(&self, index: usize) -> std::io::Result<Worker> {
        for k in 0..SLOT_WORDS {
            self.progress.as_slice()[index * SLOT_WORDS + k].store(0, Ordering::Relaxed);
        }
        let tasks = Queue::unbounded()?;
        let args = WorkerArgs {
            index,
            tasks: tasks.clone(),
            results: self.results.clone(),
            progress: self.progress.clone(),
            init: self
                .config
                .init
                .as_ref()
                .map(InitSpec::for_worker)
                .transpose()?,
            maxtasks: self.config.maxtasks,
        };
        let process = launch::start_worker(&self.config.context, args, worker::worker_main)?;
        log::info!("pool: started worker {} (pid {})", index, process.pid());
        Ok(Worker {
            process,
            tasks,
            inflight: VecDeque::new(),
            assigned: 0,
            retiring: false,
            killed_for_time: None,
        })
    }

    fn word(&self, index: usize, k: usize) -> u64 {
        self.progress.as_slice()[index * SLOT_WORDS + k].load(Ordering::Acquire)
    }

    /// Queues tasks; returns their completions back if the pool no longer accepts work.
    pub(crate) fn submit(
        &self,
        batch: Vec<(Code, Vec<u8>, Completion)>,
    ) -> Result<(), Vec<Completion>> {
        let mut st = self.state.lock();
        if st.phase != Phase::Running {
            return Err(batch.into_iter().map(|(_, _, c)| c).collect());
        }
        st.pending
            .extend(batch.into_iter().map(|(code, payload, complete)| Task {
                code,
                payload,
                complete,
            }));
        self.dispatch(&mut st);
        Ok(())
    }

    /// Hands pending tasks to workers with room.
    fn dispatch(&self, st: &mut State) {
        let maxtasks = self.config.maxtasks;
        let depth = prefetch_for(st.avg_task_ns);
        while !st.pending.is_empty() {
            // The least loaded worker with room: a burst spreads over idle workers first
            // (like Python's shared task queue) instead of filling one worker's prefetch.
            let target = st
                .workers
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.as_ref().map(|w| (i, w)))
                .filter(|(_, w)| !w.retiring && w.inflight.len() < depth)
                .min_by_key(|(_, w)| w.inflight.len())
                .map(|(i, _)| i);
            let Some(i) = target else { return };
            let Some(w) = st.workers[i].as_mut() else {
                return;
            };
            let Some(task) = st.pending.front() else {
                return;
            };
            let seq = st.next_seq;
            let msg = ToWorkerRef::Task {
                seq,
                entry: task.code.entry,
                func: task.code.func,
                payload: ipc_core::Bytes::new(&task.payload),
            };
            if let Err(e) = w.tasks.put_as(&msg) {
                log::error!("pool: cannot dispatch to worker {i}: {e}");
                return;
            }
            st.next_seq += 1;
            w.inflight.push_back(seq);
            w.assigned += 1;
            if maxtasks != 0 && w.assigned >= maxtasks {
                w.retiring = true;
            }
            let task = st.pending.pop_front().expect("checked above");
            st.dispatched.insert(seq, task);
        }
    }

    fn on_result(
        &self,
        st: &mut State,
        msg: FromWorker,
        done: &mut Vec<(Completion, Result<Vec<u8>, TaskError>)>,
    ) {
        if msg.seq == WAKE_SEQ {
            return; // close() or terminate() nudging the handler
        }
        st.avg_task_ns = if st.avg_task_ns >= u64::MAX / 16 {
            msg.busy_ns
        } else {
            (st.avg_task_ns * 7 + msg.busy_ns) / 8
        };
        let Some(task) = st.dispatched.remove(&msg.seq) else {
            return; // already failed (its worker was declared dead) or terminated
        };
        for w in st.workers.iter_mut().flatten() {
            if let Some(p) = w.inflight.iter().position(|&s| s == msg.seq) {
                w.inflight.remove(p);
                break;
            }
        }
        done.push((task.complete, msg.outcome.map(ByteBuf::into_vec)));
    }

    /// Checks every worker: reaps the dead, fails or re-queues their tasks, replaces them,
    /// and enforces the time limit.
    fn check_workers(
        &self,
        st: &mut State,
        done: &mut Vec<(Completion, Result<Vec<u8>, TaskError>)>,
    ) {
        let now = worker::monotonic_ns();
        for i in 0..st.workers.len() {
            let Some(w) = st.workers[i].as_mut() else {
                if st.phase != Phase::Terminated && (st.phase == Phase::Running || st.has_tasks()) {
                    match self.spawn_worker(i) {
                        Ok(nw) => st.workers[i] = Some(nw),
                        Err(e) => log::error!("pool: cannot start a worker: {e}"),
                    }
                }
                continue;
            };
            if let (Some(limit), Some(_)) = (self.config.time_limit, w.inflight.front()) {
                let started = self.word(i, STARTED);
                let finished = self.word(i, FINISHED);
                let at = self.word(i, STARTED_AT);
                if started > finished
                    && w.killed_for_time.is_none()
                    && now.saturating_sub(at) > limit.as_nanos() as u64
                {
                    log::warn!(
                        "pool: task exceeded {limit:?}; killing worker {}",
                        w.process.pid()
                    );
                    w.killed_for_time = Some(started);
                    w.process.kill();
                }
            }
            let Some(exit) = w.process.poll_exit() else {
                continue;
            };
            let w = st.workers[i].take().expect("worker present");
            self.bury(st, i, w, exit, done);
            if st.phase != Phase::Terminated && (st.phase == Phase::Running || st.has_tasks()) {
                st.replacements += 1;
                match self.spawn_worker(i) {
                    Ok(nw) => st.workers[i] = Some(nw),
                    Err(e) => log::error!("pool: cannot start a replacement worker: {e}"),
                }
            }
        }
        self.dispatch(st);
    }

    /// Settles the tasks of a worker that exited.
    fn bury(
        &self,
        st: &mut State,
        index: usize,
        w: Worker,
        exit: ExitInfo,
        done: &mut Vec<(Completion, Result<Vec<u8>, TaskError>)>,
    ) {
        let started = self.word(index, STARTED);
        let finished = self.word(index, FINISHED);
        let pid = w.process.pid();
        if exit.signal.is_some() || exit.code != Some(0) || !w.inflight.is_empty() {
            log::warn!("pool: worker {index} (pid {pid}) exited: {exit:?}");
        } else {
            log::info!("pool: worker {index} (pid {pid}) retired");
        }
        let mut requeue = Vec::new();
        for &seq in &w.inflight {
            if seq <= finished {
                continue; // its result is in the result queue already
            }
            if seq == started {
                let Some(task) = st.dispatched.remove(&seq) else {
                    continue;
                };
                let err = match w.killed_for_time {
                    Some(s) if s == seq => TaskError::TimeLimit {
                        limit_ms: self.config.time_limit.map_or(0, |d| d.as_millis() as u64),
                        pid,
                    },
                    _ => TaskError::WorkerLost {
                        pid,
                        signal: exit.signal,
                        exit_code: exit.code,
                    },
                };
                done.push((task.complete, Err(err)));
            } else if let Some(task) = st.dispatched.remove(&seq) {
                requeue.push(task);
            }
        }
        for task in requeue.into_iter().rev() {
            st.pending.push_front(task);
        }
    }

    /// Fails every task with `Terminated` and kills the workers.
    fn shut_down_now(
        &self,
        st: &mut State,
        done: &mut Vec<(Completion, Result<Vec<u8>, TaskError>)>,
    ) {
        for w in st.workers.iter().flatten() {
            w.process.terminate();
        }
        let dispatched = std::mem::take(&mut st.dispatched);
        let pending = std::mem::take(&mut st.pending);
        for task in dispatched.into_values().chain(pending) {
            done.push((task.complete, Err(TaskError::Terminated)));
        }
    }

    /// The handler thread's body.
    pub(crate) fn run_handler(self: Arc<Self>) {
        let mut last_check = Instant::now();
        let mut done = Vec::new();
        loop {
            let got = self.results.get_timeout(RESULT_WAIT);
            let idle = matches!(got, Err(GetError::Empty));
            {
                let mut st = self.state.lock();
                match got {
                    Ok(msg) => {
                        self.on_result(&mut st, msg, &mut done);
                        // Take whatever else is there without waiting.
                        while let Ok(msg) = self.results.try_get() {
                            self.on_result(&mut st, msg, &mut done);
                            if done.len() >= 256 {
                                break;
                            }
                        }
                        self.dispatch(&mut st);
                    }
                    Err(GetError::Empty) => {}
                    Err(e) => log::error!("pool: bad message on the result queue: {e}"),
                }
                if idle || last_check.elapsed() >= CHECK_EVERY {
                    last_check = Instant::now();
                    if st.phase == Phase::Terminated {
                        self.shut_down_now(&mut st, &mut done);
                    } else {
                        self.check_workers(&mut st, &mut done);
                    }
                }
            }
            let finished = {
                let mut st = self.state.lock();
                match st.phase {
                    Phase::Running => false,
                    Phase::Closed => !st.has_tasks(),
                    Phase::Terminated => {
                        self.shut_down_now(&mut st, &mut done);
                        true
                    }
                }
            };
            for (complete, outcome) in done.drain(..) {
                complete(outcome);
            }
            if finished {
                self.stop_workers();
                return;
            }
        }
    }

    /// Stops and reaps every worker (gracefully after `close`, at once after `terminate`).
    fn stop_workers(&self) {
        let mut workers: Vec<Worker> = {
            let mut st = self.state.lock();
            st.workers.iter_mut().filter_map(Option::take).collect()
        };
        let graceful = self.state.lock().phase == Phase::Closed;
        for w in &workers {
            if graceful {
                let _ = w.tasks.put(ToWorker::Stop);
            } else {
                w.process.terminate();
            }
        }
        let deadline = Instant::now()
            + if graceful {
                STOP_GRACE
            } else {
                Duration::from_millis(500)
            };
        for w in &mut workers {
            if !w.process.wait_until(deadline) {
                w.process.kill();
                w.process
                    .wait_until(Instant::now() + Duration::from_secs(5));
            }
        }
    }

    /// Wakes the handler thread (after a change of phase), so it does not wait out its poll.
    pub(crate) fn nudge(&self) {
        let _ = self.results.put(FromWorker {
            seq: WAKE_SEQ,
            busy_ns: 0,
            outcome: Err(TaskError::Terminated),
        });
    }

    pub(crate) fn replacements(&self) -> u64 {
        self.state.lock().replacements
    }

    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        self.state
            .lock()
            .workers
            .iter()
            .flatten()
            .map(|w| w.process.pid())
            .collect()
    }
}
