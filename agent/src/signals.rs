//! The signals the agent acts on. Handlers are installed before any shard is spawned, so
//! no SIGCHLD or SIGTERM can slip past; tokio turns them into stream events.

use tokio::signal::unix::{signal, Signal, SignalKind};

pub enum Event {
    /// A child changed state: reap.
    Child,
    /// Stop gracefully; carries the signal's name for the logs.
    Terminate(&'static str),
}

pub struct Signals {
    term: Signal,
    int: Signal,
    chld: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            chld: signal(SignalKind::child())?,
        })
    }

    pub async fn next(&mut self) -> Event {
        tokio::select! {
            _ = self.chld.recv() => Event::Child,
            _ = self.term.recv() => Event::Terminate("SIGTERM"),
            _ = self.int.recv() => Event::Terminate("SIGINT"),
        }
    }
}
