//! Columns whose values a migration draws itself: `INSERT INTO settings (key, value) VALUES
//! ('deployment_id', gen_random_uuid())`, `UPDATE users SET token = md5(random()::text)`,
//! ids from the project's own `generate_ulid()`. A down and a second up write other values
//! there by design, so the data fingerprints compare such a column by the table's row
//! count, not by its content (the count still catches a forgotten `DELETE`), and the run's
//! notes say so.
//!
//! A value is drawn when its expression calls a VOLATILE function: one of the server's
//! (`pg_proc.provolatile = 'v'`: `random`, `gen_random_uuid`, `nextval`, `clock_timestamp`,
//! …), of an extension migrations commonly install before using it (`uuid_generate_v4`, …),
//! or one the migrations create themselves without `IMMUTABLE` or `STABLE` (PostgreSQL's
//! default is VOLATILE). The statements read are `INSERT INTO … [(columns)] VALUES …` and
//! `… SELECT …`, `UPDATE … SET`, `ON CONFLICT … DO UPDATE SET`, also inside `WITH` and the
//! bodies of `DO` blocks. When a value cannot be tied to a column (an `INSERT` without a
//! column list), the whole table is compared by count. Column defaults are the
//! fingerprint's own business (it leaves out every column with a non-immutable default).

use std::collections::HashSet;
use std::path::PathBuf;

use crate::migrations::Script;
use crate::migrations::lexer::{self, Token, TokenKind};
use crate::schema::fingerprint::ByCount;

/// The server's volatile functions, by lowercase name.
pub const SERVER_VOLATILE_FUNCTIONS: &str =
    "SELECT DISTINCT lower(proname) FROM pg_catalog.pg_proc WHERE provolatile = 'v'";

/// Volatile functions of extensions that migrations install and use in one go (the
/// extension is not there yet when the run asks the server).
const EXTENSION_VOLATILE_FUNCTIONS: &[&str] = &[
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "gen_random_bytes",
    "gen_random_uuid",
    "gen_salt",
    "uuid_generate_v7",
    "uuidv7",
    "uuidv4",
];

/// One column (or a whole table, `column: None`) a script fills with drawn values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    /// The table's name as written, without its schema, as PostgreSQL folds it.
    pub table: String,
    pub column: Option<String>,
    /// The volatile function that draws it.
    pub function: String,
    pub path: PathBuf,
    pub line: usize,
}

/// The volatile functions `scripts` create (`CREATE FUNCTION` without `IMMUTABLE` or
/// `STABLE` among its words), with the server's (`server`) and the common extensions'.
pub fn volatile_functions<'s>(
    scripts: impl IntoIterator<Item = &'s Script>,
    server: impl IntoIterator<Item = String>,
) -> HashSet<String> {
    let mut volatile: HashSet<String> = server.into_iter().collect();
    volatile.extend(EXTENSION_VOLATILE_FUNCTIONS.iter().map(|f| f.to_string()));
    for script in scripts {
        for statement in lexer::split_statements(&script.sql) {
            let code = &script.sql[statement.code.clone()];
            let words = lexer::leading_words(code, 4);
            let at = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["create", "function", ..] => 2,
                ["create", "or", "replace", "function"] => 4,
                _ => continue,
            };
            let tokens: Vec<Token> = lexer::code_tokens(code).collect();
            let Some((name, _)) = name_at(code, &tokens, at) else {
                continue;
            };
            if !lexer::has_word(code, "immutable") && !lexer::has_word(code, "stable") {
                volatile.insert(name);
            }
        }
    }
    volatile
}

/// The fingerprints' [`ByCount`] for what `drawn` found.
pub fn by_count(drawn: &[Drawn]) -> ByCount {
    let mut by_count = ByCount::default();
    for found in drawn {
        by_count.add(&found.table, found.column.as_deref());
    }
    by_count
}

/// Where `scripts` draw values with the functions in `volatile`.
pub fn drawn<'s>(
    scripts: impl IntoIterator<Item = &'s Script>,
    volatile: &HashSet<String>,
) -> Vec<Drawn> {
    let mut found = Vec::new();
    for script in scripts {
        let mut reader = Reader {
            volatile,
            script,
            found: &mut found,
        };
        reader.read(&script.sql, 0);
    }
    found
}

struct Reader<'a> {
    volatile: &'a HashSet<String>,
    script: &'a Script,
    found: &'a mut Vec<Drawn>,
}

