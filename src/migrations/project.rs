//! What the project around a migrations directory says about its migration tool. A
//! directory of `<version>_<name>.up.sql` pairs is sqlx's, golang-migrate's or pop's by its
//! names alone; the project decides: the `go.mod` that requires golang-migrate, the
//! `Cargo.toml` that depends on sqlx, the `package.json` that runs drizzle-kit, Supabase's
//! `supabase/config.toml`. This module reads the dependency manifests and tool configurations
//! between the migrations directory and the repository root (the nearest directory holding
//! `.git`, else a few levels up), and, as weaker evidence, the manifests of the repository
//! root's direct subdirectories (a monorepo's `server/go.mod`). It only names tools, with the
//! file and line that name them; detection ([`super::detect`]) weighs them against the
//! directory. Nothing here fails: an unreadable or malformed manifest is no evidence.

use std::path::{Path, PathBuf};

/// How far above the migrations directory the project is looked for without a `.git`.
const LEVELS_WITHOUT_GIT: usize = 6;

/// Go modules, by the module path's prefix, and the tool each is.
const GO_MODULES: &[(&str, &str)] = &[
    ("github.com/golang-migrate/migrate", "golang-migrate"),
    ("github.com/pressly/goose", "goose"),
    ("github.com/rubenv/sql-migrate", "sql-migrate"),
    ("github.com/gobuffalo/pop", "pop"),
    // Ory's fork of pop, which popx (github.com/ory/x) runs migrations with.
    ("github.com/ory/pop", "pop"),
    ("github.com/amacneil/dbmate", "dbmate"),
    ("ariga.io/atlas", "atlas"),
];

/// Crates and the tool each is.
const CRATES: &[(&str, &str)] = &[
    ("sqlx", "sqlx"),
    ("sqlx-postgres", "sqlx"),
    ("diesel", "diesel"),
    ("diesel_migrations", "diesel"),
    ("refinery", "refinery"),
    ("refinery-core", "refinery"),
    ("sea-orm-migration", "sea-orm"),
];

/// npm packages and the tool each is.
const PACKAGES: &[(&str, &str)] = &[
    ("knex", "knex"),
    ("node-pg-migrate", "node-pg-migrate"),
    ("prisma", "prisma"),
    ("@prisma/client", "prisma"),
    ("drizzle-kit", "drizzle"),
    ("drizzle-orm", "drizzle"),
    ("sequelize-cli", "sequelize"),
    ("sequelize", "sequelize"),
    ("typeorm", "typeorm"),
    ("dbmate", "dbmate"),
    ("supabase", "supabase"),
    ("db-migrate", "db-migrate"),
    ("postgres-migrations", "postgres-migrations"),
    ("kysely", "kysely"),
    ("umzug", "umzug"),
];

/// Command names of tools, as a `package.json` script runs them.
const BINARIES: &[(&str, &str)] = &[
    ("node-pg-migrate", "node-pg-migrate"),
    ("knex", "knex"),
    ("sequelize", "sequelize"),
    ("sequelize-cli", "sequelize"),
    ("typeorm", "typeorm"),
    ("typeorm-ts-node-commonjs", "typeorm"),
    ("typeorm-ts-node-esm", "typeorm"),
    ("prisma", "prisma"),
    ("drizzle-kit", "drizzle"),
    ("dbmate", "dbmate"),
    ("db-migrate", "db-migrate"),
    ("supabase", "supabase"),
];

