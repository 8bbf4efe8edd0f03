//! Peer authentication: a mutual HMAC-SHA256 challenge-response on the
//! cluster's shared secret.
//!
//! Why not TLS: a cluster of Prophet nodes is one trust domain operated by one
//! party, so one shared secret (a file the CLI generates, mounted as a
//! Kubernetes/Docker secret) is all the key management it needs; certificates
//! would add a CA, per-node keys, expiry and a C/asm crypto build, for no gain
//! in *who may join*. What the handshake proves: both ends hold the secret,
//! are in the same cluster, and are the node ids they claim, with fresh
//! nonces on both sides so a recorded handshake cannot be replayed. What it
//! does not give: confidentiality or per-frame integrity after the handshake;
//! `[transport] encrypt = true` adds both ([`crate::crypt`]: a Noise
//! handshake keyed by the same secret, bound to this one's transcript).
//!
//! The exchange (dialer D, acceptor A):
//! 1. D → A `Hello{version, cluster, from: d, to: a, nonce_d}`
//! 2. A checks version, cluster, that `a` is one of its nodes and `d` a member,
//!    then A → D `Welcome{nonce_a, mac_a}` with
//!    `mac_a = HMAC(secret, "prophet/1 accept" ‖ cluster ‖ d ‖ a ‖ nonce_d ‖ nonce_a)`
//! 3. D verifies `mac_a`, then D → A `Proof{mac_d}` with the label `"prophet/1 dial"`.
//! 4. A verifies `mac_d` (in constant time). Only then do data frames flow.
//!
//! Any failure sends `Refused{reason}` where that is safe and closes.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::codec::{Frame, NONCE_BYTES, PROTOCOL_VERSION};
use crate::connection::{ConnError, Framed};
use crate::crypt::{CryptError, Handshake, Keys};

/// Shortest secret accepted (bytes).
pub const SECRET_BYTES_MIN: usize = 16;

/// How long a handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

type HmacSha256 = Hmac<Sha256>;

/// The cluster secret. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Fewest distinct byte values a secret must hold.
///
/// Why: a secret typed or pasted by hand is often a placeholder (all zeros,
/// `deadbeef` repeated) that anyone can guess, and the length check alone
/// lets it through. A random secret has plenty: the chance that `n` uniform
/// random bytes hold fewer than 8 distinct values is
/// `Σ_{k<8} C(256,k)·k!·S(n,k) / 256^n` (`S`: Stirling numbers of the
/// second kind), about 1.2e-37 for the 32 bytes `prophet cluster-secret`
/// draws and 6.4e-13 for a 16-byte one, so a generated secret never fails.
pub const SECRET_DISTINCT_MIN: usize = 8;

/// Why bytes are not an acceptable cluster secret. The messages name no
/// field: the caller (the cluster file) prefixes its own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Fewer than [`SECRET_BYTES_MIN`] bytes.
    #[error(
        "is {bytes} bytes, shorter than {SECRET_BYTES_MIN}; generate one with `prophet cluster-secret`"
    )]
    TooShort {
        /// The length given.
        bytes: usize,
    },
    /// Fewer than [`SECRET_DISTINCT_MIN`] distinct byte values.
    #[error(
        "holds only {distinct} of the 256 byte values in {bytes} bytes, where a random secret holds at least {SECRET_DISTINCT_MIN}: it looks like a placeholder or a repeated pattern, which anyone could guess; generate one with `prophet cluster-secret`"
    )]
    TooLittleVariety {
        /// Distinct byte values found.
        distinct: usize,
        /// The length.
        bytes: usize,
    },
}

impl Secret {
    /// A secret from raw bytes; `None` if shorter than [`SECRET_BYTES_MIN`].
    /// Does not judge variety: secrets from users go through
    /// [`Secret::checked`] (the cluster file does).
    pub fn new(bytes: Vec<u8>) -> Option<Secret> {
        (bytes.len() >= SECRET_BYTES_MIN).then_some(Secret(bytes))
    }

    /// A secret from raw bytes a user gave, refused if shorter than
    /// [`SECRET_BYTES_MIN`] or with fewer than [`SECRET_DISTINCT_MIN`]
    /// distinct byte values (all bytes equal among them).
    pub fn checked(bytes: Vec<u8>) -> Result<Secret, SecretError> {
        if bytes.len() < SECRET_BYTES_MIN {
            return Err(SecretError::TooShort { bytes: bytes.len() });
        }
        let mut seen = [false; 256];
        for &b in &bytes {
            seen[usize::from(b)] = true;
        }
        let distinct = seen.iter().filter(|&&s| s).count();
        if distinct < SECRET_DISTINCT_MIN {
            return Err(SecretError::TooLittleVariety {
                distinct,
                bytes: bytes.len(),
            });
        }
        Ok(Secret(bytes))
    }

