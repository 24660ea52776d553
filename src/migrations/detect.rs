//! Auto-detection, in one place: every format says what in the directory points at it
//! ([`FormatSpec::recognise`](super::FormatSpec::recognise)), and this module weighs the
//! evidence. The strongest kind present wins (a tool's annotation in a file over a tool's
//! marker file, over naming, over a hint); two formats with evidence of that kind are exit 2
//! listing both with the `--format` that picks each. With a format given, a file it would
//! read that carries another tool's annotation is refused: read as the wrong tool, a goose
//! file's down section would run as part of its up.

use super::{Evidence, Format, Listing, Settings, join_and, pattern};
use crate::error::InputError;

/// The format the directory follows; None when nothing looks like a migration.
pub(super) fn detect(listing: &Listing, settings: &Settings) -> Result<Option<Format>, InputError> {
    let mut claims: Vec<(Format, Evidence)> = Vec::new();
    for format in Format::ALL {
        if let Some(evidence) = format.recognise(listing, settings)? {
            claims.push((*format, evidence));
        }
    }
    let Some(strongest) = claims.iter().map(|(_, e)| e.strength).max() else {
        return Ok(None);
    };
    claims.retain(|(_, e)| e.strength == strongest);
    match claims.as_slice() {
        [(format, _)] => Ok(Some(*format)),
        several => Err(mixed(listing, several)),
    }
}

/// The error for two or more formats with equally strong evidence.
fn mixed(listing: &Listing, claims: &[(Format, Evidence)]) -> InputError {
    let count = match claims.len() {
        2 => "two".to_string(),
        3 => "three".to_string(),
        n => n.to_string(),
    };
    let names: Vec<&str> = claims.iter().map(|(f, _)| f.name()).collect();
    let examples: Vec<String> = claims
        .iter()
        .map(|(f, e)| match e.line {
            Some(line) => format!("{}:{line} is {f}", e.path.display()),
            None => format!("{} is {f}", e.path.display()),
        })
        .collect();
    let choices: Vec<String> = names.iter().map(|n| format!("--format {n}")).collect();
    InputError::new(
        &listing.dir,
        format!(
            "{count} migration layouts mixed in one directory: {} (e.g. {}); pass {}",
            join_and(&names),
            join_and(&examples),
            choices.join(" or ")
        ),
    )
}

/// With `format` given, refuses a file it would read as a migration that carries another
/// tool's annotation, at the annotation's line. A `pattern` layout is the user's own
/// description and is taken as written.
pub(super) fn check_not_claimed(
    listing: &Listing,
    format: Format,
    settings: &Settings,
) -> Result<(), InputError> {
    if format == pattern::FORMAT {
        return Ok(());
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
        if rel.is_some_and(|rel| format.is_migration_path(&rel, settings)) {
            return Err(InputError::at_line(
                &evidence.path,
                line,
                format!(
                    "{other} migration (its annotation is on this line) in a {format} \
                     migrations directory; read as {format}, its sections would run as one \
                     script. Move it, or pass --format {other}"
                ),
            ));
        }
    }
    Ok(())
}
