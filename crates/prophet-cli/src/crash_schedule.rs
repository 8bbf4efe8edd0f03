//! `--crash` of `prophet run`: which node's process to kill, when, and when
//! to start it again. This module owns the syntax (checked when the command
//! line is parsed) and the validation against the cluster's layout and
//! `--duration` (before any process starts); the supervisor carries the
//! schedule out and never second-guesses it.
//!
//! A node is not a process: `prophet run` spreads nodes over `--nodes`
//! processes, and a crash kills a whole process. `node=I` names the process
//! that hosts node I, so every node of that process goes down with it; the
//! run says which when it starts and when it kills.

use std::fmt;
use std::time::Duration;

use crate::duration::parse_duration;

/// Most `--crash` options one run accepts: the schedule is checked pairwise
/// and printed in every report, so it stays small.
pub const CRASHES_MAX: usize = 64;

/// One `--crash node=I,at=T[,down=D]`, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashSpec {
    /// The node whose process is killed.
    pub node: u32,
    /// When, from the start of the run.
    pub at: Duration,
    /// How long the process stays down before it is started again; `None`:
    /// it stays down until the run ends. (A scenario file's `restart_after`.)
    pub down: Option<Duration>,
}

impl CrashSpec {
    /// Parses `node=I,at=T[,down=D]` (fields in any order). Errors name the field.
    pub fn parse(text: &str) -> Result<CrashSpec, String> {
        let (mut node, mut at, mut down) = (None, None, None);
        for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let Some((key, value)) = field.split_once('=') else {
                return Err(format!(
                    "`{field}` is not KEY=VALUE (expected node=I,at=T[,down=D], e.g. node=1,at=5s,down=3s)"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            let slot_taken = match key {
                "node" => node
                    .replace(value.parse::<u32>().map_err(|_| {
                        format!("field `node`: `{value}` is not a node id (0, 1, 2, ...)")
                    })?)
                    .is_some(),
                "at" => at.replace(positive("at", value)?).is_some(),
                "down" => down.replace(positive("down", value)?).is_some(),
                other => {
                    return Err(format!(
                        "unknown field `{other}` (expected node, at and optionally down)"
                    ));
                }
            };
            if slot_taken {
                return Err(format!("field `{key}` is given twice"));
            }
        }
        let node = node.ok_or("field `node` is missing (e.g. node=1,at=5s,down=3s)")?;
        let at = at.ok_or("field `at` is missing (e.g. node=1,at=5s,down=3s)")?;
        Ok(CrashSpec { node, at, down })
    }

    /// When the process is started again, if it is.
    pub fn restart_at(&self) -> Option<Duration> {
        self.down.map(|down| self.at + down)
    }
}

/// A duration that must be more than zero.
fn positive(field: &str, value: &str) -> Result<Duration, String> {
    if value.starts_with('-') {
        return Err(format!("field `{field}`: `{value}` is negative"));
    }
    let duration = parse_duration(value).map_err(|e| format!("field `{field}`: {e}"))?;
    if duration.is_zero() {
        return Err(format!("field `{field}`: must be more than zero"));
    }
    Ok(duration)
}

impl fmt::Display for CrashSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node={},at={:?}", self.node, self.at)?;
        if let Some(down) = self.down {
            write!(f, ",down={down:?}")?;
        }
        Ok(())
    }
}

/// A crash checked against the cluster: the process it kills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCrash {
    /// As given.
    pub spec: CrashSpec,
    /// The process hosting `spec.node`.
    pub process: usize,
}

/// Checks `specs` against the layout (`ids[p]`: the nodes process `p` hosts)
/// and `--duration`, and returns them in time order. Refused: an unknown
/// node, a crash at or after `--duration`, a restart at or after it, and two
/// crashes of one process whose outages overlap (the second would find the
/// process already down).
pub fn plan(
    specs: &[CrashSpec],
    ids: &[Vec<u32>],
    duration: Option<Duration>,
) -> Result<Vec<PlannedCrash>, String> {
    if specs.len() > CRASHES_MAX {
        return Err(format!(
            "{} --crash options; at most {CRASHES_MAX} are accepted",
            specs.len()
        ));
    }
    let nodes: usize = ids.iter().map(Vec::len).sum();
    let mut planned = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some(process) = ids.iter().position(|p| p.contains(&spec.node)) else {
            return Err(format!(
                "--crash {spec}: field `node`: node {} does not exist (the system has {nodes} nodes: 0..{nodes})",
                spec.node
            ));
        };
        if let Some(duration) = duration {
            if spec.at >= duration {
                return Err(format!(
                    "--crash {spec}: field `at`: {:?} is not before --duration {duration:?}, so the crash would never happen",
                    spec.at
                ));
            }
            if let Some(restart) = spec.restart_at()
                && restart >= duration
            {
                return Err(format!(
                    "--crash {spec}: field `down`: the restart at {restart:?} is not before --duration {duration:?}; leave `down` out to keep the node down"
                ));
            }
        }
        planned.push(PlannedCrash {
            spec: spec.clone(),
            process,
        });
    }
    planned.sort_by_key(|c| c.spec.at);
    for (i, later) in planned.iter().enumerate() {
        let overlapping = planned[..i].iter().find(|earlier| {
            earlier.process == later.process
                && earlier
                    .spec
                    .restart_at()
                    .is_none_or(|up| later.spec.at <= up)
        });
        if let Some(earlier) = overlapping {
            return Err(format!(
                "--crash {} and --crash {} both take down process {} (nodes {}) and the second comes before the first restarts it",
                earlier.spec,
                later.spec,
                later.process,
                list(&ids[later.process])
            ));
        }
    }
    Ok(planned)
}