    /// A fresh random 32-byte secret, hex-encoded (what `prophet cluster-secret` prints).
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex(&bytes)
    }

    /// A 32-byte key for `label` in cluster `cluster`, derived from the
    /// secret (HMAC-SHA256), for uses other than the handshake (the HTTP
    /// tokens): knowing it reveals nothing about the secret.
    pub fn derive(&self, label: &str, cluster: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        mac.update(&(cluster.len() as u64).to_be_bytes());
        mac.update(cluster.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn mac(
        &self,
        label: &str,
        cluster: &str,
        dialer: u32,
        acceptor: u32,
        nonces: [&[u8; NONCE_BYTES]; 2],
    ) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in [
            label.as_bytes(),
            &(cluster.len() as u64).to_be_bytes(),
            cluster.as_bytes(),
        ] {
            mac.update(part);
        }
        mac.update(&dialer.to_be_bytes());
        mac.update(&acceptor.to_be_bytes());
        mac.update(nonces[0]);
        mac.update(nonces[1]);
        mac
    }
}

/// Longest peer-supplied text kept for a log line or an error (characters).
pub const PEER_TEXT_CHARS_MAX: usize = 64;

/// Text a peer sent (a cluster id, a refusal reason), made safe to log or
/// echo: at most [`PEER_TEXT_CHARS_MAX`] characters, control characters
/// and quotes escaped, in quotes, with `…(N bytes)` when cut. A peer cannot
/// forge log lines or grow the log by megabytes per connection.
pub fn peer_text(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars().take(PEER_TEXT_CHARS_MAX) {
        out.extend(c.escape_debug());
    }
    out.push('"');
    if text.chars().nth(PEER_TEXT_CHARS_MAX).is_some() {
        out.push_str(&format!("…({} bytes)", text.len()));
    }
    out
}

/// The authenticated handshake, as the Noise prologue: the cluster, both
/// node ids and both nonces (dialer's first).
fn transcript(
    cluster: &str,
    dialer: u32,
    acceptor: u32,
    nonces: [&[u8; NONCE_BYTES]; 2],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(8 + cluster.len() + 8 + 2 * NONCE_BYTES);
    t.extend_from_slice(&(cluster.len() as u64).to_be_bytes());
    t.extend_from_slice(cluster.as_bytes());
    t.extend_from_slice(&dialer.to_be_bytes());
    t.extend_from_slice(&acceptor.to_be_bytes());
    t.extend_from_slice(nonces[0]);
    t.extend_from_slice(nonces[1]);
    t
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex; `None` on odd length or a non-hex digit.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

const LABEL_ACCEPT: &str = "prophet/1 accept";
const LABEL_DIAL: &str = "prophet/1 dial";

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The connection failed during the handshake.
    #[error(transparent)]
    Conn(#[from] ConnError),
    /// The peer speaks another protocol version.
    #[error("protocol version {theirs} (ours is {ours})")]
    Version {
        /// Peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The peer belongs to another cluster.
    #[error("cluster {theirs} is not ours")]
    Cluster {
        /// What the peer claimed, as [`peer_text`] shows it.
        theirs: String,
    },
    /// The peer named a node id outside the cluster.
    #[error("node {node} is not a member of this cluster (it has {nodes} nodes)")]
    NotMember {
        /// The id named.
        node: u32,
        /// The cluster's size.
        nodes: usize,
    },
    /// The peer asked for a node this process does not host.
    #[error("node {0} is not hosted by this process")]
    NotHosted(u32),
    /// The higher id dialed: each pair of nodes shares one connection, and
    /// the node with the lower id dials it.
    #[error("node {from} dialed node {to}, but the lower id dials")]
    Direction {
        /// The dialing node.
        from: u32,
        /// The node it dialed.
        to: u32,
    },
    /// The peer's proof did not verify: wrong secret (or tampering).
    #[error("peer failed the challenge (wrong cluster secret?)")]
    BadProof,
    /// The peer refused us (its reason, as [`peer_text`] shows it).
    #[error("refused by peer: {0}")]
    Refused(String),
    /// The peer sent something else than the handshake step expected.
    #[error("unexpected frame during handshake")]
    Unexpected,
    /// The handshake took longer than [`HANDSHAKE_TIMEOUT`].
    #[error("handshake timed out")]
    Timeout,
    /// One end encrypts and the other does not.
    #[error(
        "the peer does not run the encrypted handshake (`[transport] encrypt` differs between the cluster files)"
    )]
    NotEncrypting,
    /// The Noise handshake failed.
    #[error(transparent)]
    Crypt(#[from] CryptError),
}

fn nonce() -> [u8; NONCE_BYTES] {
    // Nonces must be unpredictable, so they come from the OS-seeded generator,
    // not from the seeded ChaCha8 that drives reproducible decisions.
    let mut n = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut n);
    n
}

