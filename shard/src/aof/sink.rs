//! The file the helper thread writes to, behind a trait so tests can make a sync slow or
//! fail on demand (the failures this engine exists to handle are hard to cause on a real disk).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An append-only destination.
pub trait AofSink: Send + 'static {
    /// One `write(2)`; may write less than `buf`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// `fdatasync(2)`: data and the metadata needed to read it back (the file size).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Path for log lines and errors.
    fn path(&self) -> &Path;
}

/// A real file opened for appending.
pub struct FileSink {
    file: File,
    path: PathBuf,
}

impl FileSink {
    pub fn new(file: File, path: PathBuf) -> Self {
        FileSink { file, path }
    }
}

impl AofSink for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
