//! Whose durable state a file holds: cluster, node and system, their byte
//! encoding in the file header, and the words a mismatch is reported in.
//! Knows nothing of files.

use std::fmt;

/// Whose durable state a file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The cluster id (`cluster` in the cluster file).
    pub cluster: String,
    /// The node id.
    pub node: u32,
    /// The system, as `System::name()` gives it: the registered name and
    /// any variant (`kv-correct`), so a file of one variant is not read as
    /// another's.
    pub system: String,
}

impl Identity {
    /// Node `node` of `cluster`, running `system`.
    pub fn new(cluster: impl Into<String>, node: u32, system: impl Into<String>) -> Identity {
        Identity {
            cluster: cluster.into(),
            node,
            system: system.into(),
        }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.cluster.len() + self.system.len());
        out.extend_from_slice(&self.node.to_le_bytes());
        for text in [&self.cluster, &self.system] {
            assert!(
                text.len() <= usize::from(u16::MAX),
                "identity field over 64 KiB"
            );
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    pub(super) fn decode(mut bytes: &[u8]) -> Result<Identity, String> {
        let node = take(&mut bytes, 4).ok_or("identity: node id cut short")?;
        let node = u32::from_le_bytes([node[0], node[1], node[2], node[3]]);
        let mut text = |what: &str| -> Result<String, String> {
            let len = take(&mut bytes, 2).ok_or(format!("identity: {what} length cut short"))?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let raw = take(&mut bytes, len).ok_or(format!("identity: {what} cut short"))?;
            String::from_utf8(raw.to_vec()).map_err(|_| format!("identity: {what} is not UTF-8"))
        };
        let cluster = text("cluster")?;
        let system = text("system")?;
        if !bytes.is_empty() {
            return Err(format!("identity: {} trailing bytes", bytes.len()));
        }
        Ok(Identity {
            cluster,
            node,
            system,
        })
    }

    /// The fields in which `self` differs from `other`, most global first.
    pub(super) fn differences(&self, other: &Identity) -> Vec<IdentityField> {
        let mut fields = Vec::new();
        if self.cluster != other.cluster {
            fields.push(IdentityField::Cluster);
        }
        if self.system != other.system {
            fields.push(IdentityField::System);
        }
        if self.node != other.node {
            fields.push(IdentityField::Node);
        }
        fields
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} of cluster {:?} (system {})",
            self.node, self.cluster, self.system
        )
    }
}

/// The first `n` bytes of `bytes`, advancing it; `None` if fewer are left.
fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

/// A field of [`Identity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityField {
    /// The cluster id.
    Cluster,
    /// The system name.
    System,
    /// The node id.
    Node,
}

impl fmt::Display for IdentityField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityField::Cluster => "cluster id",
            IdentityField::System => "system",
            IdentityField::Node => "node id",
        })
    }
}

impl IdentityField {
    /// The usual way a file of the wrong owner gets there.
    fn cause(self) -> &'static str {
        match self {
            IdentityField::Cluster => "a data_dir or volume of another cluster",
            IdentityField::System => "a data_dir or volume used by another system or variant",
            IdentityField::Node => {
                "a swapped volume, a file copied from another node, or a wrong --id"
            }
        }
    }
}

/// "its node id differs (2 in the file, 1 expected; likely ...)".
pub(super) fn mismatch_text(found: &Identity, expected: &Identity) -> String {
    let fields = found.differences(expected);
    let values: Vec<String> = fields
        .iter()
        .map(|field| match field {
            IdentityField::Cluster => format!(
                "cluster id {:?} in the file, {:?} expected",
                found.cluster, expected.cluster
            ),
            IdentityField::System => format!(
                "system {} in the file, {} expected",
                found.system, expected.system
            ),
            IdentityField::Node => format!(
                "node id {} in the file, {} expected",
                found.node, expected.node
            ),
        })
        .collect();
    let cause = fields.first().map_or("", |f| f.cause());
    format!("{} (likely {cause})", values.join("; "))
}
