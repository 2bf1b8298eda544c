//! [`SharedMemory`]: a named block of shared bytes that unrelated processes attach by name
//! (Python's `multiprocessing.shared_memory.SharedMemory`).
//!
//! # Lifetime and cleanup
//!
//! A named segment is a POSIX shared-memory object, a file in `/dev/shm` (a RAM-backed
//! tmpfs). Unlike the anonymous regions behind [`Value`](crate::Value) and
//! [`Array`](crate::Array), which the kernel frees when the last process lets go, a name
//! keeps its memory alive until someone removes it (`shm_unlink`) or the machine reboots.
//! procpool's rules:
//!
//! - **The creator owns the name.** The handle returned by [`SharedMemory::create`] removes
//!   the name when it is dropped or [`close`](SharedMemory::close)d (opt out with
//!   [`persist`](SharedMemory::persist)). Handles from [`open`](SharedMemory::open) never
//!   remove it, and a forked child's copy of the creator's handle does not either (only the
//!   creating process does). Removing the name does not disturb processes that have the
//!   segment mapped: their memory stays valid until they close it.
//! - **A crashed creator leaves the name behind.** If the creator dies without running
//!   destructors (`SIGKILL`, abort, `std::process::exit`), the segment stays in `/dev/shm`,
//!   still occupying memory, and a new `create` with the same name fails with
//!   [`AlreadyExists`](ShmError::AlreadyExists). So that such leftovers can be found, the
//!   creator also writes an owner record, `/dev/shm/procpool-owner.<name>`, holding its pid,
//!   its start time (pids are reused) and the segment's inode.
//!   [`SharedMemory::cleanup_orphans`] removes every segment whose record names a dead
//!   creator, and nothing else (segments created by other programs have no record; live
//!   owners and persisted segments are left alone). Call it when your program starts, or
//!   from a supervisor. [`SharedMemory::unlink_name`] removes one name unconditionally.
//!
//! Python's answer to the same problem is the resource tracker: a helper process that
//! unlinks, when the program exits, every segment *any* of its processes created — and, up
//! to Python 3.12, even segments they merely attached to, so a consumer exiting could
//! destroy a producer's data (bpo-39959), with "leaked shared_memory objects" warnings
//! either way. Here only the creator unlinks, and crash recovery is an explicit, liveness-
//! checked sweep.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::OutOfBounds;
use crate::region::Region;
use crate::sys::{proc, shm, view};

/// Where Linux keeps POSIX shared-memory objects.
const SHM_DIR: &str = "/dev/shm";
/// Prefix of the owner records written next to the segments this module creates.
const OWNER_PREFIX: &str = "procpool-owner.";
/// Longest name accepted, so that the owner record's name still fits in `NAME_MAX` (255).
pub const MAX_NAME_LEN: usize = 255 - OWNER_PREFIX.len();

/// Creating, opening or removing a named segment failed.
#[derive(Debug)]
pub enum ShmError {
    /// A segment with this name already exists (create).
    AlreadyExists,
    /// No segment has this name (open, unlink).
    NotFound,
    /// The name is empty, longer than [`MAX_NAME_LEN`] bytes, contains `/` or NUL (other than
    /// one leading `/`), is `.` or `..`, or starts with `procpool-owner.` (reserved).
    InvalidName,
    /// The size is zero (create), or the segment found is empty (open).
    InvalidSize,
    /// Another system error (permissions, out of memory, ...).
    Io(io::Error),
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::AlreadyExists => f.write_str("a shared memory segment with this name exists"),
            ShmError::NotFound => f.write_str("no shared memory segment with this name"),
            ShmError::InvalidName => f.write_str("invalid shared memory segment name"),
            ShmError::InvalidSize => f.write_str("shared memory segments cannot be empty"),
            ShmError::Io(_) => f.write_str("shared memory system error"),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ShmError> for io::Error {
    fn from(e: ShmError) -> io::Error {
        match e {
            ShmError::Io(inner) => inner,
            other => {
                let kind = match other {
                    ShmError::AlreadyExists => io::ErrorKind::AlreadyExists,
                    ShmError::NotFound => io::ErrorKind::NotFound,
                    _ => io::ErrorKind::InvalidInput,
                };
                io::Error::new(kind, other)
            }
        }
    }
}

impl ShmError {
    fn from_io(e: io::Error) -> ShmError {
        match e.kind() {
            io::ErrorKind::AlreadyExists => ShmError::AlreadyExists,
            io::ErrorKind::NotFound => ShmError::NotFound,
            io::ErrorKind::InvalidInput => ShmError::InvalidName,
            _ if e.raw_os_error() == Some(libc::ENAMETOOLONG) => ShmError::InvalidName,
            _ => ShmError::Io(e),
        }
    }
}

/// Checks a segment name and strips one leading `/`.
fn validate(name: &str) -> Result<&str, ShmError> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && !name.starts_with(OWNER_PREFIX);
    if ok {
        Ok(name)
    } else {
        Err(ShmError::InvalidName)
    }
}

