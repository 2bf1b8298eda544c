//! [`Pool`]: Python's `multiprocessing.Pool`, which never hangs on a dead worker.
//!
//! A pool starts `processes` daemon worker processes (with the start method of its
//! [`Context`](crate::Context)). Tasks are function items or non-capturing closures
//! (`fn(A) -> R`) with serde arguments and results; they travel as code references plus
//! encoded arguments, in chunks, over one private queue per worker, and results come back over
//! one shared queue that a handler thread in the parent drains.
//!
//! Beyond Python:
//! - **A dead worker fails exactly its task.** Each worker records in shared memory which
//!   task it started and which it finished. When one dies (SIGKILL, OOM, abort), the task it
//!   was running ends with [`TaskError::WorkerLost`], the tasks queued behind it go to other
//!   workers, a replacement starts, and the pool carries on. Python's `Pool` hangs forever.
//! - **Panics are values.** A panic in a task comes back as [`TaskError::Panicked`] with its
//!   message (and backtrace with `RUST_BACKTRACE=1`); the worker goes on.
//! - **Optional task time limit** ([`PoolBuilder::task_time_limit`]): a task running longer is
//!   ended with [`TaskError::TimeLimit`] and its worker replaced (billiard's hard limit).
//! - [`AsyncResult`] is a [`Future`](std::future::Future) as well.
//! - Worker starts, deaths and replacements are logged through the `log` facade.

mod imap;
mod launch;
mod result;
mod state;
mod task;
mod worker;

pub use imap::IMap;
pub use result::{AsyncResult, GetTimeoutError, NotReady};
pub use task::TaskError;

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ipc_core::code::CodeRef;
use ipc_core::codec::{self, EncodeError};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use result::Slot;
use state::{Completion, Config, InitSpec, Inner, Phase};
use task::Code;

use crate::Context;

/// Receives each chunk's decoded results, by chunk index.
type OnChunk<R> = Arc<dyn Fn(usize, Result<Vec<R>, TaskError>) + Send + Sync>;

/// A task could not be submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The pool was closed or terminated (Python's `ValueError: Pool not running`).
    NotRunning,
    /// `chunksize` was 0.
    ZeroChunksize,
    /// The arguments could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::NotRunning => f.write_str("pool not running"),
            SubmitError::ZeroChunksize => f.write_str("chunksize must be at least 1"),
            SubmitError::Encode(e) => write!(f, "cannot encode task arguments: {e}"),
        }
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::Encode(e) => Some(e),
            SubmitError::NotRunning | SubmitError::ZeroChunksize => None,
        }
    }
}

/// A blocking pool call ([`apply`](Pool::apply), [`map`](Pool::map), ...) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The work could not be submitted.
    Submit(SubmitError),
    /// A task failed (for `map`, the first failure in input order).
    Task(TaskError),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Submit(e) => e.fmt(f),
            ApplyError::Task(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ApplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApplyError::Submit(e) => Some(e),
            ApplyError::Task(e) => Some(e),
        }
    }
}

impl From<SubmitError> for ApplyError {
    fn from(e: SubmitError) -> Self {
        ApplyError::Submit(e)
    }
}

impl From<TaskError> for ApplyError {
    fn from(e: TaskError) -> Self {
        ApplyError::Task(e)
    }
}

/// Building or using the pool failed.
#[derive(Debug)]
pub enum PoolError {
    /// `processes` was 0.
    ZeroProcesses,
    /// `join` was called before `close` or `terminate` (Python's `ValueError`).
    StillRunning,
    /// The initializer's arguments could not be encoded.
    Encode(EncodeError),
    /// Starting the workers or creating the queues failed.
    Io(std::io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::ZeroProcesses => f.write_str("number of processes must be at least 1"),
            PoolError::StillRunning => f.write_str("join() needs close() or terminate() first"),
            PoolError::Encode(e) => write!(f, "cannot encode initializer arguments: {e}"),
            PoolError::Io(e) => write!(f, "cannot start the pool: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Encode(e) => Some(e),
            PoolError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Configures a [`Pool`]: Python's `Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`, plus a task time limit.
///
/// ```
/// use std::sync::OnceLock;
/// use procpool::{Pool, StartMethod, get_context};
///
/// static GREETING: OnceLock<String> = OnceLock::new();
///
/// fn init(greeting: String) { GREETING.set(greeting).unwrap(); } // once per worker
/// fn greet(name: String) -> String { format!("{} {name}", GREETING.get().unwrap()) }
///
/// let pool = Pool::builder()
///     .processes(2)
///     .initializer(init, "hello".to_string())
///     .maxtasksperchild(100)
///     .context(get_context(StartMethod::ForkServer))
///     .build()?;
/// assert_eq!(pool.apply(greet, "world".to_string())?, "hello world");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PoolBuilder {
    processes: Option<usize>,
    maxtasks: u64,
    init: Option<Result<InitSpec, EncodeError>>,
    context: Option<Context>,
    time_limit: Option<Duration>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("maxtasksperchild", &self.maxtasks)
            .field("initializer", &self.init.is_some())
            .field("task_time_limit", &self.time_limit)
            .finish()
    }
}

impl PoolBuilder {
    /// Number of worker processes (default: [`cpu_count`](crate::cpu_count)).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args)` once in each worker when it starts (Python's `initializer`,
    /// `initargs`). The arguments may hold process-shared objects — a [`Lock`](crate::Lock),
    /// a [`Queue`](crate::Queue), a [`Value`](crate::Value)... — which reach every worker
    /// (Python's `Pool(initializer=init, initargs=(lock,))` pattern); keep them in a
    /// `static` (e.g. a `OnceLock`) for the tasks to use.
    pub fn initializer<A>(mut self, f: fn(A), args: A) -> Self
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        let code = Code::init_of::<A>(f);
        self.init = Some(
            ipc_core::transfer::encode_with_fds(&args).map(|e| InitSpec {
                code,
                payload: e.bytes,
                fds: e.fds,
            }),
        );
        self
    }

