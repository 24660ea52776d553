//! What a database starts its sessions with (`ALTER DATABASE … SET`, `ALTER ROLE … IN
//! DATABASE … SET`, kept in `pg_db_role_setting`), carried over to a copy: `CREATE
//! DATABASE … TEMPLATE` copies the database's files but not these catalog rows, so a copy
//! of a database whose migrations set its `search_path` would run the next migration with
//! another one. Written back as pg_dump writes them.

use tokio_postgres::Client;

use super::quote_ident;
use crate::migrations::bookkeeping::literal;

/// Settings whose value is a list of names, written back one literal per element (a
/// single literal would be one name with commas in it). pg_dump's list
/// (`variable_is_guc_list_quote`).
const LIST_SETTINGS: &[&str] = &[
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// The statements giving database `copy` the per-database settings `template` has.
pub async fn copy_statements(
    client: &Client,
    template: &str,
    copy: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT r.rolname, s.setconfig \
             FROM pg_catalog.pg_db_role_setting s \
             JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase \
             LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole \
             WHERE d.datname = $1 \
             ORDER BY r.rolname NULLS FIRST",
            &[&template],
        )
        .await?;
    let mut statements = Vec::new();
    for row in rows {
        let role: Option<String> = row.get(0);
        let config: Vec<String> = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
        let target = match &role {
            None => format!("DATABASE {}", quote_ident(copy)),
            Some(role) => format!(
                "ROLE {} IN DATABASE {}",
                quote_ident(role),
                quote_ident(copy)
            ),
        };
        for entry in &config {
            if let Some(set) = set_clause(entry) {
                statements.push(format!("ALTER {target} {set}"));
            }
        }
    }
    Ok(statements)
}

/// `SET name TO value` for one `name=value` entry of `setconfig`.
fn set_clause(entry: &str) -> Option<String> {
    let (name, value) = entry.split_once('=')?;
    let values = if LIST_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
        split_name_list(value)
            .iter()
            .map(|element| literal(element))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        literal(value)
    };
    Some(format!("SET {} TO {values}", quote_ident(name)))
}

/// The elements of a stored list setting (`"$user", public, "My Schema"`): separated by
/// commas, double-quoted where they need it (a doubled quote is one), blanks around them
/// dropped; an empty list is one empty element, as PostgreSQL stores `''`.
fn split_name_list(value: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut element = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        element.push('"');
                    } else {
                        break;
                    }
                } else {
                    element.push(c);
                }
            }
            while chars.peek().is_some_and(|&c| c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                element.push(c);
                chars.next();
            }
            element.truncate(element.trim_end().len());
        }
        elements.push(element);
        if chars.next().is_none() {
            return elements;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_are_written_back_one_literal_per_name() {
        assert_eq!(
            set_clause(r#"search_path="$user", public, "My ""Schema""""#).as_deref(),
            Some(r#"SET "search_path" TO '$user', 'public', 'My "Schema"'"#)
        );
        assert_eq!(
            set_clause("search_path=app,public").as_deref(),
            Some(r#"SET "search_path" TO 'app', 'public'"#)
        );
        assert_eq!(
            set_clause(r#"search_path="""#).as_deref(),
            Some(r#"SET "search_path" TO ''"#)
        );
    }

    #[test]
    fn other_settings_are_one_literal() {
        assert_eq!(
            set_clause("app.tenant=it's = here").as_deref(),
            Some(r#"SET "app.tenant" TO 'it''s = here'"#)
        );
        assert_eq!(
            set_clause("statement_timeout=5s").as_deref(),
            Some(r#"SET "statement_timeout" TO '5s'"#)
        );
        assert_eq!(set_clause("no equals sign"), None);
    }
}
