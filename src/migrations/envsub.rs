//! goose's `-- +goose ENVSUB ON`: each line of a statement is substituted as
//! github.com/mfridman/interpolate v0.0.2 does (`parser.go`, `interpolate.go`): `$VAR`,
//! `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:offset[:length]}`, `${VAR?message}` (error when unset); `$$` and `\$` become `$`,
//! `$(` stays, a `$` at the end of the line stays, and any other `$` must start a name
//! beginning with a letter. The values come only from `[goose.env]` of
//! `migration-check.toml`, never from our environment.

use std::collections::BTreeMap;

/// One piece of a line under goose's `ENVSUB ON` (mfridman/interpolate's grammar).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text kept as it is (escapes already resolved).
    Text(String),
    /// `$NAME` or `${NAME}`.
    Variable(String),
    /// `${NAME:-default}` (`empty_too`) or `${NAME-default}`.
    Default {
        name: String,
        empty_too: bool,
        content: Vec<Piece>,
    },
    /// `${NAME:offset}` or `${NAME:offset:length}`.
    Substring {
        name: String,
        offset: i64,
        length: Option<i64>,
    },
    /// `${NAME?message}`.
    Required { name: String, message: Vec<Piece> },
}

/// Why a line could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EnvsubError {
    /// A variable used without a default that `[goose.env]` does not declare.
    Undeclared(String),
    /// `${NAME?message}` with NAME not declared: goose fails with the message.
    Required(String, String),
    /// The line does not follow the grammar.
    Syntax(String),
}

impl EnvsubError {
    /// The message for the line, mentioning the `ENVSUB ON` line in force.
    pub(super) fn message(&self, envsub_on: String, since: usize) -> String {
        match self {
            EnvsubError::Undeclared(name) => format!(
                "variable `{name}` is not declared in `[goose.env]` of migration-check.toml \
                 ({envsub_on} on line {since} substitutes it; goose takes it from its \
                 environment, migration-check never does). Declare the value to verify with: \
                 `[goose.env]` `{name} = \"...\"`"
            ),
            EnvsubError::Required(name, message) => format!(
                "variable `{name}` is not declared in `[goose.env]` of migration-check.toml \
                 and the line requires it (goose fails with `${name}: {message}`); declare it \
                 there"
            ),
            EnvsubError::Syntax(reason) => format!(
                "goose cannot substitute variables on this line ({envsub_on} on line \
                 {since}): {reason}; write a literal `$` as `$$` or `\\$`, or turn \
                 substitution off around the line with `-- +goose ENVSUB OFF`"
            ),
        }
    }
}

/// Substitutes `line` as goose's `ENVSUB ON` does, with values from `env` only.
pub(super) fn interpolate(
    line: &str,
    env: &BTreeMap<String, String>,
) -> Result<String, EnvsubError> {
    let mut parser = Interpolation {
        input: line,
        pos: 0,
    };
    let pieces = parser.expression(None)?;
    let mut out = String::new();
    expand(&pieces, env, &mut out)?;
    Ok(out)
}

/// A recursive descent parser over one line, as mfridman/interpolate's `Parser`.
struct Interpolation<'a> {
    input: &'a str,
    pos: usize,
}

