//! What fails the check and what only warns: the severities and rules that `config` builds
//! from flags, `migration-check.toml` and Action inputs, and that `verify`, `checksum` and
//! the lock analysis apply. Plain values with no I/O and no dependency on any other module,
//! so every layer can name them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How much a problem matters under the active policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// The sorts of difference a severity policy can treat differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// A column at another position among its table's live columns
    /// (typically re-added at the end): queries by name are unaffected.
    ColumnPosition,
    /// A default written another way that means the same
    /// (`CURRENT_TIMESTAMP` vs `now()`).
    DefaultSpelling,
    /// Text that differs only in its line endings (a function restored by a down file
    /// saved with CRLF, where the up's was LF): the code runs the same.
    LineEndings,
    /// A comment added, removed or changed.
    Comment,
    /// Privileges (ACLs) differ.
    Privilege,
    /// The owner differs.
    Owner,
    /// Rows of a small table differ (reference data left behind).
    Data,
    /// Anything else: an object added, removed or defined differently.
    Definition,
}

impl DifferenceKind {
    /// Every kind, in policy order.
    pub const ALL: [DifferenceKind; 8] = [
        DifferenceKind::ColumnPosition,
        DifferenceKind::DefaultSpelling,
        DifferenceKind::LineEndings,
        DifferenceKind::Comment,
        DifferenceKind::Privilege,
        DifferenceKind::Owner,
        DifferenceKind::Data,
        DifferenceKind::Definition,
    ];

    /// The snake_case name used in configuration, flags and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::ColumnPosition => "column_position",
            DifferenceKind::DefaultSpelling => "default_spelling",
            DifferenceKind::LineEndings => "line_endings",
            DifferenceKind::Comment => "comment",
            DifferenceKind::Privilege => "privilege",
            DifferenceKind::Owner => "owner",
            DifferenceKind::Data => "data",
            DifferenceKind::Definition => "definition",
        }
    }
}

/// What a rule's findings do to the check: `[locks]` in `migration-check.toml`,
/// `--fail-on-lock RULE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Fails the check (unless the statement allows the rule).
    Error,
    /// Shown; the check passes. The default: the check informs, teams raise what they
    /// care about.
    #[default]
    Warning,
    /// Not reported.
    Off,
}

/// The level of each rule (rules not listed are warnings).
pub type LockPolicy = BTreeMap<String, Level>;

/// How a gated change is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateLevel {
    /// Fails the check.
    Error,
    /// Reported, does not fail the check.
    Warning,
    /// Not reported.
    Ignore,
}

impl GateLevel {
    /// The level's name in configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            GateLevel::Error => "error",
            GateLevel::Warning => "warning",
            GateLevel::Ignore => "ignore",
        }
    }

    /// The less severe of two levels.
    pub fn lower(self, other: GateLevel) -> GateLevel {
        let rank = |level| match level {
            GateLevel::Error => 2,
            GateLevel::Warning => 1,
            GateLevel::Ignore => 0,
        };
        if rank(other) < rank(self) {
            other
        } else {
            self
        }
    }
}

/// The level of each kind of change to a merged migration (`[checksums]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gates {
    /// A merged file's content changed (default error).
    pub modified: GateLevel,
    /// A merged file was removed (default error).
    pub deleted: GateLevel,
    /// A new migration's version is not above the base's highest (default error).
    pub out_of_order: GateLevel,
    /// A merged file moved with its content unchanged (default warning).
    pub renamed: GateLevel,
    /// A modification of whitespace or line endings only (default error): it counts like
    /// `modified` unless set lower, so the lower of the two applies.
    pub whitespace_only: GateLevel,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            modified: GateLevel::Error,
            deleted: GateLevel::Error,
            out_of_order: GateLevel::Error,
            renamed: GateLevel::Warning,
            whitespace_only: GateLevel::Error,
        }
    }
}

/// What fails the check and what only warns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// A migration without a down script.
    pub irreversible: IrreversibleRule,
    /// Per sort of schema difference; kinds not listed are errors.
    pub differences: BTreeMap<DifferenceKind, Severity>,
    /// Per lock rule; rules not listed are warnings.
    pub locks: LockPolicy,
    /// `[locks] max_blocking`: a finding whose estimated blocking time at production's size
    /// exceeds it is an error (needs production's statistics).
    pub max_blocking: Option<std::time::Duration>,
    /// What the running code meeting the changed schema is (`[compat]`).
    pub compat: CompatPolicy,
}

/// Which code meets which schema while a change is deployed: `[compat] order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployOrder {
    /// The migrations run first, while the old code still serves: the old code meets the
    /// new schema (the deploy window).
    #[default]
    MigrationsFirst,
    /// The new code ships first: it meets the schema before the migrations, so the deploy
    /// window judges the new code on the base schema instead.
    CodeFirst,
}

impl DeployOrder {
    /// Every order's name, as configuration and flags spell it.
    pub const NAMES: [&'static str; 2] = ["migrations-first", "code-first"];

    /// The order called `name`.
    pub fn parse(name: &str) -> Option<DeployOrder> {
        match name {
            "migrations-first" => Some(DeployOrder::MigrationsFirst),
            "code-first" => Some(DeployOrder::CodeFirst),
            _ => None,
        }
    }

    /// The name configuration and flags use.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployOrder::MigrationsFirst => "migrations-first",
            DeployOrder::CodeFirst => "code-first",
        }
    }
}

/// What a statement of the running code that breaks on the changed schema is, per window:
/// `[compat] deploy`, `rollback`, `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompatPolicy {
    /// The code that runs while the change deploys meets the schema it was not written
    /// for (default error).
    pub deploy: Level,
    /// The new code meets the schema after the change's downs (default warning).
    pub rollback: Level,
    /// Which ships first, the migrations or the code.
    pub order: DeployOrder,
}