fn shm_name(name: &str) -> String {
    format!("/{name}")
}

fn record_name(name: &str) -> String {
    format!("/{OWNER_PREFIX}{name}")
}

fn segment_path(name: &str) -> String {
    format!("{SHM_DIR}/{name}")
}

/// Device and inode of the file behind `fd`.
fn identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let m = File::from(fd.try_clone_to_owned()?).metadata()?;
    Ok((m.dev(), m.ino()))
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`, in clock ticks since boot),
/// which tells a process from a later one that reuses its pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain ')' and spaces; fields after it start
    // at field 3, so starttime (22) is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Who created a segment, as written in its owner record.
#[derive(Debug, PartialEq, Eq)]
struct OwnerRecord {
    pid: u32,
    start: Option<u64>,
    dev: u64,
    ino: u64,
}

impl OwnerRecord {
    fn to_text(&self) -> String {
        let start = self
            .start
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        format!(
            "procpool shared memory owner record\npid {}\nstart {}\ndev {}\nino {}\n",
            self.pid, start, self.dev, self.ino
        )
    }

    fn parse(text: &str) -> Option<OwnerRecord> {
        let mut lines = text.lines();
        if lines.next()? != "procpool shared memory owner record" {
            return None;
        }
        let mut field = |key: &str| -> Option<String> {
            let line = lines.next()?;
            Some(line.strip_prefix(key)?.strip_prefix(' ')?.to_string())
        };
        let pid = field("pid")?.parse().ok()?;
        let start = match field("start")?.as_str() {
            "-" => None,
            s => Some(s.parse().ok()?),
        };
        let dev = field("dev")?.parse().ok()?;
        let ino = field("ino")?.parse().ok()?;
        Some(OwnerRecord {
            pid,
            start,
            dev,
            ino,
        })
    }

    /// Whether the recorded creator still runs (when unsure: yes).
    fn owner_alive(&self) -> bool {
        if !proc::is_alive(self.pid) {
            return false;
        }
        match (self.start, start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }
}

/// Writes the owner record of a segment this process just created.
fn write_record(name: &str, ident: (u64, u64)) -> io::Result<()> {
    let pid = proc::pid();
    let record = OwnerRecord {
        pid,
        start: start_time(pid),
        dev: ident.0,
        ino: ident.1,
    };
    let rname = record_name(name);
    let fd = match shm::shm_open(&rname, true) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A stale record of an earlier segment of this name (we hold the name now).
            let _ = shm::shm_unlink(&rname);
            shm::shm_open(&rname, true)?
        }
        Err(e) => return Err(e),
    };
    File::from(fd).write_all(record.to_text().as_bytes())
}

/// Removes the name `name` if it still refers to the segment `ident`, with its owner record.
fn remove_if_same(name: &str, ident: (u64, u64)) -> Result<(), ShmError> {
    match fs::metadata(segment_path(name)) {
        Ok(m) if (m.dev(), m.ino()) == ident => {}
        Ok(_) => return Err(ShmError::NotFound), // the name now belongs to another segment
        Err(e) => return Err(ShmError::from_io(e)),
    }
    let _ = shm::shm_unlink(&record_name(name));
    shm::shm_unlink(&shm_name(name)).map_err(ShmError::from_io)
}

/// What the creating handle remembers.
#[derive(Debug)]
struct Owner {
    pid: u32,
    unlink_on_drop: bool,
}

/// A named block of bytes shared between processes, attachable by name from any process of
/// the same user — including ones that do not use procpool, such as Python's
/// `multiprocessing.shared_memory.SharedMemory(name=...)`.
///
/// Access is by bounds-checked copies ([`read_at`](SharedMemory::read_at),
/// [`write_at`](SharedMemory::write_at)): another process may write at any time, so no Rust
/// reference to the bytes is handed out. Bytes written concurrently with a read may be seen
/// old or new, 8-byte word by word; use a [`Lock`](crate::Lock) or a protocol for anything
/// larger. [`as_ptr`](SharedMemory::as_ptr) gives the mapping's address for code that needs
/// it.
///
/// See the [module docs](self) for the lifetime of the name and cleanup after a crash.
///
/// ```
/// use ipc_core::SharedMemory;
///
/// let name = format!("doc-example-{}", std::process::id());
/// let shm = SharedMemory::create(&name, 64)?;
/// shm.write_at(0, b"hello")?;
///
/// // Elsewhere (any process of this user), by name:
/// let other = SharedMemory::open(&name)?;
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(other.len(), 64);
/// assert!(other.read_at(60, &mut buf).is_err()); // out of bounds
///
/// shm.close()?; // the creator removes the name (dropping it would too)
/// assert!(SharedMemory::open(&name).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedMemory {
    name: String,
    region: Region,
    ident: (u64, u64),
    owner: Option<Owner>,
    unlinked: AtomicBool,
}

