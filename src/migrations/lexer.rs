//! A small PostgreSQL lexer that splits migration scripts into statements.
//!
//! migration-check has to split a script into its statements for two
//! reasons: some statements (`CREATE INDEX CONCURRENTLY`, `VACUUM`, ...)
//! cannot run inside a transaction block and must be sent one by one, and
//! the error positions PostgreSQL reports are relative to the query text it
//! was sent, so they have to be mapped back to lines of the script file.
//! Splitting on every `;` is wrong: this lexer understands PostgreSQL's
//! quoting (standard and escape strings, dollar quotes, quoted identifiers,
//! line comments and nested block comments, parentheses) and psql's
//! heuristic for SQL-standard function bodies (`BEGIN ATOMIC ... END`), so a
//! `;` inside any of them never ends a statement. It assumes
//! `standard_conforming_strings = on`, the default since PostgreSQL 9.1.
//!
//! The lexer works on bytes: every delimiter it looks for is ASCII and bytes
//! of multi-byte characters are identifier characters (as in PostgreSQL), so
//! every range it returns falls on a UTF-8 character boundary. It never
//! panics: unterminated strings, quotes and comments run to the end of the
//! input, and the server reports the syntax error.
//!
//! Its tokens are offered to the rest of the crate (`code_tokens`) so that
//! whatever reads the words of a statement (Flyway's keyword detection) sees
//! the quoting exactly as the splitting does.

use std::ops::Range;

/// One statement of a script. `full` ranges partition the input: concatenating
/// `&sql[s.full.clone()]` for all statements returns the input exactly (round trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// From the end of the previous statement up to and including this one's `;` (or end of input).
    pub full: Range<usize>,
    /// The statement's code: from its first token that is not whitespace or a
    /// comment, to the end of its last token before the terminating `;` (the
    /// `;` excluded). Empty range (start==end, positioned at `full.end`) when
    /// the piece holds only whitespace/comments.
    pub code: Range<usize>,
}

impl Statement {
    /// True when the statement holds no code (only whitespace, comments or a bare `;`).
    pub fn is_empty(&self) -> bool {
        self.code.start == self.code.end
    }
}

