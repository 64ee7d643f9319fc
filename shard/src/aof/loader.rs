//! Recovery: loading the whole directory per manifest (base first, then the incr files in
//! order), the torn-tail policy, and `check`/`fix` for `shoal aof check|fix PATH`.
//!
//! Policies (a named policy, not flags scattered through the reader):
//! - A torn last record of the last file is cut off at the end of the last whole record,
//!   logged with file and offset, when [`LoadOptions::load_truncated`] is on (Redis's
//!   `aof-load-truncated`, default yes). A torn record in any other file is fatal: later
//!   files were written after it, so the gap is real loss.
//! - A CRC mismatch or garbage refuses to load, naming file and offset, unless
//!   [`LoadOptions::truncate_corrupt`] is set, and then only in the last file.

use std::convert::Infallible;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::error::{AofError, LoadError, Problem};
use super::manifest::Manifest;
use super::reader::{scan_file, FileScan};
use super::record::BatchCrc;
use super::MANIFEST_NAME;

/// How loading treats damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// `aof-load-truncated`: cut a torn tail of the last file instead of refusing to start.
    pub load_truncated: bool,
    /// The operator chose to drop everything from a corrupt batch of the last file on.
    pub truncate_corrupt: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            load_truncated: true,
            truncate_corrupt: false,
        }
    }
}

/// Where a writer that resumes the last incr file starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub name: String,
    /// File length after loading (after any truncation).
    pub len: u64,
    /// Checksum of the bytes after the file's last annotation.
    pub crc: BatchCrc,
}

/// What loading found.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The manifest (empty when there was none).
    pub manifest: Manifest,
    pub commands: u64,
    pub total_bytes: u64,
    /// The last file, if it is an incr file the writer can keep appending to.
    pub tail: Option<Tail>,
    /// A torn or (by request) corrupt tail that was cut: file and offset.
    pub truncated: Option<(PathBuf, u64)>,
}

/// Loads `dir` per its manifest, handing each command to `on_cmd` and `(loaded, total)` bytes
/// to `progress`. No manifest, or one that lists no file, loads nothing.
pub fn load_dir<E>(
    dir: &Path,
    opts: &LoadOptions,
    mut on_cmd: impl FnMut(Vec<Bytes>) -> Result<(), E>,
    mut progress: impl FnMut(u64, u64),
) -> Result<LoadReport, LoadError<E>> {
    let Some(manifest) = Manifest::load(dir)? else {
        return Ok(LoadReport::default());
    };
    let files = existing_files(dir, &manifest)?;
    let total: u64 = files.iter().map(|f| f.1).sum();
    let mut report = LoadReport {
        total_bytes: total,
        ..LoadReport::default()
    };
    let mut done = 0u64;
    let mut logged_tenth = 0u64;
    let n = files.len();
    for (i, (path, _)) in files.iter().enumerate() {
        let last = i + 1 == n;
        let started = std::time::Instant::now();
        let scan = scan_file(path, &mut |argv, _| on_cmd(argv), &mut |read| {
            let loaded = done + read;
            progress(loaded, total);
            // A long load shows in the logs too, every 10%.
            let tenth = (loaded * 10).checked_div(total).unwrap_or(10);
            if tenth > logged_tenth && tenth < 10 {
                logged_tenth = tenth;
                tracing::info!(loaded, total, "loading AOF: {}%", tenth * 10);
            }
        })?;
        report.commands += scan.commands;
        done += scan.total;
        if let Some(problem) = scan.problem.clone() {
            let cut = match problem {
                Problem::TornTail { offset } if !last => {
                    return Err(AofError::TruncatedNotLast {
                        path: path.clone(),
                        offset,
                    }
                    .into())
                }
                Problem::TornTail { .. } => opts.load_truncated,
                Problem::RdbPreamble => false,
                _ => opts.truncate_corrupt && last && !scan.overran,
            };
            if !cut {
                return Err(AofError::Corrupt {
                    path: path.clone(),
                    problem,
                }
                .into());
            }
            tracing::warn!(
                file = %path.display(),
                offset = scan.valid_up_to,
                size = scan.total,
                %problem,
                "AOF loaded anyway: truncating the last file at the end of its last valid record"
            );
            truncate_file(path, scan.valid_up_to)?;
            report.truncated = Some((path.clone(), scan.valid_up_to));
        }
        if last {
            report.tail = manifest
                .incr
                .last()
                .filter(|info| dir.join(&info.name) == *path)
                .map(|info| Tail {
                    name: info.name.clone(),
                    len: scan.valid_up_to,
                    crc: scan.tail,
                });
        }
        tracing::info!(
            file = %path.display(),
            commands = scan.commands,
            seconds = started.elapsed().as_secs_f64(),
            "AOF file loaded"
        );
    }
    report.manifest = manifest;
    Ok(report)
}

