//! A user-defined process type: Python's subclass of `Process` overriding `run` is a
//! serialisable struct that implements `Run`.
//!
//! Python:
//!
//! ```python
//! class MyProcess(Process):
//!     def __init__(self, count):
//!         super().__init__()
//!         self.count = count
//!     def run(self):
//!         for c in range(self.count):
//!             print("Pid:", os.getpid(), "LoopCount:", c)
//!             time.sleep(0.1)
//!
//! for count in (2, 3, 4):
//!     MyProcess(count).start()
//! ```
//!
//! `cargo run -p procpool --example custom_process`

use std::time::Duration;

use procpool::{ExitCode, Process, Run};
use serde::{Deserialize, Serialize};

/// The process's state: moved to the child (serialised under spawn and forkserver).
#[derive(Serialize, Deserialize)]
struct MyProcess {
    count: u32,
}

impl Run for MyProcess {
    /// `()`, an `ExitCode` or a `Result`: it becomes the child's exit code.
    type Output = ExitCode;

    fn run(self) -> ExitCode {
        for c in 0..self.count {
            println!("Pid: {} LoopCount: {c}", std::process::id());
            std::thread::sleep(Duration::from_millis(100));
        }
        ExitCode(self.count as i32)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut children = Vec::new();
    for count in [2, 3, 4] {
        let mut p = Process::from_run(MyProcess { count });
        p.start()?;
        children.push(p);
    }
    for p in &children {
        let code = p.join()?;
        println!("{} ended with exit code {code}: {p}", p.name());
    }
    Ok(())
}
