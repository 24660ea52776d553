//! The application's statements judged on one database: each is prepared (parsed and
//! analysed against that schema, never executed), a write is also executed with generated
//! parameter values inside a transaction that is always rolled back, and the result columns
//! of a `SELECT *` are read. Judgment is differential: [`control`] runs on the schema the
//! code was written for and keeps how each statement behaved there (which values made a
//! write succeed); [`changed`] runs the same statements on the changed schema with the same
//! values, and only what worked on the control and fails here is a [`Breakage`]. A
//! statement that fails on its control too (a query the generated values do not fit, SQL
//! this PostgreSQL does not understand) is not judged, and says why.

use futures_util::future::join_all;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Statement};

use super::sources::{AppStatement, StatementKind, kind, selects_star};

/// How many statements are prepared at once on one connection (pipelined: one round trip
/// for the batch instead of one per statement).
const PIPELINE: usize = 64;

/// An error the server gave for a statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerError {
    /// SQLSTATE, e.g. `42703`.
    pub code: String,
    /// The primary message, e.g. `column "name" does not exist`.
    pub message: String,
    /// The names the error is about (constraint, column, table, then quoted names of the
    /// message), most specific first: what finds the migration statement that caused it.
    #[serde(skip)]
    pub names: Vec<String>,
}

impl ServerError {
    fn from_db(db: &DbError) -> ServerError {
        let mut names: Vec<String> = [db.constraint(), db.column(), db.table(), db.datatype()]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
        for name in names_in_message(db.message()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        ServerError {
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            names,
        }
    }

    fn from_error(error: &tokio_postgres::Error) -> ServerError {
        match error.as_db_error() {
            Some(db) => ServerError::from_db(db),
            None => ServerError {
                code: String::new(),
                message: crate::postgres::describe_error(error),
                names: Vec::new(),
            },
        }
    }

    /// `ERROR 42703: column "name" does not exist`.
    pub fn text(&self) -> String {
        if self.code.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", self.message, self.code)
        }
    }
}

/// The names an error message is about: its quoted names, and the unquoted column or
/// function of `column u.name does not exist` and `function lower(integer) does not exist`.
pub fn names_in_message(message: &str) -> Vec<String> {
    let mut names: Vec<String> = message
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|quoted| !quoted.is_empty())
        .map(str::to_string)
        .collect();
    for kind in ["column ", "function "] {
        if let Some(rest) = message.strip_prefix(kind)
            && let Some((subject, _)) = rest.split_once(" does not exist")
            && !subject.starts_with('"')
        {
            let subject = subject.split('(').next().unwrap_or(subject);
            let name = subject.rsplit('.').next().unwrap_or(subject);
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// How one statement behaved on its control schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// It prepared; a write succeeded with the values of candidate `values` (`None`: not a
    /// write, or no candidate fitted and `unfit` says why); `columns` are its result
    /// columns when they come from a `*`.
    Works {
        values: Option<usize>,
        unfit: Option<ServerError>,
        /// For a write no candidate fitted: the candidate with which it was planned
        /// (`EXPLAIN`, never executed), so that errors of planning are still judged (an
        /// `ON CONFLICT` whose unique index is gone).
        planned: Option<usize>,
        columns: Option<Vec<(String, String)>>,
    },
    /// It does not prepare on its control: not judged.
    Fails(ServerError),
}

impl Control {
    /// Why the statement cannot be judged at all, when it cannot.
    pub fn not_judged(&self) -> Option<String> {
        match self {
            Control::Fails(error) => Some(format!(
                "fails on the schema its code was written for too: {}",
                error.text()
            )),
            Control::Works { .. } => None,
        }
    }

    /// Why the statement was prepared but not executed, when a write's generated values
    /// did not fit.
    pub fn not_executed(&self) -> Option<String> {
        match self {
            Control::Works {
                unfit: Some(error), ..
            } => Some(format!(
                "a write whose generated values fail on the schema its code was written for: {}",
                error.text()
            )),
            _ => None,
        }
    }
}

/// What makes a statement that worked on its control fail on the changed schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// It no longer prepares: a missing table, column or function, a type mismatch, an
    /// ambiguous reference.
    Prepare,
    /// It prepares but the write fails with the values that worked on the control: a new
    /// NOT NULL column, constraint, narrowed type, trigger.
    Write,
    /// It works, but the columns its `*` returns changed.
    RowShape,
    /// The application's test command passes on its control and fails here.
    Test,
}

impl BreakKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Prepare => "prepare",
            BreakKind::Write => "write",
            BreakKind::RowShape => "row_shape",
            BreakKind::Test => "test",
        }
    }
}

