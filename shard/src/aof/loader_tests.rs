use super::*;
use crate::aof::dir::{Aof, DirLock};
use crate::aof::reader::tests::generate;
use crate::aof::record::encode_command;
use crate::aof::testdir::TestDir;
use crate::aof::AppendFsync;
use bytes::BytesMut;

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_command(&mut b, args);
    b.to_vec()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

fn manifest(dir: &Path, text: &str) {
    write(dir, MANIFEST_NAME, text.as_bytes());
}

fn load(
    dir: &Path,
    opts: &LoadOptions,
) -> Result<(LoadReport, Vec<String>), LoadError<Infallible>> {
    let mut keys = Vec::new();
    let r = load_dir(
        dir,
        opts,
        |a| {
            keys.push(String::from_utf8(a[1].to_vec()).unwrap());
            Ok(())
        },
        |_, _| {},
    )?;
    Ok((r, keys))
}

fn three_files(dir: &Path) {
    write(dir, "appendonly.aof.1.base.aof", &cmd(&["set", "k1", "v1"]));
    write(dir, "appendonly.aof.1.incr.aof", &cmd(&["set", "k2", "v2"]));
    write(dir, "appendonly.aof.3.incr.aof", &cmd(&["set", "k3", "v3"]));
    manifest(
        dir,
        "file appendonly.aof.1.base.aof seq 1 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type i\n\
         file appendonly.aof.3.incr.aof seq 3 type i\n",
    );
}

#[test]
fn loads_base_then_incr_with_discontinuous_seq() {
    let t = TestDir::new("load3");
    three_files(t.path());
    let (r, keys) = load(t.path(), &LoadOptions::default()).unwrap();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    assert_eq!(r.commands, 3);
    assert_eq!(r.tail.unwrap().name, "appendonly.aof.3.incr.aof");
}

#[test]
fn missing_listed_files_are_fatal_and_named() {
    for missing in ["appendonly.aof.1.base.aof", "appendonly.aof.1.incr.aof"] {
        let t = TestDir::new("missing");
        three_files(t.path());
        fs::remove_file(t.path().join(missing)).unwrap();
        let err = load(t.path(), &LoadOptions::default()).unwrap_err();
        assert!(
            matches!(&err, LoadError::Aof(AofError::Missing { path }) if path.ends_with(missing)),
            "{err}"
        );
        assert!(err.to_string().contains("doesn't exist"), "{err}");
    }
}

#[test]
fn empty_files_load_and_missing_manifest_starts_empty() {
    let t = TestDir::new("empty");
    let (r, keys) = load(&t.path().join("nope"), &LoadOptions::default()).unwrap();
    assert!(keys.is_empty() && r.manifest.is_empty() && r.tail.is_none());
    let (_, keys) = load(t.path(), &LoadOptions::default()).unwrap();
    assert!(keys.is_empty(), "an empty dir starts empty");
    three_files(t.path());
    write(t.path(), "appendonly.aof.1.incr.aof", b"");
    let (_, keys) = load(t.path(), &LoadOptions::default()).unwrap();
    assert_eq!(keys, ["k1", "k3"]);
    manifest(t.path(), "");
    let err = load(t.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("Found an empty AOF manifest"),
        "{err}"
    );
}

#[test]
fn torn_tail_of_last_file_is_cut_and_writes_resume_there() {
    let t = TestDir::new("torn");
    let g = generate(3, 3, true);
    // Cut inside the third record of the last batch.
    let cut = (g.items[10].0 + 7) as usize;
    write(t.path(), "appendonly.aof.1.incr.aof", &g.bytes[..cut]);
    manifest(t.path(), "file appendonly.aof.1.incr.aof seq 1 type i\n");
    let strict = LoadOptions {
        load_truncated: false,
        ..LoadOptions::default()
    };
    let err = load(t.path(), &strict).unwrap_err();
    assert!(err.to_string().contains("unexpected end of file"), "{err}");
    let (r, keys) = load(t.path(), &LoadOptions::default()).unwrap();
    assert_eq!(keys.len(), 8);
    let path = t.path().join("appendonly.aof.1.incr.aof");
    assert_eq!(r.truncated, Some((path.clone(), g.items[10].0)));
    assert_eq!(fs::metadata(&path).unwrap().len(), g.items[10].0);
    // Resume: the next batch's checksum must cover the two unannotated records left.
    let lock = DirLock::acquire(t.path()).unwrap();
    let mut aof = Aof::open(lock, &r, AppendFsync::Always).unwrap();
    aof.append(&["SET", "after", "restart"]);
    aof.close().unwrap();
    let report = check(t.path(), |_, _| {}).unwrap();
    assert_eq!(report.problem, None);
    let (_, keys) = load(t.path(), &LoadOptions::default()).unwrap();
    assert_eq!(keys.len(), 9);
    assert_eq!(keys[8], "after");
}

