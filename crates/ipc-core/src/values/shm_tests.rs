//! Tests of named `SharedMemory`, with forked children, an unrelated process started with
//! `std::process::Command`, and Python.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use crate::RawValue;
use crate::sys::testfork::{fork_child, with_watchdog};

const WAIT: Duration = Duration::from_secs(30);
const WATCHDOG: Duration = Duration::from_secs(60);

fn test_name(tag: &str) -> String {
    format!("procpool-test-{}-{tag}", std::process::id())
}

fn exists(name: &str) -> bool {
    Path::new(&segment_path(name)).exists()
}

fn record_exists(name: &str) -> bool {
    Path::new(&format!("{SHM_DIR}/{OWNER_PREFIX}{name}")).exists()
}

#[test]
fn create_open_read_write() {
    let name = test_name("basic");
    let shm = SharedMemory::create(&name, 100).unwrap();
    assert!(shm.is_owner() && !shm.is_empty());
    assert_eq!((shm.name(), shm.len()), (name.as_str(), 100));
    assert!(exists(&name) && record_exists(&name));
    assert_eq!(shm.to_vec(), vec![0; 100]);
    shm.write_at(3, b"abcdefghijklmnop").unwrap();
    let other = SharedMemory::open(&format!("/{name}")).unwrap(); // a leading '/' is fine
    assert!(!other.is_owner());
    assert_eq!(other.name(), name);
    let mut buf = [0u8; 16];
    other.read_at(3, &mut buf).unwrap();
    assert_eq!(&buf, b"abcdefghijklmnop");
    other.write_at(99, b"!").unwrap();
    assert_eq!(shm.to_vec()[99], b'!');
    assert!(!shm.as_ptr().is_null());
    assert!(format!("{other:?}").contains("owner: false"));
    drop(other); // an opener never removes the name
    assert!(exists(&name));
    shm.close().unwrap();
    assert!(!exists(&name) && !record_exists(&name));
    assert!(matches!(SharedMemory::open(&name), Err(ShmError::NotFound)));
}

#[test]
fn typed_errors() {
    let name = test_name("errors");
    let shm = SharedMemory::create(&name, 10).unwrap();
    assert!(matches!(
        SharedMemory::create(&name, 10),
        Err(ShmError::AlreadyExists)
    ));
    assert!(matches!(
        SharedMemory::open(&test_name("missing")),
        Err(ShmError::NotFound)
    ));
    let long = "x".repeat(MAX_NAME_LEN + 1);
    for bad in ["", "/", "a/b", ".", "..", "a\0b", &long, "procpool-owner.x"] {
        assert!(
            matches!(SharedMemory::create(bad, 1), Err(ShmError::InvalidName)),
            "{bad:?}"
        );
        assert!(matches!(
            SharedMemory::open(bad),
            Err(ShmError::InvalidName)
        ));
    }
    assert!(matches!(
        SharedMemory::create(&test_name("zero"), 0),
        Err(ShmError::InvalidSize)
    ));
    assert!(!exists(&test_name("zero")));
    let e = io::Error::from(ShmError::AlreadyExists);
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(
        io::Error::from(ShmError::NotFound).kind(),
        io::ErrorKind::NotFound
    );
    let e = ShmError::Io(io::Error::from(io::ErrorKind::PermissionDenied));
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        ShmError::InvalidSize.to_string(),
        "shared memory segments cannot be empty"
    );

    // An empty segment (created by another program) cannot be opened.
    let empty = test_name("empty");
    drop(shm::shm_open(&shm_name(&empty), true).unwrap());
    assert!(matches!(
        SharedMemory::open(&empty),
        Err(ShmError::InvalidSize)
    ));
    SharedMemory::unlink_name(&empty).unwrap();
    drop(shm);
}

#[test]
fn bounds_errors() {
    let shm = SharedMemory::create(&test_name("bounds"), 16).unwrap();
    let mut two = [0u8; 2];
    assert_eq!(
        shm.read_at(15, &mut two),
        Err(OutOfBounds {
            start: 15,
            end: 17,
            len: 16
        })
    );
    assert!(shm.write_at(usize::MAX, b"x").is_err());
    assert!(shm.write_at(16, b"x").is_err());
    assert!(shm.write_at(0, &[1; 17]).is_err());
    assert_eq!(shm.to_vec(), vec![0; 16], "failed writes write nothing");
    assert_eq!(shm.read_at(16, &mut []), Ok(()));
    assert_eq!(shm.write_at(14, b"xy"), Ok(()));
}

