//! The bytes of a durable file (layout in the parent module's comment):
//! building a record and checking one. Knows nothing of files or owners.

use super::{FORMAT_VERSION, IDENTITY_BYTES_MAX, MAGIC, PAYLOAD_BYTES_MAX};

/// The magic bytes without the version byte.
const MAGIC_PREFIX: &[u8; 7] = b"PRPHDUR";

pub(super) const HEADER_BYTES: usize = 8 + 2 + 8 + 4;
pub(super) const CRC_AT: usize = 18;

/// Why bytes are not a durable record this node may use.
#[derive(Debug)]
pub(super) enum ParseError {
    Corrupt(String),
    FormatV1,
    Version(u8),
}

/// A record whose checksum matched.
pub(super) struct Record<'a> {
    pub(super) identity: &'a [u8],
    pub(super) payload: &'a [u8],
}

/// The checksum of a record: every byte but the checksum's own four.
fn checksum(record: &[u8]) -> u32 {
    debug_assert!(record.len() >= HEADER_BYTES);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&record[..CRC_AT]);
    hasher.update(&record[CRC_AT + 4..]);
    hasher.finalize()
}

/// A whole record of `identity` (encoded) and `payload`.
pub(super) fn encode(identity: &[u8], payload: &[u8]) -> Vec<u8> {
    assert!(identity.len() <= IDENTITY_BYTES_MAX);
    assert!(payload.len() as u64 <= PAYLOAD_BYTES_MAX);
    let mut record = Vec::with_capacity(HEADER_BYTES + identity.len() + payload.len());
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&(identity.len() as u16).to_le_bytes());
    record.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    record.extend_from_slice(&[0; 4]);
    debug_assert_eq!(record.len(), HEADER_BYTES);
    record.extend_from_slice(identity);
    record.extend_from_slice(payload);
    let crc = checksum(&record);
    record[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    record
}

/// Checks a record and returns its identity and payload.
pub(super) fn parse(bytes: &[u8]) -> Result<Record<'_>, ParseError> {
    // The version first: a version-1 file is shorter than this header.
    if bytes.len() >= MAGIC.len() && bytes.starts_with(MAGIC_PREFIX) {
        match bytes[MAGIC_PREFIX.len()] {
            FORMAT_VERSION => {}
            b'1' => return Err(ParseError::FormatV1),
            other => return Err(ParseError::Version(other)),
        }
    }
    if bytes.len() < HEADER_BYTES {
        return Err(ParseError::Corrupt(format!(
            "{} bytes is shorter than the {HEADER_BYTES}-byte header (torn write?)",
            bytes.len()
        )));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(ParseError::Corrupt(
            "wrong magic bytes (not a Prophet durable file)".into(),
        ));
    }
    let identity_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[10..18]);
    let payload_len = u64::from_le_bytes(len);
    if identity_len > IDENTITY_BYTES_MAX {
        return Err(ParseError::Corrupt(format!(
            "declared identity of {identity_len} bytes is over the {IDENTITY_BYTES_MAX}-byte limit"
        )));
    }
    if payload_len > PAYLOAD_BYTES_MAX {
        return Err(ParseError::Corrupt(format!(
            "declared payload of {payload_len} bytes is over the {PAYLOAD_BYTES_MAX}-byte limit"
        )));
    }
    // Both bounded above, so the sum cannot overflow.
    let expected = HEADER_BYTES as u64 + identity_len as u64 + payload_len;
    if bytes.len() as u64 != expected {
        return Err(ParseError::Corrupt(format!(
            "file is {} bytes but the header says {expected} (torn write?)",
            bytes.len()
        )));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[CRC_AT..CRC_AT + 4]);
    if checksum(bytes) != u32::from_le_bytes(crc) {
        return Err(ParseError::Corrupt("checksum mismatch".into()));
    }
    let (identity, payload) = bytes[HEADER_BYTES..].split_at(identity_len);
    debug_assert_eq!(payload.len() as u64, payload_len);
    Ok(Record { identity, payload })
}
