//! The durable store's tests: round trips, foreign owners, damage.

use super::record::{CRC_AT, HEADER_BYTES};
use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prophet-durable-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn node(id: u32) -> Identity {
    Identity::new("demo", id, "kv-correct")
}

fn stored(dir: &Path, identity: Identity, value: &(u64, u64)) -> DurableStore {
    let mut store = DurableStore::open(dir, identity).expect("open");
    store
        .store(&postcard::to_allocvec(value).expect("encode"))
        .expect("store");
    store
}

#[test]
fn a_stored_value_survives_reopening() {
    let dir = temp_dir("roundtrip");
    let mut store = DurableStore::open(&dir, node(3)).expect("open");
    assert_eq!(store.load::<(u64, String)>().expect("no file"), None);
    let value = (7u64, "promise".to_string());
    store
        .store(&postcard::to_allocvec(&value).expect("encode"))
        .expect("store");
    store
        .store(&postcard::to_allocvec(&value).expect("encode"))
        .expect("unchanged");
    assert_eq!(store.writes(), 1, "an unchanged value is not rewritten");
    let bytes = fs::read(store.path()).expect("read");
    assert_eq!(&bytes[..8], b"PRPHDUR2");
    let mut again = DurableStore::open(&dir, node(3)).expect("open");
    assert_eq!(
        again.load::<(u64, String)>().expect("valid"),
        Some(value.clone())
    );
    assert!(
        !again.is_new(&postcard::to_allocvec(&value).expect("encode")),
        "loading remembers the payload on disk"
    );
    fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn identities_round_trip_through_their_encoding() {
    for identity in [
        node(0),
        Identity::new("", u32::MAX, ""),
        Identity::new("ç-ü", 7, "paxos"),
    ] {
        assert_eq!(Identity::decode(&identity.encode()), Ok(identity.clone()));
    }
    let bytes = node(1).encode();
    for cut in 0..bytes.len() {
        assert!(Identity::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

/// Loads node `expected`'s file after `file` was written there, and
/// returns the error.
fn refused(name: &str, file: Identity, expected: Identity) -> DurableError {
    let dir = temp_dir(name);
    let written = stored(&dir, file, &(42, 9));
    let mut store = DurableStore::open(&dir, expected).expect("open");
    if written.path() != store.path() {
        fs::rename(written.path(), store.path()).expect("swap the file in");
    }
    let error = store
        .load::<(u64, u64)>()
        .expect_err("another owner's file");
    fs::remove_dir_all(&dir).expect("cleanup");
    error
}

#[test]
fn another_nodes_file_is_refused_by_name() {
    let error = refused("swap-node", node(2), node(1));
    let DurableError::Mismatch { fields, .. } = &error else {
        panic!("expected a mismatch, got {error:?}");
    };
    assert_eq!(fields, &[IdentityField::Node]);
    let text = error.to_string();
    assert!(
        text.contains(
            "belongs to node 2 of cluster \"demo\" (system kv-correct), not node 1 of cluster \"demo\" (system kv-correct)"
        ),
        "{text}"
    );
    assert!(text.contains("node id 2 in the file, 1 expected"), "{text}");
    assert!(text.contains("swapped volume"), "{text}");
    assert!(text.contains("refusing to start"), "{text}");
    assert!(text.contains("node-1.durable"), "{text}");
}

#[test]
fn another_clusters_file_is_refused_by_name() {
    let error = refused(
        "swap-cluster",
        Identity::new("prod", 1, "kv-correct"),
        node(1),
    );
    let DurableError::Mismatch { fields, .. } = &error else {
        panic!("expected a mismatch, got {error:?}");
    };
    assert_eq!(fields, &[IdentityField::Cluster]);
    let text = error.to_string();
    assert!(
        text.contains("cluster id \"prod\" in the file, \"demo\" expected"),
        "{text}"
    );
    assert!(text.contains("another cluster"), "{text}");
}

#[test]
fn another_systems_file_is_refused_by_name() {
    let error = refused("swap-system", Identity::new("demo", 1, "kv-stale"), node(1));
    let DurableError::Mismatch { fields, .. } = &error else {
        panic!("expected a mismatch, got {error:?}");
    };
    assert_eq!(fields, &[IdentityField::System]);
    let text = error.to_string();
    assert!(
        text.contains("system kv-stale in the file, kv-correct expected"),
        "{text}"
    );
}

#[test]
fn every_differing_field_is_named() {
    let error = refused("swap-all", Identity::new("prod", 2, "paxos"), node(1));
    let DurableError::Mismatch { fields, .. } = &error else {
        panic!("expected a mismatch, got {error:?}");
    };
    assert_eq!(
        fields,
        &[
            IdentityField::Cluster,
            IdentityField::System,
            IdentityField::Node
        ]
    );
}

#[test]
fn a_version_1_file_is_refused_as_such() {
    let dir = temp_dir("v1");
    let mut store = DurableStore::open(&dir, node(0)).expect("open");
    // What the version-1 writer produced: magic, length, CRC, payload.
    let payload = postcard::to_allocvec(&(42u64, 9u64)).expect("encode");
    let mut v1 = b"PRPHDUR1".to_vec();
    v1.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    v1.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    v1.extend_from_slice(&payload);
    fs::write(store.path(), &v1).expect("write");
    let error = store.load::<(u64, u64)>().expect_err("version 1");
    assert!(matches!(error, DurableError::FormatV1 { .. }), "{error:?}");
    assert!(error.to_string().contains("format version 1"), "{error}");
    v1[7] = b'3';
    fs::write(store.path(), &v1).expect("write");
    let error = store.load::<(u64, u64)>().expect_err("version 3");
    assert!(
        matches!(error, DurableError::Version { version: b'3', .. }),
        "{error:?}"
    );
    fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn torn_and_corrupt_files_are_errors_never_values() {
    let dir = temp_dir("corrupt");
    let store = stored(&dir, node(0), &(42, 9));
    let good = fs::read(store.path()).expect("read");
    let flipped = |at: usize, bit: u8| {
        let mut b = good.clone();
        b[at] ^= bit;
        b
    };
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("torn header".into(), good[..10].to_vec()),
        ("torn identity".into(), good[..HEADER_BYTES + 3].to_vec()),
        ("torn payload".into(), good[..good.len() - 1].to_vec()),
        ("flipped payload bit".into(), flipped(good.len() - 1, 1)),
        ("flipped checksum".into(), flipped(CRC_AT + 1, 0x80)),
        ("wrong magic".into(), flipped(0, 0x10)),
        ("huge payload length".into(), {
            let mut b = good.clone();
            b[10..18].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
        ("huge identity length".into(), {
            let mut b = good.clone();
            b[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
            b
        }),
    ];
    // Every single bit of the identity: a damaged header is corruption,
    // never a file of another node that happens to differ by one bit.
    for at in HEADER_BYTES..HEADER_BYTES + node(0).encode().len() {
        for bit in 0..8 {
            cases.push((
                format!("identity byte {at} bit {bit}"),
                flipped(at, 1 << bit),
            ));
        }
    }
    for (name, bytes) in cases {
        fs::write(store.path(), &bytes).expect("write");
        let mut reopened = DurableStore::open(&dir, node(0)).expect("open");
        match reopened.load::<(u64, u64)>() {
            Err(DurableError::Corrupt { .. }) => {}
            other => panic!("{name}: expected a corruption error, got {other:?}"),
        }
    }
    // A valid checksum over a payload of the wrong type is also refused.
    let mut other = DurableStore::open(&dir, node(1)).expect("open");
    other.store(&[1]).expect("store");
    let mut typed = DurableStore::open(&dir, node(1)).expect("open");
    assert!(matches!(
        typed.load::<(u64, u64)>(),
        Err(DurableError::Corrupt { .. })
    ));
    fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_value_over_the_limit_is_refused_before_it_is_written() {
    let dir = temp_dir("too-large");
    let mut store = DurableStore::open(&dir, node(0)).expect("open");
    let huge = vec![0u8; PAYLOAD_BYTES_MAX as usize + 1];
    assert!(matches!(
        store.store(&huge),
        Err(DurableError::TooLarge { .. })
    ));
    assert!(!store.path().exists());
    fs::remove_dir_all(&dir).expect("cleanup");
}
