//! The ways shoal is deployed, checked for real.
//!
//! - The container image (built by `deploy/docker/build-local.sh`, which needs no
//!   registry): its HEALTHCHECK turns healthy; acknowledged writes with
//!   `appendfsync always` survive `docker kill` of a container writing them; a new
//!   container on the same volume becomes ready (timed); and `docker stop` under write
//!   load ends with exit code 0 inside the grace period, losing nothing acknowledged.
//! - `deploy/validate.sh` (kubernetes-validate and the dashboard/ServiceMonitor checks)
//!   passes, and fails on a misspelt field, so it is known to be looking.
//! - `systemd-analyze verify` accepts the unit, and under a real systemd (PID 1 of a
//!   container) it starts with `Type=notify` readiness, restarts a killed agent and stops
//!   with status 0.
//! - The configuration files shipped for the image, Kubernetes and systemd pass
//!   `shoal config check`, and their stop timeouts nest as the platforms need.
//!
//! Docker is required (the test fails without it). Host ports come from
//! `SHOAL_TEST_PORTS` like every other test; containers, the volume and the image tag
//! are named after the first port and removed at the end, even when a check fails. The
//! imported base image and the untagged layers of the build are kept: they are the
//! cache that makes the next build take seconds instead of a minute or more.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use shoal_tests::server::{free_port, TempDir};

const PASSWORD: &str = "deploy-test-secret";
/// Keys written before the first `docker kill`.
const KEYS: usize = 100_000;
/// SETs per pipeline: a batch counts as acknowledged only when all its replies are in.
const BATCH: usize = 500;
/// `docker stop`'s default grace period before SIGKILL.
const DOCKER_GRACE: Duration = Duration::from_secs(10);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn docker(args: &[&str]) -> Output {
    run(Command::new("docker").args(args))
}

/// Runs docker and returns its trimmed stdout, failing the test if docker fails.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The release binary the image ships (or `SHOAL_BIN`), built when it is stale.
fn release_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SHOAL_BIN") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--quiet", "--release", "-p", "shoal"])
        .status()
        .expect("run cargo build --release -p shoal");
    assert!(status.success(), "cargo build --release -p shoal failed");
    // Next to this test's own profile directory: <target>/<profile>/deps/<exe>.
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("release").join("shoal")
}

/// Everything the docker test creates, removed on drop (also after a failed assert).
struct Scratch {
    image: String,
    volume: String,
    containers: Vec<String>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        if !self.volume.is_empty() {
            let _ = docker(&["volume", "rm", "-f", &self.volume]);
        }
        if self.image.is_empty() {
            return;
        }
        // --no-prune: the tag goes, the build's intermediate layers stay as the cache
        // that makes the next run's build take seconds (`docker image prune` drops them).
        let _ = docker(&["rmi", "--no-prune", &self.image]);
    }
}

struct Ports {
    redis: u16,
    admin: u16,
}

/// `docker run -d` of the image on the test's volume, config and published ports, with
/// the restrictions of the Kubernetes pod's securityContext (read-only root filesystem,
/// no capabilities, no privilege escalation), so the manifests' settings are known to
/// work.
fn start_container(s: &mut Scratch, name: &str, config: &Path, ports: &Ports) -> Instant {
    let _ = docker(&["rm", "-f", name]);
    s.containers.push(name.to_string());
    let started = Instant::now();
    docker_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--memory",
        "512m",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-v",
        &format!("{}:/data", s.volume),
        "-v",
        &format!("{}:/etc/shoal/shoal.toml:ro", config.display()),
        "-e",
        &format!("SHOAL_PASSWORD={PASSWORD}"),
        "-p",
        &format!("127.0.0.1:{}:6379", ports.redis),
        "-p",
        &format!("127.0.0.1:{}:8070", ports.admin),
        &s.image,
    ]);
    started
}

