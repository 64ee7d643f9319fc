//! Simulated power loss: an `LD_PRELOAD` shim records, at every successful `fsync` or
//! `fdatasync`, each file's size; after a SIGKILL, [`power_loss`] cuts every incr file
//! back to the size it had at its last successful sync, which is what a power cut keeps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void record(int fd) {
    const char *log = getenv("SHOAL_SYNC_LOG");
    if (!log) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&mu);
    int lf = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (lf >= 0) {
        char line[4200];
        int len = snprintf(line, sizeof line, "%s %lld\n", path, (long long)st.st_size);
        if (write(lf, line, len) < 0) {}
        close(lf);
    }
    pthread_mutex_unlock(&mu);
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int r = real(fd);
    if (r == 0) record(fd);
    return r;
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int r = real(fd);
    if (r == 0) record(fd);
    return r;
}
"#;

/// Builds the sync-recording shim; None (with the reason printed) if no C compiler.
pub fn build_shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("shim.c");
    let so = dir.join("shim.so");
    std::fs::write(&src, SHIM).ok()?;
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status();
    // scripts/test installs a C compiler; without one this check cannot run, which is a
    // broken setup rather than a pass.
    match st {
        Ok(st) if st.success() => Some(so),
        other => panic!("cannot build the fsync shim with cc: {other:?}"),
    }
}

/// Cuts every incr file back to the size it had at its last successful sync, as a power
/// loss would. (Base files and manifests are synced before they are renamed into place.)
pub fn power_loss(aof_dir: &Path, sync_log: &Path) {
    let text = std::fs::read_to_string(sync_log).unwrap_or_default();
    let mut synced: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        if let Some((p, n)) = line.rsplit_once(' ') {
            synced.insert(p.to_string(), n.parse().unwrap_or(0));
        }
    }
    for e in std::fs::read_dir(aof_dir).unwrap().flatten() {
        let p = e.path();
        if !p.to_string_lossy().ends_with(".incr.aof") {
            continue;
        }
        let keep = synced
            .get(&*std::fs::canonicalize(&p).unwrap().to_string_lossy())
            .copied()
            .unwrap_or(0);
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        if f.metadata().unwrap().len() > keep {
            f.set_len(keep).unwrap();
        }
    }
}
