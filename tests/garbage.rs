//! Garbage in: random, truncated and mutated bytes fed to the codec and, through real pipes
//! and socketpairs, to the pipe framing. Always an error value, never a panic, never an allocation larger than
//! the frame limit.
//!
//! A counting global allocator records the largest single allocation made by the thread
//! under test while it decodes, so "no huge allocation" is measured, not assumed. Beyond the
//! issue's bound (`MAX_MESSAGE_LEN`), the tests hold the codec to a much tighter one: garbage of
//! `n` bytes never makes it allocate more than `max(4 MiB, 64·n)` (serde caps its own
//! pre-allocation of sequences at 1 MiB of elements).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use integration::{figure, scaled, watchdog};
use std::os::fd::AsFd;

use procpool::codec::{self, DecodeErrorKind, MAX_MESSAGE_LEN};
use procpool::pipe::CanRecv;
use procpool::{ByteBuf, Connection, Pipe, RecvBytesIntoError, RecvError};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- the counting allocator

struct Counting;

thread_local! {
    /// Largest single allocation (or reallocation target) made by this thread while tracking.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TRACKING: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
        }
    });
}

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the bookkeeping only reads `Layout`/size values and touches const-initialised
// thread-locals of `Cell<usize>`/`Cell<bool>` (no allocation, no destructor), so the
// GlobalAlloc contract is exactly the system allocator's.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its value with the largest single allocation it made on this thread.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|m| m.set(0));
    TRACKING.with(|t| t.set(true));
    let r = f();
    TRACKING.with(|t| t.set(false));
    (r, LARGEST.with(|m| m.get()))
}

/// The tight bound: garbage of `n` bytes may make the decoder allocate at most this much.
/// serde pre-allocates at most 1 MiB of elements for a sequence whatever its claimed length
/// (a hash map's table for that many entries is about twice as big); the codec lets a message
/// claim up to 16 bytes of memory per input byte, rounded up to a power of 4.
fn tight_bound(n: usize) -> usize {
    (4 << 20).max(64 * n)
}

static INPUTS: AtomicU64 = AtomicU64::new(0);
static LARGEST_SEEN: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------- the types decoded

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Empty,
    Number(i64),
    Text(String),
    Blob(ByteBuf),
    Record {
        id: u32,
        name: String,
        tags: Vec<String>,
        score: Option<f64>,
    },
    Batch(Vec<(u16, ByteBuf)>),
    Map(BTreeMap<String, Vec<u64>>),
}

fn msg_strategy() -> impl Strategy<Value = Msg> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..300).prop_map(ByteBuf::from);
    prop_oneof![
        Just(Msg::Empty),
        any::<i64>().prop_map(Msg::Number),
        ".{0,40}".prop_map(Msg::Text),
        bytes.clone().prop_map(Msg::Blob),
        (
            any::<u32>(),
            ".{0,20}",
            proptest::collection::vec(".{0,8}", 0..6),
            any::<Option<f64>>()
        )
            .prop_map(|(id, name, tags, score)| Msg::Record {
                id,
                name,
                tags,
                score
            }),
        proptest::collection::vec((any::<u16>(), bytes), 0..5).prop_map(Msg::Batch),
        proptest::collection::btree_map(
            ".{0,6}",
            proptest::collection::vec(any::<u64>(), 0..6),
            0..4
        )
        .prop_map(Msg::Map),
    ]
}

/// Decodes `bytes` as `T` with `decode` and `decode_prefix`; checks the allocation bounds;
/// returns whether the whole-message decode succeeded.
fn try_decode<T: DeserializeOwned>(bytes: &[u8]) -> bool {
    INPUTS.fetch_add(1, Ordering::Relaxed);
    let (ok, largest) = largest_allocation(|| {
        let whole = codec::decode::<T>(bytes).is_ok();
        let _ = codec::decode_prefix::<T>(bytes);
        whole
    });
    LARGEST_SEEN.fetch_max(largest as u64, Ordering::Relaxed);
    assert!(
        largest <= MAX_MESSAGE_LEN,
        "decoding {} bytes as {} allocated {largest} bytes at once (limit {MAX_MESSAGE_LEN})",
        bytes.len(),
        std::any::type_name::<T>()
    );
    assert!(
        largest <= tight_bound(bytes.len()),
        "decoding {} bytes as {} allocated {largest} bytes at once: {:02x?}",
        bytes.len(),
        std::any::type_name::<T>(),
        &bytes[..bytes.len().min(16)]
    );
    ok
}