impl Interpolation<'_> {
    /// The next character, if any.
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    /// Consumes the next character.
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes characters up to (not including) the first for which `stop` holds.
    fn scan_until(&mut self, stop: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if stop(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.input[start..self.pos]
    }

    /// Text and expansions up to `stop` (exclusive) or the end.
    fn expression(&mut self, stop: Option<char>) -> Result<Vec<Piece>, EnvsubError> {
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            let rest = &self.input[self.pos..];
            if rest.starts_with("\\\\") {
                self.pos += 2;
                pieces.push(Piece::Text("\\\\".to_string()));
            } else if rest.starts_with("\\$") || rest.starts_with("$$") {
                self.pos += 2;
                pieces.push(Piece::Text("$".to_string()));
            } else if rest.starts_with("$(") {
                self.pos += 2;
                pieces.push(Piece::Text("$(".to_string()));
            } else if c == '$' && self.pos + 1 < self.input.len() {
                pieces.push(self.expansion()?);
            } else {
                self.pos += c.len_utf8();
                let more = self.scan_until(|r| r == '$' || r == '\\' || Some(r) == stop);
                pieces.push(Piece::Text(format!("{c}{more}")));
            }
        }
        Ok(pieces)
    }

    /// `$NAME` or a brace expansion.
    fn expansion(&mut self) -> Result<Piece, EnvsubError> {
        self.next();
        if self.peek() == Some('{') {
            return self.brace();
        }
        Ok(Piece::Variable(self.identifier()?))
    }

    /// A name: a letter, then letters, digits and `_`.
    fn identifier(&mut self) -> Result<String, EnvsubError> {
        match self.peek() {
            Some(c) if c.is_alphabetic() => {}
            Some(c) => {
                return Err(EnvsubError::Syntax(format!(
                    "`$` is followed by `{c}`, not by a variable name starting with a letter"
                )));
            }
            None => {
                return Err(EnvsubError::Syntax(
                    "`$` at the end without a variable name".to_string(),
                ));
            }
        }
        Ok(self
            .scan_until(|c| !c.is_alphabetic() && !c.is_numeric() && c != '_')
            .to_string())
    }

    /// `${...}` after the `$`.
    fn brace(&mut self) -> Result<Piece, EnvsubError> {
        self.next();
        let name = self.identifier()?;
        if self.peek() == Some('}') {
            self.next();
            return Ok(Piece::Variable(name));
        }
        let piece = match self.next() {
            Some(':') if self.peek() == Some('-') => {
                self.next();
                Piece::Default {
                    name,
                    empty_too: true,
                    content: self.expression(Some('}'))?,
                }
            }
            Some('-') => Piece::Default {
                name,
                empty_too: false,
                content: self.expression(Some('}'))?,
            },
            Some(':') => {
                let offset = self.number(|c| c == ':' || c == '}', "offset")?;
                let length = if self.peek() == Some('}') {
                    None
                } else {
                    self.next();
                    Some(self.number(|c| c == '}', "length")?)
                };
                Piece::Substring {
                    name,
                    offset,
                    length,
                }
            }
            Some('?') => Piece::Required {
                name,
                message: self.expression(Some('}'))?,
            },
            other => {
                return Err(EnvsubError::Syntax(format!(
                    "expected `}}`, `:-`, `-`, `:` or `?` after `${{{name}`, got {}",
                    other.map_or("the end of the line".to_string(), |c| format!("`{c}`"))
                )));
            }
        };
        match self.next() {
            Some('}') => Ok(piece),
            _ => Err(EnvsubError::Syntax(
                "`${` without its closing `}`".to_string(),
            )),
        }
    }

    /// A substring offset or length (Go's `strconv.Atoi` of the trimmed text).
    fn number(&mut self, stop: impl Fn(char) -> bool, what: &str) -> Result<i64, EnvsubError> {
        let text = self.scan_until(stop).trim();
        text.parse()
            .map_err(|_| EnvsubError::Syntax(format!("substring {what} `{text}` is not a number")))
    }
}

/// Expands parsed pieces into `out` with values from `env` only.
fn expand(
    pieces: &[Piece],
    env: &BTreeMap<String, String>,
    out: &mut String,
) -> Result<(), EnvsubError> {
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(name) => match env.get(name) {
                Some(value) => out.push_str(value),
                None => return Err(EnvsubError::Undeclared(name.clone())),
            },
            Piece::Default {
                name,
                empty_too,
                content,
            } => match env.get(name) {
                Some(value) if !(*empty_too && value.is_empty()) => out.push_str(value),
                _ => expand(content, env, out)?,
            },
            Piece::Substring {
                name,
                offset,
                length,
            } => {
                let value = env
                    .get(name)
                    .ok_or_else(|| EnvsubError::Undeclared(name.clone()))?;
                out.push_str(&substring(value, *offset, *length));
            }
            Piece::Required { name, message } => match env.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    let mut text = String::new();
                    expand(message, env, &mut text)?;
                    if text.is_empty() {
                        text = "not set".to_string();
                    }
                    return Err(EnvsubError::Required(name.clone(), text));
                }
            },
        }
    }
    Ok(())
}

/// interpolate's `SubstringExpansion`: byte offsets, negative ones from the end, clamped.
fn substring(value: &str, offset: i64, length: Option<i64>) -> String {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    let from = if offset < 0 { offset + len } else { offset }.clamp(0, len);
    let to = match length {
        None => len,
        Some(n) if n >= 0 => from.saturating_add(n).min(len),
        Some(n) => (n + len).max(from).min(len),
    };
    let bytes = value.as_bytes();
    let range = usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0);
    String::from_utf8_lossy(&bytes[range]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_grammar() {
        let env: BTreeMap<String, String> = [("A", "abcdef"), ("E", ""), ("U", "ünï")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ok = |s: &str| interpolate(s, &env).unwrap();
        assert_eq!(ok("$$ \\$A \\\\ $(x) $"), "$ $A \\\\ $(x) $");
        assert_eq!(ok("${A:1:2}|${A:-2}|${A: -3:-1}|${A:10}"), "bc|abcdef|de|");
        assert_eq!(ok("${E:-d}|${E-d}|${N:-${A}}|${N-}"), "d||abcdef|");
        assert_eq!(ok("${U:1:1}"), "\u{fffd}");
        assert_eq!(
            interpolate("$A_1x", &env),
            Err(EnvsubError::Undeclared("A_1x".to_string()))
        );
        assert!(matches!(
            interpolate("${A", &env),
            Err(EnvsubError::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${A:x}", &env),
            Err(EnvsubError::Syntax(_))
        ));
    }
}
