//! The wire format: length-prefixed frames, each one postcard-encoded
//! [`Frame`].
//!
//! A frame on the wire is a 4-byte big-endian length `L` followed by `L`
//! bytes of postcard. This module owns the bytes only: it knows nothing of
//! sockets, peers or secrets. Every limit is explicit: a frame whose declared
//! length exceeds the configured maximum is refused before a byte of its body
//! is buffered, an empty frame is refused, and a body that does not decode to
//! exactly one [`Frame`] (trailing bytes included) is malformed.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Version of the wire protocol; both ends of a connection must agree.
/// Version 2: one connection per pair of nodes, dialed by the lower id and
/// carrying messages both ways.
pub const PROTOCOL_VERSION: u16 = 2;

/// Bytes in the length prefix.
pub const LENGTH_BYTES: usize = 4;

/// Default upper bound on a frame body (1 MiB).
pub const MAX_FRAME_BYTES_DEFAULT: usize = 1 << 20;

/// Bytes in a handshake nonce and in an HMAC-SHA256 tag.
pub const NONCE_BYTES: usize = 32;

/// One unit on the wire.
///
/// The first three variants are the handshake (see [`crate::auth`]); after
/// it, only [`Frame::Data`] flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame<M> {
    /// Dialer → acceptor: who I am, whom I want, and a fresh challenge.
    Hello {
        /// [`PROTOCOL_VERSION`] of the dialer.
        version: u16,
        /// The cluster the dialer belongs to.
        cluster: String,
        /// The dialing node.
        from: u32,
        /// The node the dialer wants to reach.
        to: u32,
        /// The dialer's challenge.
        nonce: [u8; NONCE_BYTES],
    },
    /// Acceptor → dialer: my answer to your challenge and mine to you.
    Welcome {
        /// The acceptor's own challenge.
        nonce: [u8; NONCE_BYTES],
        /// HMAC over the transcript, proving the acceptor holds the secret.
        mac: [u8; NONCE_BYTES],
    },
    /// Dialer → acceptor: my answer to your challenge.
    Proof {
        /// HMAC over the transcript, proving the dialer holds the secret.
        mac: [u8; NONCE_BYTES],
    },
    /// Either side, before closing: why the handshake failed.
    Refused {
        /// A human-readable reason (never contains secret material).
        reason: String,
    },
    /// A protocol message.
    Data(M),
    /// A Noise handshake message (encrypted node ports only), right after
    /// `Proof`: see [`crate::crypt`].
    Noise(Vec<u8>),
}

/// Why bytes could not be turned into frames (or frames into bytes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The declared (or encoded) length is above the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// The length declared or produced.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A length prefix of zero: no frame is empty.
    #[error("empty frame")]
    Empty,
    /// The body is not one well-formed frame.
    #[error("malformed frame body: {0}")]
    Malformed(String),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame: {have} of {need} bytes received")]
    Truncated {
        /// Bytes of the frame (prefix included) received.
        have: usize,
        /// Bytes the frame needed (prefix included; 4 while the prefix is incomplete).
        need: usize,
    },
    /// The value could not be serialised.
    #[error("cannot encode frame: {0}")]
    Encode(String),
}

/// Appends `frame`, length prefix first, to `out`. On error `out` is left as
/// it was.
pub fn encode<M: Serialize>(
    frame: &Frame<M>,
    max_frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_BYTES]);
    if let Err(error) = postcard::serialize_with_flavor(frame, Appender(out)) {
        out.truncate(start);
        return Err(CodecError::Encode(error.to_string()));
    }
    let len = out.len() - start - LENGTH_BYTES;
    if len > max_frame_bytes || u32::try_from(len).is_err() {
        out.truncate(start);
        return Err(CodecError::Oversize {
            len,
            max: max_frame_bytes,
        });
    }
    out[start..start + LENGTH_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Lets postcard append to a borrowed vector: whole slices at once, not
/// byte by byte through an iterator.
struct Appender<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Appender<'_> {
    type Output = ();

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// What [`decode`] found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<M> {
    /// A whole frame that took `used` bytes of the buffer.
    Frame {
        /// The frame.
        frame: Frame<M>,
        /// Bytes consumed, prefix included.
        used: usize,
    },
    /// Not enough bytes yet: at least `need` in total are required.
    Incomplete {
        /// Total bytes the next frame needs (prefix included).
        need: usize,
    },
}