/// Runs the dialer's side: we are `from`, we want `to`.
pub async fn dial<M: serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut Framed,
    secret: &Secret,
    cluster: &str,
    from: u32,
    to: u32,
) -> Result<(), AuthError> {
    dial_session::<M>(conn, secret, cluster, from, to, false)
        .await
        .map(|_| ())
}

/// [`dial`], then, if `encrypt`, the Noise handshake of [`crate::crypt`]:
/// returns the connection's transport keys (the caller seals what it
/// writes with them and has `conn` open what it reads).
pub async fn dial_session<M: serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut Framed,
    secret: &Secret,
    cluster: &str,
    from: u32,
    to: u32,
    encrypt: bool,
) -> Result<Option<Arc<Keys>>, AuthError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let ours = nonce();
        conn.write_frame::<M>(&Frame::Hello {
            version: PROTOCOL_VERSION,
            cluster: cluster.to_string(),
            from,
            to,
            nonce: ours,
        })
        .await?;
        let (theirs, mac) = match conn.read_frame::<M>().await? {
            Frame::Welcome { nonce, mac } => (nonce, mac),
            Frame::Refused { reason } => return Err(AuthError::Refused(peer_text(&reason))),
            _ => return Err(AuthError::Unexpected),
        };
        let expected = secret.mac(LABEL_ACCEPT, cluster, from, to, [&ours, &theirs]);
        if expected.verify_slice(&mac).is_err() {
            let _ = conn
                .write_frame::<M>(&Frame::Refused {
                    reason: "bad proof".into(),
                })
                .await;
            return Err(AuthError::BadProof);
        }
        let proof = secret.mac(LABEL_DIAL, cluster, from, to, [&ours, &theirs]);
        conn.write_frame::<M>(&Frame::Proof {
            mac: proof.finalize().into_bytes().into(),
        })
        .await?;
        if !encrypt {
            return Ok(None);
        }
        let transcript = transcript(cluster, from, to, [&ours, &theirs]);
        let mut noise = Handshake::new(secret, cluster, &transcript, true)?;
        conn.write_frame::<M>(&Frame::Noise(noise.write()?)).await?;
        match conn.read_frame::<M>().await? {
            Frame::Noise(message) => noise.read(&message)?,
            Frame::Refused { reason } => return Err(AuthError::Refused(peer_text(&reason))),
            _ => return Err(AuthError::NotEncrypting),
        }
        let keys = noise.finish()?;
        conn.decrypt_with(Arc::clone(&keys));
        Ok(Some(keys))
    })
    .await
    .unwrap_or(Err(AuthError::Timeout))
}

/// Runs the acceptor's side for a cluster of `nodes` nodes; `hosted(to)`
/// says whether node `to` is hosted here. Returns `(from, to)` on success.
pub async fn accept<M: serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut Framed,
    secret: &Secret,
    cluster: &str,
    nodes: usize,
    hosted: impl Fn(u32) -> bool,
) -> Result<(u32, u32), AuthError> {
    accept_session::<M>(conn, secret, cluster, nodes, hosted, false)
        .await
        .map(|(from, to, _)| (from, to))
}

