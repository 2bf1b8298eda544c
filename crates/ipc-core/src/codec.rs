//! The one place that calls the serializer.
//!
//! Every value that crosses a process boundary — queue items, pipe messages, a child's
//! arguments, pool tasks and results — is turned into bytes here and back. The format is
//! bincode 2 (pinned to `=2.0.1`; 3.0.0 is a tombstone) through its serde integration, with a
//! hard limit on how much a decode may claim, so that garbage from a peer is an error and never
//! a huge allocation. Replacing the format (postcard, wincode, ...) is a change to this file
//! only.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest message, in bytes, that the codec encodes or decodes, and the largest frame a
/// pipe accepts: 1 GiB. A decode never claims more memory than this, whatever the input says.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_MESSAGE_LEN>,
>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_MESSAGE_LEN>();

/// What went wrong while encoding a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// The value's `Serialize` implementation reported an error (for instance a map whose
    /// length is not known in advance, or a custom error).
    Serialize,
    /// The encoding is larger than [`MAX_MESSAGE_LEN`].
    TooLarge,
    /// The value holds an object (a queue, a lock, a pipe end...) that can travel only as an
    /// argument of a child process, not inside a message.
    NotTransferable,
}

/// A value could not be encoded. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    kind: EncodeErrorKind,
    detail: String,
}

impl EncodeError {
    pub(crate) fn new(kind: EncodeErrorKind, detail: impl Into<String>) -> Self {
        EncodeError {
            kind,
            detail: detail.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> EncodeErrorKind {
        self.kind
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            EncodeErrorKind::Serialize => write!(f, "cannot encode value: {}", self.detail),
            EncodeErrorKind::TooLarge => {
                write!(
                    f,
                    "encoded value exceeds the {MAX_MESSAGE_LEN}-byte message limit"
                )
            }
            EncodeErrorKind::NotTransferable => write!(f, "{}", self.detail),
        }
    }
}

impl std::error::Error for EncodeError {}

/// What went wrong while decoding bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value was complete.
    UnexpectedEnd,
    /// The value was complete but bytes were left over.
    TrailingBytes,
    /// The input claims more memory than [`MAX_MESSAGE_LEN`], or far more than it holds.
    TooLarge,
    /// The bytes do not describe a value of the expected type.
    InvalidData,
    /// The value refers to a transferred descriptor that was not received.
    MissingDescriptor,
}

/// Bytes could not be decoded into the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    detail: String,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, detail: impl Into<String>) -> Self {
        DecodeError {
            kind,
            detail: detail.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DecodeErrorKind::UnexpectedEnd => "message truncated",
            DecodeErrorKind::TrailingBytes => "trailing bytes after message",
            DecodeErrorKind::TooLarge => "message claims more than the size limit",
            DecodeErrorKind::InvalidData => "invalid message",
            DecodeErrorKind::MissingDescriptor => "message refers to a missing descriptor",
        };
        if self.detail.is_empty() {
            f.write_str(what)
        } else {
            write!(f, "{what}: {}", self.detail)
        }
    }
}

impl std::error::Error for DecodeError {}

fn map_encode_error(e: bincode::error::EncodeError) -> EncodeError {
    if let Some(what) = crate::transfer::take_refusal() {
        return EncodeError::new(EncodeErrorKind::NotTransferable, what);
    }
    EncodeError::new(EncodeErrorKind::Serialize, e.to_string())
}

fn map_decode_error(e: bincode::error::DecodeError) -> DecodeError {
    use bincode::error::DecodeError as E;
    if crate::transfer::take_missing_fd() {
        return DecodeError::new(DecodeErrorKind::MissingDescriptor, e.to_string());
    }
    let kind = match &e {
        E::UnexpectedEnd { .. } => DecodeErrorKind::UnexpectedEnd,
        E::LimitExceeded => DecodeErrorKind::TooLarge,
        _ => DecodeErrorKind::InvalidData,
    };
    DecodeError::new(kind, e.to_string())
}

