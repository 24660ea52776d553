//! Flyway's file names. Whether a file is a versioned, undo or repeatable migration, a
//! callback, a Java migration or nothing to Flyway is decided by its name alone, with the
//! configurable prefixes, separator and suffixes (`ResourceNameParser`); detection, the path
//! checks of the format and discovery all read names through [`Naming::parse`], so the rule
//! is written once, here.

use crate::migrations::{KeyPart, Version};

/// The callback events of Flyway's `Event` enum: `<event>.sql` or `<event>__<name>.sql` files
/// are callbacks run around migrations, not migrations.
const CALLBACK_EVENTS: &[&str] = &[
    "beforeClean",
    "afterClean",
    "afterCleanError",
    "beforeMigrate",
    "beforeEachMigrate",
    "beforeEachMigrateStatement",
    "afterEachMigrateStatement",
    "afterEachMigrateStatementError",
    "afterEachMigrate",
    "afterEachMigrateError",
    "beforeRepeatables",
    "afterVersioned",
    "afterMigrateApplied",
    "afterMigrate",
    "afterMigrateError",
    "beforeUndo",
    "beforeEachUndo",
    "beforeEachUndoStatement",
    "afterEachUndoStatement",
    "afterEachUndoStatementError",
    "afterEachUndo",
    "afterEachUndoError",
    "afterUndo",
    "afterUndoError",
    "beforeValidate",
    "afterValidate",
    "afterValidateError",
    "beforeBaseline",
    "afterBaseline",
    "afterBaselineError",
    "beforeRepair",
    "afterRepair",
    "afterRepairError",
    "beforeInfo",
    "afterInfo",
    "afterInfoError",
    "afterMigrateOperationFinish",
    "afterInfoOperationFinish",
    "createSchema",
    "beforeCreateSchema",
    "beforeConnect",
    "afterConnect",
];

/// Endings of Java-based migrations (compiled or not, Java or Kotlin).
const JAVA_SUFFIXES: &[&str] = &[".java", ".class", ".kt"];

/// The three kinds of migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `V<version>__<description>.sql`.
    Versioned,
    /// `U<version>__<description>.sql`: the down of the versioned migration of that version.
    Undo,
    /// `R__<description>.sql`.
    Repeatable,
}

/// A migration file name, split as Flyway splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MigrationName {
    pub(super) kind: Kind,
    /// The version as written (empty for a repeatable migration).
    pub(super) version: String,
    /// The description as written, `_` not yet read as spaces.
    pub(super) description: String,
    /// The file name without its suffix.
    pub(super) stem: String,
    /// The length of the suffix matched (`.sql`).
    suffix_len: usize,
}

impl MigrationName {
    /// The migration's version: dotted as Flyway displays it, ordered by its numeric parts
    /// without trailing zero parts; a repeatable one by its description.
    pub(super) fn version(&self) -> Version {
        match self.kind {
            Kind::Repeatable => {
                Version::repeatable(&self.stem, &self.description.replace('_', " "))
            }
            Kind::Versioned | Kind::Undo => {
                let text = self.version.replace('_', ".");
                let mut key: Vec<KeyPart> = text.split('.').map(KeyPart::digits).collect();
                while key.len() > 1 && key.last() == Some(&KeyPart::digits("0")) {
                    key.pop();
                }
                Version::with_key(&text, key)
            }
        }
    }
}

/// What a file name is to Flyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileName {
    /// A migration.
    Migration(MigrationName),
    /// A SQL callback (`afterMigrate.sql`).
    Callback,
    /// A Java-based migration.
    Java,
    /// A SQL file with a migration prefix whose name does not parse, with Flyway's reason;
    /// `meant` when it looks like a migration (a version or the separator follows the
    /// prefix), so that skipping it would hide a typo.
    Invalid { reason: String, meant: bool },
    /// A SQL file that names no migration (`seed.sql`).
    OtherSql,
    /// Not a SQL file.
    Other,
}