/// Splits a script into statements. Trailing whitespace/comments after the
/// last `;` form a final [`Statement`] whose code is empty. Empty input
/// returns an empty Vec.
///
/// A `;` ends a statement only outside quotes and comments, at parenthesis
/// depth 0 and outside a `BEGIN ... END` block of a
/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE` statement (psql's heuristic).
pub fn split_statements(sql: &str) -> Vec<Statement> {
    let mut statements = Vec::new();
    let mut start = 0;
    let mut code: Option<Range<usize>> = None;
    let mut tracker = BlockTracker::default();
    for token in code_tokens(sql) {
        if token.kind == TokenKind::Semicolon && tracker.may_split() {
            let code = code.take().unwrap_or(token.end..token.end);
            statements.push(Statement {
                full: start..token.end,
                code,
            });
            start = token.end;
            tracker = BlockTracker::default();
            continue;
        }
        match &mut code {
            Some(range) => range.end = token.end,
            None => code = Some(token.start..token.end),
        }
        tracker.observe(&token, sql);
    }
    if start < sql.len() {
        let code = code.unwrap_or(sql.len()..sql.len());
        statements.push(Statement {
            full: start..sql.len(),
            code,
        });
    }
    statements
}

/// True when the statement's code is top-level transaction control: `BEGIN`,
/// `START TRANSACTION`, `COMMIT` (also `COMMIT AND CHAIN`, `COMMIT PREPARED`),
/// `END`, `ROLLBACK` (also `ROLLBACK PREPARED`), `ABORT` and
/// `PREPARE TRANSACTION`, case-insensitive, with any whitespace or comments
/// before. `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] x` only rolls back to
/// a savepoint and returns false, as do `SAVEPOINT` and `RELEASE`.
pub fn is_transaction_control(code: &str) -> bool {
    let mut words = leading_words(code, 3).into_iter();
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    let third = words.next().unwrap_or_default();
    match first.as_str() {
        "begin" | "commit" | "end" | "abort" => true,
        "start" | "prepare" => second == "transaction",
        "rollback" => {
            let after = if second == "work" || second == "transaction" {
                third
            } else {
                second
            };
            after != "to"
        }
        _ => false,
    }
}

/// The first `n` tokens of `code` that are not whitespace or comments: keywords and
/// identifiers lowercased, any other token as an empty string.
pub fn leading_words(code: &str, n: usize) -> Vec<String> {
    words(code).take(n).collect()
}

/// Whether `word` (lowercase) is a keyword or identifier of `code`: not inside a string,
/// a quoted identifier or a comment.
pub fn has_word(code: &str, word: &str) -> bool {
    words(code).any(|w| w == word)
}

fn words(code: &str) -> impl Iterator<Item = String> + '_ {
    code_tokens(code).map(|t| match t.kind {
        TokenKind::Identifier => t.text(code).to_ascii_lowercase(),
        _ => String::new(),
    })
}

/// The tokens of `sql` that are code, in order: every token but whitespace and comments.
pub(crate) fn code_tokens(sql: &str) -> impl Iterator<Item = Token> + '_ {
    Lexer::new(sql).filter(|t| t.kind != TokenKind::Whitespace && t.kind != TokenKind::Comment)
}

/// Byte offset (into the whole script) of the code of the first non-empty
/// statement that is transaction control, if any.
pub fn find_transaction_control(sql: &str) -> Option<usize> {
    split_statements(sql)
        .into_iter()
        .find(|s| !s.is_empty() && is_transaction_control(&sql[s.code.clone()]))
        .map(|s| s.code.start)
}

/// PostgreSQL reports error positions as 1-based CHARACTER indexes into the
/// query text it was sent. Converts such a position in `text` to a byte
/// offset into `text`. Position 0 maps to 0; positions beyond the last
/// character map to `text.len()`. Never panics.
pub fn char_position_to_byte(text: &str, position: usize) -> usize {
    match position.checked_sub(1) {
        None => 0,
        Some(index) => text
            .char_indices()
            .nth(index)
            .map_or(text.len(), |(byte, _)| byte),
    }
}

/// 1-based (line, column) of a byte offset in `source`; the column is
/// counted in characters. Lines are split on `'\n'` (so `"\r\n"` counts as
/// one line break) and a `'\r'` is not counted as a column. Offsets past the
/// end clamp to the end, offsets inside a character to that character's
/// start. Never panics.
pub fn line_col(source: &str, byte_offset: usize) -> (usize, usize) {
    let mut offset = byte_offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    let column = 1 + before[line_start..].chars().filter(|&c| c != '\r').count();
    (line, column)
}

/// psql's heuristic (psqlscan.l) for SQL-standard function bodies: inside a
/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE` statement, `BEGIN` (and `CASE`
/// within a `BEGIN`) open a block that `END` closes, and a `;` inside a
/// block does not end the statement.
#[derive(Default)]
struct BlockTracker {
    paren_depth: usize,
    begin_depth: usize,
    identifier_count: usize,
    /// Lowercase first letter of the first identifiers, when they are one of
    /// create/function/procedure/or/replace (0 otherwise).
    identifiers: [u8; 4],
}

impl BlockTracker {
    fn may_split(&self) -> bool {
        self.paren_depth == 0 && self.begin_depth == 0
    }

    fn observe(&mut self, token: &Token, sql: &str) {
        match token.kind {
            TokenKind::OpenParen => self.paren_depth += 1,
            TokenKind::CloseParen => self.paren_depth = self.paren_depth.saturating_sub(1),
            TokenKind::Identifier => self.identifier(token.text(sql)),
            _ => {}
        }
    }

    fn identifier(&mut self, word: &str) {
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        if ["create", "function", "procedure", "or", "replace"]
            .iter()
            .any(|k| is(k))
            && let Some(slot) = self.identifiers.get_mut(self.identifier_count)
        {
            *slot = word.as_bytes()[0].to_ascii_lowercase();
        }
        self.identifier_count = self.identifier_count.saturating_add(1);
        let ids = self.identifiers;
        let creates_routine = ids[0] == b'c'
            && (ids[1] == b'f'
                || ids[1] == b'p'
                || (ids[1] == b'o' && ids[2] == b'r' && (ids[3] == b'f' || ids[3] == b'p')));
        if creates_routine && self.paren_depth == 0 {
            if is("begin") {
                self.begin_depth += 1;
            } else if is("case") {
                if self.begin_depth >= 1 {
                    self.begin_depth += 1;
                }
            } else if is("end") {
                self.begin_depth = self.begin_depth.saturating_sub(1);
            }
        }
    }
}

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Whitespace,
    /// `--` line comment or (nested) `/* */` block comment.
    Comment,
    /// Unquoted identifier or keyword.
    Identifier,
    /// Any string constant, quoted identifier or dollar-quoted string.
    Quoted,
    Semicolon,
    OpenParen,
    CloseParen,
    /// Numbers, parameters, operators and anything else.
    Other,
}

/// One token: its kind and its byte range in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Token {
    /// The token's text in `sql`, the script it was read from.
    pub(crate) fn text<'s>(&self, sql: &'s str) -> &'s str {
        &sql[self.start..self.end]
    }
}

/// Iterator over the tokens of a script; tokens cover the input without gaps.
struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

/// PostgreSQL's `space`: `[ \t\n\r\f\v]`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\x0b')
}