/// Every type of the suite, on the same bytes.
fn decode_as_everything(bytes: &[u8]) {
    try_decode::<u8>(bytes);
    try_decode::<u64>(bytes);
    try_decode::<i128>(bytes);
    try_decode::<f64>(bytes);
    try_decode::<char>(bytes);
    try_decode::<bool>(bytes);
    try_decode::<String>(bytes);
    try_decode::<Vec<u8>>(bytes);
    try_decode::<ByteBuf>(bytes);
    try_decode::<Vec<String>>(bytes);
    try_decode::<Vec<ByteBuf>>(bytes);
    try_decode::<Option<Vec<u64>>>(bytes);
    try_decode::<(u32, String, Vec<i16>)>(bytes);
    try_decode::<BTreeMap<String, ByteBuf>>(bytes);
    try_decode::<HashMap<u64, String>>(bytes);
    try_decode::<HashSet<String>>(bytes);
    try_decode::<Msg>(bytes);
    try_decode::<Vec<Msg>>(bytes);
    try_decode::<procpool::TaskError>(bytes);
    try_decode::<Result<Vec<Msg>, String>>(bytes);
}

fn config(ci: u32, soak: u32) -> ProptestConfig {
    ProptestConfig {
        cases: scaled(ci, soak),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs a property for `ci` cases (`soak` under `PROCPOOL_SOAK=1`) under a watchdog, so that a
/// receive that waits fails the test instead of hanging the suite. A failure panics with the
/// smallest failing input proptest found.
fn property<S, F>(ci: u32, soak: u32, strategy: fn() -> S, test: F)
where
    S: Strategy + 'static,
    F: Fn(S::Value) -> Result<(), TestCaseError> + Send + 'static,
{
    watchdog(Duration::from_secs(1800), move || {
        let mut runner = TestRunner::new(config(ci, soak));
        if let Err(e) = runner.run(&strategy(), test) {
            panic!("{e}");
        }
    });
}

// ---------------------------------------------------------------- codec properties

/// Random bytes, as every type: an error or a value, never a panic or a huge allocation.
#[test]
fn random_bytes_never_panic() {
    property(
        2_000,
        200_000,
        || (proptest::collection::vec(any::<u8>(), 0..600),),
        |(bytes,)| {
            decode_as_everything(&bytes);
            Ok(())
        },
    );
}

/// Random bytes behind a length prefix that claims a lot: the decoder must not believe it.
#[test]
fn huge_length_claims_do_not_allocate() {
    property(
        2_000,
        200_000,
        || {
            (
                prop_oneof![Just(251u8), Just(252u8), Just(253u8)],
                any::<u64>(),
                proptest::collection::vec(any::<u8>(), 0..64),
            )
        },
        |(marker, claim, tail)| {
            let mut bytes = vec![marker];
            match marker {
                251 => bytes.extend_from_slice(&(claim as u16).to_le_bytes()),
                252 => bytes.extend_from_slice(&(claim as u32).to_le_bytes()),
                _ => bytes.extend_from_slice(&claim.to_le_bytes()),
            }
            bytes.extend_from_slice(&tail);
            decode_as_everything(&bytes);
            // The same claim one level down (inside an enum variant or a tuple).
            let mut nested = vec![2u8];
            nested.extend_from_slice(&bytes);
            decode_as_everything(&nested);
            Ok(())
        },
    );
}

/// Every strict prefix of a valid message is an error (never a wrong value).
#[test]
fn truncated_messages_are_errors() {
    property(
        2_000,
        200_000,
        || (msg_strategy(), any::<prop::sample::Index>()),
        |(msg, cut)| {
            let bytes = codec::encode(&msg).unwrap();
            prop_assert_eq!(codec::decode::<Msg>(&bytes).unwrap(), msg.clone());
            let cut = cut.index(bytes.len());
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let (r, largest) = largest_allocation(|| codec::decode::<Msg>(&bytes[..cut]));
            let kind = r.expect_err("a strict prefix decoded").kind();
            prop_assert!(
                matches!(
                    kind,
                    DecodeErrorKind::UnexpectedEnd | DecodeErrorKind::TooLarge
                ),
                "prefix gave {:?}",
                kind
            );
            prop_assert!(largest <= tight_bound(cut));
            // And with a byte of garbage appended: trailing bytes.
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert_eq!(
                codec::decode::<Msg>(&longer).unwrap_err().kind(),
                DecodeErrorKind::TrailingBytes
            );
            Ok(())
        },
    );
}

/// Valid messages with bytes flipped, inserted or deleted: a value or an error, as every
/// type.
#[test]
fn mutated_messages_never_panic() {
    property(
        2_000,
        200_000,
        || {
            (
                proptest::collection::vec(msg_strategy(), 1..4),
                proptest::collection::vec(
                    (any::<prop::sample::Index>(), any::<u8>(), 0u8..3),
                    1..6,
                ),
            )
        },
        |(msgs, edits)| {
            let mut bytes = codec::encode(&msgs).unwrap();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] ^= byte | 1,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            decode_as_everything(&bytes);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- pipe framing

static FRAMES_INPUTS: AtomicU64 = AtomicU64::new(0);
static FRAMES_RECEIVES: AtomicU64 = AtomicU64::new(0);

/// How the receiver asks for messages.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Bytes,
    Value,
    BytesMax,
    BytesInto,
}

/// What one receive returned, in a form that can be compared.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Bytes(Vec<u8>),
    Value(Msg),
    /// A typed error, by name: the stream is still in step after these.
    Soft(&'static str),
    /// A typed error after which the end can only report `Broken`.
    Hard(&'static str),
    Eof,
    Broken,
}

fn classify(e: &RecvError) -> Got {
    match e {
        RecvError::Eof => Got::Eof,
        RecvError::Broken => Got::Broken,
        RecvError::Decode(_) => Got::Soft("Decode"),
        RecvError::TooLong { .. } => Got::Hard("TooLong"),
        RecvError::Truncated => Got::Hard("Truncated"),
        RecvError::BadFrame => Got::Hard("BadFrame"),
        RecvError::Io(_) => Got::Hard("Io"),
    }
}

fn receive_one<D: CanRecv>(rx: &Connection<D>, ask: Ask) -> Got {
    match ask {
        Ask::Bytes => rx
            .recv_bytes()
            .map(Got::Bytes)
            .unwrap_or_else(|e| classify(&e)),
        Ask::Value => rx
            .recv::<Msg>()
            .map(Got::Value)
            .unwrap_or_else(|e| classify(&e)),
        Ask::BytesMax => match rx.recv_bytes_max(100) {
            Ok(b) => Got::Bytes(b),
            // A message over the caller's maximum is read and dropped: still in step.
            Err(RecvError::TooLong { limit: 100, .. }) => Got::Soft("TooLong(max)"),
            Err(e) => classify(&e),
        },
        Ask::BytesInto => {
            let mut buf = [0u8; 64];
            match rx.recv_bytes_into(&mut buf, 8) {
                Ok(n) => Got::Bytes(buf[8..8 + n].to_vec()),
                Err(RecvBytesIntoError::BufferTooShort(m)) => Got::Bytes(m),
                Err(RecvBytesIntoError::Recv(e)) => classify(&e),
                Err(_) => Got::Hard("other"),
            }
        }
    }
}

/// Receives until end of file or a broken stream, checking the error protocol: after a hard
/// error only `Broken` follows, and the loop always ends (the writer is closed).
fn drain<D: CanRecv>(rx: &Connection<D>, ask: Ask) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        FRAMES_RECEIVES.fetch_add(1, Ordering::Relaxed);
        let got = receive_one(rx, ask);
        if let Some(Got::Hard(_)) = out.last() {
            assert_eq!(got, Got::Broken, "after a framing error: {out:?}");
        }
        let end = matches!(got, Got::Eof | Got::Broken);
        out.push(got);
        if end {
            if out.last() == Some(&Got::Eof) {
                // End of file stays end of file.
                assert_eq!(receive_one(rx, ask), Got::Eof);
            }
            return out;
        }
        assert!(out.len() < 100_000, "receive loop does not end");
    }
}

/// Writes `bytes` raw into the sending end (from another thread, so that any amount fits),
/// closes it, and receives everything on this thread. Checks the allocation bound.
fn feed(bytes: &[u8], duplex: bool, ask: Ask) -> Vec<Got> {
    FRAMES_INPUTS.fetch_add(1, Ordering::Relaxed);
    let data = bytes.to_vec();
    let (got, largest) = if duplex {
        let (rx, tx) = Pipe::duplex().unwrap();
        let writer = std::thread::spawn(move || write_raw(tx, &data));
        let r = largest_allocation(|| drain(&rx, ask));
        writer.join().unwrap();
        r
    } else {
        let (rx, tx) = Pipe::one_way().unwrap();
        let writer = std::thread::spawn(move || write_raw(tx, &data));
        let r = largest_allocation(|| drain(&rx, ask));
        writer.join().unwrap();
        r
    };
    LARGEST_SEEN.fetch_max(largest as u64, Ordering::Relaxed);
    assert!(largest <= MAX_MESSAGE_LEN);
    assert!(
        largest <= tight_bound(bytes.len()),
        "receiving {} bytes of garbage allocated {largest} bytes at once",
        bytes.len()
    );
    got
}

/// Writes all of `bytes` to the end's descriptor, then closes it.
fn write_raw<E: AsFd>(end: E, bytes: &[u8]) {
    let mut at = 0;
    while at < bytes.len() {
        match nix::unistd::write(end.as_fd(), &bytes[at..]) {
            Ok(n) => at += n,
            Err(nix::errno::Errno::EINTR) => {}
            // The receiver stopped reading (a broken stream): the rest does not matter.
            Err(_) => return,
        }
    }
}

/// The bytes a real sender puts on the wire for `msgs` (each either a value or raw bytes).
fn wire(msgs: &[(Msg, Option<Vec<u8>>)]) -> Vec<u8> {
    let (rx, tx) = Pipe::one_way().unwrap();
    let owned = msgs.to_vec();
    let sender = std::thread::spawn(move || {
        for (m, raw) in &owned {
            match raw {
                Some(b) => tx.send_bytes(b).unwrap(),
                None => tx.send(m).unwrap(),
            }
        }
    });
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match nix::unistd::read(rx.as_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    sender.join().unwrap();
    out
}

fn ask_strategy() -> impl Strategy<Value = Ask> {
    prop_oneof![
        Just(Ask::Bytes),
        Just(Ask::Value),
        Just(Ask::BytesMax),
        Just(Ask::BytesInto)
    ]
}

fn wire_msgs() -> impl Strategy<Value = Vec<(Msg, Option<Vec<u8>>)>> {
    proptest::collection::vec(
        (
            msg_strategy(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..400)),
        ),
        0..5,
    )
}

/// Random bytes on the wire: typed errors, never a panic or a wait.
#[test]
fn random_bytes_on_a_pipe() {
    property(
        1_000,
        100_000,
        || {
            (
                proptest::collection::vec(any::<u8>(), 0..2000),
                any::<bool>(),
                ask_strategy(),
            )
        },
        |(bytes, duplex, ask)| {
            let got = feed(&bytes, duplex, ask);
            prop_assert!(matches!(got.last(), Some(Got::Eof | Got::Broken)));
            Ok(())
        },
    );
}

/// A real stream cut anywhere: every whole message arrives intact and in order, then end
/// of file (cut between frames) or `Truncated`; never a wrong message.
#[test]
fn truncated_streams() {
    property(
        1_000,
        100_000,
        || (wire_msgs(), any::<prop::sample::Index>(), any::<bool>()),
        |(msgs, cut, duplex)| {
            let bytes = wire(&msgs);
            let whole = feed(&bytes, duplex, Ask::Bytes);
            prop_assert_eq!(whole.len(), msgs.len() + 1);
            prop_assert_eq!(whole.last(), Some(&Got::Eof));
            let cut = if bytes.is_empty() {
                0
            } else {
                cut.index(bytes.len() + 1)
            };
            let got = feed(&bytes[..cut], duplex, Ask::Bytes);
            let k = got
                .iter()
                .take_while(|g| matches!(g, Got::Bytes(_)))
                .count();
            prop_assert!(k <= msgs.len());
            prop_assert_eq!(&got[..k], &whole[..k], "a message changed");
            let tail = &got[k..];
            prop_assert!(
                tail == [Got::Eof] || tail == [Got::Hard("Truncated"), Got::Broken],
                "ended with {:?}",
                tail
            );
            if cut == bytes.len() {
                prop_assert_eq!(k, msgs.len());
            }
            Ok(())
        },
    );
}

/// A real stream with bytes flipped, inserted or deleted.
#[test]
fn mutated_streams() {
    property(
        1_000,
        100_000,
        || {
            (
                wire_msgs(),
                proptest::collection::vec(
                    (any::<prop::sample::Index>(), any::<u8>(), 0u8..3),
                    1..6,
                ),
                any::<bool>(),
                ask_strategy(),
            )
        },
        |(msgs, edits, duplex, ask)| {
            let mut bytes = wire(&msgs);
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] ^= byte | 1,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            feed(&bytes, duplex, ask);
            Ok(())
        },
    );
}

/// Headers that pass the check word but announce any length, followed by a few bytes.
#[test]
fn forged_headers() {
    property(
        1_000,
        100_000,
        || {
            (
                any::<u32>(),
                proptest::collection::vec(any::<u8>(), 0..300),
                ask_strategy(),
            )
        },
        |(len, tail, ask)| {
            let probe = wire(&[(Msg::Empty, Some(Vec::new()))]);
            let magic = u32::from_le_bytes(probe[4..8].try_into().unwrap())
                ^ u32::from_le_bytes(probe[..4].try_into().unwrap());
            let mut bytes = len.to_le_bytes().to_vec();
            bytes.extend_from_slice(&(len ^ magic).to_le_bytes());
            bytes.extend_from_slice(&tail);
            let got = feed(&bytes, false, ask);
            if len as usize > MAX_MESSAGE_LEN {
                prop_assert_eq!(&got[0], &Got::Hard("TooLong"));
            }
            Ok(())
        },
    );
}

/// The regression that the counting allocator found: a 5-byte message claiming a 1 GiB string
/// made `decode` allocate (and zero) about 1 GiB before noticing that the bytes were not there.
#[test]
fn a_five_byte_claim_does_not_allocate_a_gigabyte() {
    watchdog(Duration::from_secs(60), || {
        for ty in 0..3 {
            let bytes = [252u8, 0, 0, 0, 0x3f]; // varint u32: 0x3f00_0000, just under 1 GiB
            let (is_err, largest) = largest_allocation(|| match ty {
                0 => codec::decode::<String>(&bytes).is_err(),
                1 => codec::decode::<ByteBuf>(&bytes).is_err(),
                _ => codec::decode::<Vec<u8>>(&bytes).is_err(),
            });
            assert!(is_err);
            assert!(
                largest <= tight_bound(bytes.len()),
                "type {ty}: 5 bytes of garbage allocated {largest} bytes"
            );
        }
    });
}

/// Large valid messages still decode after the tightening (the limit follows the input).
#[test]
fn large_messages_still_decode() {
    watchdog(Duration::from_secs(60), || {
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            1 << 20,
            (1 << 20) + 1,
            17 << 20,
        ] {
            let s = "x".repeat(len);
            let b = ByteBuf::from(vec![7u8; len]);
            let enc = codec::encode(&(s.clone(), b.clone(), vec![s.clone()])).unwrap();
            let back: (String, ByteBuf, Vec<String>) = codec::decode(&enc).unwrap();
            assert_eq!(back.0.len(), len);
            assert_eq!(back.1, b);
            assert_eq!(back.2, vec![s]);
            // The densest claims: 16 (u128) and 8 (u64) bytes of memory per encoded byte.
            let wide = (
                vec![0u128; len / 16],
                vec![1u64; len / 8],
                vec![true; len / 8],
            );
            let back: (Vec<u128>, Vec<u64>, Vec<bool>) =
                codec::decode(&codec::encode(&wide).unwrap()).unwrap();
            assert_eq!(back, wide);
        }
    });
}

/// Prints the figures (run with `--nocapture`, or set `PROCPOOL_FIGURES`). Named to run last
/// in alphabetical order; the counts are what this process tried.
#[test]
fn zz_report_codec_figures() {
    // Give the property tests (other threads) a moment: the figure is a lower bound anyway.
    std::thread::sleep(std::time::Duration::from_millis(50));
    figure(
        "garbage.codec",
        format!(
            "{} decodes of random, truncated or mutated inputs (each input decoded as up to 20 types, whole and as a prefix)",
            INPUTS.load(Ordering::Relaxed),
        ),
    );
    figure(
        "garbage.pipe",
        format!(
            "{} byte streams fed to pipes and socketpairs, {} receives, all ending in a typed error",
            FRAMES_INPUTS.load(Ordering::Relaxed),
            FRAMES_RECEIVES.load(Ordering::Relaxed),
        ),
    );
    figure(
        "garbage.largest_allocation",
        format!(
            "{} bytes (limit {MAX_MESSAGE_LEN})",
            LARGEST_SEEN.load(Ordering::Relaxed)
        ),
    );
}