impl Reader<'_> {
    /// Reads `text`, which starts at byte `base` of the script.
    fn read(&mut self, text: &str, base: usize) {
        let tokens: Vec<Token> = lexer::code_tokens(text).collect();
        let mut inserted: Option<String> = None;
        for i in 0..tokens.len() {
            match word(text, &tokens, i).as_deref() {
                Some("insert") if word(text, &tokens, i + 1).as_deref() == Some("into") => {
                    inserted = self.insert(text, base, &tokens, i + 2);
                }
                Some("update")
                    if word(text, &tokens, i.wrapping_sub(1)).as_deref() == Some("do") =>
                {
                    // ON CONFLICT … DO UPDATE SET: the inserted table's columns.
                    if let Some(table) = inserted.clone()
                        && word(text, &tokens, i + 1).as_deref() == Some("set")
                    {
                        self.assignments(text, base, &tokens, i + 2, &table);
                    }
                }
                Some("update") => self.update(text, base, &tokens, i + 1),
                Some("do") => {
                    // DO [LANGUAGE x] $$ body $$: the body's statements too.
                    let body = (i + 1..tokens.len().min(i + 4))
                        .map(|j| tokens[j])
                        .find(|t| t.kind == TokenKind::Quoted && t.text(text).starts_with('$'));
                    if let Some(body) = body
                        && let Some((start, inner)) = dollar_body(body.text(text))
                    {
                        self.read(inner, base + body.start + start);
                    }
                }
                _ => {}
            }
        }
    }

    /// `INSERT INTO name [AS alias] [(columns)] VALUES (…), … | SELECT …` from token `at`;
    /// returns the table's name.
    fn insert(&mut self, text: &str, base: usize, tokens: &[Token], at: usize) -> Option<String> {
        let (table, mut i) = name_at(text, tokens, at)?;
        if word(text, tokens, i).as_deref() == Some("as") {
            i += 2;
        }
        let mut columns = None;
        if tokens
            .get(i)
            .is_some_and(|t| t.kind == TokenKind::OpenParen)
        {
            let close = closing(tokens, i)?;
            columns = Some(
                split_commas(text, tokens, i + 1, close)
                    .into_iter()
                    .filter_map(|(from, _)| name_at(text, tokens, from).map(|(name, _)| name))
                    .collect::<Vec<_>>(),
            );
            i = close + 1;
        }
        if word(text, tokens, i).as_deref() == Some("overriding") {
            i += 3;
        }
        match word(text, tokens, i).as_deref() {
            Some("values") => {
                i += 1;
                while tokens
                    .get(i)
                    .is_some_and(|t| t.kind == TokenKind::OpenParen)
                {
                    let close = closing(tokens, i)?;
                    let values = split_commas(text, tokens, i + 1, close);
                    self.values(text, base, tokens, &table, columns.as_deref(), &values);
                    i = close + 1;
                    if tokens.get(i).is_some_and(|t| t.text(text) == ",") {
                        i += 1;
                    }
                }
            }
            Some("select") => {
                let end = top_level_end(text, tokens, i + 1, SELECT_LIST_ENDS);
                let values = split_commas(text, tokens, i + 1, end);
                self.values(text, base, tokens, &table, columns.as_deref(), &values);
            }
            _ => {}
        }
        Some(table)
    }

    /// The values of one row (token ranges), in the order of `columns` when known.
    fn values(
        &mut self,
        text: &str,
        base: usize,
        tokens: &[Token],
        table: &str,
        columns: Option<&[String]>,
        values: &[(usize, usize)],
    ) {
        for (position, &(from, to)) in values.iter().enumerate() {
            if let Some((function, offset)) = self.volatile_call(text, tokens, from, to) {
                let column = columns.and_then(|c| c.get(position)).cloned();
                // A value with no column to name makes the whole table count-only.
                let column = if columns.is_some() && column.is_none() {
                    continue;
                } else {
                    column
                };
                self.record(table, column, function, base + offset);
            }
        }
    }

    /// `UPDATE [ONLY] name [[AS] alias] SET …` from token `at`.
    fn update(&mut self, text: &str, base: usize, tokens: &[Token], at: usize) {
        let mut i = at;
        if word(text, tokens, i).as_deref() == Some("only") {
            i += 1;
        }
        let Some((table, mut i)) = name_at(text, tokens, i) else {
            return;
        };
        if word(text, tokens, i).as_deref() == Some("as") {
            i += 1;
        }
        if word(text, tokens, i).as_deref() != Some("set") {
            // An alias, or no UPDATE statement at all (`FOR UPDATE`, `ON UPDATE CASCADE`,
            // `BEFORE UPDATE ON`).
            i += 1;
            if word(text, tokens, i).as_deref() != Some("set") {
                return;
            }
        }
        self.assignments(text, base, tokens, i + 1, &table);
    }

    /// `column = value, (a, b) = (…), …` from token `at` to the end of the SET list.
    fn assignments(&mut self, text: &str, base: usize, tokens: &[Token], at: usize, table: &str) {
        let end = top_level_end(text, tokens, at, SET_LIST_ENDS);
        for (from, to) in split_commas(text, tokens, at, end) {
            let Some(equals) = (from..to).find(|&j| tokens[j].text(text) == "=") else {
                continue;
            };
            let Some((function, offset)) = self.volatile_call(text, tokens, equals + 1, to) else {
                continue;
            };
            let columns: Vec<String> = if tokens[from].kind == TokenKind::OpenParen {
                split_commas(text, tokens, from + 1, equals.saturating_sub(1))
                    .into_iter()
                    .filter_map(|(c, _)| name_at(text, tokens, c).map(|(name, _)| name))
                    .collect()
            } else {
                // `column` or `column.field` / `column[1]`: the column itself.
                ident(text, &tokens[from]).into_iter().collect()
            };
            for column in columns {
                self.record(table, Some(column), function.clone(), base + offset);
            }
        }
    }

    /// The first call of a volatile function among tokens `from..to`, with its offset.
    fn volatile_call(
        &self,
        text: &str,
        tokens: &[Token],
        from: usize,
        to: usize,
    ) -> Option<(String, usize)> {
        (from..to.min(tokens.len())).find_map(|j| {
            let name = ident(text, &tokens[j])?;
            let called = tokens
                .get(j + 1)
                .is_some_and(|t| t.kind == TokenKind::OpenParen);
            (called && self.volatile.contains(&name)).then(|| (name, tokens[j].start))
        })
    }

    fn record(&mut self, table: &str, column: Option<String>, function: String, offset: usize) {
        let (line, _) = lexer::line_col(&self.script.sql, offset);
        let drawn = Drawn {
            table: table.to_string(),
            column,
            function,
            path: self.script.path.clone(),
            line: self.script.line_offset + line,
        };
        if !self.found.contains(&drawn) {
            self.found.push(drawn);
        }
    }
}

