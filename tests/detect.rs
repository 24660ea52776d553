//! `migration-check detect` on small reproductions of what real repositories do (written
//! for these tests, never copied from a project): each directory under
//! `tests/fixtures/detect/<case>/` is a repository of its own (copied to a temporary
//! directory with a `.git` at its root) and its `expected.json` says what detect must answer:
//! `{"dir": "…", "format": "…", "basis": "project" | "directory" | "assumed",
//!   "evidence_contains": "…", "assumption_contains": "…", "migrations": N,
//!   "ignored": ["file", …], "error_contains": "…"}`.
//! The real projects these stand for are in `corpus/manifest.toml` (`corpus/run`).

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn detect(case: &Path) -> (Value, std::process::Output, Value) {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
            .unwrap();
    let repository = tempfile::tempdir().unwrap();
    common::copy_dir(&case.join("."), repository.path());
    std::fs::remove_file(repository.path().join("expected.json")).unwrap();
    std::fs::create_dir(repository.path().join(".git")).unwrap();
    let dir = repository.path().join(expected["dir"].as_str().unwrap());
    let output = Command::new(common::binary())
        .arg("detect")
        .arg(&dir)
        .args(["--json", "-"])
        .current_dir(repository.path())
        .output()
        .unwrap();
    let answer = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (expected, output, answer)
}

#[test]
fn detect_answers_every_reproduction_as_its_tool_would() {
    let root = common::root().join("tests/fixtures/detect");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (expected, output, answer) = detect(&case);
        let context = format!(
            "{name}: {answer:#}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            common::stderr(&output)
        );
        if let Some(format) = expected["format"].as_str() {
            assert_eq!(answer["format"], format, "{context}");
        }
        if let Some(basis) = expected["basis"].as_str() {
            assert_eq!(answer["basis"], basis, "{context}");
        }
        if let Some(needle) = expected["evidence_contains"].as_str() {
            assert!(answer["evidence"].to_string().contains(needle), "{context}");
        }
        if let Some(needle) = expected["assumption_contains"].as_str() {
            assert!(
                answer["assumption"].as_str().unwrap_or("").contains(needle),
                "{context}"
            );
        }
        if let Some(count) = expected["migrations"].as_u64() {
            assert_eq!(answer["migrations"], count, "{context}");
            assert_eq!(output.status.code(), Some(0), "{context}");
        }
        if let Some(ignored) = expected["ignored"].as_array() {
            let got: Vec<String> = answer["ignored_files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    Path::new(p.as_str().unwrap())
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            let want: Vec<&str> = ignored.iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(got, want, "{context}");
        }
        if let Some(needle) = expected["error_contains"].as_str() {
            assert_eq!(output.status.code(), Some(2), "{context}");
            let said = format!(
                "{}{}",
                answer["error"].as_str().unwrap_or(""),
                common::stderr(&output)
            );
            assert!(said.contains(needle), "{context}");
        }
    }
}
