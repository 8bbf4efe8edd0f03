//! Parameters of a registered protocol: declared once (name, help, type and
//! range, a default per purpose), parsed and validated once for every mode.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::registry::RegistryError;

/// What a system is built for. Check sizes are small (the state space grows
/// exponentially); simulation and live sizes are what a deployment uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Model checking (`prophet check`).
    Check,
    /// Simulation (`prophet sim`).
    Sim,
    /// Live processes (`prophet run`, `prophet node`).
    Live,
}

impl Purpose {
    /// Every purpose, in the order tools show them.
    pub const ALL: [Purpose; 3] = [Purpose::Check, Purpose::Sim, Purpose::Live];

    /// The mode's command-line name: `check`, `sim` or `run`.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Check => "check",
            Purpose::Sim => "sim",
            Purpose::Live => "run",
        }
    }
}

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A parameter a protocol accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// The key, e.g. `replicas`.
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// Accepted values.
    pub kind: ParamKind,
    /// The value when not given, per purpose: `[check, sim, live]`.
    pub defaults: [&'static str; 3],
}

impl ParamSpec {
    /// An integer parameter in `min..=max` with one default for every purpose.
    pub const fn int(
        name: &'static str,
        help: &'static str,
        min: u64,
        max: u64,
        default: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            help,
            kind: ParamKind::Int { min, max },
            defaults: [default; 3],
        }
    }

    /// A parameter that takes one of `names`, with one default for every purpose.
    pub const fn choice(
        name: &'static str,
        help: &'static str,
        names: &'static [&'static str],
        default: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            help,
            kind: ParamKind::Choice(names),
            defaults: [default; 3],
        }
    }

    /// Other defaults for checking, simulation and live runs.
    pub const fn per_purpose(
        mut self,
        check: &'static str,
        sim: &'static str,
        live: &'static str,
    ) -> Self {
        self.defaults = [check, sim, live];
        self
    }

    /// The default for `purpose`.
    pub fn default_for(&self, purpose: Purpose) -> &'static str {
        self.defaults[purpose as usize]
    }

    /// Whether every purpose has the same default.
    pub fn one_default(&self) -> bool {
        self.defaults.iter().all(|d| *d == self.defaults[0])
    }

    /// Checks `value` against the declared kind.
    pub fn validate(&self, value: &str) -> Result<(), RegistryError> {
        let bad = || RegistryError::BadValue {
            name: self.name.to_string(),
            value: value.to_string(),
            expected: self.kind.to_string(),
        };
        match self.kind {
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
}

/// Validated parameter values for one purpose (every declared parameter
/// has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<&'static str, String>,
    purpose: Purpose,
}

impl Params {
    /// Parses `key=value` pairs against `specs`; missing keys take the
    /// default for `purpose`.
    pub fn parse(
        system: &str,
        specs: &[ParamSpec],
        purpose: Purpose,
        pairs: &[String],
    ) -> Result<Params, RegistryError> {
        let mut values: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut given = BTreeSet::new();
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| RegistryError::Malformed(pair.clone()))?;
            let (key, value) = (key.trim(), value.trim());
            let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| {
                RegistryError::UnknownParam {
                    system: system.to_string(),
                    name: key.to_string(),
                    valid: names_or_none(specs.iter().map(|s| s.name)),
                }
            })?;
            if !given.insert(spec.name) {
                return Err(RegistryError::Duplicate(spec.name.to_string()));
            }
            spec.validate(value)?;
            values.insert(spec.name, value.to_string());
        }
        for spec in specs {
            values
                .entry(spec.name)
                .or_insert_with(|| spec.default_for(purpose).to_string());
        }
        Ok(Params { values, purpose })
    }

    /// What these values were parsed for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The integer value of `name` (declared as [`ParamKind::Int`]).
    ///
    /// # Panics
    /// If `name` is not a declared integer parameter: a bug in the
    /// protocol's description, not in the user's input.
    pub fn int(&self, name: &str) -> usize {
        self.values
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!("description bug: `{name}` is not a declared integer parameter")
            })
    }

    /// The text value of `name`.
    ///
    /// # Panics
    /// If `name` is not declared: a bug in the protocol's description.
    pub fn text(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("description bug: `{name}` is not a declared parameter"))
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

/// `a, b, c`, or `(none)`.
pub(crate) fn names_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ParamSpec] = &[
        ParamSpec::int("n", "count", 1, 5, "3").per_purpose("2", "3", "4"),
        ParamSpec::choice("variant", "which", &["correct", "buggy"], "correct"),
    ];

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_fill_missing_parameters_per_purpose() {
        let params =
            Params::parse("demo", SPECS, Purpose::Sim, &pairs(&["variant=buggy"])).expect("valid");
        assert_eq!(params.int("n"), 3);
        assert_eq!(params.text("variant"), "buggy");
        assert_eq!(params.purpose(), Purpose::Sim);
        let check = Params::parse("demo", SPECS, Purpose::Check, &[]).expect("valid");
        assert_eq!(check.int("n"), 2);
        let live = Params::parse("demo", SPECS, Purpose::Live, &pairs(&["n=5"])).expect("valid");
        assert_eq!(live.int("n"), 5);
        assert_eq!(live.to_string(), "n=5, variant=correct");
    }

    #[test]
    fn errors_name_the_valid_choices() {
        let parse = |p: &[&str]| Params::parse("demo", SPECS, Purpose::Check, &pairs(p));
        assert_eq!(
            parse(&["m=1"]).unwrap_err().to_string(),
            "system `demo` has no parameter `m`; its parameters are: n, variant"
        );
        assert_eq!(
            parse(&["variant=odd"]).unwrap_err().to_string(),
            "parameter `variant` = `odd` is invalid: expected one of correct, buggy"
        );
        assert_eq!(
            parse(&["n=9"]).unwrap_err().to_string(),
            "parameter `n` = `9` is invalid: expected an integer from 1 to 5"
        );
        assert_eq!(
            parse(&["n"]).unwrap_err(),
            RegistryError::Malformed("n".into())
        );
        assert_eq!(
            parse(&["n=1", "n=2"]).unwrap_err(),
            RegistryError::Duplicate("n".into())
        );
    }
}
