//! A hand-rolled layout (work in progress).

use super::{Evidence, Format, FormatSpec, Found, Listing, Settings as AllSettings, Version};
use crate::error::InputError;

/// The pattern format.
pub const FORMAT: Format = Format::new(&Pattern);

/// `[pattern]` in `migration-check.toml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The up file, relative to the migrations directory: `{version}_{name}.sql`.
    pub up: String,
    /// The down file, when downs are separate files.
    pub down: Option<String>,
    /// The whole-line marker starting the up section of a single file.
    pub up_section: Option<String>,
    /// The whole-line marker starting the down section of a single file.
    pub down_section: Option<String>,
    /// `numeric` (default) or `lexical`.
    #[serde(default)]
    pub order: Order,
    /// Whether the runner wraps each script in a transaction (default true).
    #[serde(default = "default_transaction")]
    pub transaction: bool,
}

/// How versions are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Part by part as numbers.
    #[default]
    Numeric,
    /// As strings.
    Lexical,
}

fn default_transaction() -> bool {
    true
}

/// A hand-rolled layout.
pub struct Pattern;

impl FormatSpec for Pattern {
    fn name(&self) -> &'static str {
        "pattern"
    }

    fn layout(&self) -> &'static str {
        "a hand-rolled layout described in `[pattern]`"
    }

    fn recognise(
        &self,
        _listing: &Listing,
        _settings: &AllSettings,
    ) -> Result<Option<Evidence>, InputError> {
        Ok(None)
    }

    fn discover(&self, listing: &Listing, _settings: &AllSettings) -> Result<Found, InputError> {
        Err(InputError::new(
            &listing.dir,
            "the pattern format is not implemented yet",
        ))
    }

    fn is_migration_path(&self, _rel: &str, _settings: &AllSettings) -> bool {
        false
    }

    fn version_of_path(&self, _rel: &str, _settings: &AllSettings) -> Option<Version> {
        None
    }

    fn transaction_rule(&self) -> &'static str {
        "as `transaction` in `[pattern]` says (default: each script in its own transaction)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        None
    }

    fn template(&self, _version: &str, _name: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}
