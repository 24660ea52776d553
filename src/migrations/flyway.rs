//! The flyway layout (work in progress).

use super::{Evidence, Format, FormatSpec, Found, Listing, Settings as AllSettings, Version};
use crate::error::InputError;

/// The flyway format.
pub const FORMAT: Format = Format::new(&Flyway);

/// `[flyway]` in `migration-check.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[flyway.placeholders]`: values for `${name}` (names case-insensitive, as Flyway).
    #[serde(default)]
    pub placeholders: std::collections::BTreeMap<String, String>,
}

/// flyway.
pub struct Flyway;

impl FormatSpec for Flyway {
    fn name(&self) -> &'static str {
        "flyway"
    }

    fn layout(&self) -> &'static str {
        "Flyway `V<version>__<description>.sql` files"
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
            "the flyway format is not implemented yet",
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