/// Configuration files only one tool writes, and the tool.
const CONFIG_FILES: &[(&str, &str)] = &[
    ("diesel.toml", "diesel"),
    ("flyway.conf", "flyway"),
    ("flyway.toml", "flyway"),
    ("alembic.ini", "alembic"),
    ("atlas.hcl", "atlas"),
    ("dbconfig.yml", "sql-migrate"),
    ("knexfile.js", "knex"),
    ("knexfile.ts", "knex"),
    ("knexfile.cjs", "knex"),
    ("knexfile.mjs", "knex"),
    ("drizzle.config.ts", "drizzle"),
    ("drizzle.config.js", "drizzle"),
    ("drizzle.config.mjs", "drizzle"),
    ("drizzle.config.cjs", "drizzle"),
    ("drizzle.config.json", "drizzle"),
    (".sequelizerc", "sequelize"),
    ("ormconfig.json", "typeorm"),
    ("ormconfig.js", "typeorm"),
    ("ormconfig.ts", "typeorm"),
    (".pgmigraterc", "node-pg-migrate"),
];

/// Where evidence was found, nearest first in importance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Nearness {
    /// The migrations directory itself or a directory above it, up to the repository root.
    Ancestor,
    /// A direct subdirectory of the repository root (a monorepo member).
    Member,
}

/// One file that names a migration tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolEvidence {
    /// The tool: a format's name where we read it (`golang-migrate`), else the tool's own
    /// (`alembic`, `db-migrate`).
    pub tool: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The line that names the tool, where one does.
    pub line: Option<usize>,
    /// What the file says, in words (`requires github.com/golang-migrate/migrate/v4`).
    pub what: String,
    pub nearness: Nearness,
}

impl ToolEvidence {
    /// `go.mod:5 requires github.com/…`, the path shown relative to `base` where it can be.
    pub fn describe(&self, base: &Path) -> String {
        let path = relative(&self.path, base);
        match self.line {
            Some(line) => format!("{path}:{line} {}", self.what),
            None => format!("{path} {}", self.what),
        }
    }
}

/// The tools the project around a directory names, nearest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub evidence: Vec<ToolEvidence>,
    /// The nearest `go.mod` at or above the directory: a Go project, whatever it requires.
    pub go_module: Option<PathBuf>,
}

impl Project {
    /// Reads the project around `dir` (which need not exist: its nearest existing ancestor
    /// is where the search starts).
    pub fn around(dir: &Path) -> Project {
        let Ok(absolute) = std::path::absolute(dir) else {
            return Project::default();
        };
        let mut evidence = Vec::new();
        let mut go_module = None;
        let mut root = None;
        for (level, directory) in absolute.ancestors().enumerate() {
            read_directory(directory, Nearness::Ancestor, &mut evidence);
            if go_module.is_none() && directory.join("go.mod").is_file() {
                go_module = Some(directory.join("go.mod"));
            }
            if directory.join(".git").exists() {
                root = Some(directory.to_path_buf());
                break;
            }
            if level >= LEVELS_WITHOUT_GIT {
                break;
            }
        }
        if let Some(root) = root
            && let Ok(children) = std::fs::read_dir(&root)
        {
            let mut members: Vec<PathBuf> = children
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_dir() && !absolute.starts_with(path))
                .filter(|path| {
                    !path
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            members.sort();
            for member in members {
                read_manifests(&member, Nearness::Member, &mut evidence);
            }
        }
        Project {
            evidence,
            go_module,
        }
    }

    /// The nearest evidence naming `tool`, if any.
    pub fn names(&self, tool: &str) -> Option<&ToolEvidence> {
        self.evidence.iter().find(|e| e.tool == tool)
    }

    /// The distinct tools named, nearest first.
    pub fn tools(&self) -> Vec<&'static str> {
        let mut tools: Vec<&'static str> = Vec::new();
        for evidence in &self.evidence {
            if !tools.contains(&evidence.tool) {
                tools.push(evidence.tool);
            }
        }
        tools
    }
}