/// Words that end an `INSERT … SELECT` list at its own depth.
const SELECT_LIST_ENDS: &[&str] = &[
    "from",
    "where",
    "union",
    "except",
    "intersect",
    "order",
    "limit",
    "on",
    "returning",
    "group",
    "having",
    "window",
];

/// Words that end an `UPDATE … SET` list at its own depth.
const SET_LIST_ENDS: &[&str] = &["from", "where", "returning"];

/// An unquoted identifier lowercased, a quoted one unquoted; None for anything else.
fn ident(text: &str, token: &Token) -> Option<String> {
    let raw = token.text(text);
    match token.kind {
        TokenKind::Identifier => Some(raw.to_ascii_lowercase()),
        TokenKind::Quoted if raw.starts_with('"') && raw.len() >= 2 => {
            Some(raw[1..raw.len() - 1].replace("\"\"", "\""))
        }
        _ => None,
    }
}

/// The lowercase keyword or identifier at token `i`.
fn word(text: &str, tokens: &[Token], i: usize) -> Option<String> {
    tokens
        .get(i)
        .filter(|t| t.kind == TokenKind::Identifier)
        .map(|t| t.text(text).to_ascii_lowercase())
}

/// A possibly qualified name starting at token `i`: its last part and the token after it.
fn name_at(text: &str, tokens: &[Token], i: usize) -> Option<(String, usize)> {
    let mut name = ident(text, tokens.get(i)?)?;
    let mut next = i + 1;
    while tokens.get(next).is_some_and(|t| t.text(text) == ".")
        && let Some(part) = tokens.get(next + 1).and_then(|t| ident(text, t))
    {
        name = part;
        next += 2;
    }
    Some((name, next))
}

