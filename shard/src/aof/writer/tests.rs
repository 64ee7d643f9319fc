use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::*;
use crate::aof::reader::scan_file;
use crate::aof::sink::{AofSink, Syncer};
use crate::aof::testdir::TestDir;

/// A sink whose syncs can be slowed down or made to fail.
#[derive(Default)]
pub(crate) struct Ctl {
    pub data: Mutex<Vec<u8>>,
    pub writes: AtomicU64,
    pub syncs: AtomicU64,
    /// Syncs running right now.
    pub syncing: AtomicU64,
    pub sync_delay_ms: AtomicU64,
    pub fail_sync: AtomicBool,
    pub fail_write: AtomicBool,
}

pub(crate) struct TestSink(pub Arc<Ctl>, PathBuf);

impl TestSink {
    pub fn pair() -> (Box<dyn AofSink>, Arc<Ctl>) {
        let ctl = Arc::new(Ctl::default());
        (
            Box::new(TestSink(ctl.clone(), PathBuf::from("test.aof"))),
            ctl,
        )
    }
}

impl AofSink for TestSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.writes.fetch_add(1, SeqCst);
        if self.0.fail_write.load(SeqCst) {
            return Err(io::Error::from_raw_os_error(nix::libc::ENOSPC));
        }
        self.0.data.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn syncer(&self) -> Arc<dyn Syncer> {
        self.0.clone()
    }

    fn path(&self) -> &Path {
        &self.1
    }
}

