//! What Flyway's PostgreSQL parser decides about a script: which statements cannot run in a
//! transaction (or carry `COPY` rows inline), and so how the script runs. Flyway decides it
//! from the leading keywords of each statement rather than from what PostgreSQL would do,
//! so the keywords are read here as Flyway reads them, from the tokens of the project's
//! lexer (`migrations::lexer`), which also splits the script into statements.

use std::path::Path;

use super::config::{Config, ScriptMetadata};
use crate::error::InputError;
use crate::migrations::lexer::{Token, TokenKind, code_tokens, split_statements};
use crate::migrations::{TransactionMode, line_of_byte};

/// What Flyway's PostgreSQL parser makes of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatementKind {
    /// Runs inside a transaction.
    Transactional,
    /// Cannot run inside a transaction block.
    NonTransactional,
    /// `COPY ... FROM STDIN`, whose rows follow in the script.
    CopyFromStdin,
}

/// How many leading keywords Flyway's parser looks at (`getTransactionalDetectionCutoff`).
const KEYWORD_CUTOFF: usize = 10;

/// Classifies a statement by its leading keywords, as Flyway matches them after each keyword.
fn statement_kind(code: &str) -> StatementKind {
    let keywords = leading_keywords(code, KEYWORD_CUTOFF);
    for end in 1..=keywords.len() {
        let words: Vec<&str> = keywords[..end].iter().map(String::as_str).collect();
        let copy = words.len() >= 3 && words[0] == "COPY" && words.ends_with(&["FROM", "STDIN"]);
        if copy {
            return StatementKind::CopyFromStdin;
        }
        let non_transactional = matches!(
            words.as_slice(),
            [
                "CREATE" | "DROP",
                "DATABASE" | "TABLESPACE" | "SUBSCRIPTION"
            ] | ["ALTER", "SYSTEM"]
                | ["CREATE" | "DROP", "INDEX", "CONCURRENTLY"]
                | ["CREATE" | "DROP", "UNIQUE", "INDEX", "CONCURRENTLY"]
                | ["REINDEX", "SCHEMA" | "DATABASE" | "SYSTEM"]
                | ["REINDEX", "VERBOSE", "SCHEMA" | "DATABASE" | "SYSTEM"]
                | ["VACUUM"]
                | ["DISCARD", "ALL"]
        );
        if non_transactional {
            return StatementKind::NonTransactional;
        }
    }
    StatementKind::Transactional
}

/// The first `limit` keywords of a statement as Flyway's parser sees them: upper-cased bare
/// words of letters and `_` at parenthesis depth 0, read from the lexer's code tokens.
/// Strings (`E'..'`, `B'..'`, `U&'..'` and the like included), quoted names, dollar-quoted
/// bodies and comments are tokens of their own, numbers (with trailing junk such as `2t`)
/// other tokens, and a word touching a `.` is part of a dotted name (`schema.table`,
/// `"s".t`): none of them counts.
fn leading_keywords(code: &str, limit: usize) -> Vec<String> {
    let is_dot = |token: &Token| token.kind == TokenKind::Other && token.text(code) == ".";
    let mut keywords = Vec::new();
    let mut depth = 0usize;
    // Where the previous token ended, when it was a `.`.
    let mut dot_end = None;
    let mut tokens = code_tokens(code).peekable();
    while keywords.len() < limit
        && let Some(token) = tokens.next()
    {
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            TokenKind::Identifier if depth == 0 => {
                let word = token.text(code);
                let dotted = dot_end == Some(token.start)
                    || tokens
                        .peek()
                        .is_some_and(|next| next.start == token.end && is_dot(next));
                if !dotted && word.chars().all(|ch| ch.is_alphabetic() || ch == '_') {
                    keywords.push(word.to_uppercase());
                }
            }
            _ => {}
        }
        dot_end = is_dot(&token).then_some(token.end);
    }
    keywords
}