/// `path` relative to `base` when below it, else as it is.
pub fn relative(path: &Path, base: &Path) -> String {
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&base)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// Everything one directory says: its manifests and the tool configurations in it.
fn read_directory(directory: &Path, nearness: Nearness, evidence: &mut Vec<ToolEvidence>) {
    read_manifests(directory, nearness, evidence);
    for (file, tool) in CONFIG_FILES {
        let path = directory.join(file);
        if path.is_file() {
            evidence.push(ToolEvidence {
                tool,
                path,
                line: None,
                what: format!("configures {tool}"),
                nearness,
            });
        }
    }
    // Supabase CLI: `supabase/config.toml` beside `supabase/migrations`.
    if directory.file_name().is_some_and(|n| n == "supabase")
        && directory.join("config.toml").is_file()
    {
        evidence.push(ToolEvidence {
            tool: "supabase",
            path: directory.join("config.toml"),
            line: None,
            what: "configures the Supabase CLI".into(),
            nearness,
        });
    }
    let hasura = directory.join("config.yaml");
    if is_hasura_config(&hasura) {
        evidence.push(ToolEvidence {
            tool: "hasura",
            path: hasura,
            line: None,
            what: "configures the Hasura CLI".into(),
            nearness,
        });
    }
    for build in ["pom.xml", "build.gradle", "build.gradle.kts"] {
        let path = directory.join(build);
        if let Some(line) = line_containing(&path, "flyway") {
            evidence.push(ToolEvidence {
                tool: "flyway",
                path,
                line: Some(line),
                what: "uses Flyway".into(),
                nearness,
            });
        }
    }
}

/// The dependency manifests of one directory: `go.mod`, `Cargo.toml`, `package.json`.
fn read_manifests(directory: &Path, nearness: Nearness, evidence: &mut Vec<ToolEvidence>) {
    let go_mod = directory.join("go.mod");
    if let Ok(text) = std::fs::read_to_string(&go_mod) {
        let tools: Vec<(usize, String, bool, &'static str)> = go_requirements(&text)
            .into_iter()
            .filter_map(|(line, module, indirect)| {
                let (_, tool) = GO_MODULES
                    .iter()
                    .find(|(prefix, _)| module.starts_with(prefix))?;
                Some((line, module, indirect, *tool))
            })
            .collect();
        // An indirect requirement is a tool the build needs through another module: it
        // names the project's tool only where no direct requirement names one (pocket-id
        // requires golang-migrate and, through a library, Ory's pop).
        let any_direct = tools.iter().any(|(_, _, indirect, _)| !indirect);
        for (line, module, _, tool) in tools
            .into_iter()
            .filter(|(_, _, indirect, _)| !(any_direct && *indirect))
        {
            evidence.push(ToolEvidence {
                tool,
                path: go_mod.clone(),
                line: Some(line),
                what: format!("requires {module}"),
                nearness,
            });
        }
    }
    let cargo = directory.join("Cargo.toml");
    if let Ok(text) = std::fs::read_to_string(&cargo) {
        for (line, name) in cargo_dependencies(&text) {
            if let Some((_, tool)) = CRATES.iter().find(|(krate, _)| *krate == name) {
                evidence.push(ToolEvidence {
                    tool,
                    path: cargo.clone(),
                    line,
                    what: format!("depends on {name}"),
                    nearness,
                });
            }
        }
    }
    let package = directory.join("package.json");
    if let Ok(text) = std::fs::read_to_string(&package) {
        for (line, tool, script) in package_scripts(&text) {
            evidence.push(ToolEvidence {
                tool,
                path: package.clone(),
                line,
                what: format!("runs {tool} in its script `{script}`"),
                nearness,
            });
        }
        for (line, name) in package_dependencies(&text) {
            if let Some((_, tool)) = PACKAGES.iter().find(|(package, _)| *package == name) {
                evidence.push(ToolEvidence {
                    tool,
                    path: package.clone(),
                    line,
                    what: format!("depends on {name}"),
                    nearness,
                });
            }
        }
    }
}

/// `(line, module path, indirect)` of every requirement of a `go.mod` (single-line
/// `require x v` and `require ( … )` blocks; `// indirect` ones marked).
fn go_requirements(text: &str) -> Vec<(usize, String, bool)> {
    let mut requirements = Vec::new();
    let mut in_block = false;
    for (index, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim();
        let module = if in_block {
            if code.starts_with(')') {
                in_block = false;
                continue;
            }
            code.split_whitespace().next()
        } else if let Some(rest) = code.strip_prefix("require") {
            let rest = rest.trim();
            if rest.starts_with('(') {
                in_block = true;
                continue;
            }
            rest.split_whitespace().next()
        } else {
            None
        };
        if let Some(module) = module.filter(|m| !m.is_empty()) {
            let indirect = line
                .split_once("//")
                .is_some_and(|(_, comment)| comment.trim() == "indirect");
            requirements.push((index + 1, module.to_string(), indirect));
        }
    }
    requirements
}

/// `(line, crate name)` of every dependency a `Cargo.toml` declares (`[dependencies]`,
/// `[dev-dependencies]`, `[build-dependencies]`, `[workspace.dependencies]`, target-specific
/// tables and `[dependencies.name]` tables); a package renamed with `package =` counts under
/// its real name.
fn cargo_dependencies(text: &str) -> Vec<(Option<usize>, String)> {
    let Ok(value) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut tables: Vec<&toml::Table> = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        if let Some(table) = value.get(kind).and_then(toml::Value::as_table) {
            tables.push(table);
        }
    }
    if let Some(table) = value
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(toml::Value::as_table)
    {
        tables.push(table);
    }
    if let Some(targets) = value.get("target").and_then(toml::Value::as_table) {
        for target in targets.values() {
            for kind in kinds {
                if let Some(table) = target.get(kind).and_then(toml::Value::as_table) {
                    tables.push(table);
                }
            }
        }
    }
    let mut names = Vec::new();
    for table in tables {
        for (key, spec) in table {
            let name = spec
                .get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(key)
                .to_string();
            let line = line_of(text, |l| {
                let l = l.trim_start();
                l.starts_with(&format!("{key} "))
                    || l.starts_with(&format!("{key}="))
                    || l.starts_with(&format!("{key}."))
                    || l.contains(&format!("dependencies.{key}]"))
            });
            names.push((line, name));
        }
    }
    names
}