/// Decodes the frame at the front of `bytes`, if it is complete.
///
/// The length prefix is checked against `max_frame_bytes` as soon as it is
/// complete, so an oversize frame is refused without waiting for its body.
pub fn decode<M: DeserializeOwned>(
    bytes: &[u8],
    max_frame_bytes: usize,
) -> Result<Decoded<M>, CodecError> {
    let Some(prefix) = bytes.get(..LENGTH_BYTES) else {
        return Ok(Decoded::Incomplete { need: LENGTH_BYTES });
    };
    let mut raw = [0u8; LENGTH_BYTES];
    raw.copy_from_slice(prefix);
    let len = u32::from_be_bytes(raw) as usize;
    if len == 0 {
        return Err(CodecError::Empty);
    }
    if len > max_frame_bytes {
        return Err(CodecError::Oversize {
            len,
            max: max_frame_bytes,
        });
    }
    let need = LENGTH_BYTES + len;
    let Some(body) = bytes.get(LENGTH_BYTES..need) else {
        return Ok(Decoded::Incomplete { need });
    };
    match postcard::take_from_bytes::<Frame<M>>(body) {
        Ok((frame, [])) => Ok(Decoded::Frame { frame, used: need }),
        Ok((_, rest)) => Err(CodecError::Malformed(format!(
            "{} trailing bytes after the frame",
            rest.len()
        ))),
        Err(error) => Err(CodecError::Malformed(error.to_string())),
    }
}

/// Decodes every whole frame in `bytes`, then reports what is left: the
/// reference behaviour of a connection's reader, used by the fuzz target and
/// the property tests. A partial frame at the end is [`CodecError::Truncated`].
pub fn decode_all<M: DeserializeOwned>(
    bytes: &[u8],
    max_frame_bytes: usize,
) -> Result<Vec<Frame<M>>, CodecError> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match decode(&bytes[at..], max_frame_bytes)? {
            Decoded::Frame { frame, used } => {
                debug_assert!(used > LENGTH_BYTES);
                frames.push(frame);
                at += used;
            }
            Decoded::Incomplete { need } => {
                return Err(CodecError::Truncated {
                    have: bytes.len() - at,
                    need,
                });
            }
        }
    }
    Ok(frames)
}