/// File naming: Flyway's prefixes, separator and suffixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Naming {
    pub(super) versioned: String,
    pub(super) undo: String,
    pub(super) repeatable: String,
    pub(super) separator: String,
    pub(super) suffixes: Vec<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            versioned: "V".to_string(),
            undo: "U".to_string(),
            repeatable: "R".to_string(),
            separator: "__".to_string(),
            suffixes: vec![".sql".to_string()],
        }
    }
}

impl Naming {
    /// The prefix of a kind of migration.
    pub(super) fn prefix(&self, kind: Kind) -> &str {
        match kind {
            Kind::Versioned => &self.versioned,
            Kind::Undo => &self.undo,
            Kind::Repeatable => &self.repeatable,
        }
    }

    /// Classifies a file name as Flyway's `ResourceNameParser` does.
    pub(super) fn parse(&self, name: &str) -> FileName {
        let kinds = [Kind::Versioned, Kind::Undo, Kind::Repeatable];
        let migration_prefix = |stem: &str| {
            kinds
                .iter()
                .copied()
                .filter(|kind| !self.prefix(*kind).is_empty())
                .filter(|kind| stem.starts_with(self.prefix(*kind)))
                .max_by_key(|kind| self.prefix(*kind).len())
        };
        if let Some(stem) = JAVA_SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) {
            return match migration_prefix(stem) {
                Some(kind) if self.looks_meant(&stem[self.prefix(kind).len()..], kind) => {
                    FileName::Java
                }
                _ => FileName::Other,
            };
        }
        let lower = name.to_lowercase();
        let Some(suffix_len) = self
            .suffixes
            .iter()
            .find(|s| lower.ends_with(&s.to_lowercase()) && name.len() > s.len())
            .map(String::len)
        else {
            return FileName::Other;
        };
        let Some(stem) = name.get(..name.len() - suffix_len) else {
            return FileName::Other;
        };
        let callback = CALLBACK_EVENTS
            .iter()
            .filter(|event| stem.starts_with(**event))
            .map(|event| event.len())
            .max();
        let kind = migration_prefix(stem);
        let prefix_len = kind.map_or(0, |kind| self.prefix(kind).len());
        if callback.is_some_and(|len| len >= prefix_len) {
            return FileName::Callback;
        }
        let Some(kind) = kind else {
            return FileName::OtherSql;
        };
        let rest = &stem[prefix_len..];
        let (version, description) = rest
            .split_once(self.separator.as_str())
            .unwrap_or((rest, ""));
        let suffix = &name[name.len() - suffix_len..];
        let prefix = self.prefix(kind);
        let example = if description.is_empty() {
            "description"
        } else {
            description
        };
        let invalid = |reason: String| FileName::Invalid {
            reason,
            meant: self.looks_meant(rest, kind),
        };
        if kind == Kind::Repeatable {
            if !version.is_empty() {
                return invalid(format!(
                    "Invalid repeatable migration / callback name format: {name} (It cannot \
                     contain a version and should look like this: {prefix}{}{example}{suffix})",
                    self.separator
                ));
            }
        } else if version.is_empty() {
            return invalid(format!(
                "Invalid versioned migration name format: {name} (It must contain a version \
                 and should look like this: {prefix}1.2{}{example}{suffix})",
                self.separator
            ));
        } else if !is_valid_version(version) {
            return invalid(format!(
                "Invalid versioned migration name format: {name} (could not recognise version \
                 number {version})"
            ));
        }
        FileName::Migration(MigrationName {
            kind,
            version: version.to_string(),
            description: description.to_string(),
            stem: stem.to_string(),
            suffix_len,
        })
    }

    /// Whether what follows a migration prefix looks meant as a migration name: a digit (a
    /// version) or the separator follows it, or the separator appears.
    fn looks_meant(&self, rest: &str, kind: Kind) -> bool {
        rest.contains(self.separator.as_str())
            || (kind != Kind::Repeatable && rest.starts_with(|c: char| c.is_ascii_digit()))
    }
}

