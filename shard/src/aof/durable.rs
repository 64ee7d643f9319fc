//! What a connection waits on: the durable offset published by the helper thread.

use tokio::sync::watch;

use super::error::AofError;

/// What the durable-offset watch carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    /// Offset (bytes of commands appended since this writer started) covered by the last
    /// `fdatasync` (under `no`: by the last write).
    pub offset: u64,
    /// Set once the writer is poisoned.
    pub failed: Option<String>,
}

/// A connection's handle for waiting until its commands are durable.
#[derive(Clone)]
pub struct DurableWait(pub(crate) watch::Receiver<Durable>);

impl DurableWait {
    /// Resolves once `offset` is durable; an error if the writer failed first. An error
    /// means the reply must not claim success.
    pub async fn wait(&mut self, offset: u64) -> Result<(), AofError> {
        let res = self
            .0
            .wait_for(|d| d.offset >= offset || d.failed.is_some())
            .await;
        match res {
            Ok(d) if d.offset >= offset => Ok(()),
            Ok(d) => Err(AofError::Poisoned(d.failed.clone().unwrap_or_default())),
            Err(_) => Err(AofError::Poisoned("AOF writer closed".into())),
        }
    }

    /// The current value, without waiting.
    pub fn current(&self) -> Durable {
        self.0.borrow().clone()
    }
}

/// Health of the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    Ok,
    /// A write or sync failed; the message names the file and the error.
    Poisoned(String),
}
