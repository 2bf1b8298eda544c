//! The tutorials' user-defined process type (scenarios 3 to 6): a process holding a loop
//! count, whose `run` sleeps a second and prints a line, `count` times.

use std::time::Duration;

use procpool::Run;
use serde::{Deserialize, Serialize};

use crate::say;

/// Python's
///
/// ```python
/// class MyProcess(Process):
///     def __init__(self, loop):
///         Process.__init__(self)
///         self.loop = loop
///     def run(self):
///         for count in range(self.loop):
///             time.sleep(1)
///             print(f'Pid: {os.getpid()} LoopCount: {count}')
/// ```
///
/// as a [`Run`] type: `Process::from_run(MyProcess::new(3, opts.dur(1.0)))`. Its processes
/// are named `MyProcess-1`, `MyProcess-2`, ... as Python names a subclass's processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MyProcess {
    /// How many lines to print.
    pub count: u32,
    /// The pause before each line (1 s in the tutorial).
    pub pause: Duration,
}

impl MyProcess {
    /// A process that prints `count` lines, one every `pause`.
    pub fn new(count: u32, pause: Duration) -> MyProcess {
        MyProcess { count, pause }
    }
}

impl Run for MyProcess {
    type Output = ();

    fn run(self) {
        for c in 0..self.count {
            std::thread::sleep(self.pause);
            say!("Pid: {} LoopCount: {c}", std::process::id());
        }
    }
}