/// The HTTP status of GET `path` on the admin port, or None while it does not answer.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// Time until /readyz answers 200, or a panic with the container's log.
fn wait_ready(name: &str, port: u16, since: Instant, limit: Duration) -> Duration {
    while since.elapsed() < limit {
        if http_status(port, "/readyz") == Some(200) {
            return since.elapsed();
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "{name}: /readyz not 200 within {limit:?}; log:\n{}",
        logs(name)
    );
}

fn logs(name: &str) -> String {
    let out = docker(&["logs", "--tail", "40", name]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn connect(port: u16) -> redis::Connection {
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{port}/");
    let client = redis::Client::open(url).expect("a valid URL");
    // The published port accepts before the shard listens; retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get_connection() {
            Ok(c) => return c,
            Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("connect to 127.0.0.1:{port}: {e}"),
        }
    }
}

fn key(prefix: &str, i: usize) -> String {
    format!("{prefix}:{i}")
}

fn value(i: usize) -> String {
    format!("v{i:08}-payload")
}

/// SETs `prefix:from..prefix:to` in pipelines; returns how many were acknowledged
/// (whole batches only) before the first error.
fn write_keys(con: &mut redis::Connection, prefix: &str, from: usize, to: usize) -> usize {
    let mut acked = from;
    while acked < to {
        let end = (acked + BATCH).min(to);
        let mut pipe = redis::pipe();
        for i in acked..end {
            pipe.cmd("SET").arg(key(prefix, i)).arg(value(i)).ignore();
        }
        if pipe.query::<()>(con).is_err() {
            break;
        }
        acked = end;
    }
    acked
}

/// Writes `prefix:0..` until `stop` is set or the connection fails; returns the number
/// of keys acknowledged (always a prefix of the sequence).
fn write_until(port: u16, prefix: String, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut con = connect(port);
        let mut acked = 0;
        while !stop.load(Ordering::Relaxed) {
            let next = write_keys(&mut con, &prefix, acked, acked + BATCH);
            if next == acked {
                break;
            }
            acked = next;
        }
        acked
    })
}

/// Every key `prefix:0..n` holds its value; returns the missing or wrong ones' count.
fn missing(con: &mut redis::Connection, prefix: &str, n: usize) -> usize {
    let mut bad = 0;
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let keys: Vec<String> = (start..end).map(|i| key(prefix, i)).collect();
        let got: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query(con)
            .expect("MGET after restart");
        bad += got
            .iter()
            .zip(start..end)
            .filter(|(v, i)| v.as_deref() != Some(value(*i).as_str()))
            .count();
    }
    bad
}

fn health_status(name: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", name])
}

#[test]
fn container_image_survives_kill_and_stops_cleanly() {
    let version = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        version.status.success(),
        "this test needs a running Docker engine: {}",
        String::from_utf8_lossy(&version.stderr)
    );
    let ports = Ports {
        redis: free_port(),
        admin: free_port(),
    };
    let id = ports.redis;
    let mut s = Scratch {
        image: format!("shoal-test:{id}"),
        volume: format!("shoal-test-{id}"),
        containers: Vec::new(),
    };

    let began = Instant::now();
    let build = run(
        Command::new(workspace().join("deploy/docker/build-local.sh"))
            .arg(&s.image)
            .env("SHOAL_BINARY", release_binary())
            .stdin(Stdio::null()),
    );
    assert!(
        build.status.success(),
        "build-local.sh failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let size: u64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &s.image])
        .parse()
        .expect("image size");
    eprintln!(
        "image {} built in {:.1?}: {:.1} MB",
        s.image,
        began.elapsed(),
        size as f64 / 1e6
    );
    let user = docker_ok(&["image", "inspect", "-f", "{{.Config.User}}", &s.image]);
    assert!(
        !user.is_empty() && !user.starts_with("0") && user != "root",
        "{user:?}"
    );

    // An explicit, small-pod configuration: one shard, and no reply before its writes
    // are on disk.
    let dir = TempDir::new("deploy");
    let config = dir.path().join("shoal.toml");
    std::fs::write(
        &config,
        "bind = \"0.0.0.0\"\nadmin_bind = \"0.0.0.0\"\ndata_dir = \"/data\"\n\
         shutdown_timeout = \"8s\"\n\n[[database]]\nname = \"default\"\nport = 6379\n\
         shards = 1\nappendfsync = \"always\"\n",
    )
    .expect("write the test config");
    make_readable(&config);

    // 1. Health: the image's HEALTHCHECK (`shoal health`) turns healthy.
    let first = format!("shoal-test-{id}-a");
    let t0 = start_container(&mut s, &first, &config, &ports);
    wait_ready(&first, ports.admin, t0, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut health = health_status(&first);
    while health != "healthy" && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
        health = health_status(&first);
    }
    eprintln!("health after {:.1?}: {health}", t0.elapsed());
    assert_eq!(health, "healthy", "log:\n{}", logs(&first));

    // 2. Acknowledged writes survive docker kill, including those of a writer that is
    //    still going when the container dies.
    let mut con = connect(ports.redis);
    let acked = write_keys(&mut con, "k", 0, KEYS);
    assert_eq!(
        acked, KEYS,
        "every write of the first phase is acknowledged"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = write_until(ports.redis, "live".into(), stop.clone());
    thread::sleep(Duration::from_millis(300));
    docker_ok(&["kill", &first]);
    let live_acked = writer.join().expect("writer thread");
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &first]);
    assert_eq!(code, "137", "killed by SIGKILL");
    docker_ok(&["rm", &first]);

    let second = format!("shoal-test-{id}-b");
    let t0 = start_container(&mut s, &second, &config, &ports);
    let ready = wait_ready(&second, ports.admin, t0, Duration::from_secs(120));
    let mut con = connect(ports.redis);
    let lost = missing(&mut con, "k", KEYS) + missing(&mut con, "live", live_acked);
    eprintln!(
        "after docker kill: {} acknowledged writes ({KEYS} + {live_acked} under load), \
         {lost} lost; new container to /readyz 200: {ready:.2?}",
        KEYS + live_acked
    );
    assert!(live_acked > 0, "the writer got writes in before the kill");
    assert_eq!(lost, 0, "acknowledged writes lost after docker kill");

    // 3. docker stop under write load: exit code 0 within the grace period, and every
    //    acknowledged write is still there afterwards.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = write_until(ports.redis, "stop".into(), stop.clone());
    thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    docker_ok(&["stop", &second]);
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let stop_acked = writer.join().expect("writer thread");
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &second]);
    eprintln!("docker stop under load: exit code {code} after {took:.2?}");
    assert_eq!(code, "0", "log:\n{}", logs(&second));
    assert!(took < DOCKER_GRACE, "docker stop took {took:?}");
    assert!(stop_acked > 0, "the writer got writes in before the stop");
    docker_ok(&["rm", &second]);

    let third = format!("shoal-test-{id}-c");
    let t0 = start_container(&mut s, &third, &config, &ports);
    wait_ready(&third, ports.admin, t0, Duration::from_secs(120));
    let mut con = connect(ports.redis);
    let lost = missing(&mut con, "stop", stop_acked);
    assert_eq!(lost, 0, "of {stop_acked} acknowledged during docker stop");
    let total: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert!(total >= KEYS + live_acked + stop_acked, "{total} keys");
}