/// `(line, package)` of every dependency of a `package.json` (`dependencies`,
/// `devDependencies`, `peerDependencies`, `optionalDependencies`).
fn package_dependencies(text: &str) -> Vec<(Option<usize>, String)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for kind in [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ] {
        if let Some(deps) = value.get(kind).and_then(serde_json::Value::as_object) {
            for name in deps.keys() {
                let quoted = format!("\"{name}\"");
                names.push((
                    line_of(text, |l| l.trim_start().starts_with(&quoted)),
                    name.clone(),
                ));
            }
        }
    }
    names
}

/// `(line, tool, script name)` of every `package.json` script that runs a tool's command
/// (`"migrate": "node-pg-migrate -m migrations"`, `npx knex migrate:latest`).
fn package_scripts(text: &str) -> Vec<(Option<usize>, &'static str, String)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let Some(scripts) = value.get("scripts").and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (name, command) in scripts {
        let Some(command) = command.as_str() else {
            continue;
        };
        let tool = command
            .split(|c: char| c.is_whitespace() || matches!(c, '&' | ';' | '|' | '(' | ')'))
            .find_map(|word| BINARIES.iter().find(|(binary, _)| *binary == word));
        if let Some((_, tool)) = tool {
            let quoted = format!("\"{name}\"");
            found.push((
                line_of(text, |l| l.trim_start().starts_with(&quoted)),
                *tool,
                name.clone(),
            ));
        }
    }
    found
}

/// The 1-based number of the first line of `text` that `matches`.
fn line_of(text: &str, matches: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines().position(matches).map(|i| i + 1)
}

/// The first line of a file containing `needle`, case-insensitively.
fn line_containing(path: &Path, needle: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    line_of(&text, |l| l.to_ascii_lowercase().contains(needle))
}

