//! The prisma layout (work in progress).

use super::{Evidence, Format, FormatSpec, Found, Listing, Settings as AllSettings, Version};
use crate::error::InputError;

/// The prisma format.
pub const FORMAT: Format = Format::new(&Prisma);

/// prisma.
pub struct Prisma;

impl FormatSpec for Prisma {
    fn name(&self) -> &'static str {
        "prisma"
    }

    fn layout(&self) -> &'static str {
        "Prisma `<timestamp>_<name>/migration.sql` directories"
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
            "the prisma format is not implemented yet",
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
