//! Auto-detection, in one place. Every format says what in the directory points at it
//! ([`FormatSpec::recognise`](super::FormatSpec::recognise)), the project around the
//! directory says which tools it depends on ([`super::project`]), and this module weighs
//! them, in this order:
//! 1. a layout the configuration describes (`[pattern]`) is the layout;
//! 2. the project decides between the formats the directory could be: the nearest manifests
//!    first (the directory's own and its ancestors' up to the repository root), then those of
//!    the repository's top-level members;
//! 3. else the directory alone: the strongest kind of evidence wins (a tool's annotation in
//!    its files over a marker file, over naming, over a hint), where an annotation counts only
//!    when most files carry it (one comment never outweighs hundreds of files);
//! 4. where only naming decides and several tools share it (sqlx and golang-migrate pairs),
//!    the first in the registry is read and the [`Detection`] says what was assumed and what
//!    differs, so the choice is never silent.
//!
//! With a format given, a file it reads that carries another tool's annotation is a warning
//! naming the line, or an error when reading it as the given tool would run another tool's
//! sections as one script.

use std::path::Path;

use super::project::{Nearness, ToolEvidence, relative};
use super::{Evidence, Format, Listing, Settings, Strength, join_and, pattern};
use crate::error::InputError;

/// How a format was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// `--format` or `[verify] format`.
    Given,
    /// `[pattern]` in migration-check.toml describes the layout.
    Configured,
    /// The project's manifests or tool configuration named the tool.
    Project,
    /// The directory's own files.
    Directory,
    /// Only naming several tools share decided: the first of them was taken.
    Assumed,
}

/// A format detection considered and did not take.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Alternative {
    pub format: String,
    /// What pointed at it (file or file:line).
    pub evidence: String,
    /// Why it lost.
    pub why_not: String,
}

/// The format a directory is read as, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detection {
    #[serde(serialize_with = "name")]
    pub format: Format,
    pub basis: Basis,
    /// What decided, in words (`go.mod:5 requires github.com/golang-migrate/migrate/v4`).
    pub evidence: Vec<String>,
    /// Formats considered that lost, each with why.
    pub alternatives: Vec<Alternative>,
    /// For [`Basis::Assumed`]: what was assumed, what differs, and how to choose otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumption: Option<String>,
    /// Files that look like another tool's (a marker in a file the format reads as a
    /// comment), at their line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn name<S: serde::Serializer>(format: &Format, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(format.name())
}

impl Detection {
    /// The format as given, with nothing to weigh.
    pub fn given(format: Format) -> Detection {
        Detection {
            format,
            basis: Basis::Given,
            evidence: Vec::new(),
            alternatives: Vec::new(),
            assumption: None,
            warnings: Vec::new(),
        }
    }

    /// One line for the terminal: the format and what decided it.
    pub fn summary(&self) -> String {
        let why = match self.basis {
            Basis::Given => "as given".to_string(),
            Basis::Configured => "described by [pattern]".to_string(),
            Basis::Project => format!("project: {}", self.evidence.join("; ")),
            Basis::Directory => format!("directory: {}", self.evidence.join("; ")),
            Basis::Assumed => format!(
                "assumed from naming alone: {}",
                self.assumption.as_deref().unwrap_or_default()
            ),
        };
        format!("format: {} ({why})", self.format)
    }
}

/// One format's claim on the directory.
struct Claim {
    format: Format,
    evidence: Evidence,
    /// Why an annotation was demoted, when it was.
    demoted: Option<String>,
}