/// Encodes `value` into a new byte vector.
///
/// ```
/// use std::collections::BTreeMap;
/// use ipc_core::codec;
///
/// let value = BTreeMap::from([("spam".to_string(), vec![1u32, 2, 3])]);
/// let bytes = codec::encode(&value)?;
/// let back: BTreeMap<String, Vec<u32>> = codec::decode(&bytes)?;
/// assert_eq!(back, value);
/// assert!(codec::decode::<BTreeMap<String, Vec<u32>>>(&bytes[..3]).is_err()); // truncated
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` to `out`. On error `out` is left as it was.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    match bincode::serde::encode_into_std_write(value, out, CONFIG) {
        Ok(_) if out.len() - start > MAX_MESSAGE_LEN => {
            out.truncate(start);
            Err(EncodeError::new(EncodeErrorKind::TooLarge, String::new()))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(map_encode_error(e))
        }
    }
}

/// Decodes from a slice with claims limited to `LIMIT` bytes.
fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    bincode::serde::decode_from_slice::<T, _>(bytes, config)
}

/// Decodes from a slice, limiting what the input may claim to the smallest of a few sizes
/// that covers 16 bytes per input byte. bincode claims the in-memory size of what it decodes
/// (a string's length; 16 bytes for a `u128` that the varint encoding fits in one byte), so a
/// valid message never claims more than 16 times its length; but bincode allocates a string's
/// buffer *before* reading it, so without this a 5-byte message announcing a 1 GiB string
/// allocated 1 GiB before failing.
fn decode_slice<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    match bytes.len().saturating_mul(16) {
        n if n <= 1 << 16 => decode_limited::<T, { 1 << 16 }>(bytes),
        n if n <= 1 << 18 => decode_limited::<T, { 1 << 18 }>(bytes),
        n if n <= 1 << 20 => decode_limited::<T, { 1 << 20 }>(bytes),
        n if n <= 1 << 22 => decode_limited::<T, { 1 << 22 }>(bytes),
        n if n <= 1 << 24 => decode_limited::<T, { 1 << 24 }>(bytes),
        n if n <= 1 << 26 => decode_limited::<T, { 1 << 26 }>(bytes),
        n if n <= 1 << 28 => decode_limited::<T, { 1 << 28 }>(bytes),
        _ => bincode::serde::decode_from_slice::<T, _>(bytes, CONFIG),
    }
}

/// Encodes `value` into `out` if it fits: `Ok(Some(len))` with the encoded length, or
/// `Ok(None)` if `out` is too small (its contents are then unspecified).
pub fn encode_into_slice<T: Serialize + ?Sized>(
    value: &T,
    out: &mut [u8],
) -> Result<Option<usize>, EncodeError> {
    match bincode::serde::encode_into_slice(value, out, CONFIG) {
        Ok(n) => Ok(Some(n)),
        Err(bincode::error::EncodeError::UnexpectedEnd) => {
            let _ = crate::transfer::take_refusal();
            Ok(None)
        }
        Err(e) => Err(map_encode_error(e)),
    }
}

/// Decodes a whole value from `bytes`. Leftover bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::new(DecodeErrorKind::TooLarge, String::new()));
    }
    match decode_slice::<T>(bytes) {
        Ok((v, used)) if used == bytes.len() => Ok(v),
        Ok((_, used)) => Err(DecodeError::new(
            DecodeErrorKind::TrailingBytes,
            format!("{} of {} bytes used", used, bytes.len()),
        )),
        Err(e) => Err(map_decode_error(e)),
    }
}

/// Decodes a value from the front of `bytes`, returning it and the number of bytes used.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), DecodeError> {
    decode_slice::<T>(bytes).map_err(map_decode_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn round_trips() {
        let v = (
            vec!["spam".to_string()],
            42u64,
            Some(-1.5f64),
            BTreeSet::from(["a", "b"]),
        );
        let bytes = encode(&v).unwrap();
        let back: (Vec<String>, u64, Option<f64>, BTreeSet<String>) = decode(&bytes).unwrap();
        assert_eq!(back.0, v.0);
        assert_eq!(back.1, 42);
        assert_eq!(back.3.len(), 2);
        let m: BTreeMap<String, u32> =
            decode(&encode(&BTreeMap::from([("x", 1u32)])).unwrap()).unwrap();
        assert_eq!(m["x"], 1);
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut b = encode(&7u32).unwrap();
        b.push(0);
        assert_eq!(
            decode::<u32>(&b).unwrap_err().kind(),
            DecodeErrorKind::TrailingBytes
        );
    }

    #[test]
    fn truncated_is_an_error() {
        let b = encode(&"hello".to_string()).unwrap();
        assert_eq!(
            decode::<String>(&b[..3]).unwrap_err().kind(),
            DecodeErrorKind::UnexpectedEnd
        );
    }

    #[test]
    fn absurd_lengths_do_not_allocate() {
        // A varint length of 2^62 followed by nothing: must fail without allocating.
        let mut b = vec![0xfd];
        b.extend_from_slice(&(1u64 << 62).to_le_bytes());
        let e = decode::<String>(&b).unwrap_err();
        assert!(matches!(
            e.kind(),
            DecodeErrorKind::TooLarge | DecodeErrorKind::UnexpectedEnd
        ));
        let e = decode::<Vec<u8>>(&b).unwrap_err();
        assert!(matches!(
            e.kind(),
            DecodeErrorKind::TooLarge | DecodeErrorKind::UnexpectedEnd
        ));
    }

    #[test]
    fn short_input_cannot_claim_much() {
        // 5 bytes announcing a string of almost 1 GiB: refused before anything is allocated
        // (bincode allocates a string's buffer before reading its bytes).
        let b = [252u8, 0, 0, 0, 0x3f];
        assert_eq!(
            decode::<String>(&b).unwrap_err().kind(),
            DecodeErrorKind::TooLarge
        );
        // Valid messages at the densest claim (16 bytes of memory per input byte) still decode.
        for n in [0usize, 1, 4095, 4096, 4097, 300_000] {
            let v = vec![0u128; n];
            assert_eq!(decode::<Vec<u128>>(&encode(&v).unwrap()).unwrap(), v);
        }
    }

    #[test]
    fn encode_into_slice_reports_too_small() {
        let mut big = [0u8; 64];
        let n = encode_into_slice(&"hello".to_string(), &mut big)
            .unwrap()
            .unwrap();
        assert_eq!(decode::<String>(&big[..n]).unwrap(), "hello");
        let mut small = [0u8; 3];
        assert_eq!(
            encode_into_slice(&"hello".to_string(), &mut small).unwrap(),
            None
        );
    }

    #[test]
    fn failed_encode_leaves_buffer_intact() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("refused"))
            }
        }
        let mut out = vec![1, 2, 3];
        let e = encode_into(&(1u8, Bad), &mut out).unwrap_err();
        assert_eq!(e.kind(), EncodeErrorKind::Serialize);
        assert_eq!(out, vec![1, 2, 3]);
    }
}
