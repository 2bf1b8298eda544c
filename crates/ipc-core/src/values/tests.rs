//! Tests of `Value`, `RawValue`, `Array` and `RawArray` with real processes.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use super::*;
use crate::sync::{Lock, Timeout, WouldBlock};
use crate::sys::testfork::{fork_child, with_watchdog};
use crate::transfer::{decode_with_fds, encode_with_fds};

const WAIT: Duration = Duration::from_secs(30);
const WATCHDOG: Duration = Duration::from_secs(60);

crate::pod_struct! {
    #[derive(Debug, PartialEq)]
    struct Sample {
        a: f64,
        b: i32,
        c: u16,
        d: [u8; 2],
    }
}

/// Creates every value type zeroed, lets a forked child write `v` into each, and checks the
/// parent sees it after the child exits.
fn child_writes<T: Shareable + PartialEq + Debug>(zero: T, v: T) {
    let value = Value::<T>::zeroed().unwrap();
    let raw = RawValue::<T>::zeroed().unwrap();
    let array = Array::<T>::zeroed(3).unwrap();
    let raw_array = RawArray::<T>::zeroed(3).unwrap();
    assert_eq!(value.get(), zero);
    assert_eq!(raw.get(), zero);
    assert_eq!(array.to_vec(), vec![zero; 3]);
    assert_eq!(raw_array.to_vec(), vec![zero; 3]);
    let mut child = fork_child(|| {
        value.set(v);
        raw.set(v);
        array.set(1, v).unwrap();
        raw_array.copy_in(1, &[v, v]).unwrap();
        0
    });
    assert_eq!(child.wait(WAIT), 0, "{}", std::any::type_name::<T>());
    assert_eq!(value.get(), v);
    assert_eq!(raw.get(), v);
    assert_eq!(array.to_vec(), vec![zero, v, zero]);
    assert_eq!(raw_array.to_vec(), vec![zero, v, v]);
}

#[test]
fn a_childs_writes_to_every_element_type_are_seen_after_join() {
    with_watchdog(WATCHDOG, || {
        child_writes(0i8, -7);
        child_writes(0i16, -30_000);
        child_writes(0i32, i32::MIN);
        child_writes(0i64, -1 << 40);
        child_writes(0i128, i128::MIN + 3);
        child_writes(0isize, -5);
        child_writes(0u8, 255);
        child_writes(0u16, 65_000);
        child_writes(0u32, 4_000_000_000);
        child_writes(0u64, u64::MAX - 1);
        child_writes(0u128, u128::MAX / 3);
        child_writes(0usize, usize::MAX);
        child_writes(0f32, -1.25);
        child_writes(0f64, std::f64::consts::PI);
        child_writes(false, true);
        child_writes('\0', 'ß');
        child_writes([0u32; 3], [1, 2, 3]);
        child_writes(
            Sample {
                a: 0.0,
                b: 0,
                c: 0,
                d: [0; 2],
            },
            Sample {
                a: -2.5,
                b: 7,
                c: 9,
                d: [1, 2],
            },
        );
    });
}

#[test]
fn locked_increments_from_two_processes_are_all_counted() {
    with_watchdog(WATCHDOG, || {
        let v = Value::new(0u64).unwrap();
        let a = Array::<i32>::zeroed(2).unwrap();
        let work = || {
            for _ in 0..10_000 {
                *v.lock() += 1; // read-modify-write under the lock
                let mut g = a.lock();
                let x = g.get(1).unwrap();
                g.set(1, x + 1).unwrap();
            }
            0
        };
        let mut kids = [fork_child(work), fork_child(work)];
        for k in &mut kids {
            assert_eq!(k.wait(WAIT), 0);
        }
        assert_eq!(v.get(), 20_000);
        assert_eq!(a.to_vec(), vec![0, 20_000]);
    });
}

#[test]
fn an_explicitly_held_lock_and_get_obj() {
    with_watchdog(WATCHDOG, || {
        let lock = Lock::new().unwrap();
        let v = Value::with_lock(0i32, lock.clone()).unwrap();
        let a = Array::with_lock(&[0i32; 2], lock.clone()).unwrap();
        assert!(v.get_lock().same_as(&lock) && a.get_lock().same_as(&lock));
        let work = || {
            for _ in 0..5_000 {
                let _g = lock.acquire(); // one lock, both objects
                let obj = v.get_obj();
                obj.set(obj.get() + 1);
                let arr = a.get_obj();
                arr.set(0, arr.get(0).unwrap() - 1).unwrap();
            }
            0
        };
        let mut kids = [fork_child(work), fork_child(work)];
        for k in &mut kids {
            assert_eq!(k.wait(WAIT), 0);
        }
        assert_eq!(v.get(), 10_000);
        assert_eq!(a.get(0), Some(-10_000));
    });
}

