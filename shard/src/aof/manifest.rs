//! The manifest (`appendonly.aof.manifest`): which files make up the AOF, in order.
//!
//! The format and its checks are Redis 7.0's, so either server can read what the other
//! wrote: one line per file, `file NAME seq N type b|h|i`, base first, then history, then
//! incr; lines starting with `#` are comments; extra key/value pairs are ignored for forward
//! compatibility. Lines are read in 1024-byte pieces like `fgets`, so an over-long line is
//! refused the same way.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::error::AofError;
use super::{sync_dir, BASE_NAME, MANIFEST_NAME, TEMP_PREFIX};

/// Longest manifest line, as Redis reads it.
const MAX_LINE: usize = 1024;
/// A manifest lists a handful of files; anything this big is not a manifest.
const MAX_MANIFEST: u64 = 64 * 1024 * 1024;

/// What a file listed in the manifest holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A snapshot of the keyspace written by a rewrite.
    Base,
    /// Replaced by a rewrite; kept only until the new manifest is durable, then deleted.
    History,
    /// Commands appended after the base.
    Incr,
}

impl FileKind {
    fn tag(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    pub name: String,
    pub seq: i64,
    pub kind: FileKind,
}

/// The parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub history: Vec<AofInfo>,
    pub incr: Vec<AofInfo>,
}

impl Manifest {
    /// Files to load, in order: base, then incr.
    pub fn load_order(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(self.incr.iter())
    }

    /// True when no base or incr file is listed: the shard starts empty.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// Sequence number for the next incr file. History files count too, so a new name never
    /// collides with a file that is still waiting to be deleted.
    pub fn next_incr_seq(&self) -> i64 {
        let hist = self
            .history
            .iter()
            .filter(|h| h.name.ends_with(".incr.aof"))
            .map(|h| h.seq);
        self.incr
            .iter()
            .map(|i| i.seq)
            .chain(hist)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Sequence number for the next base file.
    pub fn next_base_seq(&self) -> i64 {
        let hist = self
            .history
            .iter()
            .filter(|h| h.name.ends_with(".base.aof"))
            .map(|h| h.seq);
        self.base
            .iter()
            .map(|b| b.seq)
            .chain(hist)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Parses manifest text. Errors carry Redis's exact messages.
    pub fn parse(text: &[u8]) -> Result<Manifest, ParseError> {
        let mut m = Manifest::default();
        let mut max_seq = 0i64;
        let mut linenum = 0usize;
        let mut rest = text;
        loop {
            if rest.is_empty() {
                if linenum == 0 {
                    return Err(ParseError::new(0, b"", "Found an empty AOF manifest"));
                }
                return Ok(m);
            }
            // One `fgets` piece: up to and including '\n', at most MAX_LINE bytes.
            let take = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(nl) => nl + 1,
                None => rest.len().min(MAX_LINE),
            };
            let (piece, tail) = rest.split_at(take);
            rest = tail;
            linenum += 1;
            if piece.first() == Some(&b'#') {
                continue;
            }
            if !piece.contains(&b'\n') {
                return Err(ParseError::new(
                    linenum,
                    piece,
                    "The AOF manifest file contains too long line",
                ));
            }
            let line = trim(piece);
            let fmt_err = || ParseError::new(linenum, line, "Invalid AOF manifest file format");
            if line.is_empty() {
                return Err(fmt_err());
            }
            let argv = match shoal_proto::request::split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(fmt_err()),
            };
            let (mut name, mut seq, mut tag) = (None, 0i64, 0u8);
            for pair in argv.chunks_exact(2) {
                let (key, val) = (&pair[0], &pair[1]);
                if key.eq_ignore_ascii_case(b"file") {
                    if val.contains(&b'/') || val.contains(&b'\\') {
                        return Err(ParseError::new(
                            linenum,
                            line,
                            "File can't be a path, just a filename",
                        ));
                    }
                    name = Some(val.clone());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(val);
                } else if key.eq_ignore_ascii_case(b"type") {
                    tag = val.first().copied().unwrap_or(0);
                }
            }
            // An empty name is a C empty string, which Redis accepts; a NUL-free check is
            // all `!ai->file_name` amounts to after parsing.
            let name = match name.map(String::from_utf8) {
                Some(Ok(n)) if seq != 0 && tag != 0 => n,
                _ => return Err(fmt_err()),
            };
            match tag {
                b'b' => {
                    if m.base.is_some() {
                        return Err(ParseError::new(
                            linenum,
                            line,
                            "Found duplicate base file information",
                        ));
                    }
                    m.base = Some(AofInfo {
                        name,
                        seq,
                        kind: FileKind::Base,
                    });
                }
                b'h' => m.history.push(AofInfo {
                    name,
                    seq,
                    kind: FileKind::History,
                }),
                b'i' => {
                    if seq <= max_seq {
                        return Err(ParseError::new(
                            linenum,
                            line,
                            "Found a non-monotonic sequence number",
                        ));
                    }
                    max_seq = seq;
                    m.incr.push(AofInfo {
                        name,
                        seq,
                        kind: FileKind::Incr,
                    });
                }
                _ => return Err(ParseError::new(linenum, line, "Unknown AOF file type")),
            }
        }
    }

