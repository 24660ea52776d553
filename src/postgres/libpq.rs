//! A server the user names by URL (`verify --postgres URL`, `snapshot`, `diff`), read as
//! libpq reads it: a `postgres://` URL or a `key=value` connection string becomes a
//! [`ServerUrl`], and each database on it a [`Target`]: the tokio-postgres configuration plus
//! a TLS policy ([`super::tls`]), with libpq's meaning for every parameter:
//!
//! - `sslmode` (else `PGSSLMODE`): `disable`; `allow` (plain, TLS if the server refuses
//!   plain); `prefer` (the default: TLS when the server offers it, else plain); `require`
//!   (TLS, certificate not checked); `verify-ca` (TLS, the chain must lead to
//!   `sslrootcert`); `verify-full` (also the host name must be in the certificate).
//! - `sslrootcert` (else `PGSSLROOTCERT`, else `~/.postgresql/root.crt` when it exists): PEM
//!   file of trusted certificate authorities; `system` means the operating system's roots
//!   (and makes `verify-full` the default, weaker modes an error). As in libpq, when a root
//!   file is given or exists, `require` (and `prefer`, `allow`) verify the chain too.
//! - `sslcert` / `sslkey` (else `PGSSLCERT` / `PGSSLKEY`, else `~/.postgresql/postgresql.crt`
//!   and `.key` when they exist): a client certificate and its key, PEM. The key file must
//!   not be readable by group or others.
//! - the password: from the URL, else `PGPASSWORD`, else the password file
//!   (`passfile`, else `PGPASSFILE`, else `~/.pgpass`; see [`super::pgpass`]).
//!
//! These parameters are taken out of the string before tokio-postgres parses the rest. A
//! password is never printed: [`redact`] masks it wherever a URL appears in a message.

use std::sync::Arc;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

use super::pgpass::{self, PassFile};
use super::tls::{Tls, TlsParams, with_sources};
use crate::error::UsageError;

/// Where a connection goes and how it is secured: ready for [`super::Session::open`].
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub tls: Tls,
}

/// A plain connection (our own local servers).
impl From<Config> for Target {
    fn from(config: Config) -> Self {
        Target {
            config,
            tls: Tls::none(),
        }
    }
}

/// A server given by URL or connection string, parsed once: every database on it is
/// reached with the same TLS policy; the password file is consulted per database, as
/// libpq does.
#[derive(Clone)]
pub struct ServerUrl {
    base: Config,
    tls: Tls,
    /// The password file, when neither the URL nor `PGPASSWORD` gave a password.
    passfile: Option<Arc<PassFile>>,
    redacted: String,
}

impl ServerUrl {
    /// Parses `url`. A malformed string or parameter is a [`UsageError`] (exit 2); a
    /// certificate file that cannot be read is an [`EnvironmentError`] (exit 3).
    pub fn parse(url: &str) -> anyhow::Result<ServerUrl> {
        let redacted = redact(url);
        let (rest, params) = split_params(url)
            .map_err(|e| UsageError(format!("invalid PostgreSQL URL {redacted}: {e}")))?;
        let mut base: Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            UsageError(format!(
                "invalid PostgreSQL URL {redacted}: {}",
                with_sources(&e)
            ))
        })?;
        let tls = Tls::from_params(&params.tls)?;
        let passfile = if base.get_password().is_some() {
            None
        } else if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
            base.password(password);
            None
        } else {
            pgpass::location(params.passfile.as_deref()).map(|path| Arc::new(PassFile::load(&path)))
        };
        Ok(ServerUrl {
            base,
            tls,
            passfile,
            redacted,
        })
    }

    /// The URL as given, with its password masked.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// How connections to this server are secured.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// The database the URL names (`None`: the server's default, the user's name).
    pub fn database(&self) -> Option<&str> {
        self.base.get_dbname()
    }

    /// The target for `database` on this server (`None`: the one the URL names).
    pub fn target(&self, database: Option<&str>) -> Target {
        let mut config = self.base.clone();
        if let Some(database) = database {
            config.dbname(database);
        }
        if let Some(passfile) = &self.passfile
            && let Some(password) = passfile_password(passfile, &config)
        {
            config.password(password);
        }
        Target {
            config,
            tls: self.tls.clone(),
        }
    }
}

/// The password file's password for a configuration, matched as libpq matches it: the host
/// (a socket directory counts as `localhost`), the first port, the database (default: the
/// user name) and the user.
fn passfile_password(passfile: &PassFile, config: &Config) -> Option<String> {
    let user = config.get_user()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(_)) | None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or(user);
    passfile
        .find(&host, port, database, user)
        .map(str::to_string)
}

/// The parameters we handle ourselves, taken out of a connection string.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    /// `sslmode`, `sslrootcert`, `sslcert`, `sslkey`.
    tls: TlsParams,
    passfile: Option<String>,
}

