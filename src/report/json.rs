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
    use crate::report::*;

    #[test]
    fn statuses_and_keys_follow_the_contract() {
        let report = Report {
            postgres_versions: Vec::new(),
            schema_version: SCHEMA_VERSION,
            passed: false,
            postgres: PostgresInfo {
                backend: "embedded".into(),
                server_version: "15.18".into(),
            },
            format: "sqlx".into(),
            directory: "migrations".into(),
            migrations: vec![MigrationReport {
                versions: Default::default(),
                version: "2".into(),
                name: "add_index".into(),
                files: vec!["migrations/2_add_index.up.sql".into()],
                new: true,
                status: Status::NotReversible,
                problems: vec![Problem {
                    versions: Vec::new(),
                    kind: "not_reversible".into(),
                    severity: Severity::Error,
                    message: "index public.i: left behind by down".into(),
                    file: Some("migrations/2_add_index.down.sql".into()),
                    line: Some(1),
                    column: None,
                    object: Some("index public.i".into()),
                }],
                timings_ms: StepTimings {
                    up: Some(3),
                    down: Some(1),
                    reup: None,
                },
                notes: vec![],
                locks: Vec::new(),
            }],
            sequence: SequenceReport {
                versions: Default::default(),
                status: SequenceStatus::Skipped,
                from_version: None,
                to_version: None,
                problems: vec![],
                note: None,
            },
            checksums: vec![],
            problems: vec![],
            schema_changes: vec![],
            schema_diagram: None,
            notes: Vec::new(),
            ignored_files: Vec::new(),
            timings_ms: RunTimings::default(),
        };
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
