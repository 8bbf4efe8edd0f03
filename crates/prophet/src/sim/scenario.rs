//! Scenario files: a documented TOML format (see the guide).