/// The format the directory follows; None when nothing looks like a migration of a tool we
/// read (a tool the project names that we do not read is an error that says how to read it).
pub(super) fn detect(
    listing: &Listing,
    settings: &Settings,
) -> Result<Option<Detection>, InputError> {
    let mut claims: Vec<Claim> = Vec::new();
    for format in Format::ALL {
        if let Some(evidence) = format.recognise(listing, settings)? {
            claims.push(Claim {
                format: *format,
                evidence,
                demoted: None,
            });
        }
    }
    let base = &listing.dir;
    if let Some(configured) = claims.iter().find(|c| c.format == pattern::FORMAT) {
        let alternatives = losers(&claims, configured.format, base, |_| {
            "[pattern] in migration-check.toml describes this directory".into()
        });
        return Ok(Some(Detection {
            format: configured.format,
            basis: Basis::Configured,
            evidence: vec!["[pattern] in migration-check.toml".into()],
            alternatives,
            assumption: None,
            warnings: Vec::new(),
        }));
    }
    demote_thin_annotations(listing, &mut claims);
    if claims.is_empty() {
        return unread_tool(listing).map_or(Ok(None), Err);
    }
    let project = listing.project();
    let plausible = |c: &&Claim| c.evidence.strength >= Strength::Naming;
    for nearness in [Nearness::Ancestor, Nearness::Member] {
        let backed: Vec<(&Claim, &ToolEvidence)> = claims
            .iter()
            .filter(plausible)
            .filter_map(|claim| {
                project
                    .evidence
                    .iter()
                    .find(|e| e.nearness == nearness && e.tool == claim.format.name())
                    .map(|evidence| (claim, evidence))
            })
            .collect();
        let Some(strongest) = backed.iter().map(|(c, _)| c.evidence.strength).max() else {
            continue;
        };
        let top: Vec<&(&Claim, &ToolEvidence)> = backed
            .iter()
            .filter(|(c, _)| c.evidence.strength == strongest)
            .collect();
        if let [(chosen, evidence)] = top.as_slice() {
            let root = repository_base(base);
            let alternatives = losers(&claims, chosen.format, base, |claim| {
                match project.names(claim.format.name()) {
                    Some(_) if claim.evidence.strength < strongest => format!(
                        "the project names it too, but the directory's evidence is weaker ({})",
                        strength_words(claim.evidence.strength)
                    ),
                    Some(_) => "the project names it less near the directory".into(),
                    None => format!("the project does not name {}", claim.format),
                }
            });
            return Ok(Some(Detection {
                format: chosen.format,
                basis: Basis::Project,
                evidence: vec![evidence.describe(&root)],
                alternatives,
                assumption: None,
                warnings: Vec::new(),
            }));
        }
        if top.len() > 1 {
            let claims: Vec<&Claim> = top.iter().map(|(c, _)| *c).collect();
            return Err(mixed(
                listing,
                settings,
                &claims,
                "and the project names each of them",
            ));
        }
    }
    let strongest = claims
        .iter()
        .map(|c| c.evidence.strength)
        .max()
        .expect("claims is not empty");
    // The project names a tool we do not read, and the directory only looks like another
    // tool's by naming: the project's tool it is (a Supabase `<timestamp>_<name>.sql` is not
    // sqlx's).
    if strongest <= Strength::Naming
        && let Some(unread) = unread_tool(listing)
    {
        return Err(unread);
    }
    if strongest == Strength::Hint {
        // Hints alone: the one the project names, else a layout's broken shape (a diesel
        // directory without up.sql), never a comment that reads like a marker.
        let named = claims
            .iter()
            .find(|c| project.names(c.format.name()).is_some());
        if named.is_none()
            && let Some(shape) = claims.iter().find(|c| c.demoted.is_none())
        {
            return Ok(Some(Detection {
                format: shape.format,
                basis: Basis::Directory,
                evidence: vec![describe(&shape.evidence, base)],
                alternatives: losers(&claims, shape.format, base, |_| "only a hint".into()),
                assumption: None,
                warnings: Vec::new(),
            }));
        }
        return match named {
            Some(claim) => Ok(Some(Detection {
                format: claim.format,
                basis: Basis::Project,
                evidence: vec![
                    project
                        .names(claim.format.name())
                        .expect("found above")
                        .describe(&repository_base(base)),
                ],
                alternatives: losers(&claims, claim.format, base, |_| {
                    "only a hint, and the project does not name it".into()
                }),
                assumption: None,
                warnings: Vec::new(),
            })),
            None => unread_tool(listing).map_or(Ok(None), Err),
        };
    }
    let top: Vec<&Claim> = claims
        .iter()
        .filter(|c| c.evidence.strength == strongest)
        .collect();
    let chosen = top[0];
    let weaker = |claim: &Claim| match &claim.demoted {
        Some(why) => why.clone(),
        None => format!(
            "weaker evidence ({} against {})",
            strength_words(claim.evidence.strength),
            strength_words(strongest)
        ),
    };
    if top.len() == 1 {
        return Ok(Some(Detection {
            format: chosen.format,
            basis: Basis::Directory,
            evidence: vec![describe(&chosen.evidence, base)],
            alternatives: losers(&claims, chosen.format, base, weaker),
            assumption: None,
            warnings: Vec::new(),
        }));
    }
    if strongest > Strength::Naming || !read_the_same_files(listing, settings, &top) {
        return Err(mixed(
            listing,
            settings,
            &top,
            "and nothing in the directory or the project tells them apart",
        ));
    }
    // Only naming, shared: the first in the registry, and say so.
    let others: Vec<&Claim> = top[1..].to_vec();
    let assumption = format!(
        "read as {}: {}; {}",
        chosen.format,
        chosen.format.transaction_rule(),
        others
            .iter()
            .map(|o| format!(
                "if this is {} ({}), pass --format {}",
                o.format,
                o.format.transaction_rule(),
                o.format
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let alternatives = losers(&claims, chosen.format, base, |claim| {
        if top.iter().any(|t| t.format == claim.format) {
            format!(
                "its file names are {}'s too, and nothing in the project names either",
                chosen.format
            )
        } else {
            weaker(claim)
        }
    });
    Ok(Some(Detection {
        format: chosen.format,
        basis: Basis::Assumed,
        evidence: vec![describe(&chosen.evidence, base)],
        alternatives,
        assumption: Some(assumption),
        warnings: Vec::new(),
    }))
}

/// Whether the formats read the same files, as tools sharing a naming do (sqlx and
/// golang-migrate pairs): every two of them read some file in common. Formats that read
/// different entries (sqlx files beside diesel directories) are layouts mixed in one
/// directory, not one layout of two tools.
fn read_the_same_files(listing: &Listing, settings: &Settings, claims: &[&Claim]) -> bool {
    let read: Vec<Vec<&str>> = claims
        .iter()
        .map(|claim| read_files(listing, settings, claim.format))
        .collect();
    read.iter().enumerate().all(|(i, a)| {
        read[i + 1..]
            .iter()
            .all(|b| a.iter().any(|rel| b.contains(rel)))
    })
}

/// An annotation in fewer than half of the directory's `.sql` files is not the directory's
/// tool: a comment that reads like one (`-- Down migration is a no-op`) is a hint at most.
fn demote_thin_annotations(listing: &Listing, claims: &mut [Claim]) {
    let sql_files = listing
        .top_files()
        .filter(|e| super::sqlx::is_top_level_sql(&e.rel))
        .count();
    for claim in claims.iter_mut() {
        let evidence = &mut claim.evidence;
        if evidence.strength == Strength::Annotation && evidence.support * 2 < sql_files {
            claim.demoted = Some(format!(
                "only {} of the {sql_files} .sql files carry its annotation",
                evidence.support
            ));
            evidence.strength = Strength::Hint;
        }
    }
}

/// The claims other than `chosen`, each with why it lost.
fn losers(
    claims: &[Claim],
    chosen: Format,
    base: &Path,
    why_not: impl Fn(&Claim) -> String,
) -> Vec<Alternative> {
    claims
        .iter()
        .filter(|c| c.format != chosen)
        .map(|claim| Alternative {
            format: claim.format.name().to_string(),
            evidence: describe(&claim.evidence, base),
            why_not: why_not(claim),
        })
        .collect()
}

/// `path[:line]` relative to the migrations directory, and how many entries carry it.
fn describe(evidence: &Evidence, base: &Path) -> String {
    let path = relative(&evidence.path, base);
    // The directory itself (the Supabase CLI's `supabase/migrations`): as it was given.
    let path = if path.is_empty() {
        base.display().to_string()
    } else {
        path
    };
    let at = match evidence.line {
        Some(line) => format!("{path}:{line}"),
        None => path,
    };
    match evidence.support {
        0 | 1 => format!("{at} ({})", strength_words(evidence.strength)),
        n => format!(
            "{at} and {} more ({})",
            n - 1,
            strength_words(evidence.strength)
        ),
    }
}

fn strength_words(strength: Strength) -> &'static str {
    match strength {
        Strength::Hint => "a hint",
        Strength::Naming => "file naming",
        Strength::Marker => "a file or directory only this tool uses",
        Strength::Annotation => "the tool's annotation",
    }
}

/// The directory manifests are shown relative to: the repository root where there is one.
fn repository_base(dir: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&absolute)
        .to_path_buf()
}

/// The error for two or more formats that nothing tells apart. A format whose files the
/// formats listed before it read (golang-migrate's pairs beside sqlx's) is not listed again.
fn mixed(listing: &Listing, settings: &Settings, claims: &[&Claim], because: &str) -> InputError {
    let read: Vec<Vec<&str>> = claims
        .iter()
        .map(|claim| read_files(listing, settings, claim.format))
        .collect();
    // Each format whose files the formats listed before it read already is left out.
    let mut covered: Vec<&str> = Vec::new();
    let mut shown: Vec<&Claim> = Vec::new();
    for (claim, files) in claims.iter().zip(&read) {
        if shown.is_empty() || files.is_empty() || !files.iter().all(|f| covered.contains(f)) {
            shown.push(claim);
            covered.extend(files);
        }
    }
    if let [only] = shown.as_slice() {
        // Every claim reads the same files: one layout that several tools name alike.
        let names: Vec<&str> = claims.iter().map(|c| c.format.name()).collect();
        let choices: Vec<String> = names.iter().map(|n| format!("--format {n}")).collect();
        let path = relative(&only.evidence.path, &listing.dir);
        return InputError::new(
            &listing.dir,
            format!(
                "{} read these files alike ({path} is one) {because}; their transaction and \
                 history rules differ: pass {}",
                join_and(&names),
                choices.join(" or ")
            ),
        );
    }
    let names: Vec<&str> = shown.iter().map(|c| c.format.name()).collect();
    let examples: Vec<String> = shown
        .iter()
        .map(|c| {
            let path = relative(&c.evidence.path, &listing.dir);
            match c.evidence.line {
                Some(line) => format!("{path}:{line} is {}", c.format),
                None => format!("{path} is {}", c.format),
            }
        })
        .collect();
    let choices: Vec<String> = names.iter().map(|n| format!("--format {n}")).collect();
    InputError::new(
        &listing.dir,
        format!(
            "{} migration layouts in one directory, {because}: {} (e.g. {}); pass {}",
            match shown.len() {
                2 => "two".to_string(),
                3 => "three".to_string(),
                n => n.to_string(),
            },
            join_and(&names),
            examples.join(", "),
            choices.join(" or ")
        ),
    )
}

/// The files `format` reads in the listing (relative paths).
fn read_files<'l>(listing: &'l Listing, settings: &Settings, format: Format) -> Vec<&'l str> {
    listing
        .files()
        .map(|e| e.rel.as_str())
        .filter(|rel| format.is_migration_path(rel, settings))
        .collect()
}