    /// True when [`Manifest::to_text`] can be read back: every line fits the reader's
    /// line limit (a long or escaped file name may not).
    pub fn storable(&self) -> bool {
        self.to_text().lines().all(line_fits)
    }

    /// The manifest's text: base, history, incr, one line each.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for info in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                repr_if_needed(&info.name),
                info.seq,
                info.kind.tag()
            ));
        }
        out
    }

    /// Reads `dir/appendonly.aof.manifest`. `Ok(None)` when the directory or the manifest does
    /// not exist (a new shard).
    pub fn load(dir: &Path) -> Result<Option<Manifest>, AofError> {
        let path = dir.join(MANIFEST_NAME);
        Self::load_file(&path)
    }

    /// Reads a manifest at an explicit path; `Ok(None)` if it does not exist.
    pub fn load_file(path: &Path) -> Result<Option<Manifest>, AofError> {
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AofError::io("stat manifest", path, e)),
        };
        if meta.len() > MAX_MANIFEST {
            return Err(AofError::Manifest {
                path: path.to_path_buf(),
                line: 0,
                text: String::new(),
                msg: "Invalid AOF manifest file format",
            });
        }
        let text = fs::read(path).map_err(|e| AofError::io("read manifest", path, e))?;
        Manifest::parse(&text)
            .map(Some)
            .map_err(|e| e.into_error(path.to_path_buf()))
    }

    /// Replaces `dir/appendonly.aof.manifest` atomically: a crash leaves either the old or
    /// the new manifest, never a mix.
    pub fn store(&self, dir: &Path) -> Result<(), AofError> {
        let tmp = dir.join(format!("{TEMP_PREFIX}{MANIFEST_NAME}"));
        let dst = dir.join(MANIFEST_NAME);
        let text = self.to_text();
        // A manifest that could not be read back would keep the shard from ever
        // starting again; refuse it while the old one is still in place.
        if let Some((i, line)) = text.lines().enumerate().find(|(_, l)| !line_fits(l)) {
            return Err(AofError::Manifest {
                path: dst,
                line: i + 1,
                text: line.chars().take(64).collect(),
                msg: "The AOF manifest line would be too long to read back",
            });
        }
        let mut f = File::create(&tmp).map_err(|e| AofError::io("create", &tmp, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| AofError::io("write", &tmp, e))?;
        // IMPORTANT: the contents must be on disk before the rename makes them current.
        f.sync_all().map_err(|e| AofError::io("fsync", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, &dst).map_err(|e| AofError::io("rename", &tmp, e))?;
        // IMPORTANT: fsync folder, or the rename itself may be lost in a crash.
        sync_dir(dir)
    }
}

/// Whether `line` (without its newline) is short enough for `parse` to accept.
fn line_fits(line: &str) -> bool {
    // The line and its newline must fit in one MAX_LINE read.
    line.len() < MAX_LINE
}

/// Name of the base file with sequence `seq`.
pub fn base_name(seq: i64) -> String {
    format!("{BASE_NAME}.{seq}.base.aof")
}

/// Name of the incr file with sequence `seq`.
pub fn incr_name(seq: i64) -> String {
    format!("{BASE_NAME}.{seq}.incr.aof")
}

/// A manifest parse error, before it is tied to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub text: String,
    pub msg: &'static str,
}

impl ParseError {
    fn new(line: usize, text: &[u8], msg: &'static str) -> Self {
        ParseError {
            line,
            text: String::from_utf8_lossy(text).into_owned(),
            msg,
        }
    }

    fn into_error(self, path: PathBuf) -> AofError {
        AofError::Manifest {
            path,
            line: self.line,
            text: self.text,
            msg: self.msg,
        }
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !is_trim(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_trim(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// C's `atoll`: leading spaces, optional sign, digits up to the first non-digit; saturates
/// instead of overflowing.
fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        let digit = (d - b'0') as i64;
        v = if neg {
            v.saturating_mul(10).saturating_sub(digit)
        } else {
            v.saturating_mul(10).saturating_add(digit)
        };
        i += 1;
    }
    v
}

/// Quotes a file name the way Redis's `sdscatrepr` does when it holds spaces, quotes or
/// unprintable bytes, so the line splits back into the same name.
fn repr_if_needed(name: &str) -> String {
    let needs = name.bytes().any(|b| {
        matches!(b, b'\\' | b'"' | b'\'') || b.is_ascii_whitespace() || !(0x21..0x7f).contains(&b)
    });
    // An empty name is written quoted too: bare, it leaves the line a field short, and the
    // manifest would not load back. (Redis writes it bare and cannot reload it.)
    if !needs && !name.is_empty() {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
