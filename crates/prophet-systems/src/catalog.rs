//! The built-in systems by name, with typed parameters.
//!
//! The command line, the benchmarks and the tests look systems up here. A
//! parameter is given as `key=value`; unknown keys, malformed pairs and
//! out-of-range values are typed errors that name the valid choices.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use prophet::explore::{Explorer, Progress, Report, Strategy, Trace};
use prophet::model::Model;

use crate::{paxos, randtree, two_phase};

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    /// A whole number in `min..=max`.
    Int {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// One of a fixed set of names.
    Choice(&'static [&'static str]),
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::Int { min, max } => write!(f, "an integer from {min} to {max}"),
            ParamKind::Choice(names) => write!(f, "one of {}", names.join(", ")),
        }
    }
}

/// A parameter a system accepts.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The key, e.g. `rms`.
    pub name: &'static str,
    /// Accepted values.
    pub kind: ParamKind,
    /// Value when not given.
    pub default: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// Why a system or its parameters were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// No built-in system has that name.
    #[error("unknown system `{name}`; the built-in systems are: {valid}")]
    UnknownSystem {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A parameter was not of the form `key=value`.
    #[error("parameter `{0}` is not of the form key=value")]
    Malformed(String),
    /// The system has no such parameter.
    #[error("system `{system}` has no parameter `{name}`; its parameters are: {valid}")]
    Unknown {
        /// The system.
        system: String,
        /// The key given.
        name: String,
        /// The valid keys, comma-separated.
        valid: String,
    },
    /// The value is not acceptable.
    #[error("parameter `{name}` = `{value}` is invalid: expected {expected}")]
    BadValue {
        /// The key.
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The same key was given twice.
    #[error("parameter `{0}` is given more than once")]
    Duplicate(String),
}

/// Validated parameter values (every declared parameter has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    /// Parses `key=value` pairs against `specs`; missing keys take defaults.
    pub fn parse(
        system: &str,
        specs: &[ParamSpec],
        pairs: &[String],
    ) -> Result<Params, ParamError> {
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut given = std::collections::BTreeSet::new();
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ParamError::Malformed(pair.clone()))?;
            let (key, value) = (key.trim(), value.trim());
            let spec = specs
                .iter()
                .find(|s| s.name == key)
                .ok_or_else(|| ParamError::Unknown {
                    system: system.to_string(),
                    name: key.to_string(),
                    valid: if specs.is_empty() {
                        "(none)".to_string()
                    } else {
                        specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                    },
                })?;
            if !given.insert(spec.name) {
                return Err(ParamError::Duplicate(spec.name.to_string()));
            }
            validate(spec, value)?;
            values.insert(spec.name, value.to_string());
        }
        for spec in specs {
            values
                .entry(spec.name)
                .or_insert_with(|| spec.default.to_string());
        }
        Ok(Params { values })
    }

    /// The integer value of `name` (declared as [`ParamKind::Int`]).
    ///
    /// # Panics
    /// If `name` is not a declared integer parameter: a bug in the catalog.
    pub fn int(&self, name: &str) -> usize {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("catalog bug: `{name}` is not a declared integer parameter"))
    }

    /// The text value of `name`.
    ///
    /// # Panics
    /// If `name` is not declared: a bug in the catalog.
    pub fn text(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("catalog bug: `{name}` is not a declared parameter"))
    }

    /// Every parameter and its value.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

/// `key=value, ...` in key order, or `no parameters`.
impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.values.is_empty() {
            return f.write_str("no parameters");
        }
        for (i, (key, value)) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