#[test]
fn torn_file_that_is_not_last_is_fatal() {
    let t = TestDir::new("tornmid");
    three_files(t.path());
    let torn = cmd(&["set", "k2", "v2"]);
    write(
        t.path(),
        "appendonly.aof.1.incr.aof",
        &torn[..torn.len() - 3],
    );
    let err = load(t.path(), &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Aof(AofError::TruncatedNotLast { offset: 0, .. })
        ),
        "{err}"
    );
}

#[test]
fn corruption_refuses_naming_file_and_offset_unless_truncating() {
    let t = TestDir::new("corrupt");
    let g = generate(3, 2, true);
    let mut bytes = g.bytes.clone();
    let pos = g.items[3].0 as usize + 33;
    bytes[pos] ^= 0x20;
    write(t.path(), "appendonly.aof.1.incr.aof", &bytes);
    manifest(t.path(), "file appendonly.aof.1.incr.aof seq 1 type i\n");
    let batch2 = g.items[2].1;
    let err = load(t.path(), &LoadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("appendonly.aof.1.incr.aof"), "{msg}");
    assert!(msg.contains(&format!("bytes {batch2}..")), "{msg}");
    let report = check(t.path(), |_, _| {}).unwrap();
    assert_eq!(report.valid_up_to, batch2);
    assert_eq!(report.total, bytes.len() as u64);
    assert!(matches!(report.problem, Some(Problem::CrcMismatch { .. })));
    let opts = LoadOptions {
        truncate_corrupt: true,
        ..LoadOptions::default()
    };
    let (r, keys) = load(t.path(), &opts).unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(r.truncated.unwrap().1, batch2);
}

#[test]
fn check_and_fix_accept_dir_manifest_or_file() {
    let t = TestDir::new("fix");
    let g = generate(2, 2, true);
    let cut = g.bytes.len() - 5;
    three_files(t.path());
    write(t.path(), "appendonly.aof.3.incr.aof", &g.bytes[..cut]);
    let file = t.path().join("appendonly.aof.3.incr.aof");
    for path in [
        t.path().to_path_buf(),
        t.path().join(MANIFEST_NAME),
        file.clone(),
    ] {
        let mut last = (0, 0);
        let r = check(&path, |done, total| last = (done, total)).unwrap();
        assert_eq!(r.file, file);
        assert!(r.last_file);
        assert_eq!(r.valid_up_to, g.items[4].1);
        assert_eq!(r.total, cut as u64);
        assert_eq!(last.0, last.1, "progress reaches the total");
    }
    let r = fix(t.path(), |_, _| {}).unwrap();
    assert!(matches!(r.problem, Some(Problem::TornTail { .. })));
    let line = r.to_string();
    assert!(
        line.contains(&format!("valid up to byte {} of {cut}", r.valid_up_to)),
        "{line}"
    );
    assert_eq!(fs::metadata(&file).unwrap().len(), r.valid_up_to);
    let r = check(t.path(), |_, _| {}).unwrap();
    assert_eq!(
        (r.problem, r.files_checked, r.commands),
        (None, 3, 1 + 1 + 4)
    );
    // A damaged file that is not the last cannot be fixed in place.
    write(t.path(), "appendonly.aof.1.incr.aof", b"garbage\r\n");
    let err = fix(t.path(), |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not the last file"), "{err}");
}
