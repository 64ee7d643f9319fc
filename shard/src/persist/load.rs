//! Start-up: lock the appendonlydir, replay it, open it for appending.
//!
//! A reader thread parses and checks the files (CRC, torn tail) and hands commands over in
//! batches; the loop thread applies them through the normal dispatcher with an internal
//! client (no auth, no blocking, no replies kept, no propagation: the AOF is not open yet)
//! and yields between batches, so connections accepted meanwhile get `-LOADING` and INFO.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_proto::Reply;

use crate::aof::{self, Aof, AofError, DirLock, LoadError, LoadOptions, LoadReport};
use crate::client::Client;
use crate::state::{now_ms, Server};

use super::{policy, Loading};

/// Client id of the replaying client; no connection ever gets it.
pub const LOAD_CLIENT_ID: u64 = u64::MAX;
/// Commands per hand-over from the reader thread.
const BATCH: usize = 4096;

/// Why a shard could not start from its AOF.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another live process owns the directory.
    #[error("{0}")]
    Locked(AofError),
    /// Damage, an unknown command, or an I/O error.
    #[error("{0}")]
    Load(String),
}

enum Msg {
    Batch(Vec<Vec<Bytes>>),
    Done(Result<LoadReport, String>),
}

/// The appendonlydir of a shard.
pub fn aof_dir(srv: &Server) -> PathBuf {
    srv.config.data_dir.join(&srv.config.appenddirname)
}

/// Loads the AOF into the keyspace and opens it for appending.
pub async fn load(shared: &Rc<RefCell<Server>>) -> Result<(), StartError> {
    let (dir, opts) = {
        let srv = shared.borrow();
        let opts = LoadOptions {
            load_truncated: srv.config.aof_load_truncated,
            truncate_corrupt: false,
        };
        (aof_dir(&srv), opts)
    };
    let lock = match DirLock::acquire(&dir) {
        Ok(l) => l,
        Err(e @ AofError::Locked { .. }) => return Err(StartError::Locked(e)),
        Err(e) => return Err(StartError::Load(e.to_string())),
    };
    let started = Instant::now();
    shared.borrow_mut().persist.loading = Some(Loading {
        started,
        start_unix: now_ms() / 1000,
        loaded: 0,
        total: 0,
    });
    let loaded = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(4);
    let progress = loaded.clone();
    let reader = std::thread::Builder::new()
        .name("shoal-aof-load".into())
        .spawn(move || read_all(dir, opts, tx, progress))
        .map_err(|e| StartError::Load(format!("start the AOF reader: {e}")))?;
    let mut client = Client::new(LOAD_CLIENT_ID, "aof".into(), String::new(), false, true);
    client.deny_blocking = true;
    let mut out = Reply::default();
    let mut report = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch(cmds) => {
                let mut srv = shared.borrow_mut();
                apply(&mut srv, &mut client, &mut out, cmds)?;
                if let Some(l) = srv.persist.loading.as_mut() {
                    l.loaded = loaded.0.load(Relaxed);
                    l.total = loaded.1.load(Relaxed);
                }
            }
            Msg::Done(r) => report = Some(r),
        }
        tokio::task::yield_now().await;
    }
    // The thread has sent its last message; joining cannot wait on anything.
    let _ = reader.join();
    let report = match report {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(StartError::Load(e)),
        None => return Err(StartError::Load("the AOF reader stopped".into())),
    };
    let mut srv = shared.borrow_mut();
    let srv = &mut *srv;
    let aof = Aof::open(lock, &report, policy(srv.config.appendfsync))
        .map_err(|e| StartError::Load(e.to_string()))?;
    srv.persist.aof = Some(aof);
    srv.persist.loading = None;
    // Replayed commands are not client traffic.
    srv.stats.reset();
    srv.db.stats = Default::default();
    srv.dirty = 0;
    tracing::info!(
        commands = report.commands,
        bytes = report.total_bytes,
        keys = srv.db.len(),
        seconds = started.elapsed().as_secs_f64(),
        "DB loaded from append only file"
    );
    Ok(())
}

/// Replays one batch. An unknown command means the file is not ours to load.
fn apply(
    srv: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    cmds: Vec<Vec<Bytes>>,
) -> Result<(), StartError> {
    for argv in cmds {
        if let Err(e) = crate::cmd::resolve(&argv) {
            // A command shoal does not serve would silently drop data.
            if e.text().starts_with("ERR unknown command") {
                return Err(StartError::Load(format!(
                    "Unknown command '{}' reading the append only file",
                    String::from_utf8_lossy(argv.first().map_or(&b""[..], |a| a)),
                )));
            }
        }
        crate::cmd::execute(srv, client, out, &argv);
        client.block = None;
        out.truncate(0);
    }
    Ok(())
}

/// The reader thread: parses every file in manifest order and sends commands in batches.
fn read_all(
    dir: PathBuf,
    opts: LoadOptions,
    tx: tokio::sync::mpsc::Sender<Msg>,
    progress: Arc<(AtomicU64, AtomicU64)>,
) {
    #[derive(Debug)]
    struct Gone;
    impl std::fmt::Display for Gone {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("loading was abandoned")
        }
    }
    let mut batch = Vec::with_capacity(BATCH);
    let res = aof::load_dir(
        &dir,
        &opts,
        |argv| {
            batch.push(argv);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                tx.blocking_send(Msg::Batch(full)).map_err(|_| Gone)?;
            }
            Ok(())
        },
        |loaded, total| {
            progress.0.store(loaded, Relaxed);
            progress.1.store(total, Relaxed);
        },
    );
    if !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
        return;
    }
    let res = res.map_err(|e: LoadError<Gone>| e.to_string());
    if let Ok(r) = &res {
        if let Some((path, offset)) = &r.truncated {
            tracing::warn!(
                path = %path.display(),
                offset,
                "AOF loaded anyway because aof-load-truncated is enabled; torn tail cut"
            );
        }
    }
    // A closed channel means the loop gave up first.
    let _ = tx.blocking_send(Msg::Done(res));
}
