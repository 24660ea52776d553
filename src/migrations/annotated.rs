//! The one parser of annotated SQL files that goose and sql-migrate share
//! ([`parse_annotated`], parameterised by a [`Dialect`]): both tools read a file line by
//! line, switch direction on their Up/Down annotation, split statements at a line whose last
//! word ends with `;` unless between `StatementBegin` and `StatementEnd`, and refuse a file
//! whose last statement is unfinished. We hand PostgreSQL whole sections, so the parser also
//! refuses a statement the tool would cut in the middle (a `;` ending a line inside a function
//! body without `StatementBegin`): the tool would fail there, PostgreSQL would not. Each
//! tool's file (`goose.rs`, `sql_migrate.rs`) holds its dialect: how it reads an annotation.

use std::collections::BTreeMap;
use std::path::Path;

use super::envsub::interpolate;
use super::lexer::split_statements;
use super::{Script, Text, TransactionMode, lines};
use crate::error::InputError;

/// One annotation of an annotated SQL file, as the tool reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Annotation {
    /// Start (or, for sql-migrate, continue) the up section.
    Up {
        /// sql-migrate's `notransaction` option on the line.
        no_transaction: bool,
    },
    /// Start (or continue) the down section.
    Down {
        /// sql-migrate's `notransaction` option on the line.
        no_transaction: bool,
    },
    /// Semicolons no longer end a statement.
    StatementBegin,
    /// The statement since `StatementBegin` ends here.
    StatementEnd,
    /// goose's `NO TRANSACTION`: the whole file runs outside a transaction.
    NoTransaction,
    /// goose's `ENVSUB ON`: substitute variables from here on.
    EnvsubOn,
    /// goose's `ENVSUB OFF`.
    EnvsubOff,
    /// A line the tool treats as an annotation and otherwise ignores.
    Ignored,
}

/// What differs between the tools whose files [`parse_annotated`] reads.
pub(crate) struct Dialect {
    /// The tool's name, for messages.
    pub tool: &'static str,
    /// The annotation prefix as written in files (`-- +goose`), for messages.
    pub prefix: &'static str,
    /// Reads a line (without its line ending) as the tool's annotation: None for a line that
    /// is not one, an error message for one the tool refuses.
    pub annotation: fn(&str) -> Result<Option<Annotation>, String>,
    /// Whether the tool leaves a non-annotation line out of its statements; the flag says
    /// whether a statement has started.
    pub drops_line: fn(&str, bool) -> bool,
    /// goose's rules: one Up first, at most one Down after it, no SQL before Up,
    /// StatementBegin/End only inside a section and not nested. Without them (sql-migrate)
    /// sections may repeat in any order (each direction collects its sections), lines before
    /// the first section are ignored, and misplaced StatementBegin/End are ignored.
    pub strict: bool,
}

impl Dialect {
    /// An annotation as written in files: `` `-- +goose Up` ``.
    fn marker(&self, word: &str) -> String {
        format!("`{} {word}`", self.prefix)
    }

    /// The byte offset of the line of the first Down annotation of `sql`, if any.
    pub(crate) fn down_line_start(&self, sql: &str) -> Option<usize> {
        lines(sql)
            .find(|line| {
                let text = line.text.trim_end_matches('\r');
                let text = if self.strict { text.trim_start() } else { text };
                matches!((self.annotation)(text), Ok(Some(Annotation::Down { .. })))
            })
            .map(|line| line.start)
    }

    /// The line of the first Up annotation of `sql`, if any: how a file of this tool is
    /// recognised. goose reads (and refuses) an indented annotation, so for goose indented
    /// ones count and discovery reports the indentation; sql-migrate takes them for SQL.
    pub(crate) fn up_line(&self, sql: &str) -> Option<usize> {
        lines(sql)
            .find(|line| {
                let text = line.text.trim_end_matches('\r');
                let text = if self.strict { text.trim_start() } else { text };
                matches!((self.annotation)(text), Ok(Some(Annotation::Up { .. })))
            })
            .map(|line| line.number)
    }
}

/// A direction of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

impl Direction {
    /// Index into per-direction arrays.
    fn index(self) -> usize {
        self as usize
    }
}

/// A statement the tool has started collecting.
struct Pending {
    /// Its first line holding anything but whitespace (the tool counts only those).
    first_content: Option<usize>,
    /// The lines the tool sends, after substitution.
    sql: String,
}