/// A statement that worked on its control and does not on the changed schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakage {
    pub kind: BreakKind,
    pub error: ServerError,
}

/// Prepares (and for writes executes, rolled back) every statement on the control schema.
pub async fn control(
    client: &Client,
    statements: &[AppStatement],
) -> Result<Vec<Control>, tokio_postgres::Error> {
    let prepared = prepare_all(client, statements.iter().map(|s| s.sql.as_str())).await?;
    // Each write with the first candidate, then those that failed with the next, …
    let mut fitted: Vec<Option<usize>> = vec![None; statements.len()];
    let mut last_error: Vec<Option<ServerError>> = vec![None; statements.len()];
    let mut pending: Vec<usize> = (0..statements.len())
        .filter(|&i| prepared[i].is_ok() && kind(&statements[i].sql) == StatementKind::Write)
        .collect();
    for candidate in 0..CANDIDATES.len() {
        if pending.is_empty() {
            break;
        }
        let writes: Vec<(&Statement, usize)> = pending
            .iter()
            .filter_map(|&i| prepared[i].as_ref().ok().map(|p| (p, candidate)))
            .collect();
        let outcomes = execute_rolled_back(client, &writes).await?;
        let mut still = Vec::new();
        for (&i, outcome) in pending.iter().zip(outcomes) {
            match outcome {
                Ok(()) => fitted[i] = Some(candidate),
                Err(error) => {
                    last_error[i] = Some(error);
                    still.push(i);
                }
            }
        }
        pending = still;
    }
    let mut controls = Vec::with_capacity(statements.len());
    for (index, (statement, prepared)) in statements.iter().zip(prepared).enumerate() {
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                controls.push(Control::Fails(error));
                continue;
            }
        };
        let columns = selects_star(&statement.sql).then(|| columns_of(&prepared));
        let unfit = match fitted[index] {
            Some(_) => None,
            None => last_error[index].take(),
        };
        let planned = match unfit {
            Some(_) => plan_with_any(client, statement).await?,
            None => None,
        };
        controls.push(Control::Works {
            values: fitted[index],
            unfit,
            planned,
            columns,
        });
    }
    Ok(controls)
}

/// Judges on the changed schema the statements whose control is given (`None`: skip the
/// statement, it is judged already): a breakage for each that worked on its control and
/// fails here.
pub async fn changed(
    client: &Client,
    statements: &[AppStatement],
    controls: &[Option<&Control>],
) -> Result<Vec<Option<Breakage>>, tokio_postgres::Error> {
    let wanted: Vec<(usize, &AppStatement)> = statements
        .iter()
        .enumerate()
        .filter(|(index, _)| matches!(controls[*index], Some(Control::Works { .. })))
        .collect();
    let prepared = prepare_all(client, wanted.iter().map(|(_, s)| s.sql.as_str())).await?;
    // The writes with the values that fitted on their control, all in one pipeline.
    let writes: Vec<(usize, &Statement, usize)> = wanted
        .iter()
        .zip(&prepared)
        .filter_map(
            |((index, _), prepared)| match (controls[*index], prepared) {
                (
                    Some(Control::Works {
                        values: Some(candidate),
                        ..
                    }),
                    Ok(prepared),
                ) => Some((*index, prepared, *candidate)),
                _ => None,
            },
        )
        .collect();
    let batch: Vec<(&Statement, usize)> = writes.iter().map(|(_, p, c)| (*p, *c)).collect();
    let outcomes = execute_rolled_back(client, &batch).await?;
    let mut written: Vec<Option<Result<(), ServerError>>> = vec![None; statements.len()];
    for ((index, _, _), outcome) in writes.iter().zip(outcomes) {
        written[*index] = Some(outcome);
    }
    let mut breakages = vec![None; statements.len()];
    for ((index, statement), prepared) in wanted.into_iter().zip(prepared) {
        let Some(Control::Works {
            planned, columns, ..
        }) = controls[index]
        else {
            continue;
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                breakages[index] = Some(Breakage {
                    kind: BreakKind::Prepare,
                    error,
                });
                continue;
            }
        };
        if let Some(Err(error)) = written[index].take() {
            breakages[index] = Some(Breakage {
                kind: BreakKind::Write,
                error,
            });
            continue;
        }
        if let Some(candidate) = *planned
            && let Err(error) = plan(client, statement, candidate).await?
        {
            breakages[index] = Some(Breakage {
                kind: BreakKind::Prepare,
                error,
            });
            continue;
        }
        if let Some(before) = columns.as_deref() {
            breakages[index] = row_shape(statement, before, &columns_of(&prepared));
        }
    }
    Ok(breakages)
}