#[test]
fn unique_names() {
    let a = SharedMemory::create_unique(1).unwrap();
    let b = SharedMemory::create_unique(1).unwrap();
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("psm_"));
    assert!(SharedMemory::open(a.name()).is_ok());
}

#[test]
fn unlink_keeps_mappings_and_never_removes_someone_elses_segment() {
    let name = test_name("unlink");
    let a = SharedMemory::create(&name, 8).unwrap();
    let opener = SharedMemory::open(&name).unwrap();
    opener.unlink().unwrap(); // any handle may
    assert!(!exists(&name) && !record_exists(&name));
    assert!(matches!(opener.unlink(), Err(ShmError::NotFound)));
    // Mappings keep working after the name is gone.
    a.write_at(0, b"still").unwrap();
    let mut buf = [0u8; 5];
    opener.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"still");
    // The name is reused by a new segment: the old handles must leave it alone.
    let b = SharedMemory::create(&name, 8).unwrap();
    assert!(matches!(a.unlink(), Err(ShmError::NotFound)));
    drop(a);
    drop(opener);
    assert!(exists(&name) && record_exists(&name));
    b.close().unwrap();
    assert!(!exists(&name));
}

#[test]
fn a_forked_childs_copy_of_the_creator_does_not_unlink() {
    with_watchdog(WATCHDOG, || {
        let name = test_name("forked-drop");
        let slot = Mutex::new(Some(SharedMemory::create(&name, 8).unwrap()));
        let mut child = fork_child(|| {
            let shm = slot.lock().unwrap().take().unwrap();
            shm.write_at(0, b"child").unwrap();
            drop(shm); // the child's copy of the creator's handle
            0
        });
        assert_eq!(child.wait(WAIT), 0);
        assert!(exists(&name));
        let shm = slot.lock().unwrap().take().unwrap();
        assert_eq!(&shm.to_vec()[..5], b"child");
        drop(shm);
        assert!(!exists(&name));
    });
}

#[test]
fn persist_and_unlink_name() {
    let name = test_name("persist");
    let mut shm = SharedMemory::create(&name, 8).unwrap();
    shm.persist().unwrap();
    assert!(!record_exists(&name));
    shm.close().unwrap();
    assert!(exists(&name));
    let again = SharedMemory::open(&name).unwrap();
    let mut opener = again;
    opener.persist().unwrap(); // no-op for an opener
    drop(opener);
    SharedMemory::unlink_name(&name).unwrap();
    assert!(!exists(&name));
    assert!(matches!(
        SharedMemory::unlink_name(&name),
        Err(ShmError::NotFound)
    ));
}

