//! The golang-migrate layout: `<version>_<name>.up.sql` with `<version>_<name>.down.sql`,
//! versions ordered numerically within `u64`, no simple files. golang-migrate runs each file
//! as written, without a transaction of its own, so such files often carry their own
//! `BEGIN`/`COMMIT`. The pairs are sqlx's naming, read by [`sqlx::discover_pairs`]; when
//! auto-detected they are read as sqlx, so this format is only ever chosen by name.

use super::sqlx::{self, discover_pairs, pair_template};
use super::{Evidence, Format, FormatSpec, Found, Listing, Settings, Version};
use crate::error::InputError;

/// The golang-migrate format.
pub const FORMAT: Format = Format::new(&GolangMigrate);

/// golang-migrate (`migrate`).
pub struct GolangMigrate;

impl FormatSpec for GolangMigrate {
    fn name(&self) -> &'static str {
        "golang-migrate"
    }

    fn layout(&self) -> &'static str {
        "golang-migrate `<version>_<name>.up.sql`/`.down.sql` pairs"
    }

    /// Never claimed by detection: its pairs are sqlx's, and read as sqlx.
    fn recognise(
        &self,
        _listing: &Listing,
        _settings: &Settings,
    ) -> Result<Option<Evidence>, InputError> {
        Ok(None)
    }

    fn discover(&self, listing: &Listing, _settings: &Settings) -> Result<Found, InputError> {
        discover_pairs(listing, true).map(Found::from)
    }

    fn is_migration_path(&self, rel: &str, _settings: &Settings) -> bool {
        sqlx::is_top_level_sql(rel)
    }

    fn version_of_path(&self, rel: &str, _settings: &Settings) -> Option<Version> {
        sqlx::version_of_path(rel, true)
    }

    fn transaction_rule(&self) -> &'static str {
        "none: each file runs as written (files often hold their own BEGIN/COMMIT)"
    }

    fn no_transaction_marker(&self) -> Option<&'static str> {
        None
    }

    fn history_table(&self) -> Option<&'static str> {
        Some("schema_migrations")
    }

    fn template(&self, version: &str, name: &str) -> Vec<(String, String)> {
        pair_template(version, name)
    }
}
