//! Create and drop each primitive 1,000 times: descriptors, mappings and `/dev/shm` must
//! return to where they started.

use std::time::Duration;

use integration::{dev_shm_entries, mappings, open_fds, watchdog};
use procpool::{JoinableQueue, Lock, Queue, SharedAtomics, SimpleQueue};

fn check_no_leak(name: &str, mut make_and_drop: impl FnMut()) {
    // Warm up lazily initialised state (thread-local buffers, atfork handlers).
    make_and_drop();
    let (fds, maps, shm) = (open_fds(), mappings(), dev_shm_entries());
    for _ in 0..1000 {
        make_and_drop();
    }
    assert_eq!(open_fds(), fds, "{name}: descriptors leaked");
    assert!(
        mappings() <= maps + 2,
        "{name}: mappings leaked ({} -> {})",
        maps,
        mappings()
    );
    assert_eq!(dev_shm_entries(), shm, "{name}: /dev/shm entries leaked");
}

#[test]
fn primitives_do_not_leak() {
    watchdog(Duration::from_secs(300), || {
        check_no_leak("Lock", || {
            let l = Lock::new().unwrap();
            drop(l.acquire());
        });
        check_no_leak("Queue", || {
            let q = Queue::<u64>::new(0).unwrap();
            q.put(1).unwrap();
            assert_eq!(q.get().unwrap(), 1);
        });
        check_no_leak("JoinableQueue", || {
            let q = JoinableQueue::<u8>::new(4).unwrap();
            q.put(1).unwrap();
            q.get().unwrap();
            q.task_done().unwrap();
        });
        check_no_leak("SimpleQueue", || {
            let q = SimpleQueue::<String>::new().unwrap();
            q.put("x".into()).unwrap();
        });
        check_no_leak("SharedAtomics", || {
            let a = SharedAtomics::new(16).unwrap();
            a[3].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
    })
}
