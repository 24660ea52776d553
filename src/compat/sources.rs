//! The application's SQL, read from the sources teams have, so that it can be judged against
//! the changed schema. A migration that passes its own up → down → up can still break the
//! code that runs against it (a dropped column a query still selects, a `NOT NULL` an insert
//! does not fill). To know, migration-check needs the statements the application sends, and
//! teams keep them in different forms: query files of code generators and query loaders
//! (sqlc, aiosql/yesql, pgtyped), plain `.sql` files, or what the running application was
//! recorded sending (a pg_stat_statements export). This module turns each into
//! [`AppStatement`]s in one form, PostgreSQL's own: parameters as `$1`, `$2`, … so every
//! statement can be prepared as it is. Everything here is a pure function of text: reading
//! files, walking directories (see [`glob_matches`], [`glob_root`]) and querying a database
//! are the caller's. Statements are read with the crate's lexer, so quotes, dollar quotes
//! and comments are never mistaken for code.

use std::ops::Range;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::migrations::lexer::{Token, TokenKind, code_tokens, line_col, split_statements};

/// How many characters of its SQL a statement without a name or place is labelled by.
const LABEL_CHARS: usize = 60;

/// One statement of the application's SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatement {
    /// The query's name (sqlc `-- name: GetUser :one` → "GetUser"; aiosql/yesql
    /// `-- name: get_user` → "get_user", without aiosql's suffix operators `!`, `<!`, `*!`,
    /// `#`, `$`, `^`; pgtyped `/* @name GetUser */` → "GetUser"); None for plain statements
    /// and recorded ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The file as given by the caller (`label`), None for recorded statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in that file of the statement's first code token (not of its name comment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The statement's code with named parameters rewritten to PostgreSQL's `$1`, `$2`, …,
    /// without the trailing `;` and without leading comments.
    pub sql: String,
    /// How often the running application called it (pg_stat_statements `calls`), when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// The code sends its `*` as the columns its schema had when the code was generated
    /// (sqlc writes them out): a column added later changes nothing for it, one removed
    /// breaks it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub star_expanded: bool,
}

impl AppStatement {
    /// How people name it: the name, else `file:line`, else the first 60 characters of its
    /// SQL on one line (whitespace collapsed, `…` when cut).
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => return format!("{file}:{line}"),
            (Some(file), None) => return file.clone(),
            (None, _) => {}
        }
        let one_line = self.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        match one_line.char_indices().nth(LABEL_CHARS) {
            None => one_line,
            Some((cut, _)) => format!("{}…", one_line[..cut].trim_end()),
        }
    }
}

/// What kind of statement the application sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`, `VALUES`, `TABLE`, `WITH … SELECT` (also `SELECT … INTO`).
    Read,
    /// `INSERT`, `UPDATE`, `DELETE`, `MERGE`, and a `WITH` whose main statement or any
    /// data-modifying CTE is one of them.
    Write,
    /// `CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `COMMENT`, `GRANT`, `REVOKE`, `REINDEX`,
    /// `CLUSTER`, `REFRESH`, `SECURITY LABEL`, `IMPORT`.
    Ddl,
    /// Everything else: `BEGIN`, `COMMIT`, `SET`, `SHOW`, `VACUUM`, `EXPLAIN`, `COPY`,
    /// `LOCK`, `PREPARE`, `EXECUTE`, `DO`, `CALL`, `FETCH`, …
    Utility,
}

/// The kind of `sql` by its leading keyword(s), case-insensitive, after leading comments,
/// whitespace and parentheses (`(SELECT …)`). A `WITH` is a [`StatementKind::Write`] when
/// `INSERT`, `UPDATE`, `DELETE` or `MERGE` begins a CTE body or the main statement (the
/// keyword right after a `(` or a `)`; `FOR UPDATE` and `DO UPDATE` do not count), else a
/// [`StatementKind::Read`].
pub fn kind(sql: &str) -> StatementKind {
    let tokens: Vec<Token> = code_tokens(sql).collect();
    let mut words = tokens
        .iter()
        .skip_while(|t| t.kind == TokenKind::OpenParen)
        .map(|t| keyword(t, sql));
    let first = words.next().unwrap_or_default();
    match first.as_str() {
        "select" | "values" | "table" => StatementKind::Read,
        "insert" | "update" | "delete" | "merge" => StatementKind::Write,
        "with" if with_writes(&tokens, sql) => StatementKind::Write,
        "with" => StatementKind::Read,
        "create" | "alter" | "drop" | "truncate" | "comment" | "grant" | "revoke" | "reindex"
        | "cluster" | "refresh" | "import" => StatementKind::Ddl,
        "security" if words.next().as_deref() == Some("label") => StatementKind::Ddl,
        _ => StatementKind::Utility,
    }
}

/// Whether a data-modifying keyword begins a CTE body or the main statement of a `WITH`.
fn with_writes(tokens: &[Token], sql: &str) -> bool {
    tokens.windows(2).any(|pair| {
        matches!(pair[0].kind, TokenKind::OpenParen | TokenKind::CloseParen)
            && matches!(
                keyword(&pair[1], sql).as_str(),
                "insert" | "update" | "delete" | "merge"
            )
    })
}

