//! [`Process`]: a child process running a target, with Python's semantics.

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::child::{self, ChildShared, ExitCodeName, UNKNOWN_EXIT};
use crate::context::{StartMethod, get_start_method};
use crate::error::{JoinTimeoutError, ProcessError, StartError};
use crate::identity::{ChildSetup, PreparedState, state};
use crate::launcher::on_long_lived_thread;
use crate::sys;
use crate::target::{ClosureTask, Exit, FnTask, Run, RunTask, Task, short_type_name};

enum Life {
    Initial,
    Started(Arc<ChildShared>),
    Closed,
}

/// A child process: Python's `multiprocessing.Process`.
///
/// Build it from a target function and its arguments ([`Process::new`]), from a user type that
/// implements [`Run`] ([`Process::from_run`]), or, for the fork start method only, from any
/// closure ([`Process::from_fn`]); optionally set a name and the daemon flag; then
/// [`start`](Process::start) it and [`join`](Process::join) it.
///
/// ```
/// use procpool::Process;
///
/// fn greet((who, times): (String, u32)) {
///     for _ in 0..times {
///         println!("hello, {who} from {}", std::process::id());
///     }
/// }
///
/// let mut p = Process::new(greet, ("world".to_string(), 2)).with_name("greeter");
/// assert_eq!(p.to_string(), format!("<Process name='greeter' parent={} initial>", std::process::id()));
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **State changes take `&mut self`** (`start`, `close`, `set_daemon`): they are the owner's
/// decisions, and a second `start` is still a typed error. **Waiting, querying and signalling
/// take `&self`**, so a `Process` shared in an `Arc` can be joined by one thread while another
/// terminates it.
///
/// **Exit codes** follow Python: `None` before start and while running; the target's exit
/// status after a normal end (0, or the [`ExitCode`](crate::ExitCode) it returned, or the code
/// given to [`exit`](crate::exit)); 1 after a panic (whose message is printed on standard error
/// after a `Process <name>:` line) or an `Err` result; −N after death by signal N.
///
/// **No zombies.** A `Process` dropped while its child runs hands the child to a reaper thread;
/// the child keeps running (it is not killed) and is reaped when it ends. When the main program
/// ends normally, its daemon children are terminated and the others are waited for.
pub struct Process {
    name: String,
    kind: &'static str,
    ident: Vec<u32>,
    daemon: bool,
    method: Option<StartMethod>,
    parent_pid: u32,
    task: Mutex<Option<Box<dyn Task>>>,
    life: Life,
}

impl Process {
    fn build(kind: &'static str, task: Box<dyn Task>) -> Process {
        let st = state();
        let mut ident = st.ident().to_vec();
        ident.push(st.next_count());
        let digits: Vec<String> = ident.iter().map(u32::to_string).collect();
        Process {
            name: format!("{kind}-{}", digits.join(":")),
            kind,
            ident,
            daemon: false,
            method: None,
            parent_pid: st.pid,
            task: Mutex::new(Some(task)),
            life: Life::Initial,
        }
    }