/// [`accept`], then, if `encrypt`, the Noise handshake of [`crate::crypt`]:
/// returns `(from, to)` and the connection's transport keys.
pub async fn accept_session<M: serde::Serialize + serde::de::DeserializeOwned>(
    conn: &mut Framed,
    secret: &Secret,
    cluster: &str,
    nodes: usize,
    hosted: impl Fn(u32) -> bool,
    encrypt: bool,
) -> Result<(u32, u32, Option<Arc<Keys>>), AuthError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let (version, their_cluster, from, to, theirs) = match conn.read_frame::<M>().await? {
            Frame::Hello {
                version,
                cluster,
                from,
                to,
                nonce,
            } => (version, cluster, from, to, nonce),
            _ => return Err(AuthError::Unexpected),
        };
        let refusal = if version != PROTOCOL_VERSION {
            Some(AuthError::Version {
                theirs: version,
                ours: PROTOCOL_VERSION,
            })
        } else if their_cluster != cluster {
            Some(AuthError::Cluster {
                theirs: peer_text(&their_cluster),
            })
        } else if let Some(node) = [from, to].into_iter().find(|&n| n as usize >= nodes) {
            Some(AuthError::NotMember { node, nodes })
        } else if !hosted(to) {
            Some(AuthError::NotHosted(to))
        } else if from >= to {
            Some(AuthError::Direction { from, to })
        } else {
            None
        };
        if let Some(error) = refusal {
            let _ = conn
                .write_frame::<M>(&Frame::Refused {
                    reason: error.to_string(),
                })
                .await;
            return Err(error);
        }
        let ours = nonce();
        let mac = secret.mac(LABEL_ACCEPT, cluster, from, to, [&theirs, &ours]);
        conn.write_frame::<M>(&Frame::Welcome {
            nonce: ours,
            mac: mac.finalize().into_bytes().into(),
        })
        .await?;
        let proof = match conn.read_frame::<M>().await? {
            Frame::Proof { mac } => mac,
            Frame::Refused { reason } => return Err(AuthError::Refused(peer_text(&reason))),
            _ => return Err(AuthError::Unexpected),
        };
        let expected = secret.mac(LABEL_DIAL, cluster, from, to, [&theirs, &ours]);
        if expected.verify_slice(&proof).is_err() {
            let _ = conn
                .write_frame::<M>(&Frame::Refused {
                    reason: "bad proof".into(),
                })
                .await;
            return Err(AuthError::BadProof);
        }
        if !encrypt {
            return Ok((from, to, None));
        }
        let transcript = transcript(cluster, from, to, [&theirs, &ours]);
        let mut noise = Handshake::new(secret, cluster, &transcript, false)?;
        match conn.read_frame::<M>().await? {
            Frame::Noise(message) => noise.read(&message)?,
            _ => {
                let error = AuthError::NotEncrypting;
                let _ = conn
                    .write_frame::<M>(&Frame::Refused {
                        reason: error.to_string(),
                    })
                    .await;
                return Err(error);
            }
        }
        conn.write_frame::<M>(&Frame::Noise(noise.write()?)).await?;
        let keys = noise.finish()?;
        conn.decrypt_with(Arc::clone(&keys));
        Ok((from, to, Some(keys)))
    })
    .await
    .unwrap_or(Err(AuthError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert!(Secret::new(vec![0; 15]).is_none());
        assert_eq!(unhex(&Secret::generate_hex()).map(|b| b.len()), Some(32));
    }

    #[test]
    fn peer_text_is_cut_and_escaped() {
        assert_eq!(peer_text("demo"), "\"demo\"");
        let forged = peer_text("x\nERROR node stopped FORGED LINE");
        assert!(!forged.contains('\n'));
        assert!(forged.contains("\\n"));
        let huge = peer_text(&"a".repeat(1 << 20));
        assert!(huge.len() < 100, "{}", huge.len());
        assert!(huge.ends_with("…(1048576 bytes)"));
    }

    #[test]
    fn macs_bind_every_transcript_field() {
        let s = Secret::new(vec![7; 32]).expect("long enough");
        let n = [[1u8; 32], [2u8; 32]];
        let base = s
            .mac(LABEL_ACCEPT, "c", 1, 2, [&n[0], &n[1]])
            .finalize()
            .into_bytes();
        let variants = [
            s.mac(LABEL_DIAL, "c", 1, 2, [&n[0], &n[1]]),
            s.mac(LABEL_ACCEPT, "d", 1, 2, [&n[0], &n[1]]),
            s.mac(LABEL_ACCEPT, "c", 2, 1, [&n[0], &n[1]]),
            s.mac(LABEL_ACCEPT, "c", 1, 2, [&n[1], &n[0]]),
        ];
        for v in variants {
            assert_ne!(v.finalize().into_bytes(), base);
        }
    }
}
