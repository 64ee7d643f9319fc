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
    cmd.arg("shard")
        .arg("--port")
        .arg(spec.port.to_string())
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
    if let Some(cpu) = spec.cpu {
        cmd.arg("--cpu").arg(cpu.to_string());
    }
    if spec.maxmemory > 0 {
        cmd.arg("--maxmemory").arg(spec.maxmemory.to_string());
    }
    cmd.arg("--maxmemory-policy").arg(spec.maxmemory_policy);
    cmd.arg("--appendonly")
        .arg(if spec.appendonly { "yes" } else { "no" })
        .arg("--appendfsync")
        .arg(spec.appendfsync);
    match &spec.password {
        Some(pw) => cmd.env(PASSWORD_ENV, pw),
        None => cmd.env_remove(PASSWORD_ENV),
    };
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

    #[test]
    fn arguments_and_password_env() {
        let spec = ShardSpec {
            database: "db".into(),
            index: 1,
            port: 7001,
            bind: "127.0.0.1".into(),
            cpu: Some(3),
            data_dir: PathBuf::from("/d/db/shard-1"),
            socket: PathBuf::from("/d/run/db-1.sock"),
            password: Some("pw".into()),
            maxmemory: 1000,
            maxmemory_policy: "allkeys-lru",
            appendonly: true,
            appendfsync: "always",
        };
        let launch = Launch {
            exe: Path::new("/bin/shoal"),
            arg0: std::ffi::OsStr::new("shoal"),
            log_level: "info",
            log_format: LogFormat::Json,
        };
        let cmd = command(&launch, &spec);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("shard --port 7001 --data-dir /d/db/shard-1 --bind 127.0.0.1 --unixsocket /d/run/db-1.sock"), "{joined}");
        assert!(joined.contains("--cpu 3"));
        assert!(joined.contains("--maxmemory 1000 --maxmemory-policy allkeys-lru"));
        assert!(joined.contains("--appendonly yes --appendfsync always"));
        assert!(
            !joined.contains("pw"),
            "the password stays off the command line"
        );
        let env: Vec<_> = cmd.get_envs().collect();
        assert!(env
            .iter()
            .any(|(k, v)| *k == PASSWORD_ENV && v.map(|v| v == "pw") == Some(true)));
    }
}