    /// A process that will run `target(args)`.
    ///
    /// `target` is a function item or a non-capturing closure (both coerce to `fn(A) -> R`);
    /// several arguments are a tuple. The arguments are moved into the process: under spawn and
    /// the fork server they are serialised to the child, and queues, locks, pipe ends and shared
    /// values inside them reach the child as the same objects. Once the process has started,
    /// the parent's copy of the arguments is dropped (so a pipe end moved to a child is closed
    /// in the parent, as it should be).
    ///
    /// The default name is `Process-N`, N counting the processes created by this process (in
    /// a child, `Process-1:N` and so on, as in Python).
    pub fn new<A, R>(target: fn(A) -> R, args: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Exit + 'static,
    {
        Process::build(
            "Process",
            Box::new(FnTask {
                f: target,
                args: Some(args),
            }),
        )
    }

    /// A process that will call `value.run()` in the child (the tutorials' subclass of
    /// `Process` overriding `run`). The default name is the type's name with a counter, as in
    /// Python: `MyProcess-1`.
    pub fn from_run<T: Run>(value: T) -> Process {
        Process::build(short_type_name::<T>(), Box::new(RunTask(Some(value))))
    }

    /// A process that will call the closure `f` in the child. Closures capture state that
    /// cannot be sent to a new program, so only the [`Fork`](StartMethod::Fork) start method
    /// can start it; under the others [`start`](Process::start) returns
    /// [`StartError::ForkOnly`].
    ///
    /// ```
    /// use procpool::{ExitCode, Process, StartMethod};
    /// let data = vec![1, 2, 3];
    /// let mut p = Process::from_fn(move || ExitCode(data.len() as i32))
    ///     .with_start_method(StartMethod::Fork);
    /// p.start()?;
    /// assert_eq!(p.join()?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fn<F, R>(f: F) -> Process
    where
        F: FnOnce() -> R + Send + 'static,
        R: Exit + 'static,
    {
        Process::build("Process", Box::new(ClosureTask(Some(f))))
    }

    /// Sets the name (builder style).
    pub fn with_name(mut self, name: impl Into<String>) -> Process {
        self.name = name.into();
        self
    }

    /// Sets the daemon flag (builder style), for a process not yet started. On a started
    /// process the flag is left as it is: use [`set_daemon`](Process::set_daemon), which
    /// reports that misuse as an error.
    pub fn with_daemon(mut self, daemon: bool) -> Process {
        let _ = self.set_daemon(daemon);
        self
    }

    /// Chooses the start method for this process (builder style) instead of the default one
    /// ([`get_start_method`] at the time of `start`).
    pub fn with_start_method(mut self, method: StartMethod) -> Process {
        self.method = Some(method);
        self
    }

    /// The process's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the process (allowed at any time, as in Python; a running child keeps the name
    /// it started with).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Whether the process is a daemon.
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// Sets the daemon flag. A daemon process is terminated when its parent exits normally,
    /// is killed when its parent dies abruptly, and may not start children. Only before
    /// `start`.
    pub fn set_daemon(&mut self, daemon: bool) -> Result<(), ProcessError> {
        match self.life {
            Life::Initial => {
                self.daemon = daemon;
                Ok(())
            }
            Life::Started(_) => Err(ProcessError::AlreadyStarted),
            Life::Closed => Err(ProcessError::Closed),
        }
    }

    /// The start method chosen for this process, if any (else the default applies at start).
    pub fn start_method(&self) -> Option<StartMethod> {
        self.method
    }

    /// Starts the child. Starting twice is an error, and so is starting from a daemon process.
    pub fn start(&mut self) -> Result<(), StartError> {
        match self.life {
            Life::Initial => {}
            Life::Started(_) => return Err(StartError::AlreadyStarted),
            Life::Closed => return Err(StartError::Closed),
        }
        let st = state();
        if self.parent_pid != st.pid {
            return Err(StartError::NotParent);
        }
        if st.is_daemon() {
            return Err(StartError::DaemonicParent);
        }
        child::sweep(st);
        child::ensure_atexit();
        let method = self.method.unwrap_or_else(get_start_method);
        let setup = ChildSetup {
            name: self.name.clone(),
            ident: self.ident.clone(),
            daemon: self.daemon,
            parent_pid: st.pid,
            parent_name: st.name().to_owned(),
            method,
            default_method: crate::context::explicit_default(),
        };
        let slot = self.task.get_mut();
        let shared = match method {
            StartMethod::Fork => start_fork(setup, slot)?,
            StartMethod::Spawn => {
                let task = slot.as_deref().ok_or(StartError::Closed)?;
                crate::spawn::start(setup, task)?
            }
            StartMethod::ForkServer => {
                let task = slot.as_deref().ok_or(StartError::Closed)?;
                crate::forkserver::start(setup, task)?
            }
        };
        // The child has its own copy now: drop the parent's (closing descriptors it holds).
        *slot = None;
        st.register(shared.clone());
        self.life = Life::Started(shared);
        Ok(())
    }

    fn child(&self) -> Result<&Arc<ChildShared>, ProcessError> {
        match &self.life {
            Life::Initial => Err(ProcessError::NotStarted),
            Life::Closed => Err(ProcessError::Closed),
            Life::Started(c) if !c.owned_here() => Err(ProcessError::NotParent),
            Life::Started(c) => Ok(c),
        }
    }

    /// Waits for the child to end and returns its exit code (see the type's docs).
    pub fn join(&self) -> Result<i32, ProcessError> {
        Ok(self.child()?.wait(None).unwrap_or(UNKNOWN_EXIT))
    }

    /// Waits at most `timeout` for the child to end. The child is never killed: at the
    /// deadline it keeps running and the error is [`JoinTimeoutError::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use procpool::Process;
    ///
    /// fn nap(ms: u64) { std::thread::sleep(Duration::from_millis(ms)); }
    ///
    /// let mut p = Process::new(nap, 200);
    /// p.start()?;
    /// let waited = p.join_timeout(Duration::from_millis(1));
    /// assert!(waited.unwrap_err().is_timeout()); // Python's join(0.001) returns silently
    /// assert_eq!(p.join_timeout(Duration::from_secs(30))?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<i32, JoinTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.join_deadline(d),
            None => Ok(self.join()?),
        }
    }

    /// Waits until `deadline` for the child to end (see [`join_timeout`](Process::join_timeout)).
    pub fn join_deadline(&self, deadline: Instant) -> Result<i32, JoinTimeoutError> {
        self.child()?
            .wait(Some(deadline))
            .ok_or(JoinTimeoutError::Timeout)
    }

    /// Whether the child is running: false before start, after it ended and after close.
    pub fn is_alive(&self) -> bool {
        match self.child() {
            Ok(c) => c.poll().is_none(),
            Err(_) => false,
        }
    }

    /// The child's pid once started (`None` before start and after close).
    pub fn pid(&self) -> Option<u32> {
        match &self.life {
            Life::Started(c) => Some(c.pid),
            _ => None,
        }
    }

    /// The exit code: `None` before start, while running and after close; else the exit status,
    /// 1 after a panic, −N after death by signal N.
    pub fn exitcode(&self) -> Option<i32> {
        match self.child() {
            Ok(c) => c.poll(),
            Err(_) => None,
        }
    }

    /// Sends `SIGTERM` (Python's `terminate`). Does nothing if the child has already ended.
    ///
    /// ```
    /// use procpool::Process;
    ///
    /// fn nap(secs: u64) { std::thread::sleep(std::time::Duration::from_secs(secs)); }
    ///
    /// let mut p = Process::new(nap, 60);
    /// p.start()?;
    /// p.terminate()?;
    /// assert_eq!(p.join()?, -15); // -SIGTERM, as in Python
    /// assert!(p.to_string().ends_with("stopped exitcode=-SIGTERM>"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.child()?.signal(Signal::SIGTERM);
        Ok(())
    }

    /// Sends `SIGKILL` (Python's `kill`). Does nothing if the child has already ended.
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.child()?.signal(Signal::SIGKILL);
        Ok(())
    }

    /// Releases the resources of a process that has ended (or was never started). Afterwards
    /// every action returns [`ProcessError::Closed`] and the queries report a closed process
    /// (not alive, no pid, no exit code). Closing a running process is an error; closing twice
    /// is not.
    pub fn close(&mut self) -> Result<(), ProcessError> {
        match &self.life {
            Life::Closed => return Ok(()),
            Life::Initial => {}
            Life::Started(c) => {
                if !c.owned_here() {
                    return Err(ProcessError::NotParent);
                }
                if c.poll().is_none() {
                    return Err(ProcessError::StillRunning);
                }
            }
        }
        *self.task.get_mut() = None;
        self.life = Life::Closed;
        Ok(())
    }

    /// A descriptor that becomes readable when the child has ended (Python's `sentinel`), for
    /// waiting on several processes and pipes at once with `poll`/the pipes' `wait`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use procpool::{Process, pipe};
    ///
    /// fn nap(ms: u64) { std::thread::sleep(Duration::from_millis(ms)); }
    ///
    /// let (mut slow, mut quick) = (Process::new(nap, 10_000), Process::new(nap, 10));
    /// slow.start()?;
    /// quick.start()?;
    /// // Python: multiprocessing.connection.wait([slow.sentinel, quick.sentinel])
    /// let ended = pipe::wait(&[slow.sentinel()?, quick.sentinel()?], Some(Duration::from_secs(30)))?;
    /// assert_eq!(ended, [1]);
    /// slow.kill()?;
    /// # slow.join()?; quick.join()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sentinel(&self) -> Result<BorrowedFd<'_>, ProcessError> {
        Ok(self.child()?.sentinel())
    }
}

