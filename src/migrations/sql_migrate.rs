//! The sql-migrate layout (work in progress).

use super::{Evidence, Format, FormatSpec, Found, Listing, Settings as AllSettings, Version};
use crate::error::InputError;

/// The sql-migrate format.
pub const FORMAT: Format = Format::new(&SqlMigrate);

/// sql-migrate.
pub struct SqlMigrate;

impl FormatSpec for SqlMigrate {
    fn name(&self) -> &'static str {
        "sql-migrate"
    }

    fn layout(&self) -> &'static str {
        "sql-migrate `<name>.sql` files with `-- +migrate Up`"
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
            "the sql-migrate format is not implemented yet",
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
