//! ipc-core without procpool: named `SharedMemory` between two unrelated processes.
//!
//! The first run creates a segment, writes into it and starts a second program (here, itself
//! with `reader NAME`, through `std::process::Command`: any launcher would do), which finds
//! the segment by name, reads it and writes a reply. The creator removes the name when its
//! handle is dropped.
//!
//! Python:
//!
//! ```python
//! shm = shared_memory.SharedMemory(create=True, size=64)
//! shm.buf[:5] = b"hello"
//! # in another program:
//! other = shared_memory.SharedMemory(name)
//! ```
//!
//! `cargo run -p ipc-core --example shared_memory`

use std::process::Command;

use ipc_core::SharedMemory;

fn reader(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let shm = SharedMemory::open(name)?; // never removes the name
    let mut buf = [0u8; 5];
    shm.read_at(0, &mut buf)?;
    println!(
        "reader (pid {}): found {:?} in {name}",
        std::process::id(),
        String::from_utf8_lossy(&buf)
    );
    shm.write_at(16, b"hi yourself")?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "reader" {
            return reader(name);
        }
    }
    let shm = SharedMemory::create_unique(64)?;
    shm.write_at(0, b"hello")?;
    println!(
        "creator (pid {}): wrote into {}",
        std::process::id(),
        shm.name()
    );

    let status = Command::new(std::env::current_exe()?)
        .args(["reader", shm.name()])
        .status()?;
    assert!(status.success());

    let mut reply = [0u8; 11];
    shm.read_at(16, &mut reply)?;
    println!(
        "creator: the reader answered {:?}",
        String::from_utf8_lossy(&reply)
    );
    let name = shm.name().to_owned();
    shm.close()?; // the creator removes the name (dropping the handle would too)
    assert!(SharedMemory::open(&name).is_err());
    println!("creator: {name} removed");
    Ok(())
}