fn validate(spec: &ParamSpec, value: &str) -> Result<(), ParamError> {
    let bad = || ParamError::BadValue {
        name: spec.name.to_string(),
        value: value.to_string(),
        expected: spec.kind.to_string(),
    };
    match spec.kind {
        ParamKind::Int { min, max } => {
            let n: u64 = value.parse().map_err(|_| bad())?;
            if n < min || n > max {
                return Err(bad());
            }
        }
        ParamKind::Choice(names) => {
            if !names.contains(&value) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// How to check a system: strategy, bounds, and what to do with progress.
#[derive(Clone, Copy)]
pub struct CheckOptions<'a> {
    /// BFS, DFS or random walk.
    pub strategy: Strategy,
    /// Depth bound (walk length for walks).
    pub max_depth: Option<usize>,
    /// Distinct-state bound.
    pub max_states: Option<u64>,
    /// Wall-time bound.
    pub time_limit: Option<Duration>,
    /// Symmetry reduction.
    pub symmetry: bool,
    /// Worker threads (default: every core).
    pub threads: Option<usize>,
    /// Continue after the first violation.
    pub keep_going: bool,
    /// Number of random walks.
    pub walks: Option<u64>,
    /// Replay this encoded path instead of exploring.
    pub replay: Option<(usize, &'a [usize])>,
    /// Progress callback.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
}

impl Default for CheckOptions<'_> {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            max_depth: None,
            max_states: None,
            time_limit: None,
            symmetry: false,
            threads: None,
            keep_going: false,
            walks: None,
            replay: None,
            progress: None,
        }
    }
}

/// What a check produced.
#[derive(Debug)]
pub enum CheckOutcome {
    /// The exploration's report.
    Report(Report),
    /// The trace of a replayed path.
    Replay(Trace),
}

/// Checks `model` as `options` say.
pub fn check_model<M: Model>(
    model: &M,
    options: &CheckOptions<'_>,
) -> Result<CheckOutcome, String> {
    let mut explorer = Explorer::new(model)
        .strategy(options.strategy)
        .symmetry(options.symmetry)
        .keep_going(options.keep_going);
    if let Some(depth) = options.max_depth {
        explorer = explorer.max_depth(depth);
    }
    if let Some(states) = options.max_states {
        explorer = explorer.max_states(states);
    }
    if let Some(limit) = options.time_limit {
        explorer = explorer.time_limit(limit);
    }
    if let Some(threads) = options.threads {
        explorer = explorer.threads(threads);
    }
    if let Some(walks) = options.walks {
        explorer = explorer.walks(walks);
    }
    if let Some(progress) = options.progress {
        explorer = explorer.on_progress(progress);
    }
    match options.replay {
        Some((init, path)) => explorer.replay(init, path).map(CheckOutcome::Replay),
        None => Ok(CheckOutcome::Report(explorer.run())),
    }
}

/// A built-in system.
pub struct Entry {
    /// The name tools use, e.g. `paxos`.
    pub name: &'static str,
    /// One line saying what it is.
    pub about: &'static str,
    /// The parameters it accepts.
    pub params: &'static [ParamSpec],
    /// Builds the system from parameters and checks it.
    pub check: fn(&Params, &CheckOptions<'_>) -> Result<CheckOutcome, String>,
}

impl Entry {
    /// Parses and validates `key=value` pairs for this system.
    pub fn params(&self, pairs: &[String]) -> Result<Params, ParamError> {
        Params::parse(self.name, self.params, pairs)
    }
}

/// Every built-in system.
pub fn catalog() -> &'static [Entry] {
    ENTRIES
}

