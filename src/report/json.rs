//! The JSON renderer: the report model as DESIGN.md's v1 contract.

use super::Report;

/// Pretty JSON with a trailing newline.
pub fn render(report: &Report) -> String {
    let mut text =
        serde_json::to_string_pretty(report).expect("the report model always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::{self, at, problem};
    use crate::report::*;

    #[test]
    fn statuses_and_keys_follow_the_contract() {
        let leftover = Problem {
            object: Some("index public.i".into()),
            ..at(
                problem(
                    "not_reversible",
                    Severity::Error,
                    "index public.i: left behind by down",
                ),
                "migrations/2_add_index.down.sql",
                1,
                None,
            )
        };
        let report = test_support::report()
            .failed()
            .migration("2", "add_index", Status::NotReversible, vec![leftover])
            .build();
        let value: serde_json::Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(value["schema_version"], 1);
        assert_eq!(value["postgres"]["backend"], "embedded");
        let migration = &value["migrations"][0];
        assert_eq!(migration["status"], "not_reversible");
        assert_eq!(migration["new"], true);
        assert_eq!(migration["problems"][0]["severity"], "error");
        assert_eq!(migration["problems"][0]["line"], 1);
        let keys: Vec<&str> = migration["problems"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["kind", "severity", "message", "file", "line"] {
            assert!(keys.contains(&key), "problem key {key} is always present");
        }
        assert_eq!(migration["timings_ms"]["up"], 3);
        assert!(migration["timings_ms"]["reup"].is_null());
        assert!(value["checksums"].as_array().unwrap().is_empty());
        let back: Report = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);
    }
}
