//! Fuzzes the pipe framing: the input is written raw into a real pipe (or socketpair) whose
//! sending end is then closed, and the receiving end reads until end of file. Every receive
//! must return a value or a typed error, never panic or wait; after a framing error the end
//! must only report `Broken`; and nothing may allocate more than the input justifies (run
//! with `-malloc_limit_mb=16`).
#![no_main]

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use ipc_core::pipe::CanRecv;
use ipc_core::{Connection, Pipe, RecvBytesIntoError, RecvError};
use libfuzzer_sys::fuzz_target;

/// Inputs up to this size fit in the kernel's buffer, so one thread can write then read.
const MAX_INPUT: usize = 32 * 1024;

/// Receives one message the way the selector says; `None` at the end of the stream,
/// `Some(true)` after a framing error.
fn receive<D: CanRecv>(rx: &Connection<D>, how: u8) -> Option<bool> {
    let r: Result<(), RecvError> = match how % 4 {
        0 => rx.recv_bytes().map(drop),
        1 => rx.recv::<(u32, String, Vec<u64>)>().map(drop),
        2 => match rx.recv_bytes_max(100) {
            Err(RecvError::TooLong { limit: 100, .. }) => Ok(()),
            r => r.map(drop),
        },
        _ => {
            let mut buf = [0u8; 64];
            match rx.recv_bytes_into(&mut buf, 8) {
                Ok(_) | Err(RecvBytesIntoError::BufferTooShort(_)) => Ok(()),
                Err(RecvBytesIntoError::Recv(e)) => Err(e),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
    };
    match r {
        Ok(()) | Err(RecvError::Decode(_)) => Some(false),
        Err(RecvError::Eof | RecvError::Broken) => None,
        Err(RecvError::Truncated | RecvError::BadFrame | RecvError::TooLong { .. }) => Some(true),
        Err(RecvError::Io(e)) => panic!("i/o error on a local pipe: {e}"),
    }
}

fn drain<D: CanRecv>(rx: &Connection<D>, how: u8) {
    let mut broken = false;
    for _ in 0..100_000 {
        match receive(rx, how) {
            None => return,
            Some(hard) => {
                assert!(!broken, "a receive succeeded after a framing error");
                broken = hard;
            }
        }
    }
    panic!("the receive loop does not end");
}

/// Writes `bytes` through a duplicate of `end`'s descriptor; the caller then drops `end`.
fn write_raw(end: &impl AsFd, bytes: &[u8]) {
    let mut f = File::from(end.as_fd().try_clone_to_owned().expect("dup"));
    f.write_all(bytes).expect("write to the pipe");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    if bytes.len() > MAX_INPUT {
        return;
    }
    if selector & 0x80 == 0 {
        let (rx, tx) = Pipe::one_way().expect("pipe");
        write_raw(&tx, bytes);
        drop(tx);
        drain(&rx, selector);
    } else {
        let (rx, tx) = Pipe::duplex().expect("socketpair");
        write_raw(&tx, bytes);
        drop(tx);
        drain(&rx, selector);
    }
});