/// A token's text lowercased when it is a keyword or unquoted identifier, else empty.
fn keyword(token: &Token, sql: &str) -> String {
    match token.kind {
        TokenKind::Identifier => token.text(sql).to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Whether the statement's result rows are given by `*`: `SELECT *`, `SELECT t.*`,
/// `SELECT DISTINCT *`, `SELECT DISTINCT ON (a) *`, `, *`, `RETURNING *`, `RETURNING t.*`.
/// That is a `*` right after `SELECT`, `DISTINCT`, `DISTINCT ON (…)`, `ALL`, `RETURNING`,
/// `,` or `.` outside parentheses (those that enclose the whole statement aside): the `*`
/// of `count(*)` or of a subquery or CTE body is not.
pub fn selects_star(sql: &str) -> bool {
    let outer = code_tokens(sql)
        .take_while(|t| t.kind == TokenKind::OpenParen)
        .count();
    let mut depth = 0usize;
    // The depth inside an open `DISTINCT ON (` list.
    let mut distinct_on = None;
    let mut star_may_follow = false;
    let mut last_words = [String::new(), String::new()];
    for token in code_tokens(sql) {
        let word = keyword(&token, sql);
        match token.kind {
            TokenKind::OpenParen => {
                depth += 1;
                if last_words == ["distinct", "on"] {
                    distinct_on = Some(depth);
                }
                star_may_follow = false;
            }
            TokenKind::CloseParen => {
                let closes_distinct_on = distinct_on == Some(depth);
                if closes_distinct_on {
                    distinct_on = None;
                }
                depth = depth.saturating_sub(1);
                star_may_follow = closes_distinct_on && depth <= outer;
            }
            TokenKind::Other if star_may_follow && token.text(sql) == "*" => return true,
            _ => {
                star_may_follow = depth <= outer
                    && (matches!(word.as_str(), "select" | "distinct" | "all" | "returning")
                        || matches!(token.text(sql), "," | "."));
            }
        }
        let [_, newest] = last_words;
        last_words = [newest, word];
    }
    false
}

/// A file that could not be read as query files are written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SourceError {
    /// The file as the caller labelled it.
    pub file: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl SourceError {
    fn new(file: &str, line: usize, message: impl Into<String>) -> SourceError {
        SourceError {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// Refuses text with a NUL byte: a binary file given where SQL was expected.
fn reject_binary(label: &str, text: &str) -> Result<(), SourceError> {
    match text.find('\0') {
        Some(nul) => Err(SourceError::new(
            label,
            line_col(text, nul).0,
            "not a text file",
        )),
        None => Ok(()),
    }
}

/// Reads a query file: sqlc, aiosql/yesql, pgtyped or plain statements, detected per file.
/// A file with a `-- name:` comment line is named blocks (sqlc, aiosql, yesql): each name
/// line starts a query that runs to the next one. Else a file with a `/* @name X */` comment
/// is pgtyped's: each such comment precedes its statement. Else every statement of the file
/// is one. A named query is the first statement of its block (the rest of the block is
/// ignored); comments before it (aiosql's docstring) are not code. Named parameters (sqlc's
/// `sqlc.arg(x)`, `sqlc.narg(x)`, `sqlc.slice(x)`, `@x`; aiosql's, yesql's and pgtyped's
/// `:x`, pgtyped's `:x!`) become `$n`, numbered in order of first appearance after the
/// highest `$n` the statement already has; the same name keeps its number. pgtyped's
/// expansions (`VALUES :rows`) become a single `$n`.
///
/// Errors, at the line of the name: a name line or `@name` without a name, a name given
/// twice in the file, a name without a statement after it; code before the first name (it
/// would be a query nobody named); a NUL byte (not a text file).
pub fn parse_query_file(label: &str, text: &str) -> Result<Vec<AppStatement>, SourceError> {
    reject_binary(label, text)?;
    let code: Vec<Range<usize>> = code_tokens(text).map(|t| t.start..t.end).collect();
    let named = name_lines(text, &code);
    if !named.is_empty() {
        return named_queries(label, text, &named, "`-- name:` line");
    }
    let pgtyped = pgtyped_names(text, &code);
    if !pgtyped.is_empty() {
        return named_queries(label, text, &pgtyped, "`/* @name */` comment");
    }
    Ok(split_statements(text)
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| app_statement(label, text, s.code, None))
        .collect())
}

/// Where a query file names a query.
struct Marker<'s> {
    /// The name, None when the marker has none.
    name: Option<&'s str>,
    /// 1-based line of the name.
    line: usize,
    /// The marker's own text (name line, comment).
    span: Range<usize>,
    /// A name line with sqlc's `:command`: sqlc generated the code, its `*` written out.
    sqlc: bool,
}

/// The statement of the file's code at `code`.
fn app_statement(label: &str, text: &str, code: Range<usize>, name: Option<&str>) -> AppStatement {
    AppStatement {
        name: name.map(str::to_owned),
        file: Some(label.to_owned()),
        line: Some(line_col(text, code.start).0),
        sql: rewrite_parameters(&text[code]),
        calls: None,
        star_expanded: false,
    }
}

/// The code of the first statement in `text[region]`, as a range of `text`.
fn first_statement(text: &str, region: Range<usize>) -> Option<Range<usize>> {
    split_statements(&text[region.clone()])
        .into_iter()
        .find(|s| !s.is_empty())
        .map(|s| region.start + s.code.start..region.start + s.code.end)
}

/// Whether `offset` is outside every code token (in whitespace or a comment).
fn outside_code(code: &[Range<usize>], offset: usize) -> bool {
    let next = code.partition_point(|t| t.end <= offset);
    code.get(next).is_none_or(|t| t.start > offset)
}

/// sqlc's, aiosql's and yesql's name lines: `-- name: X` (sqlc adds `:one`, `:many`, …,
/// aiosql a suffix operator), outside strings and code.
fn name_lines<'s>(text: &'s str, code: &[Range<usize>]) -> Vec<Marker<'s>> {
    let pattern = Regex::new(r"(?m)^[ \t]*--[ \t]*name[ \t]*:(.*)$").expect("a valid regex");
    pattern
        .captures_iter(text)
        .filter_map(|captures| {
            let whole = captures.get(0)?;
            let comment = whole.start() + whole.as_str().find("--")?;
            outside_code(code, comment).then(|| Marker {
                name: captures.get(1).and_then(|rest| query_name(rest.as_str())),
                line: line_col(text, comment).0,
                span: whole.range(),
                sqlc: captures.get(1).is_some_and(|rest| {
                    rest.as_str()
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|command| command.starts_with(':'))
                }),
            })
        })
        .collect()
}

/// The name of a name line's rest: its first word, unless that is sqlc's `:command`,
/// without aiosql's suffix operator or parameter list (`get_user(id)^`).
fn query_name(rest: &str) -> Option<&str> {
    let word = rest.split_whitespace().next()?;
    if word.starts_with(':') {
        return None;
    }
    let word = ["<!", "*!", "!", "#", "$", "^"]
        .iter()
        .find_map(|operator| word.strip_suffix(operator))
        .unwrap_or(word);
    let name = word.split('(').next().unwrap_or(word);
    (!name.is_empty()).then_some(name)
}

/// pgtyped's query comments: `/* @name X */`, possibly over several lines with `@param`s.
/// They are looked for between code tokens only, where there are only whitespace and
/// comments, so a `/*` in a string never starts one.
fn pgtyped_names<'s>(text: &'s str, code: &[Range<usize>]) -> Vec<Marker<'s>> {
    let comment = Regex::new(r"(?s)/\*.*?\*/").expect("a valid regex");
    let name = Regex::new(r"@name\b(?:[ \t]+([A-Za-z_$][A-Za-z0-9_$]*))?").expect("a valid regex");
    let starts = code.iter().map(|t| t.end);
    let gaps = std::iter::once(0)
        .chain(starts)
        .zip(code.iter().map(|t| t.start).chain([text.len()]));
    gaps.flat_map(|(start, end)| {
        comment
            .find_iter(&text[start..end])
            .map(move |found| start + found.start()..start + found.end())
    })
    .filter_map(|span| {
        let captures = name.captures(&text[span.clone()])?;
        let at = span.start + captures.get(0)?.start();
        Some(Marker {
            name: captures.get(1).map(|n| n.as_str()),
            line: line_col(text, at).0,
            span,
            sqlc: false,
        })
    })
    .collect()
}