impl Params {
    /// Takes `key` if it is one of ours; false leaves it to tokio-postgres.
    fn take(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "sslmode" => &mut self.tls.sslmode,
            "sslrootcert" => &mut self.tls.sslrootcert,
            "sslcert" => &mut self.tls.sslcert,
            "sslkey" => &mut self.tls.sslkey,
            "passfile" => &mut self.passfile,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// Splits our parameters off a URL (its query) or a key=value string; returns the rest for
/// tokio-postgres.
fn split_params(url: &str) -> Result<(String, Params), String> {
    let mut params = Params::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((head, query)) = url.split_once('?') else {
            return Ok((url.to_string(), params));
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !params.take(&percent_decode(key), percent_decode(value))
            })
            .collect();
        let rest = if kept.is_empty() {
            head.to_string()
        } else {
            format!("{head}?{}", kept.join("&"))
        };
        return Ok((rest, params));
    }
    let mut kept = Vec::new();
    for (key, value) in key_values(url)? {
        if !params.take(&key, value.clone()) {
            kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok((kept.join(" "), params))
}

/// The pairs of a libpq key=value string (`key = value`, values bare or single-quoted with
/// backslash escapes).
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("missing `=` after `{key}`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value of `{key}`")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with any password in it replaced by `***`: the userinfo password of a URL, a
/// `password` query parameter, a `password=` pair of a key=value string. Works on malformed
/// input too (it is meant for error messages).
pub fn redact(text: &str) -> String {
    let is_password = |key: &str| percent_decode(key.trim()).eq_ignore_ascii_case("password");
    if let Some(scheme_end) = text.find("://") {
        let (scheme, rest) = text.split_at(scheme_end + 3);
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@{hosts}"),
                None => authority.to_string(),
            },
            None => authority.to_string(),
        };
        let path = match path.split_once('?') {
            Some((path, query)) => {
                let pairs: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((key, _)) if is_password(key) => format!("{key}=***"),
                        _ => pair.to_string(),
                    })
                    .collect();
                format!("{path}?{}", pairs.join("&"))
            }
            None => path.to_string(),
        };
        return format!("{scheme}{authority}{path}");
    }
    match key_values(text) {
        Ok(pairs) => pairs
            .into_iter()
            .map(|(key, value)| {
                if is_password(&key) {
                    format!("{key}=***")
                } else if value.is_empty() || value.contains([' ', '\'', '\\']) {
                    format!(
                        "{key}='{}'",
                        value.replace('\\', "\\\\").replace('\'', "\\'")
                    )
                } else {
                    format!("{key}={value}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        // Unparseable: keep nothing after a password key.
        Err(_) => match text.to_ascii_lowercase().find("password") {
            Some(at) => format!("{}password=***", &text[..at]),
            None => text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EnvironmentError;
    use crate::postgres::tls::SslMode;

    #[test]
    fn our_parameters_leave_a_url_and_the_rest_stays() {
        let (rest, params) = split_params(
            "postgres://u:p@h:5433/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem&passfile=/p",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@h:5433/db?application_name=x");
        assert_eq!(params.tls.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.tls.sslrootcert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(params.passfile.as_deref(), Some("/p"));
        let (rest, _) = split_params("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        let config: Config = rest.parse().unwrap();
        assert_eq!(config.get_dbname(), Some("db"));
    }

    #[test]
    fn our_parameters_leave_a_key_value_string() {
        let (rest, params) = split_params(
            "host=h  user = 'a b' sslmode=verify-ca sslcert='/c d/x.crt' password=it\\'s",
        )
        .unwrap();
        assert_eq!(params.tls.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(params.tls.sslcert.as_deref(), Some("/c d/x.crt"));
        let config: Config = rest.parse().unwrap();
        assert_eq!(config.get_user(), Some("a b"));
        assert_eq!(config.get_password(), Some(&b"it's"[..]));
        assert!(split_params("host=h user").is_err());
        assert!(split_params("host='h").is_err());
    }

    #[test]
    fn passwords_are_masked_wherever_they_are() {
        assert_eq!(
            redact("postgres://user:s3cret@host:5432/db?sslmode=require"),
            "postgres://user:***@host:5432/db?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://user:p%40ss:w@host/db"),
            "postgresql://user:***@host/db"
        );
        assert_eq!(
            redact("postgres://user@host/db?password=s3cret&sslmode=prefer"),
            "postgres://user@host/db?password=***&sslmode=prefer"
        );
        assert_eq!(redact("postgres://host/db"), "postgres://host/db");
        assert_eq!(
            redact("host=h password = 's3 cret' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(redact("host=h password='s3cret"), "host=h password=***");
    }

    #[test]
    fn modes_and_their_errors() {
        let parse = |text: &str| {
            let (_, params) = split_params(text).unwrap();
            Tls::from_params(&params.tls)
        };
        assert_eq!(
            parse("postgres://h/d?sslmode=require").unwrap().mode(),
            Some(SslMode::Require)
        );
        let bad = parse("postgres://h/d?sslmode=verify").err().unwrap();
        assert!(bad.is::<UsageError>(), "{bad}");
        assert!(bad.to_string().contains("sslmode `verify`"), "{bad}");
        let weak = parse("postgres://h/d?sslmode=require&sslrootcert=system")
            .err()
            .unwrap();
        assert!(weak.is::<UsageError>(), "{weak}");
        let missing = parse("postgres://h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        assert!(missing.is::<EnvironmentError>(), "{missing}");
        assert!(
            missing.to_string().contains("/nonexistent/ca.pem")
                && missing.to_string().contains("sslmode=verify-full"),
            "{missing}"
        );
    }

    #[test]
    fn a_malformed_url_is_usage_and_hides_the_password() {
        let error = ServerUrl::parse("postgres://u:s3cret@h:notaport/db")
            .err()
            .unwrap();
        assert!(error.is::<UsageError>(), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(error.to_string().contains("u:***@h"), "{error}");
    }
}