/// A read buffer for one connection: bytes arrive at the back, frames leave
/// from the front, and the consumed prefix is reclaimed lazily.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
    start: usize,
    /// Bytes taken by frames so far (prefixes included).
    consumed: usize,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        FrameBuffer::default()
    }

    /// The unconsumed bytes.
    #[inline]
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Takes the unconsumed bytes out (they are not frames of this stream:
    /// the ciphertext that follows an encrypted handshake).
    pub fn take_pending(&mut self) -> Vec<u8> {
        let rest = self.bytes.split_off(self.start);
        self.bytes.clear();
        self.start = 0;
        rest
    }

    /// Takes the next whole frame, if one is buffered.
    pub fn next_frame<M: DeserializeOwned>(
        &mut self,
        max_frame_bytes: usize,
    ) -> Result<Option<Frame<M>>, CodecError> {
        match decode(self.pending(), max_frame_bytes)? {
            Decoded::Frame { frame, used } => {
                self.start += used;
                self.consumed = self.consumed.wrapping_add(used);
                if self.start == self.bytes.len() {
                    self.bytes.clear();
                    self.start = 0;
                }
                Ok(Some(frame))
            }
            Decoded::Incomplete { .. } => Ok(None),
        }
    }

    /// Bytes taken by the frames returned so far, prefixes included (a
    /// running count: subtract two readings for the bytes in between).
    #[inline]
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Room to read into: the caller appends bytes to the returned vector.
    pub fn spare(&mut self) -> &mut Vec<u8> {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        &mut self.bytes
    }

    /// The error to report when the stream ends now: `None` when no partial
    /// frame is buffered.
    pub fn at_eof(&self, max_frame_bytes: usize) -> Option<CodecError> {
        let pending = self.pending();
        if pending.is_empty() {
            return None;
        }
        let need = match decode::<serde::de::IgnoredAny>(pending, max_frame_bytes) {
            Ok(Decoded::Incomplete { need }) => need,
            Ok(Decoded::Frame { .. }) => LENGTH_BYTES,
            Err(error) => return Some(error),
        };
        Some(CodecError::Truncated {
            have: pending.len(),
            need,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type TestFrame = Frame<(u32, Vec<u8>)>;

    fn frame_strategy() -> impl Strategy<Value = TestFrame> {
        prop_oneof![
            (
                any::<u16>(),
                ".{0,20}",
                any::<u32>(),
                any::<u32>(),
                any::<[u8; 32]>()
            )
                .prop_map(|(version, cluster, from, to, nonce)| Frame::Hello {
                    version,
                    cluster,
                    from,
                    to,
                    nonce
                }),
            (any::<[u8; 32]>(), any::<[u8; 32]>())
                .prop_map(|(nonce, mac)| Frame::Welcome { nonce, mac }),
            any::<[u8; 32]>().prop_map(|mac| Frame::Proof { mac }),
            ".{0,40}".prop_map(|reason| Frame::Refused { reason }),
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(Frame::Data),
        ]
    }

    fn encode_all(frames: &[TestFrame], max: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for frame in frames {
            encode(frame, max, &mut bytes).expect("within limit");
        }
        bytes
    }

    proptest! {
        #[test]
        fn round_trip(frames in proptest::collection::vec(frame_strategy(), 0..8)) {
            let bytes = encode_all(&frames, MAX_FRAME_BYTES_DEFAULT);
            prop_assert_eq!(decode_all::<(u32, Vec<u8>)>(&bytes, MAX_FRAME_BYTES_DEFAULT), Ok(frames));
        }

        #[test]
        fn any_split_point_gives_the_same_frames(
            frames in proptest::collection::vec(frame_strategy(), 1..6),
            chunk in 1usize..64,
        ) {
            let bytes = encode_all(&frames, MAX_FRAME_BYTES_DEFAULT);
            let mut buffer = FrameBuffer::new();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                buffer.spare().extend_from_slice(piece);
                while let Some(frame) = buffer.next_frame(MAX_FRAME_BYTES_DEFAULT).expect("valid") {
                    got.push(frame);
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert_eq!(buffer.at_eof(MAX_FRAME_BYTES_DEFAULT), None);
        }

        #[test]
        fn every_strict_prefix_is_truncated_or_fewer_frames(
            frames in proptest::collection::vec(frame_strategy(), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let bytes = encode_all(&frames, MAX_FRAME_BYTES_DEFAULT);
            let cut = cut.index(bytes.len());
            match decode_all::<(u32, Vec<u8>)>(&bytes[..cut], MAX_FRAME_BYTES_DEFAULT) {
                Ok(prefix) => prop_assert!(prefix.len() < frames.len() && frames.starts_with(&prefix)),
                Err(CodecError::Truncated { have, need }) => prop_assert!(have < need),
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_all::<(u32, Vec<u8>)>(&bytes, 256);
        }

        #[test]
        fn declared_length_over_the_limit_is_refused_at_once(len in 257u32..u32::MAX) {
            let bytes = len.to_be_bytes();
            prop_assert_eq!(
                decode::<(u32, Vec<u8>)>(&bytes, 256),
                Err(CodecError::Oversize { len: len as usize, max: 256 })
            );
        }
    }

    #[test]
    fn oversize_encode_is_refused_and_leaves_the_buffer() {
        let mut out = vec![7];
        let frame: TestFrame = Frame::Data((1, vec![0; 100]));
        assert_eq!(
            encode(&frame, 50, &mut out),
            Err(CodecError::Oversize { len: 103, max: 50 })
        );
        assert_eq!(out, vec![7]);
    }

    #[test]
    fn empty_and_trailing_bytes_are_malformed() {
        assert_eq!(decode::<u8>(&[0, 0, 0, 0], 10), Err(CodecError::Empty));
        // Variant 4 (Data) of a u8 is 2 bytes; declare 3.
        assert!(matches!(
            decode::<u8>(&[0, 0, 0, 3, 4, 9, 9], 10),
            Err(CodecError::Malformed(_))
        ));
        assert!(matches!(
            decode::<u8>(&[0, 0, 0, 1, 200], 10),
            Err(CodecError::Malformed(_))
        ));
    }
}
