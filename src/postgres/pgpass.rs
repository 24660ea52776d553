//! libpq's password file (`~/.pgpass`, or the file `PGPASSFILE` or the `passfile`
//! connection parameter names), read the way libpq reads it, so a server given by URL
//! authenticates with the password the team's other PostgreSQL tools already use and the
//! password never has to be written on our command line. Lines are
//! `host:port:database:user:password`, `*` matches anything in the first four fields, `\:`
//! and `\\` escape, `#` starts a comment; the first matching line wins. Like libpq, a file
//! that others can read is ignored (with a warning): a password in it is no secret.

use std::path::{Path, PathBuf};

/// One line of a password file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: String,
    database: String,
    user: String,
    password: String,
}

/// The entries of one password file, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassFile {
    entries: Vec<Entry>,
}

impl PassFile {
    /// Reads `path`. A missing file is an empty one; a file readable by group or others is
    /// ignored with a warning on stderr, as libpq does; an unreadable one too.
    pub fn load(path: &Path) -> PassFile {
        let Ok(metadata) = std::fs::metadata(path) else {
            return PassFile::default();
        };
        if !metadata.is_file() {
            eprintln!(
                "warning: password file {} is not a plain file; ignored",
                path.display()
            );
            return PassFile::default();
        }
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: password file {} has group or world access; permissions should be \
                 u=rw (0600) or less; ignored",
                path.display()
            );
            return PassFile::default();
        }
        match std::fs::read_to_string(path) {
            Ok(text) => PassFile::parse(&text),
            Err(error) => {
                eprintln!(
                    "warning: cannot read password file {}: {error}; ignored",
                    path.display()
                );
                PassFile::default()
            }
        }
    }

    /// Parses the text of a password file; lines with fewer than five fields are skipped.
    pub fn parse(text: &str) -> PassFile {
        let entries = text
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(parse_line)
            .collect();
        PassFile { entries }
    }

    /// The password of the first line matching the connection, as libpq matches it.
    pub fn find(&self, host: &str, port: u16, database: &str, user: &str) -> Option<&str> {
        let port = port.to_string();
        let matches = |field: &str, value: &str| field == "*" || field == value;
        self.entries
            .iter()
            .find(|e| {
                matches(&e.host, host)
                    && matches(&e.port, &port)
                    && matches(&e.database, database)
                    && matches(&e.user, user)
            })
            .map(|e| e.password.as_str())
            .filter(|password| !password.is_empty())
    }
}

/// Splits a line at unescaped colons: four fields and the password, which ends at the next
/// unescaped colon (libpq ignores anything after it).
fn parse_line(line: &str) -> Option<Entry> {
    let mut fields: Vec<String> = Vec::with_capacity(5);
    let mut current = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ':' => fields.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    fields.push(current);
    if fields.len() < 5 {
        return None;
    }
    let mut fields = fields.into_iter();
    Some(Entry {
        host: fields.next()?,
        port: fields.next()?,
        database: fields.next()?,
        user: fields.next()?,
        password: fields.next()?,
    })
}

/// Where the password file is: the `passfile` parameter, else `PGPASSFILE`, else `~/.pgpass`.
pub fn location(passfile: Option<&str>) -> Option<PathBuf> {
    if let Some(path) = passfile {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".pgpass"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let file = PassFile::parse(
            "# comment\n\
             db.example:5432:app:alice:first\n\
             *:*:*:alice:fallback\n\
             h\\:x:5433:d:u:pa\\:ss:ignored\n\
             short:line\n\
             \n\
             *:*:*:bob:back\\\\slash\r\n",
        );
        assert_eq!(file.find("db.example", 5432, "app", "alice"), Some("first"));
        assert_eq!(
            file.find("db.example", 5433, "app", "alice"),
            Some("fallback")
        );
        assert_eq!(file.find("h:x", 5433, "d", "u"), Some("pa:ss"));
        assert_eq!(file.find("other", 1, "d", "bob"), Some("back\\slash"));
        assert_eq!(file.find("other", 1, "d", "carol"), None);
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(PassFile::load(&path).find("h", 5432, "d", "u"), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            PassFile::load(&path).find("h", 5432, "d", "u"),
            Some("secret")
        );
        assert_eq!(
            PassFile::load(&dir.path().join("missing")),
            PassFile::default()
        );
    }
}