#[test]
fn a_crashed_creators_segment_is_cleaned_up() {
    with_watchdog(WATCHDOG, || {
        let name = test_name("crash");
        let ready = RawValue::new(false).unwrap();
        let mut child = fork_child(|| {
            let shm = SharedMemory::create(&name, 4096).unwrap();
            shm.write_at(0, b"orphan").unwrap();
            ready.set(true);
            std::thread::sleep(Duration::from_secs(60));
            drop(shm);
            0
        });
        let start = Instant::now();
        while !ready.get() {
            assert!(start.elapsed() < WAIT, "child never created the segment");
            std::thread::sleep(Duration::from_millis(1));
        }
        // While the creator lives, the sweep leaves the segment alone.
        assert!(!SharedMemory::cleanup_orphans().unwrap().contains(&name));
        assert!(exists(&name));

        child.kill();
        // SIGKILL runs no destructor: the name stays behind, with its owner record.
        let deadline = Instant::now() + WAIT;
        while crate::sys::proc::is_alive(child.pid()) {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(exists(&name) && record_exists(&name));
        let leftover = SharedMemory::open(&name).unwrap();
        assert_eq!(&leftover.to_vec()[..6], b"orphan");
        assert!(matches!(
            SharedMemory::create(&name, 1),
            Err(ShmError::AlreadyExists)
        ));

        let removed = SharedMemory::cleanup_orphans().unwrap();
        assert!(removed.contains(&name), "{removed:?}");
        assert!(!exists(&name) && !record_exists(&name));
        // Mappings survive the cleanup; the name is free again.
        assert_eq!(&leftover.to_vec()[..6], b"orphan");
        SharedMemory::create(&name, 1).unwrap();
        assert!(!SharedMemory::cleanup_orphans().unwrap().contains(&name));
        assert_eq!(child.wait(WAIT), -9);
    });
}

#[test]
fn cleanup_leaves_live_persisted_and_foreign_segments_alone() {
    let live = SharedMemory::create(&test_name("live"), 8).unwrap();
    let foreign = test_name("foreign"); // no owner record, like one made by Python
    let fd = shm::shm_open(&shm_name(&foreign), true).unwrap();
    shm::set_len(fd.as_fd(), 8).unwrap();
    let removed = SharedMemory::cleanup_orphans().unwrap();
    assert!(!removed.contains(&live.name().to_string()));
    assert!(!removed.contains(&foreign));
    assert!(exists(live.name()) && exists(&foreign));
    SharedMemory::unlink_name(&foreign).unwrap();
}

#[test]
fn owner_records() {
    let me = proc::pid();
    let rec = OwnerRecord {
        pid: me,
        start: start_time(me),
        dev: 1,
        ino: 2,
    };
    assert!(rec.start.is_some());
    assert_eq!(OwnerRecord::parse(&rec.to_text()), Some(rec));
    let rec = OwnerRecord::parse(
        &OwnerRecord {
            pid: me,
            start: None,
            dev: 3,
            ino: 4,
        }
        .to_text(),
    )
    .unwrap();
    assert!(rec.owner_alive());
    // The same pid with another start time is a different (reused-pid) process.
    let reused = OwnerRecord {
        pid: me,
        start: start_time(me).map(|s| s + 1),
        dev: 0,
        ino: 0,
    };
    assert!(!reused.owner_alive());
    assert!(
        !OwnerRecord {
            pid: 0,
            start: None,
            dev: 0,
            ino: 0
        }
        .owner_alive()
    );
    for bad in [
        "",
        "procpool shared memory owner record\npid x\n",
        "garbage",
    ] {
        assert_eq!(OwnerRecord::parse(bad), None);
    }
}

const ATTACH_ENV: &str = "PROCPOOL_TEST_SHM_ATTACH";

/// Run by `attach_from_an_unrelated_process` in a process of its own.
#[test]
#[ignore = "helper: run by attach_from_an_unrelated_process"]
fn attach_helper() {
    let Ok(name) = std::env::var(ATTACH_ENV) else {
        return;
    };
    let shm = SharedMemory::open(&name).unwrap();
    assert!(!shm.is_owner());
    let mut buf = [0u8; 5];
    shm.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    shm.write_at(5, b"world").unwrap();
    assert!(matches!(
        SharedMemory::create(&name, 1),
        Err(ShmError::AlreadyExists)
    ));
}

#[test]
fn attach_from_an_unrelated_process() {
    with_watchdog(WATCHDOG, || {
        let shm = SharedMemory::create(&test_name("command"), 32).unwrap();
        shm.write_at(0, b"hello").unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "values::shared_memory::tests::attach_helper",
                "--ignored",
                "--test-threads=1",
            ])
            .env(ATTACH_ENV, shm.name())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&shm.to_vec()[..10], b"helloworld");
        assert!(
            exists(shm.name()),
            "the other process must not remove the name"
        );
    });
}

#[test]
fn python_attaches_by_name() {
    with_watchdog(WATCHDOG, || {
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("python3 not found: skipped");
            return;
        }
        let shm = SharedMemory::create(&test_name("python"), 64).unwrap();
        shm.write_at(0, b"hello").unwrap();
        // Attach without letting Python's resource tracker unlink the segment at exit
        // (3.13 has track=False; before that, unregister by hand).
        let script = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
try:
    shm = shared_memory.SharedMemory(name=sys.argv[1], track=False)
except TypeError:
    shm = shared_memory.SharedMemory(name=sys.argv[1])
    resource_tracker.unregister(shm._name, "shared_memory")
assert bytes(shm.buf[:5]) == b"hello", bytes(shm.buf[:5])
shm.buf[5:10] = b"world"
print(shm.size)
shm.close()
"#;
        let out = Command::new("python3")
            .args(["-c", script, shm.name()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "64");
        assert_eq!(&shm.to_vec()[..10], b"helloworld");
        assert!(exists(shm.name()));
    });
}
