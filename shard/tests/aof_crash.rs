//! Crash test with a real `kill -9`: a child process appends under `appendfsync always` and
//! prints each command it was told is durable; after it is killed, every acknowledged
//! command must load, in order. While it runs, the directory lock refuses this process.
//!
//! The child is this same test binary, re-run on `child_appender` with `SHOAL_AOF_CHILD` set.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_shard::aof::{self, AofError, AppendFsync, DirLock, LoadOptions};

const CHILD_ENV: &str = "SHOAL_AOF_CHILD";

#[test]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful as the child of `kill_9_loses_no_acknowledged_write`.
    };
    let dir = PathBuf::from(dir);
    let lock = DirLock::acquire(&dir).unwrap();
    let report = aof::load_dir::<()>(&dir, &LoadOptions::default(), |_| Ok(()), |_, _| {}).unwrap();
    let mut aof = aof::Aof::open(lock, &report, AppendFsync::Always).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut durable = aof.durable();
    println!("ready");
    for i in 0u64.. {
        // Several commands per batch, like a loop serving many clients.
        for j in 0..5 {
            aof.append(&[
                b"SET".to_vec(),
                format!("k{}", i * 5 + j).into_bytes(),
                vec![b'v'; 100],
            ]);
        }
        aof.flush();
        let need = aof.applied();
        rt.block_on(durable.wait(need)).unwrap();
        println!("ack {}", i * 5 + 4);
    }
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let scratch = std::env::temp_dir().join(format!("shoal-aof-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dir = scratch.join(aof::DIR_NAME);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_ack = None;
    let start = Instant::now();
    let mut checked_lock = false;
    while let Some(Ok(line)) = lines.next() {
        if line.ends_with("ready") && !checked_lock {
            match DirLock::acquire(&dir) {
                Err(AofError::Locked { pid, .. }) => assert_eq!(pid, Some(child.id())),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a second process got the lock"),
            }
            checked_lock = true;
        }
        if let Some(n) = line.strip_prefix("ack ") {
            last_ack = Some(n.parse::<u64>().unwrap());
            if start.elapsed() > Duration::from_millis(700) {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "child made no progress"
        );
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(checked_lock);
    let last_ack = last_ack.expect("the child acknowledged nothing");
    let mut keys = Vec::new();
    aof::load_dir::<()>(
        &dir,
        &LoadOptions::default(),
        |a| {
            keys.push(String::from_utf8(a[1].to_vec()).unwrap());
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    assert!(
        keys.len() as u64 > last_ack,
        "{} loaded, ack {last_ack}",
        keys.len()
    );
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(k, &format!("k{i}"), "commands load in order, with no gap");
    }
    // The lock died with the child.
    drop(DirLock::acquire(&dir).unwrap());
    let _ = std::fs::remove_dir_all(&scratch);
}
