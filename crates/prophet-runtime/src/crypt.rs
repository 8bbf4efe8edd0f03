//! Encryption on the node port, for networks that are not trusted: after
//! the challenge-response of [`crate::auth`] (which proves both ends hold
//! the cluster secret and names their node ids), the two ends run a Noise
//! `NNpsk0` handshake (X25519, ChaCha20-Poly1305, BLAKE2s) whose pre-shared
//! key is derived from the cluster secret and whose prologue is the
//! authenticated transcript (cluster, node ids, both nonces), so the keys
//! belong to that one authenticated connection. Ephemeral keys on both
//! sides give forward secrecy: a secret stolen later does not decrypt
//! recorded traffic.
//!
//! From then on every byte of the frame stream travels in records: a 2-byte
//! big-endian length and a Noise transport message (at most 65,535 bytes,
//! a 16-byte tag included) under a per-direction nonce counter, so a record
//! that is altered, dropped, replayed or reordered fails to open and closes
//! the connection. Encryption sits below the frames: the queues, bursts and
//! frame accounting of [`crate::transport`] see plaintext; a [`Sealer`]
//! turns plaintext into records as it is handed to the socket, an
//! [`Opener`] turns records back into plaintext as they are read.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::auth::Secret;

/// The Noise protocol name.
pub const PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Largest plaintext per record (a Noise message is at most 65,535 bytes,
/// its tag included).
pub const RECORD_PLAIN_MAX: usize = 65_535 - TAG_BYTES;

/// Bytes a record adds: its length prefix and the AEAD tag.
pub const RECORD_OVERHEAD: usize = 2 + TAG_BYTES;

const TAG_BYTES: usize = 16;

/// Ciphertext a sealer stages before it asks the socket to take it.
const STAGED_BYTES_MAX: usize = 256 * 1024;

/// The transport keys of one connection, shared by its reader and writer
/// (each keeps its own nonce counter).
pub struct Keys(snow::StatelessTransportState);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Why the Noise layer failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// The Noise library refused (a bad handshake message, or a record that
    /// did not authenticate: tampering, or keys that differ).
    #[error("noise: {0}")]
    Noise(#[from] snow::Error),
    /// A record's length is impossible.
    #[error("record of {0} bytes is longer than a Noise message")]
    Oversize(usize),
}

/// One side of the Noise handshake, before transport keys exist.
pub struct Handshake(snow::HandshakeState);

impl Handshake {
    /// The initiator's (dialer's) or responder's side, keyed by `secret`
    /// and bound to `transcript` (the authenticated handshake so far).
    pub fn new(
        secret: &Secret,
        cluster: &str,
        transcript: &[u8],
        initiator: bool,
    ) -> Result<Handshake, CryptError> {
        let psk = secret.derive("prophet/1 noise psk", cluster);
        let params: snow::params::NoiseParams = PATTERN.parse()?;
        let builder = snow::Builder::new(params)
            .psk(0, &psk)?
            .prologue(transcript)?;
        Ok(Handshake(if initiator {
            builder.build_initiator()?
        } else {
            builder.build_responder()?
        }))
    }

    /// The next handshake message to send.
    pub fn write(&mut self) -> Result<Vec<u8>, CryptError> {
        let mut out = vec![0u8; 1024];
        let n = self.0.write_message(&[], &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Takes the peer's handshake message.
    pub fn read(&mut self, message: &[u8]) -> Result<(), CryptError> {
        let mut payload = vec![0u8; message.len()];
        self.0.read_message(message, &mut payload)?;
        Ok(())
    }

    /// The transport keys, once both messages have passed.
    pub fn finish(self) -> Result<Arc<Keys>, CryptError> {
        Ok(Arc::new(Keys(self.0.into_stateless_transport_mode()?)))
    }
}

/// The writing side: seals plaintext into records and hands them to the
/// socket, keeping what the socket did not take.
pub struct Sealer {
    keys: Arc<Keys>,
    nonce: u64,
    staged: Vec<u8>,
    written: usize,
}

impl Sealer {
    /// A sealer with `keys`, from nonce 0.
    pub fn new(keys: Arc<Keys>) -> Sealer {
        Sealer {
            keys,
            nonce: 0,
            staged: Vec::new(),
            written: 0,
        }
    }

    /// Whether sealed bytes wait for the socket.
    pub fn has_staged(&self) -> bool {
        self.written < self.staged.len()
    }

    /// Writes what is staged; `WouldBlock` if the socket is full.
    pub fn flush(&mut self, stream: &TcpStream) -> std::io::Result<()> {
        while self.written < self.staged.len() {
            match stream.try_write(&self.staged[self.written..])? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => self.written += n,
            }
        }
        self.staged.clear();
        self.written = 0;
        Ok(())
    }

    /// Seals and writes `plain` as far as the socket takes it: returns the
    /// plaintext bytes taken (sealed, whether or not all their ciphertext
    /// left yet: call [`Sealer::flush`] when [`Sealer::has_staged`]), or
    /// `WouldBlock` when nothing was taken.
    pub fn try_write(&mut self, stream: &TcpStream, plain: &[u8]) -> std::io::Result<usize> {
        let mut taken = 0;
        loop {
            match self.flush(stream) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && taken > 0 => {
                    return Ok(taken);
                }
                Err(e) => return Err(e),
            }
            if taken == plain.len() {
                return Ok(taken);
            }
            while taken < plain.len() && self.staged.len() < STAGED_BYTES_MAX {
                let end = (taken + RECORD_PLAIN_MAX).min(plain.len());
                let mut staged = std::mem::take(&mut self.staged);
                let sealed = self.seal_into(&plain[taken..end], &mut staged);
                self.staged = staged;
                sealed.map_err(std::io::Error::other)?;
                taken = end;
            }
        }
    }

    /// Appends `chunk` (at most [`RECORD_PLAIN_MAX`] bytes) to `out` as one record.
    pub fn seal_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), CryptError> {
        let at = out.len();
        out.resize(at + RECORD_OVERHEAD + chunk.len(), 0);
        let n = self
            .keys
            .0
            .write_message(self.nonce, chunk, &mut out[at + 2..])?;
        out.truncate(at + 2 + n);
        out[at..at + 2].copy_from_slice(&(n as u16).to_be_bytes());
        self.nonce += 1;
        Ok(())
    }
}

