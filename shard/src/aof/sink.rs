//! The file the writer threads write to, behind a trait so tests can make a sync slow or
//! fail on demand (the failures this engine exists to handle are hard to cause on a real disk).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An append-only destination.
pub trait AofSink: Send + 'static {
    /// One `write(2)`; may write less than `buf`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// A handle that syncs this file from any thread, while another keeps writing.
    fn syncer(&self) -> Arc<dyn Syncer>;
    /// Path for log lines and errors.
    fn path(&self) -> &Path;
}

/// `fdatasync(2)`: data and the metadata needed to read it back (the file size). It covers
/// every byte written before the call began, whichever descriptor or thread wrote it.
pub trait Syncer: Send + Sync {
    fn sync_data(&self) -> io::Result<()>;
}

impl Syncer for File {
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// A real file opened for appending.
pub struct FileSink {
    file: Arc<File>,
    path: PathBuf,
}

impl FileSink {
    pub fn new(file: File, path: PathBuf) -> Self {
        FileSink {
            file: Arc::new(file),
            path,
        }
    }
}

impl AofSink for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.file).write(buf)
    }

    fn syncer(&self) -> Arc<dyn Syncer> {
        self.file.clone()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