/// Whether `path` is a Hasura CLI `config.yaml` (it names the metadata directory, the admin
/// secret or the endpoint).
pub(crate) fn is_hasura_config(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines().any(|line| {
            let key = line.split(':').next().unwrap_or("").trim();
            ["metadata_directory", "admin_secret", "endpoint"].contains(&key)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn go_requirements_single_and_block() {
        let text = "module x\n\ngo 1.22\n\nrequire github.com/lib/pq v1.10.9\nrequire (\n\tgithub.com/golang-migrate/migrate/v4 v4.17.0 // indirect\n\tgithub.com/x/y v1\n)\n";
        let requirements = go_requirements(text);
        assert_eq!(
            requirements,
            [
                (5, "github.com/lib/pq".to_string(), false),
                (7, "github.com/golang-migrate/migrate/v4".to_string(), true),
                (8, "github.com/x/y".to_string(), false)
            ]
        );
    }

    /// pocket-id requires golang-migrate, and Ory's pop through a library: only the direct
    /// requirement names the project's tool. An indirect one alone still does.
    #[test]
    fn an_indirect_requirement_counts_only_without_a_direct_one() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".git")).unwrap();
        write(
            t.path(),
            "go.mod",
            "module x\n\nrequire (\n\tgithub.com/golang-migrate/migrate/v4 v4.19.1\n\t\
             github.com/ory/pop/v6 v6.4.1 // indirect\n)\n",
        );
        assert_eq!(Project::around(t.path()).tools(), ["golang-migrate"]);
        write(
            t.path(),
            "go.mod",
            "module x\n\nrequire github.com/ory/pop/v6 v6.4.1 // indirect\n",
        );
        assert_eq!(Project::around(t.path()).tools(), ["pop"]);
    }

    #[test]
    fn cargo_and_npm_dependencies_with_their_lines() {
        let cargo = "[package]\nname = \"x\"\n\n[workspace.dependencies]\nserde = \"1\"\nsqlx = { version = \"0.8\", features = [\"postgres\"] }\n\n[dependencies.refinery]\nversion = \"0.8\"\n";
        let names = cargo_dependencies(cargo);
        assert!(names.contains(&(Some(6), "sqlx".to_string())), "{names:?}");
        assert!(
            names.contains(&(Some(8), "refinery".to_string())),
            "{names:?}"
        );
        let npm = "{\n  \"name\": \"x\",\n  \"devDependencies\": {\n    \"drizzle-kit\": \"^0.30\"\n  }\n}\n";
        assert_eq!(
            package_dependencies(npm),
            [(Some(4), "drizzle-kit".to_string())]
        );
        assert!(package_dependencies("{ not json").is_empty());
    }

    #[test]
    fn evidence_from_the_directory_up_to_the_repository_root_then_its_members() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        write(
            root,
            "server/go.mod",
            "module s\nrequire github.com/pressly/goose/v3 v3.20.0\n",
        );
        write(root, "make/migrations/postgresql/1_a.up.sql", "");
        write(
            root,
            "web/package.json",
            "{\"dependencies\": {\"knex\": \"3\"}}",
        );
        write(root, "supabase/config.toml", "project_id = \"x\"\n");
        write(root, "supabase/migrations/1_a.sql", "");
        write(root, "Cargo.toml", "[dependencies]\nsqlx = \"0.8\"\n");
        let project = Project::around(&root.join("make/migrations/postgresql"));
        assert_eq!(project.tools(), ["sqlx", "goose", "knex"]);
        assert_eq!(project.names("sqlx").unwrap().nearness, Nearness::Ancestor);
        let goose = project.names("goose").unwrap();
        assert_eq!(goose.nearness, Nearness::Member);
        assert_eq!(
            goose.describe(root),
            "server/go.mod:2 requires github.com/pressly/goose/v3"
        );
        let supabase = Project::around(&root.join("supabase/migrations"));
        assert_eq!(supabase.tools()[0], "supabase");
        // Nothing above a repository root is read.
        let outside = Project::around(&root.join("make"));
        assert!(outside.evidence.iter().all(|e| e.path.starts_with(root)));
    }
}