/// A tool the project names that no format reads: the error saying how to read it.
fn unread_tool(listing: &Listing) -> Option<InputError> {
    let evidence = listing.project().evidence.iter().find(|e| {
        e.nearness == Nearness::Ancestor && !Format::ALL.iter().any(|f| f.name() == e.tool)
    })?;
    let recipe = recipe(evidence.tool)?;
    Some(InputError::new(
        &listing.dir,
        format!(
            "the project uses {tool} ({}), and migration-check does not read {tool}'s files \
             itself: it can run {tool} one step at a time. Add to migration-check.toml:\n\n\
             [verify]\nformat = \"command\"\n\n[command]\n{recipe}\n\n\
             (README: \"Formats\", recipes for other tools)",
            evidence.describe(&repository_base(&listing.dir)),
            tool = evidence.tool,
        ),
    ))
}

/// The `[command]` lines that run a tool we do not read, relative to its directory.
fn recipe(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "alembic" => {
            "migrations = \"*.py\"\nup = [\"alembic\", \"upgrade\", \"+1\"]\n\
             down = [\"alembic\", \"downgrade\", \"-1\"]\nbookkeeping = [\"alembic_version\"]"
        }
        "db-migrate" => {
            "migrations = \"*.js\"\nup = [\"npx\", \"db-migrate\", \"up\", \"-c\", \"1\"]\n\
             down = [\"npx\", \"db-migrate\", \"down\", \"-c\", \"1\"]\nbookkeeping = [\"migrations\"]"
        }
        "kysely" => {
            "migrations = \"*.ts\"\nup = [\"npx\", \"kysely\", \"migrate:up\"]\n\
             down = [\"npx\", \"kysely\", \"migrate:down\"]\n\
             bookkeeping = [\"kysely_migration\", \"kysely_migration_lock\"]"
        }
        "postgres-migrations" => {
            "migrations = \"*.sql\"\nup = [\"node\", \"migrate.js\"]   # your script calling migrate()\n\
             bookkeeping = [\"migrations\"]"
        }
        "sea-orm" => {
            "migrations = \"src/m*.rs\"\nup = [\"cargo\", \"run\", \"--\", \"up\", \"-n\", \"1\"]\n\
             down = [\"cargo\", \"run\", \"--\", \"down\", \"-n\", \"1\"]\n\
             bookkeeping = [\"seaql_migrations\"]"
        }
        "umzug" => {
            "migrations = \"*.js\"\nup = [\"node\", \"migrate.js\", \"up\", \"--step\", \"1\"]\n\
             down = [\"node\", \"migrate.js\", \"down\"]\nbookkeeping = [\"SequelizeMeta\"]"
        }
        _ => return None,
    })
}