/// The named queries of a file whose names are `markers` (in file order); `what` says in
/// errors what a marker is.
fn named_queries(
    label: &str,
    text: &str,
    markers: &[Marker<'_>],
    what: &str,
) -> Result<Vec<AppStatement>, SourceError> {
    if let Some(code) = first_statement(text, 0..markers[0].span.start) {
        return Err(SourceError::new(
            label,
            line_col(text, code.start).0,
            format!("code before the first {what}: every query of this file needs a name"),
        ));
    }
    let mut statements: Vec<AppStatement> = Vec::with_capacity(markers.len());
    for (index, marker) in markers.iter().enumerate() {
        let Some(name) = marker.name else {
            return Err(SourceError::new(
                label,
                marker.line,
                format!("a {what} without a name"),
            ));
        };
        if let Some(earlier) = markers[..index].iter().find(|m| m.name == Some(name)) {
            return Err(SourceError::new(
                label,
                marker.line,
                format!(
                    "query `{name}` is named twice (first at line {})",
                    earlier.line
                ),
            ));
        }
        let end = markers
            .get(index + 1)
            .map_or(text.len(), |next| next.span.start);
        let Some(code) = first_statement(text, marker.span.end..end) else {
            return Err(SourceError::new(
                label,
                marker.line,
                format!("query `{name}` has no statement after its {what}"),
            ));
        };
        let mut statement = app_statement(label, text, code, Some(name));
        statement.star_expanded = marker.sqlc;
        statements.push(statement);
    }
    Ok(statements)
}

/// `sql` with the named parameters of query-file formats rewritten to `$n` (see
/// [`parse_query_file`]); quotes and comments are left as they are.
fn rewrite_parameters(sql: &str) -> String {
    let tokens: Vec<Token> = code_tokens(sql).collect();
    let highest = tokens
        .iter()
        .filter_map(|t| positional_number(t.text(sql)))
        .max()
        .unwrap_or(0);
    let mut numbers: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut index = 0;
    while index < tokens.len() {
        if let Some((table, last)) = sqlc_embed(&tokens, index, sql) {
            out.push_str(&sql[copied..tokens[index].start]);
            out.push_str(table);
            out.push_str(".*");
            copied = tokens[last].end;
            index = last + 1;
            continue;
        }
        let Some((name, last)) = named_parameter(&tokens, index, sql) else {
            index += 1;
            continue;
        };
        let number = match numbers.iter().position(|n| *n == name) {
            Some(position) => highest + position + 1,
            None => {
                numbers.push(name);
                highest + numbers.len()
            }
        };
        out.push_str(&sql[copied..tokens[index].start]);
        out.push_str(&format!("${number}"));
        copied = tokens[last].end;
        index = last + 1;
    }
    out.push_str(&sql[copied..]);
    out
}

/// The `n` of a PostgreSQL parameter token `$n`.
fn positional_number(token: &str) -> Option<usize> {
    let digits = token.strip_prefix('$')?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The named parameter starting at `tokens[index]`, if one does: its name and the index of
/// its last token.
fn named_parameter<'s>(tokens: &[Token], index: usize, sql: &'s str) -> Option<(&'s str, usize)> {
    sqlc_function(tokens, index, sql)
        .or_else(|| prefixed_parameter(tokens, index, sql, "@"))
        .or_else(|| prefixed_parameter(tokens, index, sql, ":"))
}

/// Whether `b` follows `a` with nothing in between.
fn adjacent(a: &Token, b: &Token) -> bool {
    a.end == b.start
}

/// sqlc's `sqlc.arg(name)`, `sqlc.arg('name')`, `sqlc.narg(name)`, `sqlc.slice(name)`.
fn sqlc_function<'s>(tokens: &[Token], index: usize, sql: &'s str) -> Option<(&'s str, usize)> {
    let argument = sqlc_call(tokens, index, sql, &["arg", "narg", "slice"])?;
    let name = argument.text(sql);
    let name = match name.as_bytes() {
        [b'\'' | b'"', .., b'\'' | b'"'] => &name[1..name.len() - 1],
        _ => name,
    };
    Some((name, index + 5))
}

/// The argument of a call `sqlc.<one of functions>(argument)` starting at `tokens[index]`.
fn sqlc_call<'t>(
    tokens: &'t [Token],
    index: usize,
    sql: &str,
    functions: &[&str],
) -> Option<&'t Token> {
    let [sqlc, dot, function, open, argument, close] = tokens.get(index..index + 6)? else {
        return None;
    };
    let is_call = sqlc.text(sql).eq_ignore_ascii_case("sqlc")
        && dot.text(sql) == "."
        && adjacent(sqlc, dot)
        && adjacent(dot, function)
        && functions
            .iter()
            .any(|f| function.text(sql).eq_ignore_ascii_case(f))
        && open.kind == TokenKind::OpenParen
        && matches!(argument.kind, TokenKind::Identifier | TokenKind::Quoted)
        && close.kind == TokenKind::CloseParen;
    is_call.then_some(argument)
}

/// sqlc's `sqlc.embed(table)`: every column of `table` (sqlc writes them out as `*` would),
/// the table's name and the index of the call's last token.
fn sqlc_embed<'s>(tokens: &[Token], index: usize, sql: &'s str) -> Option<(&'s str, usize)> {
    let table = sqlc_call(tokens, index, sql, &["embed"])?;
    (table.kind == TokenKind::Identifier).then(|| (table.text(sql), index + 5))
}

/// `@name` (sqlc) or `:name` (aiosql, yesql, pgtyped; pgtyped's `:name!` too): the prefix
/// right before an identifier, where it is not part of an operator or of the expression
/// before it. `@` after `<` or `@` is an operator (`a <@b`, `a @@b`). `:` right after an
/// operand (`a[lo:hi]`, `a[1:2]`, `x::int`) is a slice or a cast, as is one before `:` or
/// `=` (`::`, `:=`), which is never followed by an identifier.
fn prefixed_parameter<'s>(
    tokens: &[Token],
    index: usize,
    sql: &'s str,
    prefix: &str,
) -> Option<(&'s str, usize)> {
    let (sign, name) = (tokens.get(index)?, tokens.get(index + 1)?);
    if sign.text(sql) != prefix || name.kind != TokenKind::Identifier || !adjacent(sign, name) {
        return None;
    }
    let before = index
        .checked_sub(1)
        .map(|i| &tokens[i])
        .filter(|b| adjacent(b, sign));
    if let Some(before) = before {
        let text = before.text(sql);
        let attached = if prefix == "@" {
            matches!(text, "<" | "@")
        } else {
            matches!(
                before.kind,
                TokenKind::Identifier | TokenKind::Quoted | TokenKind::CloseParen
            ) || matches!(text, ":" | "]")
                || text.starts_with(|c: char| c.is_ascii_digit() || c == '$')
        };
        if attached {
            return None;
        }
    }
    // pgtyped's non-null mark `:name!`, unless it is `!=`.
    let bang = tokens
        .get(index + 2)
        .filter(|b| prefix == ":" && b.text(sql) == "!" && adjacent(name, b))
        .filter(|b| {
            tokens
                .get(index + 3)
                .is_none_or(|after| !(after.text(sql) == "=" && adjacent(b, after)))
        });
    let last = if bang.is_some() { index + 2 } else { index + 1 };
    Some((name.text(sql), last))
}

/// Statements recorded from the running application: a pg_stat_statements export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Reads and writes, in the order of the export, duplicates (same SQL text) merged with
    /// their calls summed.
    pub statements: Vec<AppStatement>,
    /// DDL statements left out, counted.
    pub skipped_ddl: usize,
    /// Utility statements (transaction control, `SET`, …) left out, counted.
    pub skipped_utility: usize,
    /// Statements of monitoring and tools (pg_stat_statements, the catalogs) and of the
    /// migration tools' own bookkeeping left out, counted (see [`add_recorded`]).
    pub skipped_ours: usize,
}

/// Reads a pg_stat_statements export, detected by its first non-blank character: `{` → JSON
/// lines (one object a line with a string `query` and an optional number `calls`; blank
/// lines skipped), else CSV with a header (as `COPY (SELECT query, calls FROM
/// pg_stat_statements) TO STDOUT WITH CSV HEADER` writes it: RFC 4180 quoting; a `query`
/// column, `calls` optional, other columns ignored, in any order). Every statement goes
/// through [`add_recorded`] with no history tables (see [`retain_not_history`]).
///
/// Errors, at the 1-based line: an empty file, a CSV header without a `query` column, a row
/// with fewer fields than the header, an unterminated quoted field (at its opening quote),
/// a JSON line that is not an object with a string `query`, a `calls` that is not a
/// non-negative integer, a NUL byte.
pub fn parse_statements_export(label: &str, text: &str) -> Result<Recorded, SourceError> {
    reject_binary(label, text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match text.trim_start().chars().next() {
        None => {
            return Err(SourceError::new(
                label,
                1,
                "empty: expected a header with a `query` column",
            ));
        }
        Some('{') => json_lines(label, text)?,
        Some(_) => csv_statements(label, text)?,
    };
    let mut recorded = Recorded::default();
    for (query, calls) in rows {
        add_recorded(&mut recorded, &query, calls, &[]);
    }
    Ok(recorded)
}

/// One recorded statement as an export gives it: its text and calls.
type Row = (String, Option<u64>);

/// The statements of a JSON-lines export.
fn json_lines(label: &str, text: &str) -> Result<Vec<Row>, SourceError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let not_an_object =
            || SourceError::new(label, number, "not a JSON object with a string `query`");
        let value: serde_json::Value = serde_json::from_str(line).map_err(|_| not_an_object())?;
        let query = value
            .get("query")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(not_an_object)?;
        let calls = match value.get("calls") {
            None | Some(serde_json::Value::Null) => None,
            Some(calls) => Some(
                calls
                    .as_u64()
                    .ok_or_else(|| bad_calls(label, number, &calls.to_string()))?,
            ),
        };
        rows.push((query.to_owned(), calls));
    }
    Ok(rows)
}