#[test]
fn fetch_add_from_two_processes_needs_no_lock() {
    with_watchdog(WATCHDOG, || {
        let v = Value::new(0i64).unwrap();
        let raw = RawValue::new(0u32).unwrap();
        let arr = RawArray::<usize>::zeroed(3).unwrap();
        let work = || {
            for i in 0..10_000 {
                v.fetch_add(1);
                raw.fetch_add(1);
                arr.atomic(i % 3)
                    .unwrap()
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            0
        };
        let mut kids = [fork_child(work), fork_child(work)];
        for k in &mut kids {
            assert_eq!(k.wait(WAIT), 0);
        }
        // Nobody held the lock.
        assert!(!v.get_lock().is_locked());
        assert_eq!(v.load(), 20_000);
        assert_eq!(raw.get(), 20_000);
        assert_eq!(arr.to_vec().iter().sum::<usize>(), 20_000);
    });
}

#[test]
fn atomic_operations() {
    let v = Value::new(5u8).unwrap();
    assert_eq!(v.swap(7), 5);
    assert_eq!(v.compare_exchange(7, 9), Ok(7));
    assert_eq!(v.compare_exchange(7, 1), Err(9));
    assert_eq!(v.fetch_sub(10), 9);
    assert_eq!(v.load(), 255); // wrapping
    v.store(3);
    assert_eq!(v.get(), 3);
    let r = RawValue::new(-1isize).unwrap();
    assert_eq!(r.fetch_add(1), -1);
    assert_eq!(r.swap(4), 0);
    assert_eq!(r.compare_exchange(4, 5), Ok(4));
    r.store(r.load() * 2);
    assert_eq!(r.fetch_sub(1), 10);
}

#[test]
fn prefix_sum_computed_in_a_child() {
    with_watchdog(WATCHDOG, || {
        let n = 100_000u64;
        let input: Vec<u64> = (1..=n).collect();
        let a = Array::from_slice(&input).unwrap();
        let mut child = fork_child(|| {
            let mut xs = a.lock();
            for i in 1..xs.len() {
                xs[i] += xs[i - 1];
            }
            0
        });
        assert_eq!(child.wait(WAIT), 0);
        let out = a.to_vec();
        assert_eq!(out.len(), n as usize);
        assert_eq!(out[0], 1);
        assert_eq!(out[9], 55);
        assert_eq!(out[n as usize - 1], n * (n + 1) / 2);
        assert_eq!(a.slice(2..4).unwrap(), vec![6, 10]);
    });
}

#[test]
fn bounds_are_errors_never_panics() {
    let a = Array::from_slice(&[1u16, 2, 3]).unwrap();
    let r = RawArray::from_slice(&[1u16, 2, 3]).unwrap();
    let oob = |start, end| OutOfBounds { start, end, len: 3 };
    for (get, set) in [
        (a.get(3), a.set(3, 9)),
        (r.get(3), r.set(3, 9)),
        (a.get(usize::MAX), a.set(usize::MAX, 9)),
    ] {
        assert_eq!(get, None);
        assert!(set.is_err());
    }
    assert_eq!(a.set(3, 9), Err(oob(3, 4)));
    assert_eq!(r.set(usize::MAX, 9), Err(oob(usize::MAX, usize::MAX)));
    assert_eq!(a.slice(1..4), Err(oob(1, 4)));
    let (two, one) = (2, 1);
    assert_eq!(r.slice(two..one), Err(oob(2, 1)));
    assert_eq!(r.slice(..=3), Err(oob(0, 4)));
    assert_eq!(r.slice(..=usize::MAX), Err(oob(0, usize::MAX)));
    assert_eq!(r.slice(3..), Ok(vec![]));
    assert_eq!(r.slice(..), Ok(vec![1, 2, 3]));
    assert_eq!(a.copy_in(2, &[7, 7]), Err(oob(2, 4)));
    assert_eq!(
        r.copy_in(usize::MAX, &[7]),
        Err(oob(usize::MAX, usize::MAX))
    );
    assert_eq!(a.to_vec(), vec![1, 2, 3], "a failed copy_in writes nothing");
    let mut buf = [0u16; 2];
    assert_eq!(a.copy_out(2, &mut buf), Err(oob(2, 4)));
    assert_eq!(buf, [0, 0]);
    assert_eq!(r.copy_out(1, &mut buf), Ok(()));
    assert_eq!(buf, [2, 3]);
    assert!(a.atomic(3).is_none() && r.atomic(usize::MAX).is_none());
    assert_eq!(oob(3, 4).to_string(), "index 3 out of range for length 3");
    assert_eq!(
        oob(1, 4).to_string(),
        "range 1..4 out of range for length 3"
    );

    // The guard: direct element access, then through the copy.
    let mut g = a.lock();
    assert_eq!(g.get(3), None);
    assert!(g.set(3, 1).is_err());
    g.set(0, 10).unwrap();
    assert_eq!(g.len(), 3); // materialises the copy
    assert_eq!(g.get(0), Some(10));
    assert!(g.set(3, 1).is_err());
    g.set(1, 20).unwrap();
    assert_eq!(g.get(1), Some(20));
    drop(g);
    assert_eq!(a.to_vec(), vec![10, 20, 3]);

    // Empty arrays.
    let e = RawArray::<f64>::zeroed(0).unwrap();
    assert!(e.is_empty() && e.get(0).is_none() && e.to_vec().is_empty());
    assert_eq!(e.copy_in(0, &[]), Ok(()));
    let e = Array::<bool>::from_slice(&[]).unwrap();
    assert!(e.lock().is_empty());
}

#[test]
fn zero_sized_and_over_aligned_elements() {
    let z = RawArray::<[u8; 0]>::zeroed(5).unwrap();
    assert_eq!(z.len(), 5);
    assert_eq!(z.get(4), Some([]));
    assert_eq!(z.get(5), None);

    #[repr(C, align(64))]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Line([u64; 8]);
    // SAFETY: repr(C) wrapper of [u64; 8], 64 bytes, no padding.
    unsafe impl Pod for Line {}
    let lines = Array::from_slice(&[Line([1; 8]), Line([2; 8])]).unwrap();
    assert_eq!(lines.get(1), Some(Line([2; 8])));
}

#[test]
fn a_guard_writes_back_only_when_changed() {
    let v = Value::new(1u32).unwrap();
    let g = v.lock();
    assert_eq!(*g, 1);
    v.get_obj().set(5); // someone not using the lock
    drop(g); // read-only guard: nothing written back
    assert_eq!(v.get(), 5);
    let mut g = v.lock();
    *g += 1;
    v.store(100); // lost: the guard writes its copy back
    drop(g);
    assert_eq!(v.get(), 6);
}

#[test]
fn lock_variants_and_debug_do_not_block() {
    let v = Value::new(3i32).unwrap();
    let a = Array::from_slice(&[1u8]).unwrap();
    let g = v.lock();
    let ga = a.lock();
    assert!(format!("{v:?}").contains("value: 3"));
    assert!(format!("{a:?}").contains("len: 1"));
    assert!(format!("{g:?}").contains("value: 3"));
    assert!(format!("{ga:?}").contains("ArrayGuard"));
    assert_eq!(v.try_lock().err(), Some(WouldBlock));
    assert_eq!(a.try_lock().err(), Some(WouldBlock));
    let t = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(v.lock_timeout(t).err(), Some(Timeout));
    assert!(start.elapsed() >= t);
    let start = Instant::now();
    assert_eq!(a.lock_timeout(t).err(), Some(Timeout));
    assert!(start.elapsed() >= t);
    assert!(a.lock_deadline(Instant::now()).is_err());
    assert!(v.lock_deadline(Instant::now()).is_err());
    drop((g, ga));
    assert!(!v.try_lock().unwrap().previous_owner_died());
    assert!(!a.lock_timeout(t).unwrap().previous_owner_died());
    assert!(format!("{:?}", RawValue::new(true).unwrap()).contains("true"));
    assert!(format!("{:?}", RawArray::<u8>::zeroed(2).unwrap()).contains("len: 2"));
}

#[test]
fn a_dead_holder_does_not_wedge_the_value() {
    with_watchdog(WATCHDOG, || {
        let v = Value::new(10u32).unwrap();
        let ready = RawValue::new(false).unwrap();
        let mut child = fork_child(|| {
            let mut g = v.lock();
            *g = 99; // changed in the guard's copy, never written back
            ready.set(true);
            std::thread::sleep(Duration::from_secs(60));
            0
        });
        let start = Instant::now();
        while !ready.get() {
            assert!(start.elapsed() < WAIT, "child never took the lock");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(v.try_lock().is_err());
        child.kill();
        let g = v
            .lock_timeout(Duration::from_secs(10))
            .expect("lock recovered");
        assert!(g.previous_owner_died());
        assert_eq!(*g, 10);
        drop(g);
        assert_eq!(child.wait(WAIT), -9);
    });
}

#[test]
fn clones_share_memory() {
    let v = Value::new(1.5f32).unwrap();
    let w = v.clone();
    w.set(2.5);
    assert_eq!(v.get(), 2.5);
    assert!(v.same_as(&w));
    assert!(!v.same_as(&Value::new(2.5f32).unwrap()));
    let a = Array::from_slice(&['a', 'b']).unwrap();
    let b = a.clone();
    b.set(0, 'z').unwrap();
    assert_eq!(a.to_vec(), vec!['z', 'b']);
    assert!(a.same_as(&b) && a.get_obj().same_as(b.get_obj()));
    let r = RawValue::new(1u8).unwrap();
    assert!(r.same_as(&r.clone()));
}

#[test]
fn stored_forms_of_bool_and_char_accept_anything() {
    assert!(bool::from_repr(2));
    assert!(!bool::from_repr(0));
    assert_eq!(char::from_repr(0xD800), char::REPLACEMENT_CHARACTER);
    assert_eq!(char::from_repr(0x41), 'A');
    assert_eq!(true.to_repr(), 1);
}

#[test]
fn serialising_outside_a_transfer_is_refused() {
    let v = Value::new(1u8).unwrap();
    assert!(crate::codec::encode(&v).is_err());
    assert!(crate::codec::encode(&RawArray::<u8>::zeroed(1).unwrap()).is_err());
}

type Bundle = (Value<u32>, Array<f64>, RawValue<bool>, RawArray<i16>);

fn bundle() -> Bundle {
    (
        Value::new(1).unwrap(),
        Array::from_slice(&[1.0, 2.0]).unwrap(),
        RawValue::new(false).unwrap(),
        RawArray::zeroed(4).unwrap(),
    )
}

#[test]
fn transfer_round_trip_reaches_the_same_memory() {
    let b = bundle();
    let enc = encode_with_fds(&b).unwrap();
    assert_eq!(enc.fds.len(), 6); // two regions + two locks + two regions
    // SAFETY: bytes and descriptors come from `encode_with_fds` just above, in this process.
    let d: Bundle = unsafe { decode_with_fds(&enc.bytes, enc.fds) }.unwrap();
    d.0.set(7);
    d.1.set(1, -1.0).unwrap();
    d.2.set(true);
    d.3.copy_in(2, &[5, 6]).unwrap();
    assert_eq!(b.0.get(), 7);
    assert_eq!(b.1.to_vec(), vec![1.0, -1.0]);
    assert!(b.2.get());
    assert_eq!(b.3.to_vec(), vec![0, 0, 5, 6]);
    // The lock is shared too.
    let _g = b.0.lock();
    assert!(d.0.try_lock().is_err());
}

#[test]
fn transfer_to_a_forked_child() {
    with_watchdog(WATCHDOG, || {
        let b = bundle();
        let enc = encode_with_fds(&b).unwrap();
        let mut child = fork_child(|| {
            // As a launcher would: the child gets the bytes and the descriptor table.
            let fds = enc.fds.iter().map(|f| f.try_clone().unwrap()).collect();
            // SAFETY: produced by `encode_with_fds` in the parent (same binary).
            let d: Bundle = unsafe { decode_with_fds(&enc.bytes, fds) }.unwrap();
            *d.0.lock() += 41;
            d.1.lock()[0] = 0.5;
            d.2.set(true);
            d.3.atomic(3)
                .unwrap()
                .fetch_sub(2, std::sync::atomic::Ordering::SeqCst);
            0
        });
        assert_eq!(child.wait(WAIT), 0);
        assert_eq!(b.0.get(), 42);
        assert_eq!(b.1.get(0), Some(0.5));
        assert!(b.2.get());
        assert_eq!(b.3.get(3), Some(-2));
    });
}

#[test]
fn a_handle_received_as_another_type_is_refused() {
    fn mismatch<S: serde::Serialize, D: serde::de::DeserializeOwned>(sent: &S) -> bool {
        let enc = encode_with_fds(sent).unwrap();
        // SAFETY: from `encode_with_fds` just above, in this process.
        unsafe { decode_with_fds::<D>(&enc.bytes, enc.fds) }.is_err()
    }
    let v = Value::new(1u32).unwrap();
    assert!(!mismatch::<_, Value<u32>>(&v));
    assert!(mismatch::<_, Value<i32>>(&v));
    assert!(mismatch::<_, Value<[u8; 4]>>(&v));
    assert!(mismatch::<_, Array<u32>>(&v));
    let b = RawValue::new(true).unwrap();
    assert!(mismatch::<_, RawValue<u8>>(&b));
    let one = RawArray::from_slice(&[1u32]).unwrap();
    assert!(mismatch::<_, RawValue<u32>>(&one));
    assert!(!mismatch::<_, RawArray<u32>>(&one));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Value<u8>>();
    check::<RawValue<bool>>();
    check::<Array<f64>>();
    check::<RawArray<char>>();
    check::<SharedMemory>();
    check::<ValueGuard<'static, u8>>();
}