/// What a changed row shape of a `*` does to `statement`. Code that sends `*` reads
/// whatever comes: any change is a warning (`row_shape`). Code generated with the `*`
/// written out (sqlc) sends the columns it was generated with: one of them gone is the
/// error the server gives for a missing column, an added one changes nothing, and a
/// column of another type is a changed row shape.
fn row_shape(
    statement: &AppStatement,
    before: &[(String, String)],
    after: &[(String, String)],
) -> Option<Breakage> {
    if before == after {
        return None;
    }
    if statement.star_expanded {
        let gone: Vec<&String> = before
            .iter()
            .map(|(name, _)| name)
            .filter(|name| !after.iter().any(|(other, _)| other == *name))
            .collect();
        if let Some(first) = gone.first() {
            return Some(Breakage {
                kind: BreakKind::Prepare,
                error: ServerError {
                    code: "42703".into(),
                    message: format!(
                        "column \"{first}\" does not exist (the generated code lists the columns its * had: {})",
                        column_list(before)
                    ),
                    names: gone.iter().map(|name| name.to_string()).collect(),
                },
            });
        }
        let retyped = before.iter().any(|column| {
            after
                .iter()
                .any(|other| other.0 == column.0 && other.1 != column.1)
        });
        if !retyped {
            return None;
        }
    }
    Some(Breakage {
        kind: BreakKind::RowShape,
        error: ServerError {
            code: String::new(),
            message: format!(
                "the columns its * returns changed: ({}) became ({})",
                column_list(before),
                column_list(after)
            ),
            names: changed_names(before, after),
        },
    })
}

/// Prepares every statement, pipelined; Err only when the connection is gone.
async fn prepare_all<'s>(
    client: &Client,
    statements: impl Iterator<Item = &'s str>,
) -> Result<Vec<Result<Statement, ServerError>>, tokio_postgres::Error> {
    let statements: Vec<&str> = statements.collect();
    let mut all = Vec::with_capacity(statements.len());
    for chunk in statements.chunks(PIPELINE) {
        let results = join_all(chunk.iter().map(|sql| client.prepare(sql))).await;
        for result in results {
            all.push(match result {
                Ok(statement) => Ok(statement),
                Err(error) if error.as_db_error().is_some() => Err(ServerError::from_error(&error)),
                Err(error) => return Err(error),
            });
        }
    }
    Ok(all)
}

fn columns_of(statement: &Statement) -> Vec<(String, String)> {
    statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().name().to_string()))
        .collect()
}