fn start_fork(
    setup: ChildSetup,
    slot: &mut Option<Box<dyn Task>>,
) -> Result<Arc<ChildShared>, StartError> {
    let task = slot.take().ok_or(StartError::Closed)?;
    let name = setup.name.clone();
    let daemon = setup.daemon;
    let parent = state().pid;
    crate::runtime::install_panic_hook();
    // As Python does before forking: output still buffered now would otherwise be printed by
    // the child as well (it inherits a copy of the buffer).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    type Launched = (io::Result<(u32, OwnedFd)>, Option<Box<dyn Task>>);
    let launch = move || -> Launched {
        let mut task = Some(task);
        let mut prepared = PreparedState::new(setup);
        prepared.sigpipe_ignored = sys::sigpipe_ignored();
        let forked = sys::fork_run(|| {
            let t = task.take();
            crate::runtime::run_child(prepared, parent, move || match t {
                Some(mut t) => {
                    let code = t.run();
                    std::mem::forget(t); // exiting: do not touch the allocator
                    code
                }
                None => 1,
            })
        });
        let r = forked.and_then(|pid| match sys::pidfd_open(pid) {
            Ok(pidfd) => Ok((pid, pidfd)),
            Err(e) => {
                let p = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(p, None);
                Err(e)
            }
        });
        (r, task)
    };
    // PDEATHSIG follows the forking thread: daemons are forked on a long-lived thread.
    let (r, back) = if daemon {
        on_long_lived_thread(launch)?
    } else {
        launch()
    };
    match r {
        Ok((pid, pidfd)) => Ok(ChildShared::own(pid, pidfd, name, daemon)),
        Err(e) => {
            *slot = back;
            Err(StartError::Os(e))
        }
    }
}

impl fmt::Display for Process {
    /// Python's `repr`: `<Process name='Process-1' pid=4242 parent=4241 started daemon>`,
    /// `... stopped exitcode=-SIGTERM>`, `<Process name='Process-1' parent=4241 initial>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} name='{}'", self.kind, self.name)?;
        if let Life::Started(c) = &self.life {
            write!(f, " pid={}", c.pid)?;
        }
        write!(f, " parent={}", self.parent_pid)?;
        match &self.life {
            Life::Initial => f.write_str(" initial")?,
            Life::Closed => f.write_str(" closed")?,
            Life::Started(c) if !c.owned_here() => f.write_str(" unknown")?,
            Life::Started(c) => match c.poll() {
                None => f.write_str(" started")?,
                Some(code) => write!(f, " stopped exitcode={}", ExitCodeName(code))?,
            },
        }
        if self.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Life::Started(c) = &self.life {
            if c.owned_here() && c.known_exit().is_none() {
                child::adopt_orphan(c.clone());
            }
        }
    }
}