/// `ident_start`: `[A-Za-z\200-\377_]`.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// `dolq_cont`: `[A-Za-z\200-\377_0-9]`.
fn is_dolq_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// `ident_cont`: `[A-Za-z\200-\377_0-9\$]`.
fn is_ident_cont(b: u8) -> bool {
    is_dolq_cont(b) || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(sql: &'a str) -> Self {
        Lexer {
            src: sql.as_bytes(),
            pos: 0,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    /// Index just past the run starting at `i` of bytes satisfying `pred`.
    fn scan_while(&self, mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
        while self.at(i).is_some_and(&pred) {
            i += 1;
        }
        i
    }

    /// End of a `--` comment starting at `i`: before the next `\n` or `\r`.
    fn line_comment_end(&self, i: usize) -> usize {
        self.scan_while(i, |b| b != b'\n' && b != b'\r')
    }

    /// End of a nested `/* */` comment starting at `i` (end of input if unterminated).
    fn block_comment_end(&self, i: usize) -> usize {
        let mut depth = 0usize;
        let mut i = i;
        while i < self.src.len() {
            match (self.src[i], self.at(i + 1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    i += 2;
                }
                (b'*', Some(b'/')) => {
                    depth = depth.saturating_sub(1);
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => i += 1,
            }
        }
        self.src.len()
    }

    /// End of a `'...'` literal whose opening quote is at `i`; `escape` for
    /// `E'...'` where a backslash escapes the next byte. `''` is an escaped
    /// quote in both. Like PostgreSQL, a literal continues after its closing
    /// quote when only whitespace with a newline separates it from another quote.
    fn string_end(&self, i: usize, escape: bool) -> usize {
        let len = self.src.len();
        let mut i = i + 1;
        while i < len {
            match self.src[i] {
                b'\\' if escape => i = (i + 2).min(len),
                b'\'' if self.at(i + 1) == Some(b'\'') => i += 2,
                b'\'' => match self.quote_continuation(i + 1) {
                    Some(quote) => i = quote + 1,
                    None => return i + 1,
                },
                _ => i += 1,
            }
        }
        len
    }

    /// PostgreSQL's `quotecontinue`: `{whitespace_with_newline}{quote}` at `i`;
    /// returns the position of the continuing quote.
    fn quote_continuation(&self, i: usize) -> Option<usize> {
        // horiz_whitespace*: [ \t\f] or `--` comments
        let mut i = i;
        loop {
            match self.at(i) {
                Some(b' ' | b'\t' | b'\x0c') => i += 1,
                Some(b'-') if self.at(i + 1) == Some(b'-') => i = self.line_comment_end(i),
                _ => break,
            }
        }
        // newline
        if !matches!(self.at(i), Some(b'\n' | b'\r')) {
            return None;
        }
        i += 1;
        // special_whitespace*: space+ or a `--` comment followed by a newline
        loop {
            match self.at(i) {
                Some(b) if is_space(b) => i += 1,
                Some(b'-') if self.at(i + 1) == Some(b'-') => {
                    i = self.line_comment_end(i);
                    if !matches!(self.at(i), Some(b'\n' | b'\r')) {
                        return None;
                    }
                }
                _ => break,
            }
        }
        (self.at(i) == Some(b'\'')).then_some(i)
    }

    /// End of a `"..."` quoted identifier whose opening quote is at `i`.
    fn quoted_identifier_end(&self, i: usize) -> usize {
        let len = self.src.len();
        let mut i = i + 1;
        while i < len {
            if self.src[i] == b'"' {
                if self.at(i + 1) == Some(b'"') {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                i += 1;
            }
        }
        len
    }

    /// Token starting with `$` at `i`: a parameter, a dollar-quoted string
    /// or a lone `$`.
    fn dollar(&self, i: usize) -> Token {
        let token = |kind, end| Token {
            kind,
            start: i,
            end,
        };
        match self.at(i + 1) {
            // `$1`, `$1abc` (param_junk)
            Some(b) if b.is_ascii_digit() => {
                let end = self.scan_while(i + 1, |b| b.is_ascii_digit());
                let end = if self.at(end).is_some_and(is_ident_start) {
                    self.scan_while(end, is_ident_cont)
                } else {
                    end
                };
                token(TokenKind::Other, end)
            }
            Some(b) if b == b'$' || is_ident_start(b) => {
                let tag_end = self.scan_while(i + 1, is_dolq_cont);
                if self.at(tag_end) != Some(b'$') {
                    // dolqfailed: `$abc` without a closing `$`
                    return token(TokenKind::Other, tag_end);
                }
                let delimiter = &self.src[i..=tag_end];
                let body = tag_end + 1;
                let end = self.src[body..]
                    .windows(delimiter.len())
                    .position(|w| w == delimiter)
                    .map_or(self.src.len(), |p| body + p + delimiter.len());
                token(TokenKind::Quoted, end)
            }
            _ => token(TokenKind::Other, i + 1),
        }
    }

    /// Token starting with an identifier character at `i`, including the
    /// prefixed literals `E'..'`, `B'..'`, `X'..'`, `N'..'`, `U&'..'`, `U&".."`.
    fn word(&self, i: usize) -> Token {
        let token = |kind, end| Token {
            kind,
            start: i,
            end,
        };
        let first = self.src[i];
        let next = self.at(i + 1);
        match (first.to_ascii_lowercase(), next) {
            (b'e', Some(b'\'')) => token(TokenKind::Quoted, self.string_end(i + 1, true)),
            (b'b' | b'x' | b'n', Some(b'\'')) => {
                token(TokenKind::Quoted, self.string_end(i + 1, false))
            }
            (b'u', Some(b'&')) if self.at(i + 2) == Some(b'\'') => {
                token(TokenKind::Quoted, self.string_end(i + 2, false))
            }
            (b'u', Some(b'&')) if self.at(i + 2) == Some(b'"') => {
                token(TokenKind::Quoted, self.quoted_identifier_end(i + 2))
            }
            _ => token(TokenKind::Identifier, self.scan_while(i, is_ident_cont)),
        }
    }

    /// A number starting with a digit at `i`, including trailing junk such
    /// as `1e5` or `10abc` (PostgreSQL's `integer_junk`).
    fn number(&self, i: usize) -> usize {
        let end = self.scan_while(i, |b| b.is_ascii_digit() || b == b'.' || b == b'_');
        if self.at(end).is_some_and(is_ident_start) {
            self.scan_while(end, is_ident_cont)
        } else {
            end
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let i = self.pos;
        let first = self.at(i)?;
        let next = self.at(i + 1);
        let token = |kind, end| Token {
            kind,
            start: i,
            end,
        };
        let token = match first {
            b if is_space(b) => token(TokenKind::Whitespace, self.scan_while(i, is_space)),
            b'-' if next == Some(b'-') => token(TokenKind::Comment, self.line_comment_end(i)),
            b'/' if next == Some(b'*') => token(TokenKind::Comment, self.block_comment_end(i)),
            b'\'' => token(TokenKind::Quoted, self.string_end(i, false)),
            b'"' => token(TokenKind::Quoted, self.quoted_identifier_end(i)),
            b'$' => self.dollar(i),
            b';' => token(TokenKind::Semicolon, i + 1),
            b'(' => token(TokenKind::OpenParen, i + 1),
            b')' => token(TokenKind::CloseParen, i + 1),
            b if b.is_ascii_digit() => token(TokenKind::Other, self.number(i)),
            b if is_ident_start(b) => self.word(i),
            _ => token(TokenKind::Other, i + 1),
        };
        self.pos = token.end.max(i + 1).min(self.src.len());
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The non-empty statements' code.
    fn codes(sql: &str) -> Vec<&str> {
        split_statements(sql)
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| &sql[s.code])
            .collect()
    }

    fn check_invariants(sql: &str) {
        let statements = split_statements(sql);
        let mut expected_start = 0;
        let mut rebuilt = String::new();
        for (n, s) in statements.iter().enumerate() {
            assert_eq!(s.full.start, expected_start, "contiguous: {sql:?}");
            assert!(s.full.end > s.full.start, "non-empty piece: {sql:?}");
            assert!(s.full.end <= sql.len());
            for b in [s.full.start, s.full.end, s.code.start, s.code.end] {
                assert!(sql.is_char_boundary(b), "boundary {b} in {sql:?}");
            }
            assert!(s.full.start <= s.code.start && s.code.start <= s.code.end);
            assert!(s.code.end <= s.full.end);
            if s.is_empty() {
                assert_eq!(s.code.start, s.full.end);
            }
            if n + 1 < statements.len() {
                assert!(sql[s.full.clone()].ends_with(';'));
                assert!(s.is_empty() || s.code.end < s.full.end);
            }
            rebuilt.push_str(&sql[s.full.clone()]);
            expected_start = s.full.end;
        }
        assert_eq!(expected_start, sql.len());
        assert_eq!(rebuilt, sql);
    }

    #[test]
    fn empty_input() {
        assert!(split_statements("").is_empty());
        assert_eq!(find_transaction_control(""), None);
    }

    #[test]
    fn simple_statements_and_ranges() {
        let sql = "SELECT 1;\n  SELECT 2 ;\n";
        let s = split_statements(sql);
        assert_eq!(
            s,
            vec![
                Statement {
                    full: 0..9,
                    code: 0..8
                },
                Statement {
                    full: 9..22,
                    code: 12..20
                },
                Statement {
                    full: 22..23,
                    code: 23..23
                },
            ]
        );
        assert!(s[2].is_empty());
        check_invariants(sql);
    }

    #[test]
    fn missing_final_semicolon() {
        let sql = "SELECT 1; SELECT 2 -- trailing\n";
        assert_eq!(codes(sql), vec!["SELECT 1", "SELECT 2"]);
        let s = split_statements(sql);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].full, 9..sql.len());
    }

    #[test]
    fn only_comments_and_whitespace() {
        let sql = "-- a; b\n/* c; */\n  ";
        let s = split_statements(sql);
        assert_eq!(s.len(), 1);
        assert!(s[0].is_empty());
        assert_eq!(s[0].code, sql.len()..sql.len());
        assert_eq!(split_statements(" ").len(), 1);
    }

    #[test]
    fn empty_statements() {
        let sql = ";; SELECT 1;";
        let s = split_statements(sql);
        assert_eq!(s.len(), 3);
        assert!(s[0].is_empty() && s[1].is_empty());
        assert_eq!(s[0].code, 1..1);
        assert_eq!(codes(sql), vec!["SELECT 1"]);
    }

    #[test]
    fn comments_are_not_code() {
        let sql = "/* lead; */ -- x;\nSELECT 1 /* tail; */ -- y;\n;";
        assert_eq!(codes(sql), vec!["SELECT 1"]);
        assert_eq!(split_statements(sql).len(), 1);
    }

    #[test]
    fn standard_strings() {
        assert_eq!(
            codes("SELECT 'a;b'; SELECT 'it''s;'"),
            vec!["SELECT 'a;b'", "SELECT 'it''s;'"]
        );
        // Backslash is literal in a standard string.
        assert_eq!(
            codes(r"SELECT 'a\'; SELECT 2"),
            vec![r"SELECT 'a\'", "SELECT 2"]
        );
        // A word ending in e/E before a quote is an identifier, not an E prefix.
        assert_eq!(
            codes(r"SELECT some'a\'; SELECT xE'b\'; SELECT 3"),
            vec![r"SELECT some'a\'", r"SELECT xE'b\'", "SELECT 3"]
        );
    }

    #[test]
    fn escape_strings() {
        assert_eq!(
            codes(r"SELECT E'it\'s;'; SELECT 2"),
            vec![r"SELECT E'it\'s;'", "SELECT 2"]
        );
        assert_eq!(
            codes(r"SELECT e'a\\'; SELECT 2"),
            vec![r"SELECT e'a\\'", "SELECT 2"]
        );
        assert_eq!(
            codes(r"SELECT E'a''\';'; SELECT 2"),
            vec![r"SELECT E'a''\';'", "SELECT 2"]
        );
        // Continuation after whitespace with a newline stays an escape string.
        let sql = "SELECT E'a'\n  'b\\';'; SELECT 2";
        assert_eq!(codes(sql), vec!["SELECT E'a'\n  'b\\';'", "SELECT 2"]);
        // Without a newline it is not a continuation: the second is standard.
        let sql = "SELECT E'a' 'b\\'; SELECT 2";
        assert_eq!(codes(sql), vec!["SELECT E'a' 'b\\'", "SELECT 2"]);
    }

    #[test]
    fn prefixed_strings() {
        let sql = r"SELECT U&'a;\', B'0;1', X'F;F', N'n;\'; SELECT 2";
        assert_eq!(
            codes(sql),
            vec![r"SELECT U&'a;\', B'0;1', X'F;F', N'n;\'", "SELECT 2"]
        );
        assert_eq!(
            codes(r#"SELECT U&"a;b"; SELECT 2"#),
            vec![r#"SELECT U&"a;b""#, "SELECT 2"]
        );
    }

    #[test]
    fn quoted_identifiers() {
        assert_eq!(
            codes(r#"SELECT "a;b", "say ""hi;"""; SELECT 2"#),
            vec![r#"SELECT "a;b", "say ""hi;""""#, "SELECT 2"]
        );
    }

    #[test]
    fn line_comments() {
        assert_eq!(
            codes("SELECT 1 -- not; here\n, 2; SELECT 3"),
            vec!["SELECT 1 -- not; here\n, 2", "SELECT 3"]
        );
        // A comment ends at \r as well.
        assert_eq!(
            codes("SELECT 1 --x\r;SELECT 2"),
            vec!["SELECT 1", "SELECT 2"]
        );
        // `-` alone is an operator.
        assert_eq!(
            codes("SELECT 1-2; SELECT 3"),
            vec!["SELECT 1-2", "SELECT 3"]
        );
    }

    #[test]
    fn nested_block_comments() {
        let sql = "SELECT /* a /* b; */ still; comment */ 1; SELECT 2";
        assert_eq!(
            codes(sql),
            vec!["SELECT /* a /* b; */ still; comment */ 1", "SELECT 2"]
        );
        assert_eq!(codes("SELECT /*/ ; */ 1; SELECT 2").len(), 2);
        assert_eq!(
            codes("SELECT /**/ 1; SELECT 2"),
            vec!["SELECT /**/ 1", "SELECT 2"]
        );
        // An operator followed by a comment start.
        assert_eq!(codes("SELECT 1 */* ; */ 2; SELECT 3").len(), 2);
    }

    #[test]
    fn dollar_quotes() {
        assert_eq!(
            codes("SELECT $$a;b$$; SELECT 2"),
            vec!["SELECT $$a;b$$", "SELECT 2"]
        );
        let sql = "DO $a$ x; $b$ y; $b$ z; $a$; SELECT 2";
        assert_eq!(codes(sql), vec!["DO $a$ x; $b$ y; $b$ z; $a$", "SELECT 2"]);
        // Tags are case-sensitive and may contain digits, _ and non-ASCII.
        let sql = "SELECT $tag_1$ ; $TAG_1$ ; $tag_1$; SELECT $é$;$é$; SELECT 3";
        assert_eq!(
            codes(sql),
            vec![
                "SELECT $tag_1$ ; $TAG_1$ ; $tag_1$",
                "SELECT $é$;$é$",
                "SELECT 3"
            ]
        );
        // The closing tag may directly follow other content.
        assert_eq!(codes("SELECT $a$;x$a$; SELECT 2").len(), 2);
        assert_eq!(codes("SELECT $a$;$xa$a$; SELECT 2").len(), 2);
    }

    #[test]
    fn dollar_non_quotes() {
        // Parameters.
        assert_eq!(
            codes("SELECT $1; SELECT $2;"),
            vec!["SELECT $1", "SELECT $2"]
        );
        // `$` inside an identifier.
        assert_eq!(
            codes("SELECT a$b; SELECT 2"),
            vec!["SELECT a$b", "SELECT 2"]
        );
        assert_eq!(
            codes("SELECT a$$; SELECT 2"),
            vec!["SELECT a$$", "SELECT 2"]
        );
        // `$abc` without closing `$`, and a lone `$`.
        assert_eq!(
            codes("SELECT $abc; SELECT $ ;"),
            vec!["SELECT $abc", "SELECT $"]
        );
        // `$1$` is a parameter followed by a `$`.
        assert_eq!(
            codes("SELECT $1$; SELECT 2"),
            vec!["SELECT $1$", "SELECT 2"]
        );
    }

    #[test]
    fn parentheses() {
        assert_eq!(
            codes("SELECT (1; 2); SELECT 3"),
            vec!["SELECT (1; 2)", "SELECT 3"]
        );
        // Like psql, unbalanced `(` keeps the rest in one statement...
        assert_eq!(codes("SELECT (1; SELECT 2"), vec!["SELECT (1; SELECT 2"]);
        // ...and an extra `)` is ignored.
        assert_eq!(codes("SELECT 1); SELECT 2"), vec!["SELECT 1)", "SELECT 2"]);
        // Parentheses in quotes and comments do not count.
        assert_eq!(
            codes("SELECT '(' /* ( */ -- (\n; SELECT 2"),
            vec!["SELECT '('", "SELECT 2"]
        );
    }

    #[test]
    fn begin_atomic_bodies() {
        let f = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND";
        let sql = format!("{f};\nSELECT 2;");
        assert_eq!(codes(&sql), vec![f, "SELECT 2"]);

        let p = "create or replace procedure p(a int)\nbegin atomic\n  insert into t values (a);\n  select case a when 1 then 2 end;\nend";
        let sql = format!("{p};\nSELECT 2;");
        assert_eq!(codes(&sql), vec![p, "SELECT 2"]);

        let p = "CREATE PROCEDURE p() BEGIN ATOMIC SELECT 1; END";
        assert_eq!(codes(&format!("{p}; SELECT 2")), vec![p, "SELECT 2"]);

        // Nested BEGIN ... END and CASE inside.
        let f = "CREATE OR REPLACE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT CASE WHEN x THEN CASE WHEN y THEN 1 END END; END";
        assert_eq!(codes(&format!("{f}; SELECT 2")), vec![f, "SELECT 2"]);
    }

    #[test]
    fn begin_outside_routines_is_not_a_block() {
        // BEGIN as transaction control splits normally.
        assert_eq!(
            codes("BEGIN; SELECT 1; END; COMMIT;"),
            vec!["BEGIN", "SELECT 1", "END", "COMMIT"]
        );
        // CASE outside a BEGIN block does not count.
        let f = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql";
        let sql = format!("{f}; SELECT CASE WHEN true THEN 1 END; SELECT 2");
        assert_eq!(
            codes(&sql),
            vec![f, "SELECT CASE WHEN true THEN 1 END", "SELECT 2"]
        );
        // CREATE TABLE is not a routine: `begin` as a column name is harmless.
        let sql = "CREATE TABLE t (begin int); CREATE TABLE begin (x int); SELECT 2";
        assert_eq!(codes(sql).len(), 3);
        // CREATE FUNCTION with a parameter named begin: inside parentheses.
        let f = "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1";
        assert_eq!(codes(&format!("{f}; SELECT 2")), vec![f, "SELECT 2"]);
        // Quoted BEGIN is not an identifier for the heuristic.
        let f = r#"CREATE FUNCTION "begin"() RETURNS int LANGUAGE sql RETURN 1"#;
        assert_eq!(codes(&format!("{f}; SELECT 2")), vec![f, "SELECT 2"]);
        // A PL/pgSQL body in dollar quotes.
        let f = "CREATE FUNCTION f() RETURNS void AS $$ BEGIN PERFORM 1; END; $$ LANGUAGE plpgsql";
        assert_eq!(codes(&format!("{f}; SELECT 2")), vec![f, "SELECT 2"]);
    }

    #[test]
    fn heuristic_state_resets_per_statement() {
        // The second statement is not a routine even though the first was.
        let sql = "CREATE FUNCTION f() RETURNS int RETURN 1; SELECT 1; BEGIN; SELECT 2";
        assert_eq!(
            codes(sql),
            vec![
                "CREATE FUNCTION f() RETURNS int RETURN 1",
                "SELECT 1",
                "BEGIN",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn unterminated_constructs_run_to_end() {
        for sql in [
            "SELECT 1; SELECT 'abc; SELECT 2",
            "SELECT 1; SELECT E'abc\\'; SELECT 2",
            "SELECT 1; SELECT E'abc\\",
            "SELECT 1; SELECT \"abc; SELECT 2",
            "SELECT 1; SELECT $$abc; SELECT 2",
            "SELECT 1; SELECT $a$abc; $b$ SELECT 2",
            "SELECT 1; SELECT U&'x",
        ] {
            let c = codes(sql);
            assert_eq!(c.len(), 2, "{sql:?}");
            assert_eq!(c[0], "SELECT 1");
            assert!(sql.ends_with(c[1]), "{sql:?}");
            check_invariants(sql);
        }
        // An unterminated (nested) comment is not code.
        let sql = "SELECT 1; SELECT /* abc /* */; SELECT 2";
        assert_eq!(codes(sql), vec!["SELECT 1", "SELECT"]);
        let s = split_statements("SELECT 1; /* abc;");
        assert_eq!(s.len(), 2);
        assert!(s[1].is_empty());
    }

    #[test]
    fn multibyte_text() {
        let sql = "SELECT 'é;ü' AS «x»; SELECT \"名;前\"; SELECT ñ$;";
        assert_eq!(
            codes(sql),
            vec!["SELECT 'é;ü' AS «x»", "SELECT \"名;前\"", "SELECT ñ$"]
        );
        check_invariants(sql);
        // A non-ASCII character is an identifier character (not whitespace).
        assert_eq!(codes("\u{a0};"), vec!["\u{a0}"]);
    }

    #[test]
    fn crlf_line_endings() {
        let sql = "SELECT 1;\r\n-- c;\r\nSELECT 2;\r\n";
        assert_eq!(codes(sql), vec!["SELECT 1", "SELECT 2"]);
        check_invariants(sql);
        let s = split_statements(sql);
        assert_eq!(line_col(sql, s[1].code.start), (3, 1));
    }

    #[test]
    fn transaction_control_detection() {
        for code in [
            "BEGIN",
            "begin work",
            "Begin Transaction Isolation Level Serializable",
            "START TRANSACTION",
            "start transaction read only",
            "COMMIT",
            "commit work",
            "COMMIT AND CHAIN",
            "COMMIT PREPARED 'x'",
            "END",
            "end transaction",
            "ROLLBACK",
            "rollback work",
            "ROLLBACK AND NO CHAIN",
            "ROLLBACK PREPARED 'x'",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "-- comment\nBEGIN",
            "/* c */ commit",
            "BEGIN;",
        ] {
            assert!(is_transaction_control(code), "{code:?}");
        }
        for code in [
            "",
            "SELECT 1",
            "ROLLBACK TO SAVEPOINT x",
            "rollback to x",
            "ROLLBACK WORK TO SAVEPOINT x",
            "ROLLBACK TRANSACTION TO x",
            "SAVEPOINT x",
            "RELEASE SAVEPOINT x",
            "START",
            "PREPARE q AS SELECT 1",
            "BEGINNING",
            "\"begin\"",
            "'begin'",
            "-- begin",
            "ENDING",
            "CREATE FUNCTION f() RETURNS void AS $$ BEGIN END $$ LANGUAGE plpgsql",
        ] {
            assert!(!is_transaction_control(code), "{code:?}");
        }
    }

    #[test]
    fn find_transaction_control_offsets() {
        let sql = "SELECT 1;\n-- comment\nBEGIN;\nSELECT 2;";
        assert_eq!(find_transaction_control(sql), Some(21));
        assert_eq!(&sql[21..26], "BEGIN");
        assert_eq!(find_transaction_control("SELECT 1; COMMIT;"), Some(10));
        assert_eq!(find_transaction_control("select 1;\nbegin work;"), Some(10));
        let sql = "CREATE FUNCTION f() RETURNS void AS $$\nBEGIN\n  PERFORM 1;\nEND;\n$$ LANGUAGE plpgsql;\nSELECT 1;";
        assert_eq!(find_transaction_control(sql), None);
        let sql =
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 2;";
        assert_eq!(find_transaction_control(sql), None);
        assert_eq!(
            find_transaction_control("SAVEPOINT a; ROLLBACK TO a;"),
            None
        );
        assert_eq!(find_transaction_control("-- BEGIN;\n/* COMMIT; */"), None);
    }

    #[test]
    fn char_positions() {
        let text = "SELECT 'é' + x";
        assert_eq!(char_position_to_byte(text, 0), 0);
        assert_eq!(char_position_to_byte(text, 1), 0);
        assert_eq!(char_position_to_byte(text, 9), 8); // é
        assert_eq!(char_position_to_byte(text, 10), 10); // the quote after é
        assert_eq!(char_position_to_byte(text, 14), 14); // x
        assert_eq!(char_position_to_byte(text, 15), text.len());
        assert_eq!(char_position_to_byte(text, usize::MAX), text.len());
        assert_eq!(char_position_to_byte("", 1), 0);
        let text = "名前 x";
        assert_eq!(char_position_to_byte(text, 2), 3);
        assert_eq!(char_position_to_byte(text, 4), 7);
    }

    #[test]
    fn line_columns() {
        let src = "ab\ncé d\r\nx\r\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 2), (1, 3)); // the \n
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 4), (2, 2)); // é
        assert_eq!(line_col(src, 5), (2, 2)); // inside é clamps to its start
        assert_eq!(line_col(src, 6), (2, 3));
        assert_eq!(line_col(src, 8), (2, 5)); // the \r
        assert_eq!(line_col(src, 9), (2, 5)); // the \n after \r
        assert_eq!(line_col(src, 10), (3, 1));
        assert_eq!(line_col(src, 11), (3, 2));
        assert_eq!(line_col(src, src.len()), (4, 1));
        assert_eq!(line_col(src, usize::MAX), (4, 1));
        assert_eq!(line_col("", 5), (1, 1));
        // A lone \r is neither a line break nor a column.
        assert_eq!(line_col("a\rb", 2), (1, 2));
    }

    fn chaotic_sql() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            "'", "''", "\"", "$", "$$", "$a$", "$b$", "$1", ";", "-", "--", "/", "*", "/*", "*/",
            "\\", "E", "e", "U&", "B", "(", ")", "\n", "\r\n", "\r", " ", "\t", "é", "名", "a$",
        ]);
        let words = prop::sample::select(vec![
            "BEGIN",
            "begin",
            "END",
            "CASE",
            "ATOMIC",
            "CREATE FUNCTION",
            "CREATE OR REPLACE PROCEDURE",
            "create procedure",
            "SELECT",
            "x",
            " ",
        ]);
        let part = prop_oneof![
            2 => any::<char>().prop_map(String::from),
            6 => special.prop_map(String::from),
            2 => words.prop_map(String::from),
        ];
        prop::collection::vec(part, 0..60).prop_map(|parts| parts.concat())
    }

    fn code_fragment() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "SELECT",
            "x",
            "t.col",
            "42",
            "1.5e3",
            "$1",
            "a$b",
            "'a;b'",
            "'it''s; fine'",
            r"'back\slash'",
            r"E'it\'s;'",
            r"e'\\'",
            "U&'u;'",
            "B'0101'",
            "X'FF'",
            "N'n;'",
            "\"quoted;ident\"",
            "\"with \"\"quote;\"\"\"",
            "$$ body; more; $$",
            "$fn$ BEGIN x; $$ nested; $$ END; $fn$",
            "$é$ ; $é$",
            "(1; 2)",
            "('(' || ';')",
            "f(a, b)",
            "+",
            "=",
            "::",
            "名前",
        ])
        .prop_map(String::from)
    }

    fn separator() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            " ",
            "\n",
            "\r\n",
            "  \t",
            " /* c; */ ",
            " /* a /* b; */ c; */ ",
            " -- c; 'x\n",
            "\n-- only; comment\n",
        ])
        .prop_map(String::from)
    }

    fn statement() -> impl Strategy<Value = String> {
        let plain = (
            code_fragment(),
            prop::collection::vec((separator(), code_fragment()), 0..6),
        )
            .prop_map(|(first, rest)| {
                let mut s = first;
                for (sep, frag) in rest {
                    s.push_str(&sep);
                    s.push_str(&frag);
                }
                s
            });
        let routine = prop::sample::select(vec![
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN x THEN 1 END; END",
            "create or replace procedure p() begin atomic insert into t values (1); end",
            "CREATE PROCEDURE p() BEGIN ATOMIC SELECT 'a;'; END",
        ])
        .prop_map(String::from);
        prop_oneof![8 => plain, 1 => routine]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn split_never_panics_and_round_trips(sql in chaotic_sql()) {
            check_invariants(&sql);
            for s in split_statements(&sql) {
                let _ = is_transaction_control(&sql[s.code.clone()]);
            }
            let _ = find_transaction_control(&sql);
        }

        #[test]
        fn split_arbitrary_unicode(sql in any::<String>()) {
            check_invariants(&sql);
        }

        #[test]
        fn well_formed_statements_come_back(
            statements in prop::collection::vec(
                (prop::option::of(separator()), statement()), 1..6),
            trailing_semicolon in any::<bool>(),
            tail in prop::option::of(separator()),
        ) {
            let mut sql = String::new();
            for (n, (lead, stmt)) in statements.iter().enumerate() {
                if n > 0 {
                    sql.push_str(";\n");
                }
                if let Some(lead) = lead {
                    sql.push_str(lead);
                }
                sql.push_str(stmt);
            }
            if trailing_semicolon {
                sql.push(';');
            }
            if let Some(tail) = tail {
                sql.push_str(&tail);
            }
            let expected: Vec<&str> = statements.iter().map(|(_, s)| s.as_str()).collect();
            prop_assert_eq!(codes(&sql), expected);
            check_invariants(&sql);
        }

        #[test]
        fn positions_never_panic(text in chaotic_sql(), offset in 0usize..200, big in any::<usize>()) {
            for o in [offset, big, usize::MAX] {
                let byte = char_position_to_byte(&text, o);
                prop_assert!(byte <= text.len() && text.is_char_boundary(byte));
                let (line, col) = line_col(&text, o);
                prop_assert!(line >= 1 && col >= 1);
            }
            // Reference: lines are counted by '\n' before the clamped offset.
            let mut clamped = offset.min(text.len());
            while !text.is_char_boundary(clamped) {
                clamped -= 1;
            }
            let (line, _) = line_col(&text, offset);
            prop_assert_eq!(line, 1 + text[..clamped].matches('\n').count());
            // char_position_to_byte inverts char counting.
            if let Some((byte, _)) = text.char_indices().nth(offset) {
                prop_assert_eq!(char_position_to_byte(&text, offset + 1), byte);
            }
        }
    }
}