impl SharedMemory {
    /// Creates a new segment of `size` bytes (zero-filled) named `name` (as in Python, without
    /// the leading `/`, which is accepted and ignored). Fails with
    /// [`AlreadyExists`](ShmError::AlreadyExists) if the name is taken. This handle owns the
    /// name: it removes it when dropped or closed.
    pub fn create(name: &str, size: usize) -> Result<SharedMemory, ShmError> {
        let name = validate(name)?;
        if size == 0 {
            return Err(ShmError::InvalidSize);
        }
        let fd = shm::shm_open(&shm_name(name), true).map_err(ShmError::from_io)?;
        // The name is ours from here on: remove it again if anything below fails.
        let result = (|| {
            shm::set_len(fd.as_fd(), size as u64)?;
            let ident = identity(fd.as_fd())?;
            write_record(name, ident)?;
            Ok::<_, io::Error>(ident)
        })();
        let ident = match result {
            Ok(ident) => ident,
            Err(e) => {
                let _ = shm::shm_unlink(&record_name(name));
                let _ = shm::shm_unlink(&shm_name(name));
                return Err(ShmError::Io(e));
            }
        };
        let region = match Region::attach(fd) {
            Ok(r) => r,
            Err(e) => {
                let _ = remove_if_same(name, ident);
                return Err(ShmError::Io(e));
            }
        };
        Ok(SharedMemory {
            name: name.to_string(),
            region,
            ident,
            owner: Some(Owner {
                pid: proc::pid(),
                unlink_on_drop: true,
            }),
            unlinked: AtomicBool::new(false),
        })
    }

