//! Reads one AOF file as a stream of commands: 1 MiB reads (a multi-GB file is never held in
//! memory), records split zero-copy off the read buffer by `RequestParser`, and every batch
//! checked against its `#CRC:` annotation.
//!
//! Commands of a batch are held back until its annotation has verified, so a corrupt batch
//! is never applied (up to [`MAX_HELD`] bytes: past that a batch is applied as it streams, as
//! for a file with no annotations at all, e.g. one written by Redis).
//!
//! How far a file can be trusted (`valid_up_to`):
//! - clean end: the whole file;
//! - end of file inside a record (a torn write): the end of the last whole record;
//! - CRC mismatch: the start of the failing batch;
//! - garbage: the start of the batch it sits in when the file carries annotations (it
//!   cannot be verified), else the end of the last whole record.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use shoal_proto::request::parse_i64;
use shoal_proto::RequestParser;

use super::error::{AofError, LoadError, Problem};
use super::record::{parse_annotation, Annotation, BatchCrc};

/// Size of one read.
pub const CHUNK: usize = 1 << 20;
/// Smallest read, for small files.
const MIN_READ: usize = 4096;
/// Most bytes of commands held back waiting for their batch's annotation.
pub const MAX_HELD: u64 = 64 << 20;
/// Longest header or annotation line (Redis's inline/bulk header limit).
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string in a record, Redis's `proto-max-bulk-len` ceiling: a corrupt length
/// must not make the reader wait for gigabytes that will never come.
const MAX_BULK: i64 = 512 << 20;

/// The outcome of reading one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileScan {
    /// Bytes from the start of the file that can be trusted; commands up to here were
    /// handed out.
    pub valid_up_to: u64,
    /// Bytes in the file.
    pub total: u64,
    /// Why reading stopped before `total`, if it did.
    pub problem: Option<Problem>,
    /// Checksum state of the bytes after the last annotation, up to `valid_up_to`: a writer
    /// that appends to this file continues from it.
    pub tail: BatchCrc,
    /// Commands handed out.
    pub commands: u64,
    /// True if commands past `valid_up_to` were handed out (a corrupt batch bigger than
    /// [`MAX_HELD`]): the caller cannot recover by truncating in place.
    pub overran: bool,
}

enum Item {
    /// The buffer must hold at least this many bytes before trying again.
    Need(usize),
    Record(usize),
    Comment(usize),
    Bad(String),
}