/// Decides how Flyway runs a script: its `.conf` file's `executeInTransaction` first, then the
/// global `executeInTransaction`, then the statements: any that cannot run in a transaction
/// takes the script out of one, and both kinds together are an error unless `mixed`.
pub(super) fn transaction_mode(
    sql: &str,
    path: &Path,
    config: &Config,
    metadata: &ScriptMetadata,
) -> Result<TransactionMode, InputError> {
    let mut first_transactional: Option<usize> = None;
    let mut first_non_transactional: Option<(usize, &str)> = None;
    for statement in split_statements(sql).iter().filter(|s| !s.is_empty()) {
        let code = &sql[statement.code.clone()];
        let line = line_of_byte(sql, statement.code.start);
        match statement_kind(code) {
            StatementKind::CopyFromStdin => {
                return Err(InputError::at_line(
                    path,
                    line,
                    "COPY ... FROM STDIN with its rows in the migration: Flyway sends the rows \
                     itself, migration-check cannot; load the data with INSERT statements, or \
                     verify with the `command` format running Flyway",
                ));
            }
            StatementKind::NonTransactional => {
                first_non_transactional.get_or_insert((line, code));
            }
            StatementKind::Transactional => {
                first_transactional.get_or_insert(line);
            }
        }
        let mixed_check = !config.mixed
            && metadata.execute_in_transaction.is_none()
            && config.execute_in_transaction;
        if let (Some(_), Some((non_line, non_code))) =
            (first_transactional, first_non_transactional)
            && mixed_check
        {
            let words = non_code
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(InputError::at_line(
                path,
                line,
                format!(
                    "Detected both transactional and non-transactional statements within the \
                     same migration (even though mixed is false): Flyway refuses to run it. The \
                     statement on line {non_line} (`{words} ...`) cannot run in a transaction; \
                     move it into a migration of its own, add `executeInTransaction=false` to \
                     a `{}.conf` file beside this one, or set `mixed=true` in Flyway's \
                     configuration",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ));
        }
    }
    let in_transaction = match metadata.execute_in_transaction {
        Some(explicit) => explicit,
        None => config.execute_in_transaction && first_non_transactional.is_none(),
    };
    Ok(if in_transaction {
        TransactionMode::Wrapped
    } else {
        TransactionMode::None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Migration;
    use crate::migrations::flyway::FORMAT;
    use crate::migrations::flyway::test_support::error;
    use crate::migrations::test_util::one_migration;

    fn one(name: &str, contents: &str) -> Migration {
        one_migration(FORMAT, name, contents)
    }

    #[test]
    fn statement_kinds_follow_flyways_keywords() {
        use StatementKind::*;
        for (sql, kind) in [
            ("create index concurrently i on t (x)", NonTransactional),
            (
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (x)",
                NonTransactional,
            ),
            ("drop index concurrently if exists i", NonTransactional),
            ("create index i on t (x)", Transactional),
            ("VACUUM ANALYZE t", NonTransactional),
            ("reindex (verbose) schema public", NonTransactional),
            ("reindex table t", Transactional),
            ("create database d", NonTransactional),
            ("alter system set work_mem = '1MB'", NonTransactional),
            ("discard all", NonTransactional),
            ("alter type mood add value 'x'", Transactional),
            ("copy t (a, b) from stdin", CopyFromStdin),
            ("copy public.t from stdin with csv", CopyFromStdin),
            ("copy t to stdout", Transactional),
            ("/* vacuum */ select 'vacuum'", Transactional),
            ("-- create index concurrently\nselect 1", Transactional),
            (
                "create /* c */ index concurrently i on t (x)",
                NonTransactional,
            ),
            ("do $$ begin vacuum; end $$", Transactional),
        ] {
            assert_eq!(statement_kind(sql), kind, "{sql}");
        }
        assert_eq!(
            leading_keywords("select a.b, \"X\", 1, f(x) from t2, t", 10),
            ["SELECT", "F", "FROM", "T"]
        );
    }

    #[test]
    fn keywords_are_the_bare_words_among_the_lexers_tokens() {
        for (sql, keywords) in [
            (
                "select a . b, c.\"D\".e, x.*, a$b, _x, été, (y)",
                &["SELECT", "A", "B", "_X", "ÉTÉ"][..],
            ),
            (
                "select 'a b', E'it\\'s from', $$ vacuum $$, $f$ x $f$ /* c /* d */ e */ -- x\n\
                 from t",
                &["SELECT", "FROM", "T"],
            ),
            // Prefixed literals are strings, their prefix no word.
            (
                "select B'01', X'ff', n'n', U&'u', U&\"i\" from t",
                &["SELECT", "FROM", "T"],
            ),
            // A word after a `.` belongs to a dotted name whatever comes before the `.`.
            ("copy \"s\".t from stdin", &["COPY", "FROM", "STDIN"]),
            ("select (x).f, 'a'.b from t", &["SELECT", "FROM", "T"]),
            // Numbers with trailing junk and parameters are one token.
            ("select 2t, 1.e, $1abc from t", &["SELECT", "FROM", "T"]),
            // A line comment ends at a carriage return too.
            (
                "create -- c\rindex concurrently i on t (x)",
                &["CREATE", "INDEX", "CONCURRENTLY", "I", "ON", "T"],
            ),
            // A string continued on the next line stays an escape string.
            ("select E'a'\n'b\\'' from t", &["SELECT", "FROM", "T"]),
            // Any non-ASCII character is an identifier character, as in PostgreSQL.
            (
                "create index concurrently\u{a0}i on t (x)",
                &["CREATE", "INDEX", "ON", "T"],
            ),
        ] {
            assert_eq!(leading_keywords(sql, KEYWORD_CUTOFF), keywords, "{sql:?}");
        }
        assert_eq!(leading_keywords("a b c", 2), ["A", "B"]);
        assert!(leading_keywords("a b", 0).is_empty());
    }

    #[test]
    fn transaction_modes() {
        let m = one(
            "V1__a.sql",
            "create table t (x int);\ninsert into t values (1);\n",
        );
        assert_eq!(m.up.transaction, TransactionMode::Wrapped);
        let m = one(
            "V1__a.sql",
            "-- no transaction\ncreate index concurrently i on t (x);\nvacuum t;\n",
        );
        assert_eq!(m.up.transaction, TransactionMode::None);
    }

    #[test]
    fn mixed_statements_are_refused_at_the_offending_line() {
        let (err, root) = error(&[(
            "V1__a.sql",
            "create table t (x int);\n\ncreate index concurrently i on t (x);\n",
        )]);
        assert_eq!(err.path, root.join("V1__a.sql"));
        assert_eq!(err.line, Some(3));
        assert!(
            err.message
                .contains("Detected both transactional and non-transactional statements"),
            "{err}"
        );
    }
}