    /// Replaces a worker after it has run this many tasks (chunks); `0` = never.
    pub fn maxtasksperchild(mut self, n: u64) -> Self {
        self.maxtasks = n;
        self
    }

    /// The context (start method) the workers are started with.
    pub fn context(mut self, ctx: Context) -> Self {
        self.context = Some(ctx);
        self
    }

    /// Ends any task that runs longer than `limit` with [`TaskError::TimeLimit`], killing
    /// and replacing its worker.
    pub fn task_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool, PoolError> {
        let processes = self.processes.unwrap_or_else(crate::cpu_count);
        if processes == 0 {
            return Err(PoolError::ZeroProcesses);
        }
        let init = self.init.transpose().map_err(PoolError::Encode)?;
        let config = Config {
            processes,
            maxtasks: self.maxtasks,
            init,
            context: self
                .context
                .unwrap_or_else(|| crate::get_context(crate::get_start_method())),
            time_limit: self.time_limit,
        };
        let inner = Inner::start(config).map_err(PoolError::Io)?;
        let h = inner.clone();
        let handler = std::thread::Builder::new()
            .name("procpool-pool".into())
            .spawn(move || h.run_handler())
            .map_err(PoolError::Io)?;
        Ok(Pool {
            inner,
            handler: Mutex::new(Some(handler)),
            processes,
        })
    }
}

