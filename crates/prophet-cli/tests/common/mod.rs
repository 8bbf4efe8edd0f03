//! Running the `prophet` binary from the command-line tests (each test file
//! is its own crate and uses what it needs of this).
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `prophet` with `args` and waits for it.
pub fn prophet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args(args)
        .output()
        .expect("prophet runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last line of stdout, parsed as JSON.
pub fn last_json(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    let line = text.lines().last().expect("some output");
    serde_json::from_str(line).expect("last line is JSON")
}