/// Splits an annotated SQL file (goose, sql-migrate) into its up script and, if it has a
/// down annotation, its down script, as `dialect`'s tool reads it. A direction made of
/// several sections (sql-migrate) is one script from its first section to its last, the
/// other direction's lines emptied, so line numbers stay those of the file. `env` holds the
/// values goose's `ENVSUB ON` substitutes (substituted in place, line by line). A
/// `StatementBegin` block whose statement has no `;` of its own (the tool sends it alone)
/// gets one at the start of its `StatementEnd` line, so the next statement stays apart.
pub(crate) fn parse_annotated(
    dialect: &Dialect,
    path: &Path,
    text: &Text,
    env: Option<&BTreeMap<String, String>>,
) -> Result<(Script, Option<Script>), InputError> {
    parse_annotated_with(dialect, path, text, env, Cuts::Refuse).map(|(up, down, _)| (up, down))
}

/// What to do with a statement the tool would cut at a `;` ending a line inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cuts {
    /// Refuse the file: the tool itself runs it and would fail there.
    Refuse,
    /// Read on to the statement's real end: the file format is the tool's, but the project
    /// runs it with its own runner, which may split statements by SQL syntax. The first line
    /// where the tool would have cut is returned, for a warning.
    ReadOn,
}

/// [`parse_annotated`], with what to do about statements the tool would cut; also returns the
/// first line where the tool would have cut one (only with [`Cuts::ReadOn`]).
pub(crate) fn parse_annotated_with(
    dialect: &Dialect,
    path: &Path,
    text: &Text,
    env: Option<&BTreeMap<String, String>>,
    cuts: Cuts,
) -> Result<(Script, Option<Script>, Option<usize>), InputError> {
    let mut first_cut: Option<usize> = None;
    let all: Vec<_> = lines(&text.sql).collect();
    let mut owner: Vec<Option<Direction>> = vec![None; all.len()];
    let mut substituted: Vec<Option<String>> = vec![None; all.len()];
    let mut terminate: Vec<bool> = vec![false; all.len()];
    let mut opened: [Option<usize>; 2] = [None, None];
    let mut no_transaction = [false, false];
    let mut file_no_transaction = false;
    let mut envsub: Option<usize> = None;
    let mut direction: Option<Direction> = None;
    let mut block: Option<usize> = None;
    let mut pending: Option<Pending> = None;
    let at = |line: usize, message: String| InputError::at_line(path, line, message);
    let unfinished = |line: usize, block: Option<usize>| {
        let fix = match block {
            Some(open) => format!(
                "close the {} block opened on line {open} with {}",
                dialect.marker("StatementBegin"),
                dialect.marker("StatementEnd")
            ),
            None => "add the `;`".to_string(),
        };
        at(
            line,
            format!(
                "statement not finished: {} ends a statement only at a line whose last word \
                 ends with `;` (or at {}); {fix}",
                dialect.tool,
                dialect.marker("StatementEnd")
            ),
        )
    };

    for (index, line) in all.iter().enumerate() {
        let number = line.number;
        let raw = line.text.strip_suffix('\r').unwrap_or(line.text);
        let annotation = (dialect.annotation)(raw).map_err(|message| at(number, message))?;
        let Some(annotation) = annotation else {
            let Some(current) = direction else {
                let trimmed = raw.trim();
                if dialect.strict && !trimmed.is_empty() && !trimmed.starts_with("--") {
                    return Err(at(
                        number,
                        format!(
                            "statement before {}: {} requires the {} annotation before any \
                             statement",
                            dialect.marker("Up"),
                            dialect.tool,
                            dialect.marker("Up")
                        ),
                    ));
                }
                continue;
            };
            owner[index] = Some(current);
            if (dialect.drops_line)(raw, pending.is_some()) {
                continue;
            }
            let sent = match (envsub, env) {
                (Some(since), Some(env)) => {
                    let expanded = interpolate(raw, env)
                        .map_err(|e| at(number, e.message(dialect.marker("ENVSUB ON"), since)))?;
                    if expanded != raw {
                        substituted[index] = Some(expanded.clone());
                    }
                    expanded
                }
                _ => raw.to_string(),
            };
            let statement = pending.get_or_insert(Pending {
                first_content: None,
                sql: String::new(),
            });
            if statement.first_content.is_none() && !sent.trim().is_empty() {
                statement.first_content = Some(number);
            }
            statement.sql.push_str(&sent);
            statement.sql.push('\n');
            if block.is_none() && ends_with_semicolon(&sent) {
                if !is_complete(&statement.sql) && cuts == Cuts::ReadOn {
                    first_cut.get_or_insert(number);
                    continue;
                }
                if !is_complete(&statement.sql) {
                    return Err(at(
                        number,
                        format!(
                            "{} ends a statement at the `;` closing this line, but there the \
                             statement is still inside a quoted string, dollar-quoted body, \
                             comment or parentheses: {} would send it cut off and fail. Put \
                             the statement between {} and {}",
                            dialect.tool,
                            dialect.tool,
                            dialect.marker("StatementBegin"),
                            dialect.marker("StatementEnd")
                        ),
                    ));
                }
                pending = None;
            }
            continue;
        };
        match annotation {
            Annotation::Up {
                no_transaction: off,
            }
            | Annotation::Down {
                no_transaction: off,
            } => {
                let next = match annotation {
                    Annotation::Up { .. } => Direction::Up,
                    _ => Direction::Down,
                };
                if dialect.strict {
                    check_section_order(dialect, next, &opened, block)
                        .map_err(|message| at(number, message))?;
                }
                if let Some(first) = pending.take().and_then(|p| p.first_content) {
                    return Err(unfinished(first, block));
                }
                direction = Some(next);
                opened[next.index()].get_or_insert(number);
                no_transaction[next.index()] |= off;
            }
            Annotation::StatementBegin => match (direction, block) {
                (Some(_), None) => block = Some(number),
                (Some(_), Some(open)) if dialect.strict => {
                    return Err(at(
                        number,
                        format!(
                            "{} inside the block opened on line {open}: close it with {} \
                             first",
                            dialect.marker("StatementBegin"),
                            dialect.marker("StatementEnd")
                        ),
                    ));
                }
                (None, _) if dialect.strict => {
                    return Err(at(
                        number,
                        format!(
                            "{} before {}: {} requires it inside the Up or Down section",
                            dialect.marker("StatementBegin"),
                            dialect.marker("Up"),
                            dialect.tool
                        ),
                    ));
                }
                _ => {}
            },
            Annotation::StatementEnd => match (direction, block) {
                (Some(_), Some(open)) => {
                    block = None;
                    let Some(statement) = pending.take() else {
                        owner[index] = direction;
                        continue;
                    };
                    // The tool sends the block as one statement, so it needs no `;` of its
                    // own; in one script the next statement would run into it.
                    terminate[index] = !is_terminated(&statement.sql);
                    if !is_complete(&statement.sql) {
                        return Err(at(
                            number,
                            format!(
                                "the statement between {} on line {open} and this line is \
                                 not complete (a quoted string, dollar-quoted body, comment \
                                 or parenthesis is still open)",
                                dialect.marker("StatementBegin")
                            ),
                        ));
                    }
                }
                _ if dialect.strict => {
                    return Err(at(
                        number,
                        format!(
                            "{} without {} before it",
                            dialect.marker("StatementEnd"),
                            dialect.marker("StatementBegin")
                        ),
                    ));
                }
                _ => {}
            },
            Annotation::NoTransaction => file_no_transaction = true,
            Annotation::EnvsubOn => envsub = Some(number),
            Annotation::EnvsubOff => envsub = None,
            Annotation::Ignored => {}
        }
        owner[index] = direction;
    }

    if let Some(open) = block {
        return Err(at(
            open,
            format!(
                "{} without a matching {}",
                dialect.marker("StatementBegin"),
                dialect.marker("StatementEnd")
            ),
        ));
    }
    if opened == [None, None] {
        let message = if dialect.strict {
            format!(
                "missing {up} annotation: {tool} requires every SQL migration to start with a \
                 {up} line (only blank and comment lines before it), optionally followed by a \
                 {down} section",
                up = dialect.marker("Up"),
                down = dialect.marker("Down"),
                tool = dialect.tool
            )
        } else {
            format!(
                "no {} or {} annotation (written exactly so, at the start of a line): {} \
                 refuses a file without one",
                dialect.marker("Up"),
                dialect.marker("Down"),
                dialect.tool
            )
        };
        return Err(InputError::new(path, message));
    }
    if let Some(first) = pending.and_then(|p| p.first_content) {
        return Err(unfinished(first, None));
    }

    let transaction = |d: Direction| {
        if file_no_transaction || no_transaction[d.index()] {
            TransactionMode::None
        } else {
            TransactionMode::StatementsInTransaction
        }
    };
    let script = |d: Direction| {
        let marker = opened[d.index()]?;
        let last = owner
            .iter()
            .rposition(|o| *o == Some(d))
            .unwrap_or(marker - 1);
        let start = all[marker - 1].end;
        let mut sql = String::new();
        for (index, line) in all.iter().enumerate().take(last + 1).skip(marker) {
            let raw_len = line.text.strip_suffix('\r').unwrap_or(line.text).len();
            let ending = &text.sql[line.start + raw_len..line.end];
            if owner[index] == Some(d) {
                if terminate[index] {
                    sql.push(';');
                }
                match &substituted[index] {
                    Some(expanded) => {
                        sql.push_str(expanded);
                        sql.push_str(ending);
                    }
                    None => sql.push_str(&text.sql[line.start..line.end]),
                }
            } else if ending.ends_with('\n') {
                sql.push('\n');
            }
        }
        Some(Script {
            path: path.to_path_buf(),
            sql,
            line_offset: marker,
            byte_offset: text.bom_len + start,
            transaction: transaction(d),
            step: None,
        })
    };
    let up = script(Direction::Up).unwrap_or_else(|| Script {
        path: path.to_path_buf(),
        sql: String::new(),
        line_offset: 0,
        byte_offset: text.bom_len,
        transaction: transaction(Direction::Up),
        step: None,
    });
    Ok((up, script(Direction::Down), first_cut))
}