/// A pool of worker processes: Python's `multiprocessing.Pool`.
///
/// ```
/// use procpool::Pool;
///
/// fn square(x: u64) -> u64 { x * x }
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(square, 0..10)?, vec![0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// let r = pool.apply_async(square, 7)?;
/// assert_eq!(r.get()?, 49);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping a pool that was not closed and joined terminates it, like leaving Python's
/// `with Pool() as p:` block.
pub struct Pool {
    inner: Arc<Inner>,
    handler: Mutex<Option<JoinHandle<()>>>,
    processes: usize,
}

fn decode_vec<R: DeserializeOwned>(bytes: Result<Vec<u8>, TaskError>) -> Result<Vec<R>, TaskError> {
    let bytes = bytes?;
    codec::decode::<Vec<R>>(&bytes).map_err(|e| TaskError::BadResult(e.to_string()))
}

impl Pool {
    /// Starts a pool of `processes` workers with the default context.
    pub fn new(processes: usize) -> Result<Pool, PoolError> {
        Self::builder().processes(processes).build()
    }

    /// A builder for the other options.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            processes: None,
            maxtasks: 0,
            init: None,
            context: None,
            time_limit: None,
        }
    }

    /// Number of worker processes.
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// The pids of the current workers.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner.worker_pids()
    }

    /// How many workers have been replaced (after deaths, time limits or `maxtasksperchild`).
    pub fn replacements(&self) -> u64 {
        self.inner.replacements()
    }

    fn submit_raw(&self, batch: Vec<(Code, Vec<u8>, Completion)>) -> Result<(), SubmitError> {
        self.inner
            .submit(batch)
            .map_err(|_| SubmitError::NotRunning)
    }

    /// Runs `f(args)` in a worker and waits for the result (Python's `apply`).
    pub fn apply<A, R>(&self, f: fn(A) -> R, args: A) -> Result<R, ApplyError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        Ok(self.apply_async(f, args)?.get()?)
    }

    /// Submits `f(args)` and returns at once (Python's `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, args: A) -> Result<AsyncResult<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, args, None::<fn(&R)>, None::<fn(&TaskError)>)
    }

    /// [`apply_async`](Pool::apply_async) with a `callback` run in the parent with the result
    /// and an `error_callback` run with the error, both before the result becomes ready
    /// (Python's `callback=`/`error_callback=`). They run on the pool's handler thread: keep
    /// them short.
    pub fn apply_async_with<A, R, C, E>(
        &self,
        f: fn(A) -> R,
        args: A,
        callback: Option<C>,
        error_callback: Option<E>,
    ) -> Result<AsyncResult<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        C: FnOnce(&R) + Send + 'static,
        E: FnOnce(&TaskError) + Send + 'static,
    {
        let payload = codec::encode(std::slice::from_ref(&args)).map_err(SubmitError::Encode)?;
        let slot = Slot::<R>::new();
        let s = slot.clone();
        let complete: Completion = Box::new(move |outcome| {
            let r = decode_vec::<R>(outcome).and_then(|mut v| {
                v.pop()
                    .ok_or_else(|| TaskError::BadResult("empty result".into()))
            });
            match &r {
                Ok(v) => {
                    if let Some(cb) = callback {
                        cb(v)
                    }
                }
                Err(e) => {
                    if let Some(cb) = error_callback {
                        cb(e)
                    }
                }
            }
            s.complete(r);
        });
        self.submit_raw(vec![(Code::of(f), payload, complete)])?;
        Ok(AsyncResult::new(slot))
    }

    /// Python's default chunk size for `map`: `ceil(len / (4 * processes))`.
    fn default_chunksize(&self, len: usize) -> usize {
        len.div_ceil(4 * self.processes).max(1)
    }

    /// Encodes `items` in chunks and submits them; each chunk's decoded results go to
    /// `on_chunk(index, outcome)`.
    fn submit_chunks<A, R>(
        &self,
        code: Code,
        items: Vec<A>,
        chunksize: usize,
        on_chunk: OnChunk<R>,
    ) -> Result<Vec<usize>, SubmitError>
    where
        A: Serialize,
        R: DeserializeOwned + 'static,
    {
        let mut batch = Vec::with_capacity(items.len().div_ceil(chunksize));
        let mut sizes = Vec::with_capacity(batch.capacity());
        for (index, chunk) in items.chunks(chunksize).enumerate() {
            let payload = codec::encode(chunk).map_err(SubmitError::Encode)?;
            let cb = on_chunk.clone();
            let complete: Completion = Box::new(move |outcome| cb(index, decode_vec::<R>(outcome)));
            batch.push((code, payload, complete));
            sizes.push(chunk.len());
        }
        self.submit_raw(batch)?;
        Ok(sizes)
    }

    /// Applies `f` to every item, in parallel, and returns the results in order (Python's
    /// `map`, with its default chunk size).
    pub fn map<A, R, I>(&self, f: fn(A) -> R, items: I) -> Result<Vec<R>, ApplyError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        Ok(self.map_async(f, items, None)?.get()?)
    }

    /// [`map`](Pool::map) with an explicit chunk size (≥ 1).
    pub fn map_chunked<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<Vec<R>, ApplyError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if chunksize == 0 {
            return Err(SubmitError::ZeroChunksize.into());
        }
        Ok(self.map_async(f, items, Some(chunksize))?.get()?)
    }

    /// Submits a whole map and returns at once (Python's `map_async`). The result is ready
    /// when every chunk has finished; if any failed, it holds the first failure in input
    /// order. `chunksize` defaults to Python's.
    pub fn map_async<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, chunksize, None::<fn(&Vec<R>)>)
    }

    /// [`map_async`](Pool::map_async) with a `callback` that receives the whole result vector
    /// in the parent.
    pub fn map_async_with<A, R, I, C>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: Option<usize>,
        callback: Option<C>,
    ) -> Result<AsyncResult<Vec<R>>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        C: FnOnce(&Vec<R>) + Send + 'static,
    {
        self.collect_async(
            Code::of(f),
            items.into_iter().collect(),
            chunksize,
            callback,
        )
    }

    fn collect_async<A, R, C>(
        &self,
        code: Code,
        items: Vec<A>,
        chunksize: Option<usize>,
        callback: Option<C>,
    ) -> Result<AsyncResult<Vec<R>>, SubmitError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        C: FnOnce(&Vec<R>) + Send + 'static,
    {
        let slot = Slot::<Vec<R>>::new();
        if items.is_empty() {
            let v = Vec::new();
            if let Some(cb) = callback {
                cb(&v);
            }
            slot.complete(Ok(v));
            return Ok(AsyncResult::new(slot));
        }
        let chunksize = chunksize
            .unwrap_or_else(|| self.default_chunksize(items.len()))
            .max(1);
        let nchunks = items.len().div_ceil(chunksize);
        struct Collect<R, C> {
            parts: Vec<Option<Result<Vec<R>, TaskError>>>,
            left: usize,
            callback: Option<C>,
        }
        let collect = Arc::new(Mutex::new(Collect::<R, C> {
            parts: (0..nchunks).map(|_| None).collect(),
            left: nchunks,
            callback,
        }));
        let s = slot.clone();
        let on_chunk = Arc::new(move |index: usize, outcome: Result<Vec<R>, TaskError>| {
            let mut c = collect.lock();
            c.parts[index] = Some(outcome);
            c.left -= 1;
            if c.left > 0 {
                return;
            }
            let mut all = Vec::new();
            let mut first_err = None;
            for part in c.parts.drain(..).flatten() {
                match part {
                    Ok(v) => all.extend(v),
                    Err(e) => {
                        if first_err.is_none() {
                            first_err = Some(e)
                        }
                    }
                }
            }
            let r = match first_err {
                Some(e) => Err(e),
                None => {
                    if let Some(cb) = c.callback.take() {
                        cb(&all);
                    }
                    Ok(all)
                }
            };
            drop(c);
            s.complete(r);
        });
        self.submit_chunks::<A, R>(code, items, chunksize, on_chunk)?;
        Ok(AsyncResult::new(slot))
    }

    /// Like [`map`](Pool::map) for functions of two arguments, over pairs (Python's
    /// `starmap`).
    pub fn starmap<A, B, R, I>(&self, f: fn(A, B) -> R, items: I) -> Result<Vec<R>, ApplyError>
    where
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = (A, B)>,
    {
        Ok(self.starmap_async(f, items, None)?.get()?)
    }

    /// [`starmap`](Pool::starmap) without waiting (Python's `starmap_async`).
    pub fn starmap_async<A, B, R, I>(
        &self,
        f: fn(A, B) -> R,
        items: I,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = (A, B)>,
    {
        self.collect_async(
            Code::of2(f),
            items.into_iter().collect(),
            chunksize,
            None::<fn(&Vec<R>)>,
        )
    }

    /// Applies `f` to every item and yields the results in order as they become available
    /// (Python's `imap`). `chunksize` must be at least 1.
    pub fn imap<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_inner(f, items, chunksize, true)
    }

    /// Like [`imap`](Pool::imap), but yields results in completion order (Python's
    /// `imap_unordered`).
    pub fn imap_unordered<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
    ) -> Result<IMap<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        self.imap_inner(f, items, chunksize, false)
    }

    fn imap_inner<A, R, I>(
        &self,
        f: fn(A) -> R,
        items: I,
        chunksize: usize,
        ordered: bool,
    ) -> Result<IMap<R>, SubmitError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
    {
        if chunksize == 0 {
            return Err(SubmitError::ZeroChunksize);
        }
        let items: Vec<A> = items.into_iter().collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let on_chunk = Arc::new(move |index: usize, outcome: Result<Vec<R>, TaskError>| {
            let _ = tx.send((index, outcome));
        });
        let sizes = self.submit_chunks::<A, R>(Code::of(f), items, chunksize, on_chunk)?;
        Ok(IMap::new(rx, sizes, ordered))
    }

    /// Stops accepting work; the workers exit once every submitted task has finished.
    pub fn close(&self) {
        {
            let mut st = self.inner.state.lock();
            if st.phase == Phase::Running {
                st.phase = Phase::Closed;
            }
        }
        self.inner.nudge();
    }

    /// Stops at once: workers are terminated and unfinished tasks fail with
    /// [`TaskError::Terminated`].
    pub fn terminate(&self) {
        self.inner.state.lock().phase = Phase::Terminated;
        self.inner.nudge();
    }

    /// Waits for the workers to exit; only after [`close`](Pool::close) or
    /// [`terminate`](Pool::terminate).
    pub fn join(&self) -> Result<(), PoolError> {
        if self.inner.state.lock().phase == Phase::Running {
            return Err(PoolError::StillRunning);
        }
        if let Some(h) = self.handler.lock().take() {
            let _ = h.join();
        }
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let running = self.inner.state.lock().phase != Phase::Terminated;
        if running && self.handler.lock().is_some() {
            self.terminate();
        }
        if let Some(h) = self.handler.lock().take() {
            let _ = h.join();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.lock();
        f.debug_struct("Pool")
            .field("state", &st.phase)
            .field("processes", &self.processes)
            .finish()
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Pool>();
    let _ = CodeRef::<fn(u8) -> u8>::new;
}
