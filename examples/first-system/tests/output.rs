//! The guide's first chapter shows what this program prints: every ```text
//! block of `docs/src/first-system.md` must appear, line for line, in the
//! output of a run, so the chapter fails CI when it drifts from the program.
//! Its listings are included from `src/main.rs` by mdBook anchors, which
//! must exist.

use std::path::PathBuf;
use std::process::Command;

fn chapter() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/first-system.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The contents of the chapter's fenced blocks whose info string is `info`.
fn blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut current, fence) {
            (None, Some(opening)) if opening.trim() == info => current = Some(Vec::new()),
            (None, _) => {}
            (Some(lines), Some(_)) => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), None) => lines.push(line),
        }
    }
    assert!(current.is_none(), "unterminated ```{info} block");
    blocks
}

/// The output's one run-dependent value is the wall time in a report's
/// first line (`bfs: 44 unique states, 60 total, max depth 4, 0.00s,
/// complete`): that field becomes `#s`, in the output and in the chapter
/// alike. Everything else must match exactly.
fn normalise(text: &str) -> String {
    text.lines()
        .map(|line| {
            if !line.starts_with("bfs: ") {
                return line.to_string();
            }
            line.split(", ")
                .map(|field| match field.strip_suffix('s') {
                    Some(secs) if secs.parse::<f64>().is_ok() => "#s",
                    _ => field,
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_chapter_shows_what_the_program_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_first-system"))
        .output()
        .expect("first-system runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let printed = format!("\n{}\n", normalise(&stdout));

    let shown = blocks(&chapter(), "text");
    assert_eq!(shown.len(), 2, "the chapter shows the two reports");
    for block in shown {
        assert!(
            printed.contains(&format!("\n{}\n", normalise(&block))),
            "the chapter shows\n{block}\n\nbut the program prints\n{stdout}"
        );
    }
}

#[test]
fn the_chapter_includes_existing_anchors() {
    let chapter = chapter();
    let source = include_str!("../src/main.rs");
    let prefix = "{{#include ../../examples/first-system/src/main.rs:";
    let anchors: Vec<&str> = chapter
        .lines()
        .filter_map(|line| line.trim().strip_prefix(prefix)?.strip_suffix("}}"))
        .collect();
    assert!(!anchors.is_empty(), "the chapter includes src/main.rs");
    for anchor in anchors {
        for marker in [
            format!("// ANCHOR: {anchor}\n"),
            format!("// ANCHOR_END: {anchor}\n"),
        ] {
            assert!(
                source.contains(&marker),
                "src/main.rs has no `{}`",
                marker.trim()
            );
        }
    }
    assert!(chapter.contains("{{#include ../../examples/first-system/Cargo.toml}}"));
}
