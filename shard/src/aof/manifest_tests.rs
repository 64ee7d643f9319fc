use super::*;
use crate::aof::testdir::TestDir;

fn err(text: &str) -> &'static str {
    Manifest::parse(text.as_bytes()).unwrap_err().msg
}

#[test]
fn parses_base_history_incr_in_order() {
    let m = Manifest::parse(
        b"# comment\nfile appendonly.aof.2.base.aof seq 2 type b\n\
          file appendonly.aof.1.base.aof seq 1 type h\n\
          file appendonly.aof.1.incr.aof seq 1 type i\n\
          file appendonly.aof.3.incr.aof seq 3 type i\n",
    )
    .unwrap();
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.aof");
    assert_eq!(m.history.len(), 1);
    let names: Vec<_> = m.load_order().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "appendonly.aof.2.base.aof",
            "appendonly.aof.1.incr.aof",
            "appendonly.aof.3.incr.aof"
        ]
    );
    assert_eq!(m.next_incr_seq(), 4);
    assert_eq!(m.next_base_seq(), 3);
}

#[test]
fn redis_multi_part_manifest_errors() {
    assert_eq!(err(""), "Found an empty AOF manifest");
    assert_eq!(
        err("file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n"),
        "Found a non-monotonic sequence number"
    );
    assert_eq!(
        err("file appendonly.aof.1.incr.aof seq 1 type i\n\nfile appendonly.aof.3.incr.aof seq 3 type i\n"),
        "Invalid AOF manifest file format"
    );
    assert_eq!(
        err("file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.2.base.aof seq 2 type b\n"),
        "Found duplicate base file information"
    );
    assert_eq!(
        err("file appendonly.aof.1.base.aof seq 1 type x\n"),
        "Unknown AOF file type"
    );
    // Misspelt key: no name is found.
    assert_eq!(
        err("filx appendonly.aof.1.base.aof seq 1 type b\n"),
        "Invalid AOF manifest file format"
    );
    // Missing seq: too few arguments.
    assert_eq!(
        err("file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof type i\n"),
        "Invalid AOF manifest file format"
    );
    // An odd number of arguments.
    assert_eq!(
        err("file appendonly.aof.1.incr.aof seq 1 type i newkey\n"),
        "Invalid AOF manifest file format"
    );
    let long = "file appendonly.aof.1.base.aof seq 1 type b ".repeat(40) + "\n";
    assert_eq!(err(&long), "The AOF manifest file contains too long line");
    assert_eq!(
        err("file dir/appendonly.aof.1.base.aof seq 1 type b\n"),
        "File can't be a path, just a filename"
    );
    assert_eq!(
        err("file ..\\x seq 1 type b\n"),
        "File can't be a path, just a filename"
    );
    // seq 0 (or not a number) counts as missing.
    assert_eq!(
        err("file a seq abc type b\n"),
        "Invalid AOF manifest file format"
    );
    // Like fgets, a last line with no newline is refused.
    assert_eq!(
        err("file a seq 1 type b"),
        "The AOF manifest file contains too long line"
    );
    assert_eq!(
        err("file \"a seq 1 type b\n"),
        "Invalid AOF manifest file format"
    );
}

#[test]
fn error_names_the_line() {
    let e = Manifest::parse(b"file a seq 1 type b\nfile b seq 1 type q\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(e.text, "file b seq 1 type q");
}

#[test]
fn extra_pairs_and_case_are_accepted() {
    let m =
        Manifest::parse(b"FILE appendonly.aof.1.base.aof SEQ 1 TYPE b newkey newvalue\n").unwrap();
    assert_eq!(m.base.unwrap().seq, 1);
    // Comments only: not empty, and no files.
    assert!(Manifest::parse(b"# nothing\n").unwrap().is_empty());
}

#[test]
fn text_round_trips_including_quoted_names() {
    let m = Manifest {
        base: Some(AofInfo {
            name: "with space.aof".into(),
            seq: 7,
            kind: FileKind::Base,
        }),
        history: vec![AofInfo {
            name: "q\"uote\n.aof".into(),
            seq: 6,
            kind: FileKind::History,
        }],
        incr: vec![AofInfo {
            name: incr_name(9),
            seq: 9,
            kind: FileKind::Incr,
        }],
    };
    let text = m.to_text();
    assert!(text.starts_with("file \"with space.aof\" seq 7 type b\n"));
    assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
}

#[test]
fn an_empty_name_is_written_quoted_and_reads_back() {
    // Found by the aof_load fuzz target: `file "" …` parses, and was written back bare.
    let m = Manifest::parse(b"file \"\" seq 3 type i\n").unwrap();
    assert_eq!(m.incr[0].name, "");
    let text = m.to_text();
    assert_eq!(text, "file \"\" seq 3 type i\n");
    assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
}

#[test]
fn store_is_atomic_and_loadable() {
    let dir = TestDir::new("manifest-store");
    assert_eq!(Manifest::load(dir.path()).unwrap(), None);
    let m = Manifest {
        base: Some(AofInfo {
            name: base_name(1),
            seq: 1,
            kind: FileKind::Base,
        }),
        history: vec![],
        incr: vec![AofInfo {
            name: incr_name(1),
            seq: 1,
            kind: FileKind::Incr,
        }],
    };
    m.store(dir.path()).unwrap();
    assert_eq!(Manifest::load(dir.path()).unwrap(), Some(m));
    assert!(!dir.path().join("temp-appendonly.aof.manifest").exists());
    std::fs::write(dir.path().join(MANIFEST_NAME), "").unwrap();
    match Manifest::load(dir.path()) {
        Err(AofError::Manifest { msg, .. }) => assert_eq!(msg, "Found an empty AOF manifest"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn atoll_is_lenient_like_c() {
    assert_eq!(atoll(b"12abc"), 12);
    assert_eq!(atoll(b"  -3"), -3);
    assert_eq!(atoll(b"x"), 0);
    assert_eq!(atoll(b"99999999999999999999999"), i64::MAX);
}

#[test]
fn a_manifest_that_could_not_be_read_back_is_not_stored() {
    // Found by fuzzing: a name that parses can be too long once written back escaped.
    let name = format!("appendonly.aof.{}.incr.aof", "\u{11}".repeat(300));
    let m = Manifest {
        base: None,
        history: Vec::new(),
        incr: vec![AofInfo {
            name,
            seq: 1,
            kind: FileKind::Incr,
        }],
    };
    assert!(!m.storable());
    assert!(Manifest::parse(m.to_text().as_bytes()).is_err());
    let dir = crate::aof::testdir::TestDir::new("manifest-too-long");
    assert!(matches!(
        m.store(dir.path()),
        Err(AofError::Manifest { .. })
    ));
    assert!(!dir.path().join(MANIFEST_NAME).exists());
}