/// Reads `path`, handing each verified command and its byte offset to `sink`, and the number
/// of bytes read so far to `progress` after each read.
pub fn scan_file<E>(
    path: &Path,
    sink: &mut dyn FnMut(Vec<Bytes>, u64) -> Result<(), E>,
    progress: &mut dyn FnMut(u64),
) -> Result<FileScan, LoadError<E>> {
    let mut file = File::open(path).map_err(|e| AofError::io("open", path, e))?;
    // Reads of at most CHUNK bytes, less for a smaller file (it is read whole in one go);
    // a file that grows while it is read is still read to its end, in smaller pieces.
    let size = file
        .metadata()
        .map_err(|e| AofError::io("stat", path, e))?
        .len();
    let mut scratch = vec![0u8; usize::try_from(size).map_or(CHUNK, |s| s.clamp(MIN_READ, CHUNK))];
    let mut st = State::default();
    let mut buf = BytesMut::new();
    let mut need = 1usize;
    let mut parser = RequestParser::new();
    parser.max_bulk_len = MAX_BULK as usize;
    let mut read_total = 0u64;
    let mut eof = false;
    let problem = loop {
        if buf.len() < need {
            if eof {
                break if buf.is_empty() {
                    None
                } else if contains(&buf, b"\n#CRC:") {
                    // A real torn write is the tail of the last batch and holds no complete
                    // annotation after its first line; this is a damaged length that ran
                    // over later batches, and cutting here would drop them.
                    Some(st.garbage("record length runs past a later checksum line".into()))
                } else {
                    Some(Problem::TornTail { offset: st.off })
                };
            }
            let n = read_more(&mut file, &mut buf, &mut scratch)
                .map_err(|e| AofError::io("read", path, e))?;
            eof = n == 0;
            read_total += n as u64;
            progress(read_total);
            if read_total == n as u64 && n >= 5 && &buf[..5] == b"REDIS" {
                break Some(Problem::RdbPreamble);
            }
            continue;
        }
        match next_item(&buf) {
            Item::Need(n) => need = n,
            Item::Record(len) => {
                need = 1;
                let mut rec = buf.split_to(len);
                st.crc.update(&rec);
                let args = match parser.next(&mut rec) {
                    Ok(Some(args)) if rec.is_empty() => args,
                    _ => break Some(st.garbage("record does not parse".into())),
                };
                st.held.push((st.off, args));
                st.held_bytes += len as u64;
                st.off += len as u64;
                st.record_end = st.off;
                st.crc_at_record_end = st.crc;
                if st.held_bytes > MAX_HELD {
                    st.release(path, sink)?;
                    st.overran_from = Some(st.batch_start);
                }
            }
            Item::Comment(len) => {
                need = 1;
                let line = buf.split_to(len);
                match parse_annotation(&line) {
                    Annotation::Crc(expected) if expected == st.crc.crc => {
                        st.release(path, sink)?;
                        st.off += len as u64;
                        st.record_end = st.off;
                        st.batch_start = st.off;
                        st.crc = BatchCrc::default();
                        st.crc_at_record_end = st.crc;
                        st.seen_crc = true;
                        st.overran_from = None;
                    }
                    Annotation::Crc(expected) => {
                        break Some(Problem::CrcMismatch {
                            offset: st.batch_start,
                            annotation: st.off,
                            expected,
                            actual: st.crc.crc,
                        })
                    }
                    Annotation::MalformedCrc => {
                        break Some(st.garbage("malformed #CRC annotation".into()))
                    }
                    Annotation::Other => {
                        st.crc.update(&line);
                        st.off += len as u64;
                        st.record_end = st.off;
                        st.crc_at_record_end = st.crc;
                    }
                }
            }
            Item::Bad(_) if buf[0] == 0 && zeros_to_eof(&mut file, &buf, &mut scratch, path)? => {
                // Some filesystems extend a file before its data blocks reach the disk, so
                // a crash mid-write leaves zeros: that is a torn tail too.
                break Some(Problem::TornTail { offset: st.off });
            }
            Item::Bad(reason) => break Some(st.garbage(reason)),
        }
    };
    if matches!(problem, Some(Problem::Garbage { .. }))
        && (buf.starts_with(b"#CRC:") || contains(&buf, b"\n#CRC:"))
    {
        // Damage in a file's first batch: the checksum lines after it show the file is
        // annotated, so the batch's commands cannot be trusted either.
        st.seen_crc = true;
    }
    // Read the rest only to learn the size: a problem stops the parse, not the report.
    let total = if problem.is_some() {
        file.metadata()
            .map_err(|e| AofError::io("stat", path, e))?
            .len()
    } else {
        read_total
    };
    let valid_up_to = match &problem {
        None | Some(Problem::TornTail { .. }) => {
            st.release(path, sink)?;
            st.record_end
        }
        Some(Problem::Garbage { .. }) if !st.seen_crc => {
            st.release(path, sink)?;
            st.record_end
        }
        Some(Problem::RdbPreamble) => 0,
        Some(_) => st.batch_start,
    };
    let tail = if valid_up_to == st.batch_start {
        BatchCrc::default()
    } else {
        st.crc_at_record_end
    };
    Ok(FileScan {
        valid_up_to,
        total,
        overran: st.overran_from.is_some() && problem.is_some() && valid_up_to == st.batch_start,
        problem,
        tail,
        commands: st.commands,
    })
}

#[derive(Default)]
struct State {
    /// File offset of `buf[0]`.
    off: u64,
    /// End of the last whole record (or annotation).
    record_end: u64,
    /// End of the last verified annotation.
    batch_start: u64,
    crc: BatchCrc,
    /// `crc` as it stood at `record_end`: the state a writer resumes from.
    crc_at_record_end: BatchCrc,
    seen_crc: bool,
    held: Vec<(u64, Vec<Bytes>)>,
    held_bytes: u64,
    commands: u64,
    /// Start of a batch whose commands were released before its annotation was seen.
    overran_from: Option<u64>,
}

impl State {
    fn garbage(&self, reason: String) -> Problem {
        Problem::Garbage {
            offset: self.off,
            reason,
        }
    }

