//! Locating the `shoal` binary.
//!
//! `env!("CARGO_BIN_EXE_shoal")` only exists inside the package that owns the binary,
//! and this crate is a separate package. So the binary is found next to the test
//! executable itself: cargo puts test executables in `<target>/<profile>/deps/`, and
//! the `shoal` binary of the same profile in `<target>/<profile>/`. That follows
//! `CARGO_TARGET_DIR` and `--release` without reading either.
//!
//! A binary left over from an older checkout would make every test lie, so the first
//! call also runs `cargo build -p shoal` (a no-op when it is up to date). Set
//! `SHOAL_BIN` to test a given binary and skip the build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the `shoal` binary to test, built (once per process) if needed.
///
/// Panics with an explanation when it cannot be found or built: without it no test
/// can run.
pub fn shoal_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate).clone()
}

/// The release `shoal` binary, built once per process if needed (or `SHOAL_BIN`).
///
/// For the few tests whose assertion is a rate, such as how many writes share one
/// fsync: that ratio depends on how fast the event loop runs while a sync is in flight,
/// and a debug build runs it several times slower than what ships.
pub fn shoal_release_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if env::var_os("SHOAL_BIN").is_some() {
            return locate();
        }
        let profile_dir = profile_dir();
        let release_dir = profile_dir
            .parent()
            .map(|target| target.join("release"))
            .unwrap_or_else(|| profile_dir.clone());
        build(&release_dir, true);
        let bin = release_dir.join("shoal");
        assert!(
            bin.is_file(),
            "{} missing after the release build",
            bin.display()
        );
        bin
    })
    .clone()
}

fn locate() -> PathBuf {
    if let Some(path) = env::var_os("SHOAL_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "SHOAL_BIN={} is not a file", path.display());
        return path;
    }
    let profile_dir = profile_dir();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    build(&profile_dir, release);
    let bin = profile_dir.join("shoal");
    assert!(
        bin.is_file(),
        "{} missing after `cargo build -p shoal`; set SHOAL_BIN to the binary to test",
        bin.display()
    );
    bin
}

/// The target directory this test executable was built in (`<target>`), for reports a
/// test leaves behind.
pub fn target_dir() -> PathBuf {
    let profile = profile_dir();
    profile.parent().map(Path::to_path_buf).unwrap_or(profile)
}

/// `<target>/<profile>`, from the running test executable's own path.
fn profile_dir() -> PathBuf {
    let exe = env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

fn build(profile_dir: &Path, release: bool) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--quiet", "-p", "shoal"]);
    // The same target directory as this test executable, however cargo was told it.
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run `cargo build -p shoal`");
    assert!(status.success(), "`cargo build -p shoal` failed: {status}");
}