/// The built-in system named `name`.
pub fn find(name: &str) -> Result<&'static Entry, ParamError> {
    ENTRIES
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| ParamError::UnknownSystem {
            name: name.to_string(),
            valid: ENTRIES
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The KV store's `variant` parameter, shared by every mode that runs it.
pub const KV_VARIANT: ParamSpec = ParamSpec {
    name: "variant",
    kind: ParamKind::Choice(&["correct", "volatile-store"]),
    default: "correct",
    help: "correct, or replicas that keep writes in volatile memory (bug)",
};

static ENTRIES: &[Entry] = &[
    Entry {
        name: "two-phase-commit",
        about: "Lamport's TwoPhase.tla as a plain model (TLC: 288 states for 3 RMs, 8,832 for 5)",
        params: &[ParamSpec {
            name: "rms",
            kind: ParamKind::Int {
                min: 1,
                max: two_phase::MAX_RMS as u64,
            },
            default: "3",
            help: "number of resource managers",
        }],
        check: |params, options| check_model(&two_phase::TwoPhase::new(params.int("rms")), options),
    },
    Entry {
        name: "paxos",
        about: "single-decree Paxos: clients, proposers (one per client) and acceptors",
        params: &[
            ParamSpec {
                name: "acceptors",
                kind: ParamKind::Int { min: 1, max: 9 },
                default: "3",
                help: "number of acceptors",
            },
            ParamSpec {
                name: "clients",
                kind: ParamKind::Int { min: 1, max: 5 },
                default: "2",
                help: "number of competing clients, each with its own proposer",
            },
            ParamSpec {
                name: "variant",
                kind: ParamKind::Choice(paxos::VARIANTS),
                default: "correct",
                help: "correct, or a seeded bug",
            },
        ],
        check: |params, options| {
            let variant = paxos::Variant::from_name(params.text("variant"))
                .ok_or_else(|| format!("unknown variant {}", params.text("variant")))?;
            let system = paxos::system(params.int("clients"), params.int("acceptors"), variant);
            check_model(&system, options)
        },
    },
    Entry {
        name: "randtree",
        about: "RandTree, CrystalBall's random overlay tree, with one crash/restart",
        params: &[
            ParamSpec {
                name: "nodes",
                kind: ParamKind::Int { min: 2, max: 64 },
                default: "4",
                help: "number of nodes, root included",
            },
            ParamSpec {
                name: "max_children",
                kind: ParamKind::Int { min: 1, max: 16 },
                default: "2",
                help: "degree bound",
            },
            ParamSpec {
                name: "variant",
                kind: ParamKind::Choice(randtree::VARIANTS),
                default: "correct",
                help: "correct, or a seeded bug",
            },
        ],
        check: |params, options| {
            let variant = randtree::Variant::from_name(params.text("variant"))
                .ok_or_else(|| format!("unknown variant {}", params.text("variant")))?;
            let system = randtree::system(params.int("nodes"), params.int("max_children"), variant);
            check_model(&system, options)
        },
    },
    Entry {
        name: "kv",
        about: "replicated key-value store: majority writes, reads from a chosen replica, hedging (prophet sim kv has its own, larger parameters)",
        params: &[
            ParamSpec {
                name: "replicas",
                kind: ParamKind::Int { min: 1, max: 5 },
                default: "2",
                help: "number of replicas",
            },
            ParamSpec {
                name: "clients",
                kind: ParamKind::Int { min: 1, max: 3 },
                default: "1",
                help: "number of clients",
            },
            ParamSpec {
                name: "requests",
                kind: ParamKind::Int { min: 1, max: 4 },
                default: "2",
                help: "requests per client (alternately a write and a read)",
            },
            KV_VARIANT,
        ],
        check: |params, options| {
            let variant = crate::kv::Variant::parse(params.text("variant"))
                .ok_or_else(|| format!("unknown variant {}", params.text("variant")))?;
            let system = crate::kv::system(
                params.int("replicas"),
                params.int("clients"),
                params.int("requests") as u32,
                variant,
            );
            check_model(&system, options)
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec {
            name: "n",
            kind: ParamKind::Int { min: 1, max: 5 },
            default: "3",
            help: "count",
        },
        ParamSpec {
            name: "variant",
            kind: ParamKind::Choice(&["correct", "buggy"]),
            default: "correct",
            help: "which",
        },
    ];

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_fill_missing_parameters() {
        let params = Params::parse("demo", SPECS, &pairs(&["n=4"])).expect("valid");
        assert_eq!(params.int("n"), 4);
        assert_eq!(params.text("variant"), "correct");
    }

    #[test]
    fn errors_name_the_valid_choices() {
        let error = Params::parse("demo", SPECS, &pairs(&["m=1"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "system `demo` has no parameter `m`; its parameters are: n, variant"
        );
        let error = Params::parse("demo", SPECS, &pairs(&["variant=odd"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "parameter `variant` = `odd` is invalid: expected one of correct, buggy"
        );
        let error = Params::parse("demo", SPECS, &pairs(&["n=9"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "parameter `n` = `9` is invalid: expected an integer from 1 to 5"
        );
        assert_eq!(
            Params::parse("demo", SPECS, &pairs(&["n"])).unwrap_err(),
            ParamError::Malformed("n".into())
        );
        assert_eq!(
            Params::parse("demo", SPECS, &pairs(&["n=1", "n=2"])).unwrap_err(),
            ParamError::Duplicate("n".into())
        );
    }
}