/// The files to load, with their sizes; a listed file that is missing is fatal.
fn existing_files(dir: &Path, manifest: &Manifest) -> Result<Vec<(PathBuf, u64)>, AofError> {
    manifest
        .load_order()
        .map(|info| {
            let path = dir.join(&info.name);
            match fs::metadata(&path) {
                Ok(m) => Ok((path, m.len())),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(AofError::Missing { path }),
                Err(e) => Err(AofError::io("stat", path, e)),
            }
        })
        .collect()
}

/// Cuts `path` to `len` bytes and makes the cut durable.
pub(crate) fn truncate_file(path: &Path, len: u64) -> Result<(), AofError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| AofError::io("open for truncate", path, e))?;
    f.set_len(len)
        .map_err(|e| AofError::io("truncate", path, e))?;
    // IMPORTANT: the shorter length must survive a crash, or a later append lands after the
    // garbage that was cut.
    f.sync_all().map_err(|e| AofError::io("fsync", path, e))
}

/// The verdict of `check` on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The file the verdict is about: the first with a problem, else the last checked.
    pub file: PathBuf,
    pub valid_up_to: u64,
    pub total: u64,
    pub problem: Option<Problem>,
    /// True when `file` is the last file of the AOF (or was checked on its own).
    pub last_file: bool,
    pub files_checked: usize,
    pub commands: u64,
}

impl std::fmt::Display for Report {
    /// One line for `shoal aof check`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file.display();
        match &self.problem {
            None => write!(
                f,
                "AOF {file} is valid ({} files, {} commands)",
                self.files_checked, self.commands
            ),
            Some(p) => {
                let pct = if self.total == 0 {
                    100.0
                } else {
                    self.valid_up_to as f64 * 100.0 / self.total as f64
                };
                write!(
                    f,
                    "AOF {file}: {p}; valid up to byte {} of {} ({pct:.2}%)",
                    self.valid_up_to, self.total
                )
            }
        }
    }
}

/// Checks `path`: an appendonlydir, its manifest, or one `.aof` file. `progress` gets
/// `(bytes checked, total bytes)`.
pub fn check(path: &Path, mut progress: impl FnMut(u64, u64)) -> Result<Report, AofError> {
    let files = resolve(path)?;
    let total: u64 = files.iter().map(|f| f.1).sum();
    let mut done = 0u64;
    let mut report = Report {
        file: path.to_path_buf(),
        valid_up_to: 0,
        total: 0,
        problem: None,
        last_file: true,
        files_checked: 0,
        commands: 0,
    };
    let n = files.len();
    for (i, (file, _)) in files.iter().enumerate() {
        let scan: FileScan = scan_file::<Infallible>(file, &mut |_, _| Ok(()), &mut |read| {
            progress(done + read, total)
        })
        .map_err(|e| match e {
            LoadError::Aof(e) => e,
            LoadError::Command { source, .. } => match source {},
        })?;
        done += scan.total;
        report = Report {
            file: file.clone(),
            valid_up_to: scan.valid_up_to,
            total: scan.total,
            problem: scan.problem,
            last_file: i + 1 == n,
            files_checked: i + 1,
            commands: report.commands + scan.commands,
        };
        if report.problem.is_some() {
            break;
        }
    }
    Ok(report)
}

/// Checks `path`, then truncates the damaged file at the reported offset. Only the last
/// file can be cut: cutting an earlier one would drop the middle of the history.
pub fn fix(path: &Path, progress: impl FnMut(u64, u64)) -> Result<Report, AofError> {
    let report = check(path, progress)?;
    match &report.problem {
        None => {}
        Some(Problem::RdbPreamble) => {
            return Err(AofError::CannotFix {
                path: report.file.clone(),
                reason: "RDB preamble files are not supported".into(),
            })
        }
        Some(p) if !report.last_file => {
            return Err(AofError::CannotFix {
                path: report.file.clone(),
                reason: format!("{p}, and it is not the last file of the AOF"),
            })
        }
        Some(p) => {
            tracing::warn!(file = %report.file.display(), offset = report.valid_up_to, problem = %p, "truncating AOF file");
            truncate_file(&report.file, report.valid_up_to)?;
        }
    }
    Ok(report)
}

/// The files `path` stands for, in load order, with their sizes.
fn resolve(path: &Path) -> Result<Vec<(PathBuf, u64)>, AofError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => AofError::Missing {
            path: path.to_path_buf(),
        },
        _ => AofError::io("stat", path, e),
    })?;
    let manifest_path = if meta.is_dir() {
        path.join(MANIFEST_NAME)
    } else if path.to_string_lossy().ends_with(".manifest") {
        path.to_path_buf()
    } else {
        return Ok(vec![(path.to_path_buf(), meta.len())]);
    };
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let manifest = Manifest::load_file(&manifest_path)?.ok_or_else(|| AofError::Missing {
        path: manifest_path.clone(),
    })?;
    existing_files(dir, &manifest)
}

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;
