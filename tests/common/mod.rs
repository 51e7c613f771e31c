//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;

/// A counter's value in a `hotpath stat --once --json` report.
pub fn stat_counter(snap: &Value, component: &str, name: &str) -> u64 {
    snap["counters"]
        .as_array()
        .expect("counters array")
        .iter()
        .find(|c| c["component"] == component && c["name"] == name)
        .unwrap_or_else(|| panic!("no counter {component}.{name}"))["value"]
        .as_u64()
        .expect("an integer value")
}
