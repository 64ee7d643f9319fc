//! One proxy thread: a current-thread runtime owning its clients and, lazily, one
//! upstream connection per shard and RESP version of each database.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::metrics::ThreadStats;
use super::upstream::Upstream;
use super::{Database, Shared};

/// A socket accepted by a listener, on its way to a thread.
pub struct NewClient {
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub db: Arc<Database>,
    /// The `maxclients` place this client holds until it goes.
    pub slot: super::limits::ClientSlot,
}

pub struct ThreadSender(mpsc::UnboundedSender<NewClient>);

impl ThreadSender {
    pub fn send(&self, c: NewClient) {
        // The thread is gone only while the agent exits.
        let _ = self.0.send(c);
    }
}

/// A shard's shared upstreams on this thread, by protocol: `[resp3 as usize]`.
type UpstreamPair = [Option<Rc<Upstream>>; 2];

/// What a proxy thread's tasks share.
pub struct ThreadCtx {
    pub shared: Arc<Shared>,
    pub stats: Arc<ThreadStats>,
    /// `[database][shard]`.
    upstreams: RefCell<Vec<Vec<UpstreamPair>>>,
}

impl ThreadCtx {
    /// The shared upstream to `shard` of `db` for the given protocol, connecting it on
    /// first use.
    pub fn upstream(&self, db: &Arc<Database>, shard: usize, resp3: bool) -> Option<Rc<Upstream>> {
        let mut ups = self.upstreams.borrow_mut();
        let slot = ups
            .get_mut(db.index)?
            .get_mut(shard)?
            .get_mut(usize::from(resp3))?;
        if let Some(u) = slot {
            return Some(u.clone());
        }
        let u = Upstream::start(db.clone(), shard, resp3, self.shared.settings);
        *slot = Some(u.clone());
        Some(u)
    }
}

pub fn spawn(
    index: usize,
    shared: Arc<Shared>,
    stats: Arc<ThreadStats>,
) -> std::io::Result<ThreadSender> {
    let (tx, mut rx) = mpsc::unbounded_channel::<NewClient>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(format!("proxy-{index}"))
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            let ctx = Rc::new(ThreadCtx {
                upstreams: RefCell::new(
                    shared
                        .dbs
                        .iter()
                        .map(|db| vec![[None, None]; db.shards()])
                        .collect(),
                ),
                shared,
                stats,
            });
            local.block_on(&rt, async move {
                while let Some(nc) = rx.recv().await {
                    let ctx = ctx.clone();
                    tokio::task::spawn_local(async move {
                        super::client::serve(ctx, nc).await;
                    });
                }
                // The channel closes when the stop aborts the listeners. Returning would
                // drop the LocalSet and with it every client mid-request, so the stop's
                // drain would wait its whole budget for batches that can no longer end.
                // The clients finish their batches and close; the thread ends with the
                // process.
                std::future::pending::<()>().await;
            });
        })?;
    Ok(ThreadSender(tx))
}