/// The reading side: opens records as their bytes arrive.
pub struct Opener {
    keys: Arc<Keys>,
    nonce: u64,
    /// Bytes read, from `start` on not yet opened.
    raw: Vec<u8>,
    start: usize,
}

impl Opener {
    /// An opener with `keys`, from nonce 0; `leftover` are bytes already
    /// read past the handshake.
    pub fn new(keys: Arc<Keys>, leftover: Vec<u8>) -> Opener {
        Opener {
            keys,
            nonce: 0,
            raw: leftover,
            start: 0,
        }
    }

    /// Where to read more ciphertext.
    pub fn spare(&mut self) -> &mut Vec<u8> {
        if self.start > 0 {
            self.raw.drain(..self.start);
            self.start = 0;
        }
        &mut self.raw
    }

    /// Whether a record is partly read (at the end of the stream: truncated).
    pub fn is_partial(&self) -> bool {
        self.start < self.raw.len()
    }

    /// Opens every whole record read so far, appending the plaintext to
    /// `out`; returns the plaintext bytes added.
    pub fn open_into(&mut self, out: &mut Vec<u8>) -> Result<usize, CryptError> {
        let before = out.len();
        loop {
            let pending = &self.raw[self.start..];
            let Some(prefix) = pending.get(..2) else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            if len < TAG_BYTES {
                return Err(CryptError::Oversize(len));
            }
            let Some(record) = pending.get(2..2 + len) else {
                break;
            };
            let at = out.len();
            out.resize(at + len - TAG_BYTES, 0);
            let n = self
                .keys
                .0
                .read_message(self.nonce, record, &mut out[at..])?;
            out.truncate(at + n);
            self.nonce += 1;
            self.start += 2 + len;
        }
        Ok(out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(transcript_b: &[u8]) -> Result<(Arc<Keys>, Arc<Keys>), CryptError> {
        let secret = Secret::new((0u8..32).collect()).expect("secret");
        let mut i = Handshake::new(&secret, "c", b"transcript", true)?;
        let mut r = Handshake::new(&secret, "c", transcript_b, false)?;
        r.read(&i.write()?)?;
        i.read(&r.write()?)?;
        Ok((i.finish()?, r.finish()?))
    }

    #[test]
    fn a_handshake_bound_to_another_transcript_fails() {
        assert!(pair(b"transcript").is_ok());
        assert!(pair(b"another one").is_err());
    }

    #[tokio::test]
    async fn records_round_trip_and_a_flipped_bit_fails_to_open() {
        let (i, r) = pair(b"transcript").expect("handshake");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let dialer = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (acceptor, _) = listener.accept().await.expect("accept");
        let mut sealer = Sealer::new(i);
        // Three records' worth, in one call.
        let plain: Vec<u8> = (0..200_000u32).map(|x| x as u8).collect();
        let mut taken = 0;
        while taken < plain.len() || sealer.has_staged() {
            dialer.writable().await.expect("writable");
            match sealer.try_write(&dialer, &plain[taken..]) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            if taken == plain.len() {
                let _ = sealer.flush(&dialer);
            }
        }
        let mut opener = Opener::new(Arc::clone(&r), Vec::new());
        let mut got = Vec::new();
        while got.len() < plain.len() {
            acceptor.readable().await.expect("readable");
            let spare = opener.spare();
            spare.reserve(65_536);
            match acceptor.try_read_buf(spare) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
            opener.open_into(&mut got).expect("opens");
        }
        assert_eq!(got, plain);
        assert!(!opener.is_partial());
    }

    #[test]
    fn an_altered_replayed_or_dropped_record_does_not_open() {
        let seal = |records: usize| {
            let (i, r) = pair(b"transcript").expect("handshake");
            let mut sealer = Sealer::new(i);
            let mut wire = Vec::new();
            for n in 0..records {
                sealer.seal_into(&[n as u8; 100], &mut wire).expect("seal");
            }
            (wire, r)
        };
        let record = 2 + 100 + TAG_BYTES;
        let (mut wire, r) = seal(2);
        wire[10] ^= 1;
        assert!(
            Opener::new(r, wire).open_into(&mut Vec::new()).is_err(),
            "altered"
        );
        let (wire, r) = seal(2);
        let replayed = [&wire[..record], &wire[..record]].concat();
        let mut opener = Opener::new(r, replayed);
        assert!(opener.open_into(&mut Vec::new()).is_err(), "replayed");
        let (wire, r) = seal(2);
        assert!(
            Opener::new(r, wire[record..].to_vec())
                .open_into(&mut Vec::new())
                .is_err(),
            "the first record dropped"
        );
        let (wire, r) = seal(2);
        let mut plain = Vec::new();
        assert_eq!(
            Opener::new(r, wire).open_into(&mut plain).expect("opens"),
            200
        );
    }
}
