//! Starting one shard: `/proc/self/exe shard …`, so a shard always runs the agent's own
//! version.

use std::path::Path;
use std::process::{Command, Stdio};

use nix::unistd::Pid;
use shoal_config::LogFormat;

use super::plan::ShardSpec;
use super::pre_exec;

/// Carries the password to the shard without putting it on its command line, where any
/// user could read it from /proc/<pid>/cmdline.
pub const PASSWORD_ENV: &str = "SHOAL_SHARD_REQUIREPASS";
/// Carries the users, whose rules hold passwords, the same way.
pub use shoal_shard::acl::USERS_ENV;

pub struct Launch<'a> {
    pub exe: &'a Path,
    pub arg0: &'a std::ffi::OsStr,
    pub log_level: &'a str,
    pub log_format: LogFormat,
}

pub fn command(launch: &Launch<'_>, spec: &ShardSpec) -> Command {
    let mut cmd = Command::new(launch.exe);
    // `ps` and `pkill -f` then show `shoal shard …` rather than `/proc/self/exe shard …`.
    std::os::unix::process::CommandExt::arg0(&mut cmd, launch.arg0);
    // Port 0: no TCP listener; the shard is reached on its Unix socket only.
    cmd.arg("shard")
        .arg("--port")
        .arg(spec.port.unwrap_or(0).to_string())
        .arg("--data-dir")
        .arg(&spec.data_dir)
        .arg("--bind")
        .arg(&spec.bind)
        .arg("--unixsocket")
        .arg(&spec.socket)
        .arg("--log-level")
        .arg(launch.log_level)
        .arg("--log-format")
        .arg(match launch.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        });
    if let Some(topo) = &spec.cluster {
        cmd.arg("--cluster-nodes")
            .arg(topo.nodes_spec())
            .arg("--cluster-myid")
            .arg(&spec.node_id);
    }
    if let Some(cpu) = spec.cpu {
        cmd.arg("--cpu").arg(cpu.to_string());
    }
    if spec.maxmemory > 0 {
        cmd.arg("--maxmemory").arg(spec.maxmemory.to_string());
    }
    cmd.arg("--maxmemory-policy").arg(spec.maxmemory_policy);
    cmd.arg("--protected-mode")
        .arg(if spec.protected_mode { "yes" } else { "no" });
    cmd.arg("--appendonly")
        .arg(if spec.appendonly { "yes" } else { "no" })
        .arg("--appendfsync")
        .arg(spec.appendfsync);
    match &spec.password {
        Some(pw) => cmd.env(PASSWORD_ENV, pw),
        None => cmd.env_remove(PASSWORD_ENV),
    };
    if spec.users.is_empty() {
        cmd.env_remove(USERS_ENV);
    } else {
        cmd.env(USERS_ENV, shoal_shard::acl::encode_users(&spec.users));
    }
    // The shard's logs join the agent's on stderr (the container log); stdin is not theirs.
    cmd.stdin(Stdio::null());
    // Its own process group: a terminal's Ctrl-C reaches the agent only, which then stops
    // the shards in order instead of all at once.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    pre_exec::die_with_parent(&mut cmd);
    cmd
}

/// Spawns the shard and returns its pid. The `Child` handle is dropped on purpose: the
/// reaper's `waitpid(-1)` collects every child, and a second waiter would race it.
pub fn spawn(launch: &Launch<'_>, spec: &ShardSpec) -> std::io::Result<Pid> {
    let child = command(launch, spec).spawn()?;
    let pid = i32::try_from(child.id()).map_err(std::io::Error::other)?;
    Ok(Pid::from_raw(pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(cmd: &Command) -> String {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.join(" ")
    }

    #[test]
    fn arguments_and_password_env() {
        let mut spec = ShardSpec {
            database: "db".into(),
            index: 1,
            port: None,
            bind: "127.0.0.1".into(),
            cpu: Some(3),
            data_dir: PathBuf::from("/d/db/shard-1"),
            socket: PathBuf::from("/d/run/db-1.sock"),
            password: Some("pw".into()),
            users: vec![("app".into(), "on >apw ~app:*".into())],
            protected_mode: true,
            maxmemory: 1000,
            maxmemory_policy: "allkeys-lru",
            appendonly: true,
            appendfsync: "always",
            cluster: None,
            node_id: "b".repeat(40),
        };
        let launch = Launch {
            exe: Path::new("/bin/shoal"),
            arg0: std::ffi::OsStr::new("shoal"),
            log_level: "info",
            log_format: LogFormat::Json,
        };
        let cmd = command(&launch, &spec);
        let joined = args(&cmd);
        assert!(joined.starts_with("shard --port 0 --data-dir /d/db/shard-1 --bind 127.0.0.1 --unixsocket /d/run/db-1.sock"), "{joined}");
        assert!(!joined.contains("--cluster"), "{joined}");
        assert!(joined.contains("--cpu 3"));
        assert!(joined.contains("--maxmemory 1000 --maxmemory-policy allkeys-lru"));
        assert!(joined.contains("--appendonly yes --appendfsync always"));
        assert!(
            !joined.contains("pw"),
            "the passwords stay off the command line"
        );
        assert!(joined.contains("--protected-mode yes"), "{joined}");
        let env: Vec<_> = cmd.get_envs().collect();
        assert!(env
            .iter()
            .any(|(k, v)| *k == PASSWORD_ENV && v.map(|v| v == "pw") == Some(true)));
        assert!(env
            .iter()
            .any(|(k, v)| *k == USERS_ENV && v.map(|v| v == "app on >apw ~app:*\n") == Some(true)));

        // cluster_api: a TCP port and the database's topology.
        let topo = shoal_proto::cluster::Topology::from_slotmap(
            &shoal_proto::SlotMap::even(2),
            &["a".repeat(40), "b".repeat(40)],
            &[("10.0.0.1".into(), 7001), ("10.0.0.1".into(), 7002)],
        );
        spec.port = Some(7002);
        spec.cluster = Some(std::sync::Arc::new(topo));
        let joined = args(&command(&launch, &spec));
        assert!(joined.starts_with("shard --port 7002 "), "{joined}");
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        assert!(
            joined.contains(&format!(
                "--cluster-nodes {a},10.0.0.1,7001,0-8191;{b},10.0.0.1,7002,8192-16383 --cluster-myid {b}"
            )),
            "{joined}"
        );
    }
}