/// Whether Flyway reads `version` as a version: parts of digits separated by `.` or `_`.
fn is_valid_version(version: &str) -> bool {
    version
        .split(['.', '_'])
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::flyway::FORMAT;
    use crate::migrations::test_util::{discover, tempdir, versions, write};

    #[test]
    fn versions_are_numeric_parts_with_underscores_as_dots() {
        let t = tempdir();
        for name in [
            "V1_10__ten.sql",
            "V1_9__nine.sql",
            "V1.2__two.sql",
            "V2__b.sql",
            "V10__c.sql",
            "V123456789012345678901234567890__huge.sql",
            "V1__first.SQL",
            "R__views.sql",
            "R__a_functions.sql",
        ] {
            write(t.path(), name, "select 1;");
        }
        let d = discover(t.path(), None).unwrap();
        assert_eq!(d.format(), FORMAT);
        assert_eq!(
            versions(&d),
            [
                "1",
                "1.2",
                "1.9",
                "1.10",
                "2",
                "10",
                "123456789012345678901234567890",
                "R__a_functions",
                "R__views"
            ]
        );
        assert!(d.migrations[7].version.is_repeatable());
        assert_eq!(d.migrations[3].name, "ten");
        assert!(d.migrations.iter().all(|m| m.down.is_none()));
    }

    #[test]
    fn trailing_zero_parts_do_not_count() {
        let v = |name: &str| match Naming::default().parse(name) {
            FileName::Migration(n) => n.version(),
            other => panic!("{other:?}"),
        };
        assert!(v("V1__a.sql").same_key(&v("V1.0__b.sql")));
        assert!(v("V1__a.sql").same_key(&v("V1_0_0__b.sql")));
        assert!(v("V01__a.sql").same_key(&v("V1__b.sql")));
        assert!(!v("V1__a.sql").same_key(&v("V1.0.1__b.sql")));
        assert!(v("V0__a.sql") < v("V0.1__a.sql"));
        assert_eq!(v("V1_0__a.sql").text, "1.0");
    }

    #[test]
    fn naming_rules() {
        let n = Naming::default();
        let kind = |name: &str| match n.parse(name) {
            FileName::Migration(m) => format!("{:?} {} {}", m.kind, m.version, m.description),
            FileName::Invalid { meant, .. } => format!("invalid meant={meant}"),
            other => format!("{other:?}"),
        };
        assert_eq!(kind("V1__a_b.sql"), "Versioned 1 a_b");
        assert_eq!(kind("V1.sql"), "Versioned 1 ");
        assert_eq!(kind("V1__a__b.sql"), "Versioned 1 a__b");
        assert_eq!(kind("U1__a.sql"), "Undo 1 a");
        assert_eq!(kind("R__a.sql"), "Repeatable  a");
        // Prefixes are case-sensitive, the suffix is not.
        assert_eq!(kind("v1__a.sql"), "OtherSql");
        assert_eq!(kind("V1__a.Sql"), "Versioned 1 a");
        assert_eq!(kind("V1_a.sql"), "invalid meant=true");
        assert_eq!(kind("V__a.sql"), "invalid meant=true");
        assert_eq!(kind("R1__a.sql"), "invalid meant=true");
        assert_eq!(kind("Views.sql"), "invalid meant=false");
        assert_eq!(kind("README.sql"), "invalid meant=false");
        assert_eq!(kind("seed.sql"), "OtherSql");
        assert_eq!(kind("afterMigrate.sql"), "Callback");
        assert_eq!(kind("beforeEachMigrate__grants.sql"), "Callback");
        assert_eq!(kind("V57__readme.md"), "Other");
        assert_eq!(kind("V1__Init.java"), "Java");
        assert_eq!(kind("V44_3_BackfillJobs.java"), "Java");
        assert_eq!(kind("R__Views.class"), "Java");
        assert_eq!(kind("Vendor.java"), "Other");
        assert_eq!(kind(".sql"), "Other");
    }
}