/// goose's order of sections: one Up first, at most one Down after it, no Down inside a
/// StatementBegin block. The error message when `next` breaks it.
fn check_section_order(
    dialect: &Dialect,
    next: Direction,
    opened: &[Option<usize>; 2],
    block: Option<usize>,
) -> Result<(), String> {
    let (up, down) = (dialect.marker("Up"), dialect.marker("Down"));
    match (next, opened) {
        (Direction::Up, [Some(first), _]) => Err(format!(
            "repeated {up} (first on line {first}): {} allows one",
            dialect.tool
        )),
        (Direction::Down, [None, _]) => Err(format!(
            "{down} before {up}: {} requires the file to start with {up}",
            dialect.tool
        )),
        (Direction::Down, [_, Some(first)]) => Err(format!(
            "repeated {down} (first on line {first}): {} allows one",
            dialect.tool
        )),
        _ => match block {
            Some(open) => Err(format!(
                "{down} inside the {} block opened on line {open}: close it with {} first",
                dialect.marker("StatementBegin"),
                dialect.marker("StatementEnd")
            )),
            None => Ok(()),
        },
    }
}

/// goose's and sql-migrate's `endsWithSemicolon`: the last whitespace-separated word before
/// a word starting with `--` ends with `;`.
fn ends_with_semicolon(line: &str) -> bool {
    line.split_whitespace()
        .take_while(|word| !word.starts_with("--"))
        .last()
        .is_some_and(|word| word.ends_with(';'))
}

/// Whether `sql`, as the tool sends it, ends outside any quote, comment, parenthesis or
/// `BEGIN ATOMIC` body: a `;` appended on a new line then ends a statement.
pub(crate) fn is_complete(sql: &str) -> bool {
    let probe = format!("{sql}\n;x");
    split_statements(&probe)
        .last()
        .is_some_and(|last| last.full.start == sql.len() + 2)
}

/// Whether the last statement of `sql` ends with its own `;` (true when there is none).
fn is_terminated(sql: &str) -> bool {
    missing_terminator(sql).is_none()
}

/// Where the last statement of `sql` needs a `;` when it has none of its own (a tool sent
/// it alone, and in one script the next statement would run into it): just after its code.
/// None when it ends with one, or when `sql` holds no statement.
pub(crate) fn missing_terminator(sql: &str) -> Option<usize> {
    split_statements(sql)
        .iter()
        .rev()
        .find(|statement| !statement.is_empty())
        .filter(|last| !sql[..last.full.end].ends_with(';'))
        .map(|last| last.code.end)
}