/// The error for a `calls` value that is not a count.
fn bad_calls(label: &str, line: usize, value: &str) -> SourceError {
    SourceError::new(
        label,
        line,
        format!("`calls` is not a non-negative integer: `{value}`"),
    )
}

/// The statements of a CSV export.
fn csv_statements(label: &str, text: &str) -> Result<Vec<Row>, SourceError> {
    let mut records = csv_records(label, text)?.into_iter();
    let Some(header) = records.next() else {
        return Err(SourceError::new(
            label,
            1,
            "empty: expected a header with a `query` column",
        ));
    };
    let column = |name: &str| {
        header
            .fields
            .iter()
            .position(|f| f.trim().eq_ignore_ascii_case(name))
    };
    let Some(query) = column("query") else {
        return Err(SourceError::new(
            label,
            header.line,
            "no `query` column in the header: expected `query` and optionally `calls`, as \
             `COPY (SELECT query, calls FROM pg_stat_statements) TO STDOUT WITH CSV HEADER` \
             writes them",
        ));
    };
    let calls = column("calls");
    records
        .map(|record| {
            if record.fields.len() < header.fields.len() {
                return Err(SourceError::new(
                    label,
                    record.line,
                    format!(
                        "{} fields where the header has {}",
                        record.fields.len(),
                        header.fields.len()
                    ),
                ));
            }
            let calls = match calls.map(|c| record.fields[c].trim()) {
                None | Some("") => None,
                Some(value) => Some(
                    value
                        .parse()
                        .map_err(|_| bad_calls(label, record.line, value))?,
                ),
            };
            Ok((record.fields[query].clone(), calls))
        })
        .collect()
}

/// One CSV record: the line it starts on and its fields.
struct CsvRecord {
    line: usize,
    fields: Vec<String>,
}

/// The records of RFC 4180 CSV (`"` quoting with `""` escapes and newlines in quoted
/// fields; `\n` or `\r\n` line ends). Blank lines are skipped.
fn csv_records(label: &str, text: &str) -> Result<Vec<CsvRecord>, SourceError> {
    let bytes = text.as_bytes();
    let mut records = Vec::new();
    let mut line = 1;
    let mut record = CsvRecord {
        line,
        fields: Vec::new(),
    };
    let mut field = String::new();
    let mut position = 0;
    loop {
        if bytes.get(position) == Some(&b'"') {
            let opened = line;
            position += 1;
            loop {
                let Some(quote) = text[position..].find('"') else {
                    return Err(SourceError::new(label, opened, "unterminated quoted field"));
                };
                let chunk = &text[position..position + quote];
                line += chunk.matches('\n').count();
                field.push_str(chunk);
                position += quote + 1;
                if bytes.get(position) != Some(&b'"') {
                    break;
                }
                field.push('"');
                position += 1;
            }
        }
        // The unquoted field, or what follows a closing quote (kept, as lenient readers do).
        let end = text[position..]
            .find([',', '\n'])
            .map_or(text.len(), |offset| position + offset);
        let unquoted = &text[position..end];
        position = end;
        if bytes.get(position) == Some(&b',') {
            field.push_str(unquoted);
            record.fields.push(std::mem::take(&mut field));
            position += 1;
            continue;
        }
        field.push_str(unquoted.strip_suffix('\r').unwrap_or(unquoted));
        record.fields.push(std::mem::take(&mut field));
        if record.fields != [""] {
            records.push(record);
        }
        if position >= text.len() {
            return Ok(records);
        }
        position += 1;
        line += 1;
        record = CsvRecord {
            line,
            fields: Vec::new(),
        };
    }
}