/// The test config is bind-mounted for the image's non-root user.
fn make_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in path.ancestors().take(2) {
        let mode = if p == path { 0o644 } else { 0o755 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
    }
}

fn venv() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"))
        .join("validate-venv")
}

fn validate(root: &Path) -> (bool, String) {
    let out = run(Command::new(root.join("deploy/validate.sh"))
        .env("SHOAL_VALIDATE_VENV", venv())
        .stdin(Stdio::null()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn deployment_files_validate() {
    let (ok, text) = validate(&workspace());
    assert!(ok, "{text}");
    for resource in [
        "statefulset/shoal",
        "service/shoal-headless",
        "service/shoal",
        "poddisruptionbudget/shoal",
        "configmap/shoal-config",
        "secret/shoal-auth",
    ] {
        assert!(
            text.contains(&format!("passed for resource {resource} ")),
            "{resource} not validated:\n{text}"
        );
    }
    assert!(text.contains("PASS deploy/kubernetes/optional/servicemonitor.yaml"));
    assert!(text.contains("PASS deploy/grafana/shoal.json"));

    // The same script on a copy with one misspelt field and one unknown metric must fail
    // and name both.
    let dir = TempDir::new("validate");
    let root = dir.path();
    for sub in ["deploy/kubernetes/optional", "deploy/grafana", "agent/src"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    let copy = |rel: &str, edit: &dyn Fn(String) -> String| {
        let text = std::fs::read_to_string(workspace().join(rel)).expect(rel);
        std::fs::write(root.join(rel), edit(text)).expect(rel);
    };
    let same = |t: String| t;
    for f in [
        "deploy/validate.sh",
        "deploy/kubernetes/configmap.yaml",
        "deploy/kubernetes/secret.yaml",
        "deploy/kubernetes/services.yaml",
        "deploy/kubernetes/pdb.yaml",
        "deploy/kubernetes/optional/servicemonitor.yaml",
        "agent/src/metrics.rs",
    ] {
        copy(f, &same);
    }
    copy("deploy/kubernetes/statefulset.yaml", &|t| {
        t.replace(
            "terminationGracePeriodSeconds:",
            "terminationGracePeriodSecond:",
        )
    });
    copy("deploy/grafana/shoal.json", &|t| {
        t.replacen("shoal_keys", "shoal_keyz", 1)
    });
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("deploy/validate.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let (ok, text) = validate(root);
    assert!(!ok, "a misspelt field passed:\n{text}");
    assert!(text.contains("terminationGracePeriodSecond"), "{text}");
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(workspace().join("deploy/systemd/shoal.service"))
        .expect("read the unit");
    // verify checks that ExecStart's binary exists; point it at the one just built.
    let bin = shoal_tests::shoal_bin();
    let dir = TempDir::new("systemd");
    let check = |text: &str| {
        let path = dir.path().join("shoal.service");
        std::fs::write(&path, text).expect("write unit");
        let out = run(Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path));
        let errs = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("shoal.service"))
            .collect::<Vec<_>>()
            .join("\n");
        (out.status.success(), errs)
    };
    let local = unit.replace("/usr/local/bin/shoal", &bin.display().to_string());
    let (ok, errs) = check(&local);
    assert!(ok && errs.is_empty(), "systemd-analyze verify: {errs}");
    for key in ["Type=notify", "ProtectSystem=strict", "NoNewPrivileges=yes"] {
        assert!(unit.contains(&format!("\n{key}\n")), "{key} missing");
    }
    // A misspelt key is reported, so a clean run above means something.
    let (_, errs) = check(&local.replace("Type=notify", "Typ=notify"));
    assert!(
        errs.contains("Typ"),
        "verify did not report a bad key: {errs:?}"
    );
}

/// The value of `key = "<n>s"` in TOML text, in seconds.
fn toml_seconds(text: &str, key: &str) -> u64 {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key)?.trim().strip_prefix('='))
        .and_then(|v| v.trim().trim_matches('"').strip_suffix('s')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} = \"<n>s\" in:\n{text}"))
}

