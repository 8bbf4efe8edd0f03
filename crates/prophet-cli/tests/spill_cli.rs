//! `prophet check --max-memory`: BFS with its visited set and frontier in
//! files on disk, as a user runs it.

mod common;

use std::path::PathBuf;

use common::{last_json, prophet};

/// A directory of this test's own, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prophet-spill-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn a_state_space_larger_than_the_budget_gives_the_in_memory_count_from_disk() {
    let dir = scratch("count");
    let dir_text = dir.display().to_string();
    let args = ["check", "two-phase-commit", "--param", "rms=7", "--json"];
    let memory = last_json(&prophet(&args));
    let mut spilled_args = args.to_vec();
    spilled_args.extend(["--max-memory", "1MiB", "--spill-dir", &dir_text]);
    let output = prophet(&spilled_args);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let spilled = last_json(&output);
    assert_eq!(memory["unique_states"], 296_448);
    assert_eq!(spilled["unique_states"], memory["unique_states"]);
    assert_eq!(spilled["total_states"], memory["total_states"]);
    assert_eq!(spilled["complete"], true);
    let spill = &spilled["spill"];
    assert_eq!(spill["budget_bytes"], 1 << 20);
    assert!(
        spill["buffered_bytes_max"].as_u64().unwrap() <= 1 << 20,
        "{spill}"
    );
    assert!(
        spill["stored_bytes_max"].as_u64().unwrap() > 4 << 20,
        "the files outgrew the budget fourfold: {spill}"
    );
    let p = spilled["fingerprint_collision_probability"]
        .as_f64()
        .unwrap();
    assert!(
        (p - 296_448f64 * 296_447f64 / 2f64.powi(65)).abs() < 1e-12,
        "{p}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the spill directory is removed: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_spilled_counterexample_is_the_shortest_and_replays() {
    let dir = scratch("paxos");
    let output = prophet(&[
        "check",
        "paxos",
        "--param",
        "variant=ignore-accepted",
        "--max-memory",
        "2MiB",
        "--spill-dir",
        &dir.display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("counterexample (18 steps)"), "{text}");
    assert!(
        text.contains("memory budget 2.0 MiB: buffers held at most"),
        "{text}"
    );
    let replay = text
        .lines()
        .find_map(|l| l.strip_prefix("replay with: "))
        .expect("a replay command");
    let path = replay.split("--replay ").nth(1).expect("a path").trim();
    let again = prophet(&[
        "check",
        "paxos",
        "--param",
        "variant=ignore-accepted",
        "--replay",
        path,
    ]);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.contains("violates invariant \"agreement\""),
        "{again}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_budgets_and_combinations_are_refused() {
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--max-memory", "lots"], 2, "not a size"),
        (&["--max-memory", "1GiG"], 2, "unknown unit"),
        (&["--max-memory", "64KiB"], 2, "at least 1 MiB"),
        (&["--max-memory", "1GiB", "--dfs"], 2, "cannot be used with"),
        (
            &["--max-memory", "1GiB", "--walk"],
            2,
            "cannot be used with",
        ),
        (&["--spill-dir", "/tmp"], 2, "--max-memory"),
        (
            &[
                "--max-memory",
                "1GiB",
                "--spill-dir",
                "/nonexistent/prophet",
            ],
            3,
            "is not a directory",
        ),
    ];
    for (extra, code, message) in cases {
        let mut args = vec!["check", "two-phase-commit"];
        args.extend_from_slice(extra);
        let output = prophet(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(*code), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
}