fn column_list(columns: &[(String, String)]) -> String {
    columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns that came, went or changed type, for finding the migration statement.
fn changed_names(before: &[(String, String)], after: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = before
        .iter()
        .filter(|c| !after.contains(c))
        .chain(after.iter().filter(|c| !before.contains(c)))
        .map(|(name, _)| name.clone())
        .collect();
    names.dedup();
    names
}

/// The first candidate whose values let `statement` be planned (see [`plan`]).
async fn plan_with_any(
    client: &Client,
    statement: &AppStatement,
) -> Result<Option<usize>, tokio_postgres::Error> {
    for candidate in 0..CANDIDATES.len() {
        if plan(client, statement, candidate).await?.is_ok() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// Plans `statement` with candidate `candidate`'s values without executing it (`EXPLAIN`):
/// what the planner checks (an `ON CONFLICT` target needs its unique index) is judged even
/// when the values would not fit the rows. `Ok(Err)`: it cannot be planned.
async fn plan(
    client: &Client,
    statement: &AppStatement,
    candidate: usize,
) -> Result<Result<(), ServerError>, tokio_postgres::Error> {
    let explain = match client.prepare(&format!("EXPLAIN {}", statement.sql)).await {
        Ok(explain) => explain,
        Err(error) if error.as_db_error().is_some() => {
            return Ok(Err(ServerError::from_error(&error)));
        }
        Err(error) => return Err(error),
    };
    let values = values_for(&explain, candidate);
    match client.query_raw(&explain, values.iter()).await {
        Ok(rows) => {
            drop(rows);
            Ok(Ok(()))
        }
        Err(error) if error.as_db_error().is_some() => Ok(Err(ServerError::from_error(&error))),
        Err(error) => Err(error),
    }
}

/// Candidate `candidate`'s values for the parameters of `statement`.
fn values_for(statement: &Statement, candidate: usize) -> Vec<TextValue> {
    statement
        .params()
        .iter()
        .enumerate()
        .map(|(index, ty)| TextValue(generated(ty, index, &CANDIDATES[candidate])))
        .collect()
}

/// Executes each write with its candidate's values, every one undone: one transaction
/// (constraints checked at once, deferred ones too) that is rolled back, each write under
/// a savepoint rolled back after it, so a failing write leaves the next unharmed. The
/// writes are pipelined on the connection ([`PIPELINE`] at a time). `Ok(Err)` per write:
/// it failed; Err: the connection did.
async fn execute_rolled_back(
    client: &Client,
    writes: &[(&Statement, usize)],
) -> Result<Vec<Result<(), ServerError>>, tokio_postgres::Error> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    client
        .batch_execute("BEGIN; SET CONSTRAINTS ALL IMMEDIATE")
        .await?;
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut failed = None;
    for chunk in writes.chunks(PIPELINE) {
        let values: Vec<Vec<TextValue>> = chunk
            .iter()
            .map(|(statement, candidate)| values_for(statement, *candidate))
            .collect();
        // Sent in this order: each request goes out when its future is first polled.
        type Step<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = Result<Option<ServerError>, tokio_postgres::Error>>
                    + 'a,
            >,
        >;
        let mut steps: Vec<Step<'_>> = Vec::with_capacity(chunk.len() * 3);
        for ((statement, _), values) in chunk.iter().zip(&values) {
            steps.push(Box::pin(async {
                client
                    .batch_execute("SAVEPOINT mc_write")
                    .await
                    .map(|()| None)
            }));
            steps.push(Box::pin(async move {
                match client.execute_raw(*statement, values.iter()).await {
                    Ok(_) => Ok(None),
                    Err(error) => match error.as_db_error() {
                        Some(db)
                            if *db.code() != SqlState::ADMIN_SHUTDOWN
                                && *db.code() != SqlState::CRASH_SHUTDOWN =>
                        {
                            Ok(Some(ServerError::from_db(db)))
                        }
                        _ => Err(error),
                    },
                }
            }));
            steps.push(Box::pin(async {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT mc_write")
                    .await
                    .map(|()| None)
            }));
        }
        let results = join_all(steps).await;
        for (position, result) in results.into_iter().enumerate() {
            match (position % 3, result) {
                (1, Ok(None)) => outcomes.push(Ok(())),
                (1, Ok(Some(error))) => outcomes.push(Err(error)),
                (_, Ok(_)) => {}
                (_, Err(error)) => {
                    failed.get_or_insert(error);
                }
            }
        }
        if failed.is_some() {
            break;
        }
    }
    let rolled_back = client.batch_execute("ROLLBACK").await;
    if let Some(error) = failed {
        return Err(error);
    }
    rolled_back?;
    Ok(outcomes)
}

/// One way to generate a write's parameter values; a write is tried with each in turn on
/// its control until one fits.
struct Candidate {
    /// Keys are those of the first generated row of a populated table (a foreign key finds
    /// its parent, an UPDATE its row): integers 1, uuid `md5('1')`; else values no
    /// generated row has (a new primary key).
    first_row: bool,
    /// With `first_row`: the first parameter takes a value no generated row has (an
    /// INSERT's own new key) and the others the first row's (its foreign keys' parents).
    own_key_first: bool,
    /// Strings: long enough that a narrowed `varchar` shows, short enough for the columns
    /// written for short codes, or the first generated row's (`r1`, a text key).
    text: Text,
}

/// The strings a candidate generates.
#[derive(Clone, Copy)]
enum Text {
    Long,
    Short,
    FirstRow,
}

const CANDIDATES: [Candidate; 7] = [
    Candidate {
        first_row: true,
        own_key_first: false,
        text: Text::Long,
    },
    Candidate {
        first_row: true,
        own_key_first: true,
        text: Text::Long,
    },
    Candidate {
        first_row: false,
        own_key_first: false,
        text: Text::Long,
    },
    Candidate {
        first_row: true,
        own_key_first: false,
        text: Text::FirstRow,
    },
    Candidate {
        first_row: true,
        own_key_first: true,
        text: Text::FirstRow,
    },
    Candidate {
        first_row: true,
        own_key_first: false,
        text: Text::Short,
    },
    Candidate {
        first_row: false,
        own_key_first: false,
        text: Text::Short,
    },
];

/// A parameter's value in PostgreSQL's text form (`None`: NULL), which the server reads
/// with the parameter's type's input function.
#[derive(Debug)]
struct TextValue(Option<String>);

impl ToSql for TextValue {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// The text of a generated value of type `ty` for parameter `index` (0-based).
fn generated(ty: &Type, index: usize, candidate: &Candidate) -> Option<String> {
    match ty.kind() {
        Kind::Enum(labels) => return labels.first().cloned(),
        Kind::Array(_) => return Some("{}".into()),
        Kind::Range(_) => return Some("empty".into()),
        Kind::Domain(base) => return generated(base, index, candidate),
        Kind::Composite(_) => return None,
        _ => {}
    }
    let first_row = candidate.first_row && !(candidate.own_key_first && index == 0);
    let number = if first_row {
        1
    } else {
        1_000_003 + index as i64
    };
    let text = match ty.name() {
        "int2" => (if first_row { 1 } else { 30_001 + index as i64 }).to_string(),
        "int4" | "int8" | "numeric" | "float4" | "float8" | "oid" | "money" => number.to_string(),
        "bool" => "true".into(),
        // The row generator's uuid of row 1 is md5('1').
        "uuid" if first_row => "c4ca4238-a0b9-2382-0dcc-509a6f75849b".into(),
        "uuid" => format!("00000000-0000-4000-8000-{number:012}"),
        "date" => "2020-01-02".into(),
        "timestamp" | "timestamptz" => "2020-01-02 03:04:05".into(),
        "time" | "timetz" => "03:04:05".into(),
        "interval" => "1 second".into(),
        "json" | "jsonb" => "{}".into(),
        "bytea" => "\\x00".into(),
        "inet" | "cidr" => "10.0.0.1".into(),
        "macaddr" => "08:00:2b:01:02:03".into(),
        "tsvector" => "word".into(),
        "tsquery" => "word".into(),
        "xml" => "<r/>".into(),
        _ => match candidate.text {
            // The row generator's string of row 1.
            Text::FirstRow if first_row => "r1".into(),
            Text::FirstRow | Text::Long | Text::Short => {
                let length = if matches!(candidate.text, Text::Short) {
                    6
                } else {
                    40
                };
                let mut text = format!("v{}-", index + 1);
                while text.len() < length {
                    text.push('x');
                }
                text.truncate(length);
                text
            }
        },
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_follow_the_type_and_the_candidate() {
        let long = &CANDIDATES[0];
        let short = &CANDIDATES[6];
        assert_eq!(generated(&Type::INT4, 0, long).as_deref(), Some("1"));
        assert_eq!(generated(&Type::INT8, 2, short).as_deref(), Some("1000005"));
        assert_eq!(generated(&Type::INT2, 0, short).as_deref(), Some("30001"));
        assert_eq!(generated(&Type::VARCHAR, 1, long).unwrap().len(), 40);
        assert_eq!(generated(&Type::TEXT, 1, short).as_deref(), Some("v2-xxx"));
        assert_eq!(
            generated(&Type::TEXT, 1, &CANDIDATES[3]).as_deref(),
            Some("r1")
        );
        // An INSERT's own key new, its foreign keys the first row's.
        let own_key = &CANDIDATES[1];
        assert_eq!(
            generated(&Type::UUID, 0, own_key).as_deref(),
            Some("00000000-0000-4000-8000-000001000003")
        );
        assert_eq!(
            generated(&Type::UUID, 1, own_key).as_deref(),
            Some("c4ca4238-a0b9-2382-0dcc-509a6f75849b")
        );
        assert_eq!(generated(&Type::TEXT_ARRAY, 0, long).as_deref(), Some("{}"));
        assert_eq!(
            generated(&Type::UUID, 0, short).as_deref(),
            Some("00000000-0000-4000-8000-000001000003")
        );
        assert_eq!(
            generated(&Type::UUID, 0, long).as_deref(),
            Some("c4ca4238-a0b9-2382-0dcc-509a6f75849b")
        );
    }

    #[test]
    fn error_messages_name_what_they_are_about() {
        assert_eq!(names_in_message("column u.name does not exist"), ["name"]);
        assert_eq!(
            names_in_message("column \"name\" of relation \"users\" does not exist"),
            ["name", "users"]
        );
        assert_eq!(
            names_in_message("function lower(integer) does not exist"),
            ["lower"]
        );
        assert!(names_in_message("value too long for type character varying(10)").is_empty());
    }

    #[test]
    fn row_shape_names_what_came_and_went() {
        let before = vec![
            ("id".to_string(), "int4".to_string()),
            ("name".to_string(), "text".to_string()),
        ];
        let after = vec![
            ("id".to_string(), "int4".to_string()),
            ("full_name".to_string(), "text".to_string()),
        ];
        assert_eq!(changed_names(&before, &after), ["name", "full_name"]);
        assert_eq!(column_list(&before), "id int4, name text");
    }
}
