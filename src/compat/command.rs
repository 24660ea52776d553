//! The application's own tests as a source of its SQL: `[compat] command = ["npm",
//! "test"]`. The command is untrusted code, run as an argument vector (never through a
//! shell) in a cleared environment holding only `PATH`, `HOME`, the locale, the variables
//! `[compat] pass_env` lists and the throwaway database's address (`DATABASE_URL`, `PG*`);
//! no token of ours. It runs in its own process group, killed whole at the command timeout.
//! Where the server's log can be read (the embedded backend), the errors it logged while the
//! command ran, with their statements, say what failed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::Config;

use crate::postgres::process::{database_env, inherited_environment, run_program};

/// The test command and what it may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    pub argv: Vec<String>,
    /// Our variables it may see besides the database's address (never a credential).
    pub pass_env: Vec<String>,
    /// Where the new code runs it (the working tree's directory).
    pub new_workdir: PathBuf,
    /// Where the old code runs it: the same directory in a worktree of the base commit;
    /// `None` without one.
    pub old_workdir: Option<PathBuf>,
}

impl TestCommand {
    /// `npm test`, for people.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// An error the server logged while the command ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedError {
    /// `ERROR:  column "name" does not exist at character 8`, without the prefix.
    pub error: String,
    /// The statement it failed on, when logged.
    pub statement: Option<String>,
}

/// One run of the command against one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub passed: bool,
    pub timed_out: bool,
    /// Its last lines of output (the database password masked).
    pub output: String,
    /// The errors the server logged meanwhile (empty where the log cannot be read).
    pub errors: Vec<LoggedError>,
}

impl TestRun {
    /// The output lines that say what failed (those naming an error, a failure or an
    /// assertion), else its last lines: at most `limit`.
    pub fn failing_lines(&self, limit: usize) -> Vec<String> {
        let lines: Vec<&str> = self
            .output
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let marked: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| {
                let lower = line.to_ascii_lowercase();
                ["error", "fail", "✗", "not ok", "assert", "exception"]
                    .iter()
                    .any(|word| lower.contains(word))
            })
            .collect();
        let chosen = if marked.is_empty() { &lines } else { &marked };
        let skip = chosen.len().saturating_sub(limit);
        chosen[skip..].iter().map(|l| l.to_string()).collect()
    }
}

/// Runs the command in `workdir` against `database` (the server's log at `log`, when
/// readable). Err says why it could not start.
pub async fn run(
    command: &TestCommand,
    workdir: &Path,
    database: &Config,
    timeout: Duration,
    log: Option<&Path>,
) -> Result<TestRun, String> {
    let mut env = inherited_environment(&command.pass_env);
    env.extend(database_env(database, None));
    let secret = database
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let start = log
        .and_then(|path| std::fs::metadata(path).ok())
        .map(|m| m.len());
    let program = run_program(&command.argv, workdir, env, timeout, secret.as_deref()).await?;
    let errors = match (log, start) {
        (Some(path), Some(start)) => logged_errors(&read_from(path, start)),
        _ => Vec::new(),
    };
    Ok(TestRun {
        passed: program.status.is_some_and(|s| s.success()),
        timed_out: program.timed_out,
        output: program.output,
        errors,
    })
}

/// The log's text from byte `start` on.
fn read_from(path: &Path, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(SeekFrom::Start(start)).is_ok()
    {
        let _ = file.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The `ERROR:` entries of a server log and the `STATEMENT:` each was logged with
/// (continuation lines, which start with a tab, joined).
fn logged_errors(log: &str) -> Vec<LoggedError> {
    let mut errors: Vec<LoggedError> = Vec::new();
    let mut current: Option<&mut String> = None;
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix('\t') {
            if let Some(text) = current.as_deref_mut() {
                text.push('\n');
                text.push_str(rest);
            }
            continue;
        }
        current = None;
        if let Some((_, message)) = line.split_once("ERROR:  ") {
            errors.push(LoggedError {
                error: message.to_string(),
                statement: None,
            });
            current = errors.last_mut().map(|e| &mut e.error);
        } else if let Some((_, statement)) = line.split_once("STATEMENT:  ")
            && let Some(last) = errors.last_mut()
            && last.statement.is_none()
        {
            current = Some(last.statement.insert(statement.to_string()));
        }
    }
    errors
}

/// The errors of `changed` that `control` did not log (the same error on the same
/// statement).
pub fn new_errors<'a>(control: &TestRun, changed: &'a TestRun) -> Vec<&'a LoggedError> {
    changed
        .errors
        .iter()
        .filter(|error| !control.errors.contains(error))
        .collect()
}

/// Splits a command line into an argument vector without a shell: words separated by
/// whitespace, `'…'` and `"…"` quoting (a backslash escapes the next character outside
/// single quotes). Err on an unterminated quote or an empty command.
pub fn split_command_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err(format!("unterminated ' in `{line}`")),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => text.push(c),
                            None => return Err(format!("unterminated \" in `{line}`")),
                        },
                        Some(c) => text.push(c),
                        None => return Err(format!("unterminated \" in `{line}`")),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    word.get_or_insert_with(String::new).push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err("the command is empty".to_string());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gives_each_error_with_its_statement() {
        let log = "2026-12-07 10:00:00.000 UTC [12] LOG:  checkpoint starting\n\
                   2026-12-07 10:00:01.000 UTC [13] ERROR:  column \"name\" does not exist at character 8\n\
                   2026-12-07 10:00:01.000 UTC [13] STATEMENT:  SELECT name\n\
                   \tFROM users\n\
                   2026-12-07 10:00:02.000 UTC [13] ERROR:  division by zero\n";
        assert_eq!(
            logged_errors(log),
            [
                LoggedError {
                    error: "column \"name\" does not exist at character 8".into(),
                    statement: Some("SELECT name\nFROM users".into()),
                },
                LoggedError {
                    error: "division by zero".into(),
                    statement: None,
                },
            ]
        );
    }

    #[test]
    fn command_lines_split_without_a_shell() {
        assert_eq!(
            split_command_line("npm test -- --grep 'users api' \"a\\\"b\"").unwrap(),
            ["npm", "test", "--", "--grep", "users api", "a\"b"]
        );
        assert_eq!(
            split_command_line("go test ./...").unwrap(),
            ["go", "test", "./..."]
        );
        assert!(split_command_line("npm 'test").is_err());
        assert!(split_command_line("   ").is_err());
        // No shell: `$HOME`, `;` and `|` are plain characters of the words.
        assert_eq!(
            split_command_line("echo $HOME; ls | wc").unwrap(),
            ["echo", "$HOME;", "ls", "|", "wc"]
        );
    }

    #[test]
    fn failing_lines_prefer_the_lines_that_say_so() {
        let run = TestRun {
            passed: false,
            timed_out: false,
            output: "> test\nok 1 reads users\nnot ok 2 creates a user\n  error: null value in column \"slug\"\n1 passing\n".into(),
            errors: Vec::new(),
        };
        assert_eq!(
            run.failing_lines(5),
            [
                "not ok 2 creates a user",
                "  error: null value in column \"slug\""
            ]
        );
        let quiet = TestRun {
            output: "a\nb\nc\n".into(),
            ..run
        };
        assert_eq!(quiet.failing_lines(2), ["b", "c"]);
    }
}