    /// Creates a new segment of `size` bytes under a fresh unique name (Python's
    /// `SharedMemory(create=True, size=size)`); read it back with [`name`](SharedMemory::name).
    pub fn create_unique(size: usize) -> Result<SharedMemory, ShmError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let mut last = ShmError::AlreadyExists;
        for _ in 0..16 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("psm_{:x}_{:x}_{:x}", proc::pid(), n, nanos);
            match SharedMemory::create(&name, size) {
                Err(ShmError::AlreadyExists) => last = ShmError::AlreadyExists,
                other => return other,
            }
        }
        Err(last)
    }

    /// Attaches to an existing segment by name. Fails with [`NotFound`](ShmError::NotFound)
    /// if there is none. This handle never removes the name.
    pub fn open(name: &str) -> Result<SharedMemory, ShmError> {
        let name = validate(name)?;
        let fd = shm::shm_open(&shm_name(name), false).map_err(ShmError::from_io)?;
        if shm::file_len(fd.as_fd()).map_err(ShmError::Io)? == 0 {
            return Err(ShmError::InvalidSize);
        }
        let ident = identity(fd.as_fd()).map_err(ShmError::Io)?;
        let region = Region::attach(fd).map_err(ShmError::Io)?;
        Ok(SharedMemory {
            name: name.to_string(),
            region,
            ident,
            owner: None,
            unlinked: AtomicBool::new(false),
        })
    }

    /// The segment's name (without a leading `/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Always `false`: segments are never empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this handle created the segment (and so removes its name when dropped, unless
    /// [`persist`](SharedMemory::persist)ed).
    pub fn is_owner(&self) -> bool {
        self.owner.is_some()
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        if view::read_bytes(&self.region, offset, buf) {
            Ok(())
        } else {
            Err(self.oob(offset, buf.len()))
        }
    }

    /// Copies `data` into the segment starting at `offset`. Nothing is written if it does not
    /// fit.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), OutOfBounds> {
        if view::write_bytes(&self.region, offset, data) {
            Ok(())
        } else {
            Err(self.oob(offset, data.len()))
        }
    }

    /// A copy of the whole segment.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        let _ = self.read_at(0, &mut v);
        v
    }

    fn oob(&self, start: usize, count: usize) -> OutOfBounds {
        OutOfBounds {
            start,
            end: start.saturating_add(count),
            len: self.len(),
        }
    }

    /// The address of the mapping (page-aligned, [`len`](SharedMemory::len) bytes, readable
    /// and writable while this handle lives), for code that builds its own views, e.g. over
    /// atomics. Dereferencing it is `unsafe`: other processes may write the bytes at any time.
    pub fn as_ptr(&self) -> *mut u8 {
        self.region.ptr()
    }

    /// Keeps the segment after this (creating) handle is dropped: the name is no longer
    /// removed automatically, and the owner record is deleted so that
    /// [`cleanup_orphans`](SharedMemory::cleanup_orphans) leaves it alone. Remove it later
    /// with [`unlink`](SharedMemory::unlink) or [`unlink_name`](SharedMemory::unlink_name).
    /// Does nothing on a handle from [`open`](SharedMemory::open).
    pub fn persist(&mut self) -> Result<(), ShmError> {
        if let Some(owner) = &mut self.owner {
            owner.unlink_on_drop = false;
            match shm::shm_unlink(&record_name(&self.name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ShmError::Io(e)),
            }
        }
        Ok(())
    }

    /// Removes the name now (Python's `unlink()`), so that no new process can attach; mapped
    /// handles, this one included, keep working. Any handle may do it; fails with
    /// [`NotFound`](ShmError::NotFound) if the name is already gone (or now names another
    /// segment, which is left alone).
    pub fn unlink(&self) -> Result<(), ShmError> {
        let r = remove_if_same(&self.name, self.ident);
        if r.is_ok() {
            self.unlinked.store(true, Ordering::Relaxed);
        }
        r
    }

    /// Unmaps the segment (Python's `close()`), and, for the creating handle, removes its
    /// name as dropping would, reporting errors that `drop` has to ignore. A name already
    /// removed by someone else is not an error here.
    pub fn close(mut self) -> Result<(), ShmError> {
        let result = if self.should_unlink() {
            match remove_if_same(&self.name, self.ident) {
                Err(ShmError::NotFound) => Ok(()),
                r => r,
            }
        } else {
            Ok(())
        };
        self.owner = None; // done: nothing left for `drop`
        result
    }

    fn should_unlink(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.unlink_on_drop && o.pid == proc::pid())
            && !self.unlinked.load(Ordering::Relaxed)
    }

    /// Removes the segment named `name` and its owner record, whoever created it (for manual
    /// cleanup; processes that have it mapped keep their memory).
    ///
    /// ```
    /// use ipc_core::SharedMemory;
    /// let name = format!("doc-unlink-name-{}", std::process::id());
    /// let mut shm = SharedMemory::create(&name, 8)?;
    /// shm.persist()?;
    /// drop(shm);
    /// SharedMemory::unlink_name(&name)?; // still there after the drop; removed now
    /// assert!(SharedMemory::unlink_name(&name).is_err());
    /// # Ok::<(), ipc_core::values::ShmError>(())
    /// ```
    pub fn unlink_name(name: &str) -> Result<(), ShmError> {
        let name = validate(name)?;
        let _ = shm::shm_unlink(&record_name(name));
        shm::shm_unlink(&shm_name(name)).map_err(ShmError::from_io)
    }

    /// Removes every segment created by a `SharedMemory` whose creating process has died
    /// without removing it (killed, aborted, exited without running destructors), and returns
    /// their names. Segments of live creators, persisted segments, and segments created by
    /// other programs are left alone. Safe to run at any time, from any process of the user.
    ///
    /// ```
    /// let removed = ipc_core::SharedMemory::cleanup_orphans()?;
    /// for name in removed {
    ///     eprintln!("removed leftover shared memory segment {name}");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cleanup_orphans() -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(SHM_DIR)? {
            let Ok(entry) = entry else { continue };
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|f| f.strip_prefix(OWNER_PREFIX))
            else {
                continue;
            };
            if validate(name).is_err() {
                continue;
            }
            // Unreadable or half-written (its creator is writing it right now): skip.
            let Some(record) = fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| OwnerRecord::parse(&t))
            else {
                continue;
            };
            if record.owner_alive() {
                continue;
            }
            match remove_if_same(name, (record.dev, record.ino)) {
                Ok(()) => removed.push(name.to_string()),
                // The segment is gone or is another one now: only the record is stale.
                Err(ShmError::NotFound) => {
                    let _ = shm::shm_unlink(&record_name(name));
                }
                Err(_) => {}
            }
        }
        Ok(removed)
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if self.should_unlink() {
            let _ = remove_if_same(&self.name, self.ident);
        }
    }
}

impl fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("owner", &self.is_owner())
            .finish()
    }
}

#[cfg(test)]
#[path = "shm_tests.rs"]
mod tests;