/// The index of the parenthesis closing the one at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first token from `from` at depth 0 that is one of `ends`, a `;`, an unmatched `)`
/// or the end.
fn top_level_end(text: &str, tokens: &[Token], from: usize, ends: &[&str]) -> usize {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(from) {
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen if depth == 0 => return j,
            TokenKind::CloseParen => depth -= 1,
            TokenKind::Semicolon if depth == 0 => return j,
            TokenKind::Identifier
                if depth == 0 && ends.contains(&token.text(text).to_ascii_lowercase().as_str()) =>
            {
                return j;
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The token ranges between the commas at depth 0 of tokens `from..to`.
fn split_commas(text: &str, tokens: &[Token], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = from;
    let to = to.min(tokens.len());
    for (j, token) in tokens.iter().enumerate().take(to).skip(from) {
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            _ if depth == 0 && token.text(text) == "," => {
                parts.push((start, j));
                start = j + 1;
            }
            _ => {}
        }
    }
    if start < to {
        parts.push((start, to));
    }
    parts
}

/// The inside of a dollar-quoted string (`$tag$…$tag$`) and where it starts in it.
fn dollar_body(quoted: &str) -> Option<(usize, &str)> {
    let tag_end = quoted[1..].find('$')? + 2;
    let tag = &quoted[..tag_end];
    let inner_end = quoted.len().checked_sub(tag.len())?;
    (inner_end >= tag_end && quoted.ends_with(tag)).then(|| (tag_end, &quoted[tag_end..inner_end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(sql: &str) -> Script {
        Script {
            path: "3_seed.up.sql".into(),
            sql: sql.into(),
            line_offset: 0,
            byte_offset: 0,
            transaction: crate::migrations::TransactionMode::StatementsInTransaction,
            step: None,
        }
    }

    fn found(sql: &str) -> Vec<(String, Option<String>, String, usize)> {
        let scripts = [script(sql)];
        let volatile = volatile_functions(&scripts, ["random".to_string(), "nextval".into()]);
        drawn(&scripts, &volatile)
            .into_iter()
            .map(|d| (d.table, d.column, d.function, d.line))
            .collect()
    }

    fn column(
        table: &str,
        column: &str,
        function: &str,
        line: usize,
    ) -> (String, Option<String>, String, usize) {
        (table.into(), Some(column.into()), function.into(), line)
    }

    #[test]
    fn values_are_tied_to_their_columns() {
        assert_eq!(
            found(
                "INSERT INTO public.settings (key, value)\n\
                 VALUES ('deployment_id', gen_random_uuid()), ('x', 'y');"
            ),
            [column("settings", "value", "gen_random_uuid", 2)]
        );
        assert_eq!(
            found(
                "INSERT INTO \"Tokens\" AS t (\"Id\", secret) SELECT id, md5(random()::text) FROM users;"
            ),
            [column("Tokens", "secret", "random", 1)]
        );
        // No column list: the whole table.
        assert_eq!(
            found("INSERT INTO settings VALUES ('id', gen_random_uuid());"),
            [(
                "settings".to_string(),
                None,
                "gen_random_uuid".to_string(),
                1
            )]
        );
        // Deterministic values draw nothing.
        assert_eq!(
            found("INSERT INTO settings (key, value) VALUES ('a', lower('B'));"),
            []
        );
    }

    #[test]
    fn updates_conflicts_with_and_do_blocks_are_read() {
        assert_eq!(
            found(
                "UPDATE ONLY users u SET name = lower(name), token = md5(random()::text) WHERE id > 0;"
            ),
            [column("users", "token", "random", 1)]
        );
        assert_eq!(
            found(
                "INSERT INTO kv (k, v) VALUES ('a', 'b')\n\
                 ON CONFLICT (k) DO UPDATE SET v = uuid_generate_v4()::text;"
            ),
            [column("kv", "v", "uuid_generate_v4", 2)]
        );
        assert_eq!(
            found("WITH x AS (SELECT 1) UPDATE jobs SET (slot, seed) = (1, nextval('s')) FROM x;"),
            [
                column("jobs", "slot", "nextval", 1),
                column("jobs", "seed", "nextval", 1)
            ]
        );
        assert_eq!(
            found(
                "DO $body$\nBEGIN\n  INSERT INTO kv (k, v) VALUES ('id', gen_random_uuid());\nEND\n$body$;"
            ),
            [column("kv", "v", "gen_random_uuid", 3)]
        );
        // Not UPDATE statements.
        assert_eq!(
            found(
                "CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION f();\n\
                 ALTER TABLE a ADD FOREIGN KEY (b) REFERENCES c ON UPDATE CASCADE;\n\
                 SELECT * FROM jobs FOR UPDATE SKIP LOCKED;"
            ),
            []
        );
    }

    #[test]
    fn functions_the_migrations_create_are_volatile_unless_marked() {
        let sql = "CREATE OR REPLACE FUNCTION app.generate_ulid() RETURNS text LANGUAGE plpgsql \
                   AS $$ BEGIN RETURN 'x'; END $$;\n\
                   CREATE FUNCTION slug(text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT lower($1) $$;\n\
                   INSERT INTO items (id, name, slug) VALUES (generate_ulid(), 'a', slug('A'));";
        assert_eq!(found(sql), [column("items", "id", "generate_ulid", 3)]);
    }
}