fn config_check(path: &Path) {
    let out = run(Command::new(shoal_tests::shoal_bin())
        .args(["config", "check"])
        .arg(path));
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shipped_configs_are_valid_and_stop_within_their_platform_grace() {
    // The image's file: docker stop waits 10 s.
    let image_toml = workspace().join("deploy/docker/shoal.toml");
    config_check(&image_toml);
    let text = std::fs::read_to_string(&image_toml).expect("read");
    assert!(toml_seconds(&text, "shutdown_timeout") < DOCKER_GRACE.as_secs());

    // The ConfigMap's shoal.toml, under `shoal.toml: |`, against the pod's grace period.
    let cm = std::fs::read_to_string(workspace().join("deploy/kubernetes/configmap.yaml"))
        .expect("read the ConfigMap");
    let toml: String = cm
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("shoal.toml: |"))
        .skip(1)
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l.trim())))
        .collect();
    let dir = TempDir::new("configs");
    let path = dir.path().join("configmap.toml");
    std::fs::write(&path, &toml).expect("write");
    config_check(&path);
    let sts = std::fs::read_to_string(workspace().join("deploy/kubernetes/statefulset.yaml"))
        .expect("read the StatefulSet");
    let grace: u64 = sts
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("terminationGracePeriodSeconds");
    assert!(toml_seconds(&toml, "shutdown_timeout") < grace);

    // systemd: TimeoutStopSec against the default shutdown_timeout (10 s).
    let unit = std::fs::read_to_string(workspace().join("deploy/systemd/shoal.service"))
        .expect("read the unit");
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.strip_suffix('s')?.parse().ok())
        .expect("TimeoutStopSec=<n>s");
    assert!(stop > 10, "TimeoutStopSec={stop}s");
}

#[test]
fn readme_shows_the_default_configuration() {
    let out = run(Command::new(shoal_tests::shoal_bin()).args(["config", "default"]));
    assert!(out.status.success());
    let default = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("```toml\n{default}```\n")),
        "README.md's configuration block differs from `shoal config default`"
    );
    // Every key the default file sets is in the reference table.
    for line in default.lines() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let key = key.trim_start_matches("# ").trim();
        if !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue; // prose in a comment
        }
        assert!(
            readme.contains(&format!("| `{key}` |"))
                || readme.contains(&format!("| `[[database]] {key}` |")),
            "README.md's table lacks {key}"
        );
    }
}