    fn release<E>(
        &mut self,
        path: &Path,
        sink: &mut dyn FnMut(Vec<Bytes>, u64) -> Result<(), E>,
    ) -> Result<(), LoadError<E>> {
        for (offset, args) in self.held.drain(..) {
            self.commands += 1;
            sink(args, offset).map_err(|source| LoadError::Command {
                path: path.to_path_buf(),
                offset,
                source,
            })?;
        }
        self.held_bytes = 0;
        Ok(())
    }
}

/// Reads at least once into `buf`, reserving room for `need` bytes. Returns 0 at end of file.
fn read_more(file: &mut File, buf: &mut BytesMut, scratch: &mut [u8]) -> std::io::Result<usize> {
    // Through a scratch buffer zeroed once per file: growing `buf` by a zero-filled chunk
    // before every read cost a 1 MiB memset per read, even for a file of a few bytes. `buf`
    // grows only by what was read, so a damaged length cannot make it allocate up front.
    loop {
        match file.read(scratch) {
            Ok(n) => {
                buf.extend_from_slice(&scratch[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// True if `buf` and the rest of the file are all zero bytes. Reads without keeping what it
/// reads, so a long run of zeros costs no memory.
fn zeros_to_eof(
    file: &mut File,
    buf: &[u8],
    chunk: &mut [u8],
    path: &Path,
) -> Result<bool, AofError> {
    if buf.iter().any(|&b| b != 0) {
        return Ok(false);
    }
    loop {
        match file.read(chunk) {
            Ok(0) => return Ok(true),
            Ok(n) if chunk[..n].iter().any(|&b| b != 0) => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(AofError::io("read", path, e)),
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Finds the extent of the record or annotation at the start of `buf` without consuming it.
fn next_item(buf: &[u8]) -> Item {
    match buf.first() {
        None => Item::Need(1),
        Some(b'#') => match buf.iter().take(MAX_LINE).position(|&b| b == b'\n') {
            Some(nl) => Item::Comment(nl + 1),
            None if buf.len() >= MAX_LINE => Item::Bad("annotation line too long".into()),
            None => Item::Need(buf.len() + 1),
        },
        Some(b'*') => {
            let (count, mut p) = match line_int(buf, 1) {
                Ok(v) => v,
                Err(item) => return item,
            };
            if !(1..=i32::MAX as i64).contains(&count) {
                return Item::Bad(format!("invalid multibulk length {count}"));
            }
            for _ in 0..count {
                match buf.get(p) {
                    None => return Item::Need(p + 1),
                    Some(b'$') => {}
                    Some(&c) => return Item::Bad(format!("expected '$', got byte 0x{c:02x}")),
                }
                let (len, q) = match line_int(buf, p + 1) {
                    Ok(v) => v,
                    Err(item) => return item,
                };
                if !(0..=MAX_BULK).contains(&len) {
                    return Item::Bad(format!("invalid bulk length {len}"));
                }
                let end = q + len as usize + 2;
                if buf.len() < end {
                    return Item::Need(end);
                }
                if &buf[end - 2..end] != b"\r\n" {
                    return Item::Bad("bulk string not followed by CRLF".into());
                }
                p = end;
            }
            Item::Record(p)
        }
        Some(&c) => Item::Bad(format!("expected '*' or '#', got byte 0x{c:02x}")),
    }
}

/// Parses the integer line that starts at `from` (after its `*`/`$`). Returns the value and
/// the offset after its CRLF.
fn line_int(buf: &[u8], from: usize) -> Result<(i64, usize), Item> {
    let window = &buf[from.min(buf.len())..buf.len().min(from + MAX_LINE)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if window.len() >= MAX_LINE {
            return Err(Item::Bad("length line too long".into()));
        }
        return Err(Item::Need(buf.len() + 1));
    };
    let r = from + cr;
    match buf.get(r + 1) {
        None => return Err(Item::Need(r + 2)),
        Some(b'\n') => {}
        Some(_) => return Err(Item::Bad("length line not terminated by CRLF".into())),
    }
    match parse_i64(&buf[from..r]) {
        Some(v) => Ok((v, r + 2)),
        None => Err(Item::Bad("invalid length".into())),
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
pub(crate) mod tests;