impl Default for CompatPolicy {
    fn default() -> Self {
        CompatPolicy {
            deploy: Level::Error,
            rollback: Level::Warning,
            order: DeployOrder::MigrationsFirst,
        }
    }
}

impl Level {
    /// Every level's name, as configuration and flags spell it.
    pub const NAMES: [&'static str; 3] = ["error", "warning", "off"];

    /// The level called `name`.
    pub fn parse(name: &str) -> Option<Level> {
        match name {
            "error" => Some(Level::Error),
            "warning" => Some(Level::Warning),
            "off" => Some(Level::Off),
            _ => None,
        }
    }

    /// The severity of a finding at this level (`None`: not reported).
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Error => Some(Severity::Error),
            Level::Warning => Some(Severity::Warning),
            Level::Off => None,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            irreversible: IrreversibleRule::Auto,
            differences: BTreeMap::from([
                (DifferenceKind::ColumnPosition, Severity::Warning),
                (DifferenceKind::DefaultSpelling, Severity::Warning),
                (DifferenceKind::LineEndings, Severity::Warning),
            ]),
            locks: LockPolicy::new(),
            max_blocking: None,
            compat: CompatPolicy::default(),
        }
    }
}

impl Policy {
    /// The severity of a difference of this kind.
    pub fn severity(&self, kind: DifferenceKind) -> Severity {
        self.differences
            .get(&kind)
            .copied()
            .unwrap_or(Severity::Error)
    }
}

/// What a migration without a down script is: `[policy] irreversible`, `--irreversible`,
/// the Action input `irreversible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IrreversibleRule {
    /// By the project's convention: an error when most of the directory's other
    /// migrations have a down (the project writes them), a warning in up-only projects.
    #[default]
    Auto,
    /// Always an error.
    Error,
    /// Always a warning.
    Warning,
}

impl IrreversibleRule {
    /// Every rule's name, as configuration and flags spell it.
    pub const NAMES: [&'static str; 3] = ["auto", "error", "warning"];

    /// The rule called `name` (`auto`, `error`, `warning`).
    pub fn parse(name: &str) -> Option<IrreversibleRule> {
        match name {
            "auto" => Some(IrreversibleRule::Auto),
            "error" => Some(IrreversibleRule::Error),
            "warning" => Some(IrreversibleRule::Warning),
            _ => None,
        }
    }

    /// The severity of a migration without down, given the directory's `others` migrations
    /// besides it (repeatable ones not counted) and how many of them have a down, and the
    /// sentence saying which rule decided it and how to change it.
    pub fn decide(self, others: usize, with_down: usize) -> (Severity, String) {
        const CHANGE: &str = "`[policy] irreversible` in migration-check.toml, \
                              `--irreversible` or the Action input `irreversible` \
                              (auto, error, warning) changes this";
        match self {
            IrreversibleRule::Error => (
                Severity::Error,
                format!("an error by the policy irreversible = \"error\"; {CHANGE}"),
            ),
            IrreversibleRule::Warning => (
                Severity::Warning,
                format!("a warning by the policy irreversible = \"warning\"; {CHANGE}"),
            ),
            IrreversibleRule::Auto => {
                let of_others = match others {
                    1 => "the only other migration".to_string(),
                    n => format!("{with_down} of the {n} other migrations"),
                };
                if with_down * 2 > others {
                    let has = if others == 1 { "has" } else { "have" };
                    (
                        Severity::Error,
                        format!(
                            "an error because {of_others} {has} one, so this project writes downs \
                             (policy irreversible = \"auto\"); {CHANGE}"
                        ),
                    )
                } else {
                    let reason = if others == 0 {
                        "no other migration shows whether this project writes downs".to_string()
                    } else if with_down == 0 {
                        "no other migration has one: an up-only project".to_string()
                    } else {
                        format!("only {of_others} have one")
                    };
                    (
                        Severity::Warning,
                        format!(
                            "a warning because {reason} (policy irreversible = \"auto\"); {CHANGE}"
                        ),
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_projects_convention() {
        let auto = IrreversibleRule::Auto;
        assert_eq!(auto.decide(3, 2).0, Severity::Error);
        assert!(
            auto.decide(3, 2)
                .1
                .contains("2 of the 3 other migrations have one")
        );
        assert_eq!(auto.decide(1, 1).0, Severity::Error);
        assert!(
            auto.decide(1, 1)
                .1
                .contains("the only other migration has one")
        );
        assert_eq!(auto.decide(4, 2).0, Severity::Warning);
        assert!(auto.decide(4, 0).1.contains("an up-only project"));
        assert!(auto.decide(0, 0).1.contains("no other migration shows"));
        assert_eq!(IrreversibleRule::Error.decide(0, 0).0, Severity::Error);
        assert_eq!(IrreversibleRule::Warning.decide(9, 9).0, Severity::Warning);
        for name in IrreversibleRule::NAMES {
            assert!(IrreversibleRule::parse(name).is_some());
        }
    }

    #[test]
    fn differences_not_listed_are_errors() {
        let policy = Policy::default();
        assert_eq!(
            policy.severity(DifferenceKind::ColumnPosition),
            Severity::Warning
        );
        assert_eq!(policy.severity(DifferenceKind::Data), Severity::Error);
        assert_eq!(GateLevel::Error.lower(GateLevel::Ignore), GateLevel::Ignore);
        assert_eq!(
            GateLevel::Warning.lower(GateLevel::Error),
            GateLevel::Warning
        );
    }
}
