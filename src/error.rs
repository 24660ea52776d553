//! Typed errors where callers branch on them: each maps to one exit status of
//! the command-line contract (2 bad input, 3 environment), so `main` never has
//! to guess from a message. Everything else carries context with `anyhow`.

use std::path::PathBuf;

/// Bad input: exit status 2. Always names the file, and the line where one applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct InputError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl InputError {
    /// An error about a whole file or directory.
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }

    /// An error at a line of a file.
    pub fn at_line(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            line: Some(line),
            message: message.into(),
        }
    }
}

/// Invalid usage or configuration that is not tied to a migration file: exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The environment failed (no PostgreSQL could be started, the server died,
/// Docker unreachable, GitHub refused a required write): exit status 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EnvironmentError {
    pub message: String,
}

impl EnvironmentError {
    pub fn new(message: impl Into<String>) -> Self {
        EnvironmentError {
            message: message.into(),
        }
    }
}

/// The run was stopped by a signal; everything was cleaned up first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by {name}; the throwaway database was removed")]
pub struct Interrupted {
    pub name: &'static str,
    /// 128 + signal number, the shell convention.
    pub exit_code: u8,
}

/// The exit status the contract assigns to an error chain.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<InputError>() || cause.is::<UsageError>() {
            return 2;
        }
        if cause.is::<EnvironmentError>() {
            return 3;
        }
        if let Some(interrupted) = cause.downcast_ref::<Interrupted>() {
            return interrupted.exit_code;
        }
    }
    3
}
