//! `prophet list`, `check` and `sim` on the Chord reference system.

mod common;

use common::{prophet, stdout};

#[test]
fn list_names_chord() {
    let output = prophet(&["list"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("chord"), "{}", stdout(&output));
}

#[test]
fn check_chord_passes_exhaustively() {
    let output = prophet(&["check", "chord"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("271870")
            || stdout(&output).contains("271,870")
            || stdout(&output).contains("271 870"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_chord_with_unchecked_notify_prints_a_counterexample() {
    let output = prophet(&["check", "chord", "--param", "variant=unchecked-notify"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("predecessor is the closest notifier"),
        "{text}"
    );
    assert!(text.contains("n0 handles Notify from n1"), "{text}");
}

#[test]
fn sim_chord_runs_with_its_default_churn() {
    let output = prophet(&["sim", "chord", "--horizon", "5s", "--seeds", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