impl Syncer for Ctl {
    fn sync_data(&self) -> io::Result<()> {
        self.syncing.fetch_add(1, SeqCst);
        std::thread::sleep(Duration::from_millis(self.sync_delay_ms.load(SeqCst)));
        self.syncs.fetch_add(1, SeqCst);
        self.syncing.fetch_sub(1, SeqCst);
        if self.fail_sync.load(SeqCst) {
            return Err(io::Error::from_raw_os_error(nix::libc::EIO));
        }
        Ok(())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn set(i: usize) -> [Vec<u8>; 3] {
    [
        b"SET".to_vec(),
        format!("k{i}").into_bytes(),
        format!("v{i}").into_bytes(),
    ]
}

/// The commands a sink received, checked by the real reader.
fn replay(ctl: &Ctl) -> (Vec<Vec<bytes::Bytes>>, Option<crate::aof::Problem>) {
    let dir = TestDir::new("replay");
    let path = dir.path().join("a.aof");
    std::fs::write(&path, &*ctl.data.lock().unwrap()).unwrap();
    let mut cmds = Vec::new();
    let scan = scan_file::<()>(
        &path,
        &mut |a, _| {
            cmds.push(a);
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    (cmds, scan.problem)
}

#[test]
fn appends_while_every_sync_slot_is_busy_share_the_next_write_and_sync() {
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(300, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    let mut durable = w.durable();
    // Fill every sync slot, one batch each.
    for i in 0..MAX_IN_FLIGHT {
        w.append(&set(i));
        w.flush();
        wait_until("slot taken", || ctl.syncing.load(SeqCst) == i as u64 + 1);
    }
    assert_eq!(ctl.writes.load(SeqCst), MAX_IN_FLIGHT as u64);
    // Every slot is busy now: everything below must coalesce into one write and sync.
    for i in MAX_IN_FLIGHT..100 {
        w.append(&set(i));
        w.flush();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        ctl.writes.load(SeqCst),
        MAX_IN_FLIGHT as u64,
        "no write while slots are busy"
    );
    let need = w.applied();
    block_on(durable.wait(need)).unwrap();
    let batches = MAX_IN_FLIGHT as u64 + 1;
    assert_eq!(ctl.writes.load(SeqCst), batches, "one write per batch");
    assert_eq!(ctl.syncs.load(SeqCst), batches, "one fdatasync per batch");
    assert_eq!(w.stats().fsyncs.load(SeqCst), batches);
    assert_eq!(w.stats().write_syscalls.load(SeqCst), batches);
    assert_eq!(w.stats().batches.load(SeqCst), batches);
    assert_eq!(durable.current().offset, need);
    let (cmds, problem) = replay(&ctl);
    assert_eq!(problem, None);
    assert_eq!(cmds.len(), 100);
    assert_eq!(&cmds[99][1][..], b"k99");
    let text = String::from_utf8(ctl.data.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("#CRC:").count() as u64, batches);
    assert_eq!(
        w.stats().bytes_written.load(SeqCst),
        text.len() as u64,
        "annotations are counted"
    );
    w.close().unwrap();
}

#[test]
fn a_batch_is_not_durable_before_the_batches_synced_ahead_of_it() {
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(400, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    let mut durable = w.durable();
    w.append(&set(0));
    w.flush();
    wait_until("first sync", || ctl.syncing.load(SeqCst) == 1);
    let first = w.applied();
    // The second batch's sync is quick and finishes while the first is still running.
    ctl.sync_delay_ms.store(0, SeqCst);
    w.append(&set(1));
    w.flush();
    wait_until("second sync done", || ctl.syncs.load(SeqCst) == 1);
    assert_eq!(
        ctl.syncing.load(SeqCst),
        1,
        "the first sync is still running"
    );
    assert_eq!(
        durable.current().offset,
        0,
        "nothing is durable before the first sync"
    );
    let need = w.applied();
    assert!(need > first);
    block_on(durable.wait(need)).unwrap();
    assert_eq!(ctl.syncs.load(SeqCst), 2);
    w.close().unwrap();
}

#[test]
fn failed_fsync_poisons_and_never_reports_durable() {
    let (sink, ctl) = TestSink::pair();
    ctl.fail_sync.store(true, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    let mut durable = w.durable();
    w.append(&set(1));
    w.flush();
    let need = w.applied();
    let err = block_on(durable.wait(need)).unwrap_err();
    assert!(
        matches!(err, AofError::Poisoned(ref m) if m.contains("fdatasync")),
        "{err}"
    );
    assert_eq!(durable.current().offset, 0);
    assert!(!w.writable());
    assert!(w.must_exit());
    assert!(matches!(w.state(), WriterState::Poisoned(_)));
    assert!(!w.stats().last_write_ok.load(SeqCst));
    // Even if the disk "recovers", the writer does not retry and stays failed.
    ctl.fail_sync.store(false, SeqCst);
    w.append(&set(2));
    w.flush();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(ctl.syncs.load(SeqCst), 1, "a failed fsync is never retried");
    assert_eq!(w.stats().dropped.load(SeqCst), 1);
    assert_eq!(durable.current().offset, 0);
    assert!(block_on(durable.wait(need)).is_err());
    // Poisoned and idle: one writer thread wakes for its idle poll, none spins.
    let before = w.stats().helper_wakeups.load(SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let wakeups = w.stats().helper_wakeups.load(SeqCst) - before;
    assert!(wakeups <= 5, "{wakeups} wakeups in 300 ms");
    assert!(w.close().is_err());
}

#[test]
fn everysec_failure_refuses_writes_until_switched() {
    let (sink, ctl) = TestSink::pair();
    ctl.fail_write.store(true, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Everysec, BatchCrc::default()).unwrap();
    w.append(&set(1));
    w.flush();
    wait_until("poison", || !w.writable());
    assert!(!w.must_exit(), "everysec keeps serving reads");
    let (sink2, ctl2) = TestSink::pair();
    let rx = w.switch_to(sink2, true);
    rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert!(w.writable());
    assert!(w.stats().last_write_ok.load(SeqCst));
    w.append(&set(2));
    w.close().unwrap();
    let (cmds, problem) = replay(&ctl2);
    assert_eq!(problem, None);
    assert_eq!(cmds.len(), 1);
    assert_eq!(&cmds[0][1][..], b"k2");
    assert_eq!(ctl2.syncs.load(SeqCst), 1, "close syncs");
}

#[test]
fn everysec_writes_at_once_and_syncs_within_a_second() {
    let (sink, ctl) = TestSink::pair();
    let mut w = AofWriter::start(sink, AppendFsync::Everysec, BatchCrc::default()).unwrap();
    w.append(&set(1));
    w.flush();
    wait_until("write", || ctl.writes.load(SeqCst) == 1);
    assert_eq!(ctl.syncs.load(SeqCst), 0);
    wait_until("periodic sync", || ctl.syncs.load(SeqCst) == 1);
    assert_eq!(w.durable().current().offset, w.applied());
    w.close().unwrap();
}

#[test]
fn slow_everysec_fsync_counts_delayed_fsync() {
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(2100, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Everysec, BatchCrc::default()).unwrap();
    w.append(&set(1));
    w.flush();
    // Wait for the periodic sync to start, then append behind it.
    std::thread::sleep(Duration::from_millis(1200));
    w.append(&set(2));
    w.flush();
    wait_until("slow sync", || ctl.syncs.load(SeqCst) >= 1);
    wait_until("delayed", || w.stats().delayed_fsync.load(SeqCst) == 1);
    ctl.sync_delay_ms.store(0, SeqCst);
    w.close().unwrap();
    assert_eq!(replay(&ctl).0.len(), 2);
}

#[test]
fn appendfsync_no_never_syncs_until_close() {
    let (sink, ctl) = TestSink::pair();
    let mut w = AofWriter::start(sink, AppendFsync::No, BatchCrc::default()).unwrap();
    let mut durable = w.durable();
    w.append(&set(1));
    w.flush();
    block_on(durable.wait(w.applied())).unwrap();
    assert_eq!(ctl.syncs.load(SeqCst), 0);
    w.close().unwrap();
    assert_eq!(ctl.syncs.load(SeqCst), 1);
}

#[test]
fn resumed_crc_covers_bytes_already_in_the_file() {
    let mut prefix = BytesMut::new();
    encode_command(&mut prefix, &set(0));
    let mut resume = BatchCrc::default();
    resume.update(&prefix);
    let (sink, ctl) = TestSink::pair();
    ctl.data.lock().unwrap().extend_from_slice(&prefix);
    let mut w = AofWriter::start(sink, AppendFsync::Always, resume).unwrap();
    w.append(&set(1));
    w.close().unwrap();
    let (cmds, problem) = replay(&ctl);
    assert_eq!(problem, None);
    assert_eq!(cmds.len(), 2);
}

#[test]
fn switching_to_always_syncs_earlier_writes() {
    let (sink, ctl) = TestSink::pair();
    let mut w = AofWriter::start(sink, AppendFsync::No, BatchCrc::default()).unwrap();
    w.append(&set(1));
    w.flush();
    wait_until("write", || ctl.writes.load(SeqCst) == 1);
    assert_eq!(ctl.syncs.load(SeqCst), 0);
    w.set_policy(AppendFsync::Always);
    assert_eq!(w.policy(), AppendFsync::Always);
    wait_until("sync after switching policy", || {
        ctl.syncs.load(SeqCst) == 1
    });
    w.close().unwrap();
}

#[test]
fn a_whole_cohort_joins_the_syncs_in_flight_at_once() {
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(300, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    // One batch of 30 in flight on an otherwise idle disk: it goes at once.
    for i in 0..30 {
        w.append(&set(i));
    }
    w.flush();
    wait_until("first sync", || ctl.syncing.load(SeqCst) == 1);
    // A tenth of what is unsynced only gathers; a cohort of a quarter goes without waiting
    // for the time bound, beside the first sync.
    for i in 30..40 {
        w.append(&set(i));
    }
    w.flush();
    wait_until("second sync beside the first", || {
        ctl.syncing.load(SeqCst) == 2
    });
    assert_eq!(ctl.writes.load(SeqCst), 2);
    let need = w.applied();
    block_on(w.durable().wait(need)).unwrap();
    assert_eq!(replay(&ctl).0.len(), 40);
    w.close().unwrap();
}

#[test]
fn small_hand_overs_while_a_sync_runs_gather_into_few_writes() {
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(40, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    let mut durable = w.durable();
    // A first sync teaches the writer how long one takes (its estimate is an average).
    for round in 0..3 {
        w.append(&set(round));
        w.flush();
        let need = w.applied();
        block_on(durable.wait(need)).unwrap();
    }
    for i in 0..100 {
        w.append(&set(i));
    }
    w.flush();
    wait_until("big batch in flight", || ctl.syncing.load(SeqCst) == 1);
    let before = ctl.writes.load(SeqCst);
    // Twenty hand-overs of one command each, each far below a quarter of what is
    // unsynced: they wait for company, up to a quarter of a sync.
    for i in 100..120 {
        w.append(&set(i));
        w.flush();
    }
    let need = w.applied();
    block_on(durable.wait(need)).unwrap();
    let writes = ctl.writes.load(SeqCst) - before;
    assert!(
        (1..=3).contains(&writes),
        "twenty hand-overs in well under a millisecond make one or a few writes, got {writes}"
    );
    assert_eq!(replay(&ctl).0.len(), 123);
    w.close().unwrap();
}

#[test]
fn a_publish_wakes_only_the_connections_it_covers() {
    use std::future::Future;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let (sink, ctl) = TestSink::pair();
    ctl.sync_delay_ms.store(200, SeqCst);
    let mut w = AofWriter::start(sink, AppendFsync::Always, BatchCrc::default()).unwrap();
    w.append(&set(0));
    w.flush();
    wait_until("first sync", || ctl.syncing.load(SeqCst) == 1);
    let first = w.applied();
    w.append(&set(1));
    let second = w.applied();
    let mut durable = w.durable();
    let (a, b) = (Arc::new(Count(0.into())), Arc::new(Count(0.into())));
    let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
    let mut fa = std::pin::pin!(durable.wait(first));
    let mut fb = std::pin::pin!(durable.wait(second));
    assert!(fa.as_mut().poll(&mut Context::from_waker(&wa)).is_pending());
    assert!(fb.as_mut().poll(&mut Context::from_waker(&wb)).is_pending());
    wait_until("first batch durable", || a.0.load(SeqCst) == 1);
    assert_eq!(
        b.0.load(SeqCst),
        0,
        "the second waiter is not woken for nothing"
    );
    assert!(matches!(
        fa.as_mut().poll(&mut Context::from_waker(&wa)),
        Poll::Ready(Ok(()))
    ));
    // The second command was never handed over: only a flush sends it.
    w.flush();
    wait_until("second batch durable", || b.0.load(SeqCst) == 1);
    w.close().unwrap();
}