/// `1, 5, 9`.
pub fn list(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_fields_in_any_order_with_down_optional() {
        assert_eq!(
            CrashSpec::parse("node=1,at=5s,down=3s"),
            Ok(CrashSpec {
                node: 1,
                at: secs(5),
                down: Some(secs(3))
            })
        );
        assert_eq!(
            CrashSpec::parse(" at=500ms , node=0 "),
            Ok(CrashSpec {
                node: 0,
                at: Duration::from_millis(500),
                down: None
            })
        );
        assert_eq!(
            CrashSpec::parse("node=1,at=1.5s,down=250ms")
                .unwrap()
                .to_string(),
            "node=1,at=1.5s,down=250ms"
        );
    }

    #[test]
    fn bad_specs_name_the_field() {
        let error = |text: &str| CrashSpec::parse(text).unwrap_err();
        assert!(error("at=5s").contains("field `node` is missing"));
        assert!(error("node=1").contains("field `at` is missing"));
        assert!(error("node=x,at=5s").contains("field `node`"));
        assert!(error("node=1,at=0s").contains("field `at`: must be more than zero"));
        assert!(error("node=1,at=-2s").contains("field `at`: `-2s` is negative"));
        assert!(error("node=1,at=5s,down=0ms").contains("field `down`"));
        assert!(error("node=1,at=soon").contains("field `at`"));
        assert!(error("node=1,at=5s,up=3s").contains("unknown field `up`"));
        assert!(error("node=1,node=2,at=5s").contains("field `node` is given twice"));
        assert!(error("node=1,5s").contains("not KEY=VALUE"));
    }

    /// Nodes 0..4 over processes 0, 1 (0 and 2 in process 0; 1 and 3 in 1).
    fn two_processes() -> Vec<Vec<u32>> {
        vec![vec![0, 2], vec![1, 3]]
    }

    fn spec(text: &str) -> CrashSpec {
        CrashSpec::parse(text).unwrap()
    }

    #[test]
    fn a_crash_kills_the_process_hosting_the_node_in_time_order() {
        let planned = plan(
            &[spec("node=3,at=4s"), spec("node=2,at=1s,down=1s")],
            &two_processes(),
            Some(secs(10)),
        )
        .unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!((planned[0].spec.node, planned[0].process), (2, 0));
        assert_eq!((planned[1].spec.node, planned[1].process), (3, 1));
    }

    #[test]
    fn the_plan_refuses_what_could_not_happen() {
        let refuse = |specs: &[&str], duration: Option<u64>| {
            let specs: Vec<CrashSpec> = specs.iter().map(|s| spec(s)).collect();
            plan(&specs, &two_processes(), duration.map(secs)).unwrap_err()
        };
        let unknown = refuse(&["node=4,at=1s"], None);
        assert!(
            unknown.contains("field `node`: node 4 does not exist"),
            "{unknown}"
        );
        let late = refuse(&["node=1,at=10s"], Some(10));
        assert!(
            late.contains("field `at`") && late.contains("--duration 10s"),
            "{late}"
        );
        let late_restart = refuse(&["node=1,at=5s,down=6s"], Some(10));
        assert!(late_restart.contains("field `down`"), "{late_restart}");
        // Nodes 0 and 2 share process 0: node 2 crashes while 0's outage lasts.
        let overlap = refuse(&["node=0,at=1s,down=3s", "node=2,at=2s"], None);
        assert!(overlap.contains("process 0 (nodes 0, 2)"), "{overlap}");
        let forever = refuse(&["node=0,at=1s", "node=0,at=9s"], None);
        assert!(
            forever.contains("before the first restarts it"),
            "{forever}"
        );
        let many: Vec<String> = (1..=65)
            .map(|s| format!("node=0,at={s}s,down=100ms"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(refuse(&many, None).contains("at most 64"));
    }

    #[test]
    fn one_process_may_crash_again_after_it_restarted() {
        let planned = plan(
            &[spec("node=0,at=1s,down=1s"), spec("node=2,at=3s,down=1s")],
            &two_processes(),
            Some(secs(10)),
        )
        .unwrap();
        assert_eq!(planned.len(), 2);
    }
}
