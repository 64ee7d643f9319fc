use std::sync::atomic::Ordering::SeqCst;

use super::*;
use crate::aof::dir::DirLock;
use crate::aof::loader::{check, load_dir, LoadOptions};
use crate::aof::testdir::TestDir;
use crate::aof::writer::tests::TestSink;
use crate::aof::writer::AofWriter;
use crate::aof::{AppendFsync, MANIFEST_NAME};

fn keys(dir: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    load_dir::<()>(
        dir,
        &LoadOptions::default(),
        |a| {
            keys.push(String::from_utf8(a[1].to_vec()).unwrap());
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    keys
}

fn open(dir: &Path) -> Aof {
    let report = load_dir::<()>(dir, &LoadOptions::default(), |_| Ok(()), |_, _| {}).unwrap();
    Aof::open(DirLock::acquire(dir).unwrap(), &report, AppendFsync::Always).unwrap()
}

fn set(aof: &mut Aof, k: &str) {
    aof.append(&["SET", k, "v"]);
}

#[test]
fn rewrite_swaps_manifest_and_deletes_history() {
    let t = TestDir::new("rw");
    let dir = t.path();
    let mut aof = open(dir);
    for k in ["a", "b", "a"] {
        set(&mut aof, k);
    }
    let mut rw = aof.rewrite_start().unwrap();
    // Written during the rewrite: must land in the new incr file.
    set(&mut aof, "c");
    let n = rw
        .write_base(|w| {
            w.emit(&["SET", "a", "v"])?;
            w.emit(&["SET", "b", "v"])
        })
        .unwrap();
    assert_eq!(n, 2);
    aof.rewrite_finish(rw).unwrap();
    set(&mut aof, "d");
    let m = aof.manifest().clone();
    aof.close().unwrap();
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.aof");
    assert_eq!(m.incr.len(), 1);
    assert_eq!(m.incr[0].name, "appendonly.aof.2.incr.aof");
    assert!(m.history.is_empty());
    assert_eq!(Manifest::load(dir).unwrap().unwrap(), m);
    assert!(
        !dir.join("appendonly.aof.1.incr.aof").exists(),
        "history deleted"
    );
    assert_eq!(keys(dir), ["a", "b", "c", "d"]);
    assert_eq!(check(dir, |_, _| {}).unwrap().problem, None);
    // A second rewrite keeps counting up.
    let mut aof = open(dir);
    let mut rw = aof.rewrite_start().unwrap();
    rw.write_base(|w| w.emit(&["SET", "z", "v"])).unwrap();
    aof.rewrite_finish(rw).unwrap();
    assert_eq!(
        aof.manifest().base.as_ref().unwrap().name,
        "appendonly.aof.2.base.aof"
    );
    assert_eq!(aof.manifest().incr[0].seq, 3);
    aof.close().unwrap();
    assert_eq!(keys(dir), ["z"]);
}

#[test]
fn failing_serializer_leaves_previous_manifest_loadable() {
    let t = TestDir::new("rwfail");
    let dir = t.path();
    let mut aof = open(dir);
    set(&mut aof, "a");
    let mut rw = aof.rewrite_start().unwrap();
    set(&mut aof, "b");
    let err = rw
        .write_base(|w| {
            w.emit(&["SET", "partial", "v"])?;
            Err(AofError::Rewrite("serializer failed".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("serializer failed"));
    assert!(aof.rewrite_finish(rw).is_err(), "no base, no swap");
    set(&mut aof, "c");
    aof.close().unwrap();
    let leftovers: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(keys(dir), ["a", "b", "c"]);
    let m = Manifest::load(dir).unwrap().unwrap();
    assert!(m.base.is_none());
    assert_eq!(m.incr.len(), 2);
}

#[test]
fn crash_before_swap_keeps_old_manifest() {
    let t = TestDir::new("rwcrash");
    let dir = t.path();
    let mut aof = open(dir);
    set(&mut aof, "a");
    let mut rw = aof.rewrite_start().unwrap();
    set(&mut aof, "b");
    rw.write_base(|w| w.emit(&["SET", "a", "v"])).unwrap();
    // The process dies here: the temp base exists, the manifest still lists the old files.
    let before = fs::read(dir.join(MANIFEST_NAME)).unwrap();
    aof.close().unwrap();
    assert_eq!(fs::read(dir.join(MANIFEST_NAME)).unwrap(), before);
    assert_eq!(keys(dir), ["a", "b"]);
}

#[test]
fn reopen_and_rewrite_clears_a_poisoned_writer() {
    let t = TestDir::new("reopen");
    let dir = t.path();
    let lock = DirLock::acquire(dir).unwrap();
    let (sink, ctl) = TestSink::pair();
    ctl.fail_write.store(true, SeqCst);
    let mut manifest = Manifest::default();
    manifest.incr.push(AofInfo {
        name: "appendonly.aof.1.incr.aof".into(),
        seq: 1,
        kind: FileKind::Incr,
    });
    fs::write(dir.join("appendonly.aof.1.incr.aof"), b"").unwrap();
    manifest.store(dir).unwrap();
    let writer = AofWriter::start(sink, AppendFsync::Everysec, Default::default()).unwrap();
    let mut aof = Aof {
        lock,
        manifest,
        writer,
        rewriting: Default::default(),
        sizes: Default::default(),
    };
    set(&mut aof, "lost-on-disk");
    aof.flush();
    let start = std::time::Instant::now();
    while aof.writable() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!aof.must_exit(), "everysec keeps the process up");
    assert!(aof.rewrite_start().is_err(), "a plain rewrite is refused");
    // A failing serializer leaves the writer poisoned and the manifest as it was.
    let before = Manifest::load(dir).unwrap();
    assert!(aof
        .reopen_and_rewrite(|_| Err(AofError::Rewrite("no".into())))
        .is_err());
    assert!(!aof.writable());
    assert_eq!(Manifest::load(dir).unwrap(), before);
    // The keyspace still holds the command the disk lost: the new base captures it.
    aof.reopen_and_rewrite(|w| w.emit(&["SET", "lost-on-disk", "v"]))
        .unwrap();
    assert!(aof.writable());
    set(&mut aof, "after");
    let m = aof.manifest().clone();
    aof.close().unwrap();
    assert_eq!(m.base.as_ref().unwrap().seq, 1);
    assert_eq!(m.incr.len(), 1);
    assert!(m.history.is_empty());
    assert_eq!(keys(dir), ["lost-on-disk", "after"]);
}

#[test]
fn one_rewrite_at_a_time_and_dropping_abandons() {
    let t = TestDir::new("rwone");
    let dir = t.path();
    let mut aof = open(dir);
    let mut rw = aof.rewrite_start().unwrap();
    assert!(aof.rewrite_in_progress());
    let err = aof.rewrite_start().unwrap_err();
    assert!(err.to_string().contains("already in progress"), "{err}");
    assert!(aof.reopen_and_rewrite(|_| Ok(())).is_err());
    rw.write_base(|w| w.emit(&["SET", "a", "v"])).unwrap();
    let temp = dir.join(format!("temp-{}", rw.base_name()));
    assert!(temp.exists());
    drop(rw);
    assert!(!temp.exists(), "dropping removes the temp base");
    assert!(!aof.rewrite_in_progress());
    let rw = aof.rewrite_start().unwrap();
    aof.rewrite_abort(rw);
    assert!(!aof.rewrite_in_progress());
    aof.close().unwrap();
}

#[test]
fn sizes_follow_writes_and_rewrites_and_temp_files_are_cleaned() {
    let t = TestDir::new("rwsize");
    let dir = t.path();
    let mut aof = open(dir);
    assert_eq!((aof.base_size(), aof.current_size()), (0, 0));
    set(&mut aof, "a");
    aof.flush();
    let mut durable = aof.durable();
    let need = aof.applied();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(durable.wait(need))
        .unwrap();
    let incr = fs::metadata(dir.join(&aof.manifest().incr[0].name))
        .unwrap()
        .len();
    assert_eq!(aof.current_size(), incr);
    let mut rw = aof.rewrite_start().unwrap();
    rw.write_base(|w| w.emit(&["SET", "a", "v"])).unwrap();
    aof.rewrite_finish(rw).unwrap();
    let base = fs::metadata(dir.join("appendonly.aof.1.base.aof"))
        .unwrap()
        .len();
    assert_eq!(aof.base_size(), base);
    assert_eq!(aof.current_size(), base);
    aof.close().unwrap();
    fs::write(dir.join("temp-appendonly.aof.9.base.aof"), b"junk").unwrap();
    let aof = open(dir);
    assert!(!dir.join("temp-appendonly.aof.9.base.aof").exists());
    assert_eq!(aof.current_size(), base);
    aof.close().unwrap();
}