/// Runs `systemctl ARGS` inside the container and returns (success, stdout).
fn systemctl(container: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["exec", container, "systemctl"];
    all.extend_from_slice(args);
    let out = docker(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn unit_property(container: &str, prop: &str) -> String {
    systemctl(container, &["show", "-p", prop, "--value", "shoal"]).1
}

/// The unit under a real systemd (PID 1 of a container): `systemctl start` returns only
/// once the agent has sent READY=1 with every shard answering, a killed agent is
/// restarted, and `systemctl stop` ends in success with exit status 0.
///
/// An unprivileged container cannot create mount namespaces, so a drop-in turns off the
/// directives that need one (ProtectSystem=, PrivateTmp=, DynamicUser= …; systemd fails
/// them with 226/NAMESPACE here). The other directives, the syscall filter among them,
/// stay on; `systemd_unit_verifies` checks the file as shipped.
#[test]
fn systemd_starts_notifies_restarts_and_stops_the_agent() {
    let id = free_port();
    let image = "shoal-local/bookworm-systemd:1";
    let base = run(
        Command::new(workspace().join("deploy/docker/base-image.sh"))
            .args([image, "systemd,systemd-sysv"])
            .stdin(Stdio::null()),
    );
    assert!(
        base.status.success(),
        "base-image.sh: {}",
        String::from_utf8_lossy(&base.stderr)
    );
    let dir = TempDir::new("systemd-run");
    let dropin = dir.path().join("shoal.service.d");
    std::fs::create_dir_all(&dropin).expect("mkdir");
    std::fs::write(
        dropin.join("no-namespaces.conf"),
        "[Service]\nDynamicUser=no\nUser=nobody\nProtectSystem=no\nProtectHome=no\n\
         PrivateTmp=no\nPrivateDevices=no\nProtectKernelTunables=no\nProtectKernelModules=no\n\
         ProtectKernelLogs=no\nProtectControlGroups=no\nProtectClock=no\nProtectHostname=no\n\
         ReadWritePaths=\n",
    )
    .expect("write the drop-in");
    let config = dir.path().join("shoal.toml");
    std::fs::write(
        &config,
        "[[database]]\nname = \"default\"\nport = 6379\nshards = 1\n",
    )
    .expect("write the config");
    let name = format!("shoal-test-{id}-systemd");
    let _scratch = Scratch {
        image: String::new(),
        volume: String::new(),
        containers: vec![name.clone()],
    };
    let mount = |host: &Path, inside: &str| format!("{}:{inside}:ro", host.display());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "-v",
        &mount(&release_binary(), "/usr/local/bin/shoal"),
        "-v",
        &mount(
            &workspace().join("deploy/systemd/shoal.service"),
            "/etc/systemd/system/shoal.service",
        ),
        "-v",
        &mount(&dropin, "/etc/systemd/system/shoal.service.d"),
        "-v",
        &mount(&config, "/etc/shoal/shoal.toml"),
        image,
        "/sbin/init",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, state) = systemctl(&name, &["is-system-running"]);
        if state == "running" || state == "degraded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "systemd did not boot: {state}\n{}",
            logs(&name)
        );
        thread::sleep(Duration::from_millis(200));
    }

    let (ok, _) = systemctl(&name, &["start", "shoal"]);
    let journal = || {
        let out = docker(&["exec", &name, "journalctl", "-u", "shoal", "--no-pager"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(ok, "systemctl start shoal failed:\n{}", journal());
    // Type=notify: start returned, so READY=1 has been sent, and only after every shard
    // answered: /readyz is 200 already.
    assert_eq!(unit_property(&name, "StatusText"), "all shards ready");
    let health = docker(&["exec", &name, "shoal", "health"]);
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stdout)
    );

    // Restart=on-failure: an agent killed by SIGKILL comes back.
    let first_pid = unit_property(&name, "MainPID");
    systemctl(
        &name,
        &["kill", "-s", "SIGKILL", "--kill-whom=main", "shoal"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while unit_property(&name, "NRestarts") != "1"
        || unit_property(&name, "StatusText") != "all shards ready"
        || unit_property(&name, "MainPID") == first_pid
    {
        assert!(Instant::now() < deadline, "not restarted:\n{}", journal());
        thread::sleep(Duration::from_millis(100));
    }

    // A graceful stop: SIGTERM to the agent, exit status 0, unit result "success".
    let t = Instant::now();
    let (ok, _) = systemctl(&name, &["stop", "shoal"]);
    let took = t.elapsed();
    assert!(ok);
    assert_eq!(unit_property(&name, "Result"), "success", "{}", journal());
    assert_eq!(unit_property(&name, "ExecMainStatus"), "0");
    assert!(journal().contains("all shards stopped"), "{}", journal());
    eprintln!("systemd: started, restarted after SIGKILL, stopped in {took:.2?}");
}