/// With `format` given: a file it reads that carries another tool's annotation. Read as the
/// given tool it is a comment: a warning at its line, unless the other tool would split the
/// file into an up and a down that both hold SQL, which the given tool would run as one
/// script: then an error saying so.
pub(super) fn check_given(
    listing: &Listing,
    format: Format,
    settings: &Settings,
) -> Result<Detection, InputError> {
    let mut detection = Detection::given(format);
    if format == pattern::FORMAT {
        return Ok(detection);
    }
    for other in Format::ALL.iter().filter(|f| **f != format) {
        let Some(evidence) = other.recognise(listing, settings)? else {
            continue;
        };
        let Some(line) = evidence.line else {
            continue;
        };
        let rel = evidence
            .path
            .strip_prefix(&listing.dir)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace(std::path::MAIN_SEPARATOR, "/"));
        let Some(rel) = rel.filter(|rel| format.is_migration_path(rel, settings)) else {
            continue;
        };
        let text = listing.get(&rel).map(|e| e.text()).transpose()?;
        let splits = text.is_some_and(|text| {
            other
                .down_section_start(&text.sql)
                .is_some_and(|at| has_code(&text.sql[..at]) && has_code(&text.sql[at..]))
        });
        if splits && !format.reads_sections() {
            return Err(InputError::at_line(
                &evidence.path,
                line,
                format!(
                    "{other} migration (its annotation is on this line) in a {format} \
                     migrations directory: {other} would run its up and down sections \
                     apart, {format} runs the whole file as one script. Move it, or pass \
                     --format {other}"
                ),
            ));
        }
        detection.warnings.push(format!(
            "{}:{line}: reads like {other}'s annotation; read as {format}, it is a comment",
            evidence.path.display()
        ));
    }
    Ok(detection)
}

/// Whether `sql` holds a statement (not only comments and whitespace).
fn has_code(sql: &str) -> bool {
    super::lexer::split_statements(sql)
        .iter()
        .any(|statement| !statement.is_empty())
}
