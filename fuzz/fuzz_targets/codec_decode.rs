//! Fuzzes `ipc_core::codec::decode` and `decode_prefix`: any bytes, decoded as one of a
//! range of types chosen by the first byte. Must never panic, and never allocate more than
//! the input justifies (run with `-malloc_limit_mb=16`; inputs are at most a few KiB). A value
//! that decodes must re-encode and decode to the same value.
#![no_main]

use std::collections::{BTreeMap, HashMap};

use ipc_core::ByteBuf;
use ipc_core::codec;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Msg {
    Empty,
    Number(i64),
    Text(String),
    Blob(ByteBuf),
    Record {
        id: u32,
        name: String,
        tags: Vec<String>,
        score: Option<u64>,
    },
    Batch(Vec<(u16, ByteBuf)>),
    Map(BTreeMap<String, Vec<u64>>),
}

/// Decodes `bytes` as `T`; a success must survive a round trip.
fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(v) = codec::decode::<T>(bytes) {
        let again = codec::encode(&v).expect("a decoded value encodes");
        assert_eq!(codec::decode::<T>(&again).expect("re-decodes"), v);
    }
    if let Ok((v, used)) = codec::decode_prefix::<T>(bytes) {
        assert!(used <= bytes.len());
        assert_eq!(
            codec::decode::<T>(&bytes[..used]).expect("prefix decodes alone"),
            v
        );
    }
}

/// Types without `PartialEq` (floats) or with unordered iteration: decode only.
fn decode_only<T: DeserializeOwned>(bytes: &[u8]) {
    let _ = codec::decode::<T>(bytes);
    let _ = codec::decode_prefix::<T>(bytes);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 14 {
        0 => check::<u64>(bytes),
        1 => check::<i128>(bytes),
        2 => check::<char>(bytes),
        3 => check::<String>(bytes),
        4 => check::<Vec<u8>>(bytes),
        5 => check::<ByteBuf>(bytes),
        6 => check::<Vec<String>>(bytes),
        7 => check::<Option<Vec<u64>>>(bytes),
        8 => check::<(u32, String, Vec<i16>)>(bytes),
        9 => check::<BTreeMap<String, ByteBuf>>(bytes),
        10 => check::<Msg>(bytes),
        11 => check::<Vec<Msg>>(bytes),
        12 => decode_only::<HashMap<u64, String>>(bytes),
        _ => decode_only::<(f64, Vec<f32>, Result<String, bool>)>(bytes),
    }
});
