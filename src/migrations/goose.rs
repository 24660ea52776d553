//! The goose layout (work in progress).

use super::{Evidence, Format, FormatSpec, Found, Listing, Settings as AllSettings, Version};
use crate::error::InputError;

/// The goose format.
pub const FORMAT: Format = Format::new(&Goose);

/// `[goose]` in `migration-check.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[goose.env]`: the only values `-- +goose ENVSUB ON` substitutes for `${VAR}`.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

/// goose.
pub struct Goose;

impl FormatSpec for Goose {
    fn name(&self) -> &'static str {
        "goose"
    }

    fn layout(&self) -> &'static str {
        "goose `<version>_<name>.sql` files with `-- +goose Up`"
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
            "the goose format is not implemented yet",
        ))
    }

    fn is_migration_path(&self, _rel: &str, _settings: &AllSettings) -> bool {
        false
    }

    fn version_of_path(&self, _rel: &str, _settings: &AllSettings) -> Option<Version> {
        None
    }

    fn transaction_rule(&self) -> &'static str {
        "unknown"
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