/// Adds one recorded statement (of an export, or read from a live database by the caller),
/// trimmed and without a trailing `;`. DDL and utility statements are counted and left out,
/// as are the statements of monitoring and tools rather than the application (`skipped_ours`:
/// those naming `pg_stat_statements…`, `pg_catalog.` or `information_schema.`) and of the
/// migration tools' own bookkeeping (those naming one of `history_tables`, unqualified table
/// names such as `schema_migrations`, as a whole identifier, case-insensitively). A statement
/// with the same text as one already there adds its calls to it.
pub fn add_recorded(
    recorded: &mut Recorded,
    sql: &str,
    calls: Option<u64>,
    history_tables: &[&str],
) {
    let sql = sql.trim();
    let sql = sql.strip_suffix(';').unwrap_or(sql).trim_end();
    match kind(sql) {
        StatementKind::Ddl => recorded.skipped_ddl += 1,
        StatementKind::Utility => recorded.skipped_utility += 1,
        StatementKind::Read | StatementKind::Write
            if is_monitoring(sql) || mentions_history(sql, history_tables) =>
        {
            recorded.skipped_ours += 1;
        }
        StatementKind::Read | StatementKind::Write => {
            match recorded.statements.iter_mut().find(|s| s.sql == sql) {
                Some(known) => {
                    known.calls = match (known.calls, calls) {
                        (Some(a), Some(b)) => Some(a.saturating_add(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => recorded.statements.push(AppStatement {
                    name: None,
                    file: None,
                    line: None,
                    sql: sql.to_owned(),
                    calls,
                    star_expanded: false,
                }),
            }
        }
    }
}

/// Drops the recorded statements that name one of `history_tables` (as [`add_recorded`]
/// does), counting them in `skipped_ours`.
pub fn retain_not_history(recorded: &mut Recorded, history_tables: &[&str]) {
    let before = recorded.statements.len();
    recorded
        .statements
        .retain(|s| !mentions_history(&s.sql, history_tables));
    recorded.skipped_ours += before - recorded.statements.len();
}

/// The names `sql` uses: its unquoted identifiers lowercased and its quoted identifiers'
/// contents, each with whether a `.` follows it.
fn names(sql: &str) -> Vec<(String, bool)> {
    let tokens: Vec<Token> = code_tokens(sql).collect();
    tokens
        .iter()
        .enumerate()
        .filter_map(|(index, token)| {
            let text = token.text(sql);
            let name = match token.kind {
                TokenKind::Identifier => text.to_ascii_lowercase(),
                TokenKind::Quoted if text.len() >= 2 && text.starts_with('"') => {
                    text[1..text.len() - 1].replace("\"\"", "\"")
                }
                _ => return None,
            };
            let qualifies = tokens.get(index + 1).is_some_and(|t| t.text(sql) == ".");
            Some((name, qualifies))
        })
        .collect()
}

/// Whether `sql` is a monitoring or tool query: it names pg_stat_statements (or one of its
/// functions and views) or something in `pg_catalog.` or `information_schema.`.
fn is_monitoring(sql: &str) -> bool {
    names(sql).iter().any(|(name, qualifies)| {
        name.starts_with("pg_stat_statements")
            || (*qualifies && matches!(name.as_str(), "pg_catalog" | "information_schema"))
    })
}

/// Whether `sql` names one of `history_tables`.
fn mentions_history(sql: &str, history_tables: &[&str]) -> bool {
    !history_tables.is_empty()
        && names(sql).iter().any(|(name, _)| {
            history_tables
                .iter()
                .any(|table| table.eq_ignore_ascii_case(name))
        })
}

/// Whether `path` (relative, `/`-separated) matches the glob `pattern`: `*` any characters
/// but `/`, `**` as a whole component any number of directories (`**/x` also matches `x`
/// at the top, a final `**` everything below), `?` one character but `/`, `[abc]`,
/// `[a-z]`, `[!abc]` classes. A leading `./` of either is ignored. A pattern that is not a
/// valid glob matches nothing.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    Glob::new(pattern).is_ok_and(|glob| glob.matches(path))
}

/// A glob compiled once, to match many paths (see [`glob_matches`]).
#[derive(Debug, Clone)]
pub struct Glob(Regex);

impl Glob {
    /// Compiles `pattern`; Err says why it is not a glob.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        Regex::new(&glob_regex(pattern))
            .map(Glob)
            .map_err(|e| format!("`{pattern}` is not a glob: {e}"))
    }

    /// Whether `path` (relative, `/`-separated, a leading `./` ignored) matches.
    pub fn matches(&self, path: &str) -> bool {
        self.0.is_match(path.strip_prefix("./").unwrap_or(path))
    }
}

/// The regular expression (`regex` crate) of a glob.
fn glob_regex(pattern: &str) -> String {
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    let components: Vec<&str> = pattern.split('/').collect();
    let mut regex = String::from("^");
    for (index, component) in components.iter().enumerate() {
        let last = index + 1 == components.len();
        match (*component, last) {
            ("**", true) => regex.push_str(".*"),
            ("**", false) => regex.push_str("(?:[^/]+/)*"),
            (component, _) => {
                component_regex(component, &mut regex);
                if !last {
                    regex.push('/');
                }
            }
        }
    }
    regex.push('$');
    regex
}

/// Appends the regular expression of one glob component (no `/` in it).
fn component_regex(component: &str, regex: &mut String) {
    let chars: Vec<char> = component.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '*' => regex.push_str("[^/]*"),
            '?' => regex.push_str("[^/]"),
            '[' => {
                if let Some(end) = class_end(&chars, index) {
                    class_regex(&chars[index + 1..end], regex);
                    index = end + 1;
                    continue;
                }
                regex.push_str(r"\[");
            }
            c => regex.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        index += 1;
    }
}

/// The index of the `]` closing the class opened at `chars[open]`; a `]` first in the class
/// (after an optional `!` or `^`) is a member.
fn class_end(chars: &[char], open: usize) -> Option<usize> {
    let mut first = open + 1;
    if matches!(chars.get(first), Some('!' | '^')) {
        first += 1;
    }
    (first + 1..chars.len()).find(|&i| chars[i] == ']')
}

/// Appends a glob class (its members, without the brackets) as a regex class.
fn class_regex(members: &[char], regex: &mut String) {
    let (negated, members) = match members {
        ['!' | '^', rest @ ..] => (true, rest),
        _ => (false, members),
    };
    regex.push('[');
    if negated {
        regex.push('^');
    }
    for (index, &member) in members.iter().enumerate() {
        if member == '-' && index > 0 && index + 1 < members.len() {
            regex.push('-');
        } else {
            regex.push_str(&regex::escape(member.encode_utf8(&mut [0; 4])));
        }
    }
    if negated {
        regex.push('/');
    }
    regex.push(']');
}

/// The part of a glob before its first wildcard component (`db/queries/**/*.sql` →
/// `db/queries`, `*.sql` → ``), to know where to walk. A pattern without wildcards names a
/// file: its directory (`db/q.sql` → `db`).
pub fn glob_root(pattern: &str) -> &str {
    let mut root_end = 0;
    let mut start = 0;
    for component in pattern.split('/') {
        let end = start + component.len();
        if component.contains(['*', '?', '[']) || end == pattern.len() {
            break;
        }
        root_end = end;
        start = end + 1;
    }
    &pattern[..root_end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<AppStatement> {
        parse_query_file("q.sql", text).unwrap()
    }

    /// (name, line, sql) of each statement.
    fn summary(statements: &[AppStatement]) -> Vec<(Option<&str>, usize, &str)> {
        statements
            .iter()
            .map(|s| (s.name.as_deref(), s.line.unwrap(), s.sql.as_str()))
            .collect()
    }

    fn error(text: &str) -> (usize, String) {
        let e = parse_query_file("q.sql", text).unwrap_err();
        assert_eq!(e.file, "q.sql");
        (e.line, e.message)
    }

    #[test]
    fn sqlc_file() {
        let text = "\
-- name: GetAuthor :one
SELECT * FROM authors
WHERE id = sqlc.arg(id) LIMIT 1;

-- name: ListAuthors :many
SELECT id, name FROM authors
WHERE name = @name OR bio = sqlc.narg('bio') OR nick = @name
ORDER BY name;

-- name: DeleteAuthor :exec
/* by id */
DELETE FROM authors
WHERE id = $1 AND owner = sqlc.arg(owner)
";
        let statements = parsed(text);
        assert_eq!(
            summary(&statements),
            vec![
                (
                    Some("GetAuthor"),
                    2,
                    "SELECT * FROM authors\nWHERE id = $1 LIMIT 1"
                ),
                (
                    Some("ListAuthors"),
                    6,
                    "SELECT id, name FROM authors\nWHERE name = $1 OR bio = $2 OR nick = $1\nORDER BY name"
                ),
                (
                    Some("DeleteAuthor"),
                    12,
                    "DELETE FROM authors\nWHERE id = $1 AND owner = $2"
                ),
            ]
        );
        assert_eq!(statements[0].file.as_deref(), Some("q.sql"));
        assert_eq!(statements[0].calls, None);
    }

    #[test]
    fn aiosql_file() {
        let text = "\
-- name: get-user-by-username^
-- Get a user by their username,
-- or by their email.
select userid, username, created_at::date
  from users
 where username = :username or email = :username;

-- name: create-user<!
-- Insert a user, returning its id.
insert into users (username, email) values (:username, :email)
returning userid;

-- name: delete-user!
delete from users where userid = :userid

-- name: all-users*
select * from users
";
        assert_eq!(
            summary(&parsed(text)),
            vec![
                (
                    Some("get-user-by-username"),
                    4,
                    "select userid, username, created_at::date\n  from users\n where username = $1 or email = $1"
                ),
                (
                    Some("create-user"),
                    10,
                    "insert into users (username, email) values ($1, $2)\nreturning userid"
                ),
                (
                    Some("delete-user"),
                    14,
                    "delete from users where userid = $1"
                ),
                (Some("all-users*"), 17, "select * from users"),
            ]
        );
    }

    #[test]
    fn yesql_and_aiosql_name_forms() {
        let text = "-- name: a#\nCREATE TABLE t (id int);\n--name:b$\nSELECT 1;\n  --  name :  c^ trailing words\nSELECT 2;\n-- name: d(id)*!\nINSERT INTO t VALUES (:id);\n";
        let names: Vec<_> = parsed(text).into_iter().map(|s| s.name.unwrap()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn named_block_keeps_its_first_statement() {
        let text = "-- name: Two :exec\nSELECT 1;\nSELECT 2;\n-- name: Next :one\nSELECT 3";
        assert_eq!(
            summary(&parsed(text)),
            vec![(Some("Two"), 2, "SELECT 1"), (Some("Next"), 5, "SELECT 3")]
        );
    }

    #[test]
    fn name_lines_in_strings_are_code() {
        let text = "-- name: A :one\nSELECT '\n-- name: B :one\n' AS s;\n";
        assert_eq!(
            summary(&parsed(text)),
            vec![(Some("A"), 2, "SELECT '\n-- name: B :one\n' AS s")]
        );
        let text = "/* @name A */ SELECT '/*';\n/* @name B */ SELECT '*/';";
        assert_eq!(
            summary(&parsed(text)),
            vec![(Some("A"), 1, "SELECT '/*'"), (Some("B"), 2, "SELECT '*/'")]
        );
    }

    #[test]
    fn pgtyped_file() {
        let text = "\
/* @name FindBookById */
SELECT * FROM books WHERE id = :bookId!;

/*
  @name InsertBooks
  @param books -> ((rank, name, authorId)...)
*/
INSERT INTO books (rank, name, author_id)
VALUES :books RETURNING id AS book_id;

/* @name BooksByRank */ SELECT id FROM books WHERE rank = :rank! AND id != :bookId;
";
        assert_eq!(
            summary(&parsed(text)),
            vec![
                (Some("FindBookById"), 2, "SELECT * FROM books WHERE id = $1"),
                (
                    Some("InsertBooks"),
                    8,
                    "INSERT INTO books (rank, name, author_id)\nVALUES $1 RETURNING id AS book_id"
                ),
                (
                    Some("BooksByRank"),
                    11,
                    "SELECT id FROM books WHERE rank = $1 AND id != $2"
                ),
            ]
        );
    }

    #[test]
    fn plain_file() {
        let text = "\
-- Users by status
SELECT id FROM users WHERE status = $1;

UPDATE notes
   SET body = $tag$ := :x; not a parameter $tag$ || ':y' -- :z
 WHERE id = :id;
";
        let statements = parsed(text);
        assert_eq!(
            summary(&statements),
            vec![
                (None, 2, "SELECT id FROM users WHERE status = $1"),
                (
                    None,
                    4,
                    "UPDATE notes\n   SET body = $tag$ := :x; not a parameter $tag$ || ':y' -- :z\n WHERE id = $1"
                ),
            ]
        );
        assert_eq!(statements[1].label(), "q.sql:4");
    }

    #[test]
    fn crlf_and_empty_files() {
        let text = "-- name: A :one\r\nSELECT 1;\r\n\r\n-- name: B :one\r\nSELECT 2;\r\n";
        assert_eq!(
            summary(&parsed(text)),
            vec![(Some("A"), 2, "SELECT 1"), (Some("B"), 5, "SELECT 2")]
        );
        assert_eq!(parsed(""), vec![]);
        assert_eq!(parsed("-- nothing here\n;\n"), vec![]);
    }

    #[test]
    fn query_file_errors() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "-- name: A :one\nSELECT 1;\n\n-- name: :one\nSELECT 2;",
                4,
                "a `-- name:` line without a name",
            ),
            ("-- name:\nSELECT 2;", 1, "a `-- name:` line without a name"),
            (
                "-- name: !\nSELECT 2;",
                1,
                "a `-- name:` line without a name",
            ),
            (
                "-- name: A :one\nSELECT 1;\n-- name: B :one\nSELECT 2;\n-- name: A :many\nSELECT 3;",
                5,
                "query `A` is named twice (first at line 1)",
            ),
            (
                "-- name: A :one\n-- only a docstring\n;\n-- name: B :one\nSELECT 2;",
                1,
                "query `A` has no statement after its `-- name:` line",
            ),
            (
                "-- name: A :one\nSELECT 1;\n-- name: B :exec\n",
                3,
                "query `B` has no statement after its `-- name:` line",
            ),
            (
                "SET search_path = app;\n-- name: A :one\nSELECT 1;",
                1,
                "code before the first `-- name:` line: every query of this file needs a name",
            ),
            (
                "/* @name A */\nSELECT 1;\n\n/*\n  @name B\n*/\n",
                5,
                "query `B` has no statement after its `/* @name */` comment",
            ),
            (
                "/* @name A */\n/* @name B */\nSELECT 1;",
                1,
                "query `A` has no statement after its `/* @name */` comment",
            ),
            (
                "/*\n @name\n*/\nSELECT 1;",
                2,
                "a `/* @name */` comment without a name",
            ),
            (
                "/* @name A */ SELECT 1;\n/* @name A */ SELECT 2;",
                2,
                "query `A` is named twice (first at line 1)",
            ),
            ("SELECT 1;\nSELECT '\0';", 2, "not a text file"),
        ];
        for &(text, line, message) in cases {
            assert_eq!(error(text), (line, message.to_owned()), "{text:?}");
        }
        assert_eq!(
            parse_query_file("db/q.sql", "-- name:\n")
                .unwrap_err()
                .to_string(),
            "db/q.sql:1: a `-- name:` line without a name"
        );
    }

    #[test]
    fn parameter_rewrites() {
        let cases = [
            ("SELECT a[1:2] FROM t", "SELECT a[1:2] FROM t"),
            // `i :j` reads as a parameter, as aiosql reads it: the `:` is not attached.
            (
                "SELECT a[lo:hi], b[i : j], c[i :j]",
                "SELECT a[lo:hi], b[i : j], c[i $1]",
            ),
            ("SELECT x::int, y :: int", "SELECT x::int, y :: int"),
            (
                "SELECT (x)::int, 'a'::text, $1::int",
                "SELECT (x)::int, 'a'::text, $1::int",
            ),
            (
                "SELECT * FROM t WHERE col = :id",
                "SELECT * FROM t WHERE col = $1",
            ),
            (
                "SELECT * FROM t WHERE col=:id",
                "SELECT * FROM t WHERE col=$1",
            ),
            (
                "INSERT INTO t VALUES (:a, :b, :a)",
                "INSERT INTO t VALUES ($1, $2, $1)",
            ),
            (
                "SELECT * FROM t WHERE id IN :ids",
                "SELECT * FROM t WHERE id IN $1",
            ),
            ("SELECT :id::int", "SELECT $1::int"),
            ("SELECT ARRAY[:a, :b]", "SELECT ARRAY[$1, $2]"),
            ("DO $$ BEGIN x := :y; END $$", "DO $$ BEGIN x := :y; END $$"),
            (
                "SELECT ':x', \"a:b\", E'\\':x' -- :x\n/* :x */",
                "SELECT ':x', \"a:b\", E'\\':x' -- :x\n/* :x */",
            ),
            (
                "SELECT $1 FROM t WHERE b = :b AND c = $3 AND d = :b",
                "SELECT $1 FROM t WHERE b = $4 AND c = $3 AND d = $4",
            ),
            ("SELECT :a!, :b != 1, :c!=1", "SELECT $1, $2 != 1, $3!=1"),
            (
                "SELECT @name, sqlc.arg(name), sqlc.arg('other'), sqlc.slice(ids)",
                "SELECT $1, $1, $2, $3",
            ),
            (
                "SELECT a @> b, a<@b, a <@b, a @@b, a@@b WHERE c = @c",
                "SELECT a @> b, a<@b, a <@b, a @@b, a@@b WHERE c = $1",
            ),
            ("SELECT sqlc . arg(x)", "SELECT sqlc . arg(x)"),
            (
                "SELECT :'psql_var', :\"ident\"",
                "SELECT :'psql_var', :\"ident\"",
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(rewrite_parameters(sql), expected, "{sql:?}");
        }
    }

    #[test]
    fn kinds() {
        use StatementKind::*;
        let cases = [
            ("SELECT 1", Read),
            ("  -- lead\n/* c */ select * from t", Read),
            ("((SELECT 1) UNION (SELECT 2))", Read),
            ("VALUES (1), (2)", Read),
            ("TABLE users", Read),
            ("SELECT * INTO new_t FROM t", Read),
            ("WITH a AS (SELECT 1) SELECT * FROM a", Read),
            (
                "WITH a AS (SELECT * FROM t) SELECT * FROM a FOR UPDATE",
                Read,
            ),
            (
                "WITH a AS (SELECT 'delete' AS \"update\") SELECT * FROM a",
                Read,
            ),
            (
                "WITH a AS (DELETE FROM t RETURNING *) SELECT * FROM a",
                Write,
            ),
            (
                "with a as materialized (insert into t values (1) returning id) select id from a",
                Write,
            ),
            ("WITH a AS (SELECT 1) UPDATE t SET x = 1", Write),
            (
                "WITH RECURSIVE a(n) AS (SELECT 1) MERGE INTO t USING a ON true WHEN MATCHED THEN DELETE",
                Write,
            ),
            (
                "INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET x = 1",
                Write,
            ),
            ("update t set x = 1", Write),
            ("DELETE FROM t", Write),
            (
                "MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING",
                Write,
            ),
            ("CREATE TABLE t (id int)", Ddl),
            ("alter table t add column x int", Ddl),
            ("DROP INDEX i", Ddl),
            ("TRUNCATE t", Ddl),
            ("COMMENT ON TABLE t IS 'x'", Ddl),
            ("GRANT SELECT ON t TO r", Ddl),
            ("REVOKE ALL ON t FROM r", Ddl),
            ("REINDEX TABLE t", Ddl),
            ("CLUSTER t", Ddl),
            ("REFRESH MATERIALIZED VIEW v", Ddl),
            ("SECURITY LABEL ON TABLE t IS 'x'", Ddl),
            ("IMPORT FOREIGN SCHEMA s FROM SERVER f INTO l", Ddl),
            ("BEGIN", Utility),
            ("COMMIT", Utility),
            ("ROLLBACK", Utility),
            ("SET search_path = app", Utility),
            ("SHOW work_mem", Utility),
            ("RESET ALL", Utility),
            ("DISCARD ALL", Utility),
            ("LISTEN c", Utility),
            ("NOTIFY c", Utility),
            ("VACUUM t", Utility),
            ("ANALYZE t", Utility),
            ("EXPLAIN SELECT 1", Utility),
            ("COPY t FROM STDIN", Utility),
            ("LOCK TABLE t", Utility),
            ("PREPARE p AS SELECT 1", Utility),
            ("EXECUTE p", Utility),
            ("DEALLOCATE p", Utility),
            ("DO $$ BEGIN END $$", Utility),
            ("CALL p()", Utility),
            ("FETCH 10 FROM c", Utility),
            ("SECURITY x", Utility),
            ("", Utility),
            ("-- only a comment", Utility),
            ("\"select\" 1", Utility),
        ];
        for (sql, expected) in cases {
            assert_eq!(kind(sql), expected, "{sql:?}");
        }
    }

    #[test]
    fn stars() {
        let yes = [
            "SELECT * FROM t",
            "select t.* from t",
            "SELECT DISTINCT * FROM t",
            "SELECT DISTINCT ON (a, b) * FROM t",
            "SELECT ALL * FROM t",
            "SELECT id, * FROM t",
            "SELECT \"t\".* FROM t",
            "SELECT a,*FROM t",
            "INSERT INTO t VALUES (1) RETURNING *",
            "UPDATE t SET x = 1 RETURNING t.*",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "(SELECT * FROM t)",
            "(SELECT 1) UNION SELECT * FROM t",
            "SELECT /* c */ * FROM t",
        ];
        let no = [
            "SELECT count(*) FROM t",
            "SELECT id FROM (SELECT * FROM t) s",
            "WITH a AS (SELECT * FROM t) SELECT id FROM a",
            "SELECT 2 * 3",
            "SELECT a * b FROM t",
            "SELECT a FROM t WHERE b IN (SELECT * FROM u)",
            "SELECT DISTINCT ON (a) a * 2 FROM t",
            "SELECT '*', \"*\" FROM t -- SELECT *",
            "DELETE FROM t",
            "SELECT ROW(t.*) FROM t",
            "SELECT f(a, *) FROM t",
            "",
        ];
        for sql in yes {
            assert!(selects_star(sql), "{sql:?}");
        }
        for sql in no {
            assert!(!selects_star(sql), "{sql:?}");
        }
    }

    #[test]
    fn sqlc_queries_know_their_star_is_written_out() {
        let queries = parse_query_file(
            "q.sql",
            "-- name: A :many\nSELECT sqlc.embed(users), x FROM users;\n-- name: b\nSELECT * FROM t;\n",
        )
        .unwrap();
        assert!(queries[0].star_expanded);
        assert_eq!(queries[0].sql, "SELECT users.*, x FROM users");
        assert!(!queries[1].star_expanded);
    }

    #[test]
    fn labels() {
        let mut statement = AppStatement {
            name: Some("GetUser".into()),
            file: Some("db/q.sql".into()),
            line: Some(3),
            sql: "SELECT 1".into(),
            ..AppStatement::default()
        };
        assert_eq!(statement.label(), "GetUser");
        statement.name = None;
        assert_eq!(statement.label(), "db/q.sql:3");
        statement.file = None;
        statement.line = None;
        assert_eq!(statement.label(), "SELECT 1");
        statement.sql = "SELECT id,\n       name\tFROM   users".into();
        assert_eq!(statement.label(), "SELECT id, name FROM users");
        statement.sql = format!("SELECT {} FROM t", "é".repeat(70));
        assert_eq!(statement.label(), format!("SELECT {}…", "é".repeat(53)));
        statement.sql = format!("SELECT {}          FROM t", "x".repeat(52));
        assert_eq!(statement.label(), format!("SELECT {}…", "x".repeat(52)));
    }

    #[test]
    fn serde_leaves_out_what_is_not_known() {
        let statement = AppStatement {
            name: None,
            file: None,
            line: None,
            sql: "SELECT 1".into(),
            calls: Some(4),
            ..AppStatement::default()
        };
        let json = serde_json::to_string(&statement).unwrap();
        assert_eq!(json, r#"{"sql":"SELECT 1","calls":4}"#);
        assert_eq!(
            serde_json::from_str::<AppStatement>(&json).unwrap(),
            statement
        );
    }

    fn recorded(sql: &str, calls: Option<u64>) -> AppStatement {
        AppStatement {
            name: None,
            file: None,
            line: None,
            sql: sql.into(),
            calls,
            ..AppStatement::default()
        }
    }

    #[test]
    fn csv_export() {
        let text = "calls,query,rows\n\
            12,\"SELECT id, \"\"name\"\"\nFROM users WHERE id = $1\",12\n\
            3,INSERT INTO t VALUES ($1),3\n\
            \n\
            2,\"  SELECT 1;  \",2\n\
            5,SELECT 1,5\n\
            1,CREATE TABLE t (id int),0\n\
            7,BEGIN,0\n\
            7,COMMIT,0\n\
            1,SELECT query FROM pg_stat_statements,4\n\
            9,SELECT typname FROM pg_catalog.pg_type WHERE oid = $1,1\n\
            1,SELECT * FROM information_schema.columns,10\n\
            ,DELETE FROM t WHERE id = $1,\n";
        let recorded_export = parse_statements_export("pgss.csv", text).unwrap();
        assert_eq!(
            recorded_export,
            Recorded {
                statements: vec![
                    recorded("SELECT id, \"name\"\nFROM users WHERE id = $1", Some(12)),
                    recorded("INSERT INTO t VALUES ($1)", Some(3)),
                    recorded("SELECT 1", Some(7)),
                    recorded("DELETE FROM t WHERE id = $1", None),
                ],
                skipped_ddl: 1,
                skipped_utility: 2,
                skipped_ours: 3,
            }
        );
    }

    #[test]
    fn csv_export_crlf_and_query_only() {
        let text = "query\r\n\"SELECT a\r\nFROM t\"\r\nSELECT b\r\n";
        assert_eq!(
            parse_statements_export("x", text).unwrap().statements,
            vec![
                recorded("SELECT a\r\nFROM t", None),
                recorded("SELECT b", None)
            ]
        );
    }

    #[test]
    fn json_lines_export() {
        let text = "{\"query\": \"SELECT * FROM users WHERE id = $1\", \"calls\": 40, \"rows\": 40}\n\
            \n\
            {\"calls\": 2, \"query\": \"UPDATE users SET name = $1\\nWHERE id = $2\"}\n\
            {\"query\": \"SELECT * FROM users WHERE id = $1\", \"calls\": 2}\n\
            {\"query\": \"SET application_name = $1\", \"calls\": 1}\n\
            {\"query\": \"SELECT 1\", \"calls\": null}\n";
        assert_eq!(
            parse_statements_export("pgss.jsonl", text).unwrap(),
            Recorded {
                statements: vec![
                    recorded("SELECT * FROM users WHERE id = $1", Some(42)),
                    recorded("UPDATE users SET name = $1\nWHERE id = $2", Some(2)),
                    recorded("SELECT 1", None),
                ],
                skipped_ddl: 0,
                skipped_utility: 1,
                skipped_ours: 0,
            }
        );
    }

    #[test]
    fn export_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty: expected a header with a `query` column"),
            (" \n\n", 1, "empty: expected a header with a `query` column"),
            (
                "calls,sql\n1,SELECT 1\n",
                1,
                "no `query` column in the header: expected `query` and optionally `calls`, as \
                 `COPY (SELECT query, calls FROM pg_stat_statements) TO STDOUT WITH CSV HEADER` \
                 writes them",
            ),
            (
                "query,calls,rows\nSELECT 1,1,1\n\"SELECT\n2\",2\n",
                3,
                "2 fields where the header has 3",
            ),
            (
                "query,calls\nSELECT 1,1\n\"SELECT 2,\n2\n",
                3,
                "unterminated quoted field",
            ),
            (
                "query,calls\nSELECT 1,-3\n",
                2,
                "`calls` is not a non-negative integer: `-3`",
            ),
            (
                "query,calls\nSELECT 1,many\n",
                2,
                "`calls` is not a non-negative integer: `many`",
            ),
            (
                "{\"query\": \"SELECT 1\"}\n[1]\n",
                2,
                "not a JSON object with a string `query`",
            ),
            (
                "{\"query\": 1}\n",
                1,
                "not a JSON object with a string `query`",
            ),
            (
                "{\"calls\": 1}\n",
                1,
                "not a JSON object with a string `query`",
            ),
            (
                "{\"query\": \"SELECT 1\"\n",
                1,
                "not a JSON object with a string `query`",
            ),
            (
                "{\"query\": \"SELECT 1\"}\n\n{\"query\": \"SELECT 2\", \"calls\": 1.5}\n",
                3,
                "`calls` is not a non-negative integer: `1.5`",
            ),
            (
                "{\"query\": \"SELECT 1\", \"calls\": -1}\n",
                1,
                "`calls` is not a non-negative integer: `-1`",
            ),
            ("query\nSELECT '\0'\n", 2, "not a text file"),
        ];
        for &(text, line, message) in cases {
            let e = parse_statements_export("pgss", text).unwrap_err();
            assert_eq!(
                (e.file.as_str(), e.line, e.message.as_str()),
                ("pgss", line, message),
                "{text:?}"
            );
        }
    }

    #[test]
    fn history_tables_are_ours() {
        let mut recorded_statements = Recorded::default();
        let history = ["schema_migrations", "__EFMigrationsHistory"];
        add_recorded(
            &mut recorded_statements,
            "SELECT version FROM schema_migrations;",
            Some(3),
            &history,
        );
        add_recorded(
            &mut recorded_statements,
            "SELECT * FROM \"__EFMigrationsHistory\"",
            Some(1),
            &history,
        );
        add_recorded(
            &mut recorded_statements,
            "SELECT schema_migrations_count FROM stats",
            Some(1),
            &history,
        );
        add_recorded(
            &mut recorded_statements,
            "SELECT 'schema_migrations' FROM t",
            Some(1),
            &history,
        );
        assert_eq!(
            recorded_statements,
            Recorded {
                statements: vec![
                    recorded("SELECT schema_migrations_count FROM stats", Some(1)),
                    recorded("SELECT 'schema_migrations' FROM t", Some(1)),
                ],
                skipped_ddl: 0,
                skipped_utility: 0,
                skipped_ours: 2,
            }
        );

        let mut exported = parse_statements_export(
            "pgss.csv",
            "query,calls\nSELECT * FROM users,4\nINSERT INTO public.schema_migrations (version) VALUES ($1),1\nSELECT 1 FROM Flyway_Schema_History,1\n",
        )
        .unwrap();
        assert_eq!(exported.statements.len(), 3);
        retain_not_history(
            &mut exported,
            &["schema_migrations", "flyway_schema_history"],
        );
        assert_eq!(
            exported,
            Recorded {
                statements: vec![recorded("SELECT * FROM users", Some(4))],
                skipped_ddl: 0,
                skipped_utility: 0,
                skipped_ours: 2,
            }
        );
        retain_not_history(&mut exported, &[]);
        assert_eq!(exported.skipped_ours, 2);
    }

    #[test]
    fn globs() {
        let cases = [
            ("db/queries/**/*.sql", "db/queries/users.sql", true),
            ("db/queries/**/*.sql", "db/queries/a/b/users.sql", true),
            ("db/queries/**/*.sql", "db/queries/users.txt", false),
            ("db/queries/**/*.sql", "db/other/users.sql", false),
            ("**/*.sql", "q.sql", true),
            ("**/*.sql", "a/b/q.sql", true),
            ("**/queries.sql", "queries.sql", true),
            ("*.sql", "q.sql", true),
            ("*.sql", "a/q.sql", false),
            ("db/*.sql", "db/a/q.sql", false),
            ("db/**", "db/a/q.sql", true),
            ("db/**", "dbx/q.sql", false),
            ("q?.sql", "q1.sql", true),
            ("q?.sql", "q12.sql", false),
            ("a?b", "a/b", false),
            ("q[12].sql", "q2.sql", true),
            ("q[12].sql", "q3.sql", false),
            ("q[a-c].sql", "qb.sql", true),
            ("q[!a-c].sql", "qb.sql", false),
            ("q[!a-c].sql", "qd.sql", true),
            ("a[!x]b", "a/b", false),
            ("q[-].sql", "q-.sql", true),
            ("q[&~].sql", "q~.sql", true),
            ("q[.sql", "q[.sql", true),
            ("q.sql", "qxsql", false),
            ("(a)+.sql", "(a)+.sql", true),
            ("./db/*.sql", "db/q.sql", true),
            ("db/*.sql", "./db/q.sql", true),
            ("db/queries/users.sql", "db/queries/users.sql", true),
            ("q[z-a].sql", "qb.sql", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                glob_matches(pattern, path),
                expected,
                "{pattern:?} {path:?}"
            );
        }
    }

    #[test]
    fn glob_roots() {
        let cases = [
            ("db/queries/**/*.sql", "db/queries"),
            ("db/queries/*.sql", "db/queries"),
            ("db/q?/*.sql", "db"),
            ("db/[ab]/*.sql", "db"),
            ("**/*.sql", ""),
            ("*.sql", ""),
            ("db/queries/users.sql", "db/queries"),
            ("users.sql", ""),
            ("db/queries/", "db/queries"),
        ];
        for (pattern, root) in cases {
            assert_eq!(glob_root(pattern), root, "{pattern:?}");
        }
    }
}
