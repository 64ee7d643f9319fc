//! Command-line parsing and the mapping of errors to exit codes.
//!
//! `shoal` alone (or `shoal run`) starts the agent; `shoal shard` runs one shard (the agent
//! re-executes itself that way); `shoal config check|default` and `shoal health` are tools.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shoal_config::{AppendFsync, ConfigError, LogFormat, Overrides, Shards};
use shoal_shard::ShardConfig;

/// `EX_USAGE`: bad flags or configuration.
const EX_USAGE: u8 = 64;
/// `EX_DATAERR`: the AOF could not be read or repaired.
const EX_DATAERR: u8 = 65;
/// `EX_UNAVAILABLE`: a port the agent needs is taken, or another agent holds the data dir.
const EX_UNAVAILABLE: u8 = 69;
/// `EX_OSERR`: the system refused (directories, affinity, runtime).
const EX_OSERR: u8 = 71;

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "Redis-compatible shards behind one proxy",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run(RunArgs),
    /// Run one shard as a standalone Redis-compatible server.
    Shard(ShardArgs),
    /// Check or print configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask the local agent whether it is ready (exit 0) or not (exit 1).
    Health(HealthArgs),
    /// Check or repair a shard's append-only file.
    #[command(subcommand)]
    Aof(AofCommand),
}

#[derive(Subcommand)]
enum AofCommand {
    /// Report the first damaged byte, if any (PATH: the appendonlydir, its manifest, or one
    /// .aof file). Exits 1 when the AOF is damaged.
    Check { path: PathBuf },
    /// Cut the last file back to its last valid record (only the last file may be cut).
    Fix { path: PathBuf },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a file; exit 64 with the bad key named if it is wrong.
    Check { file: PathBuf },
    /// Print a commented configuration file holding every default.
    Default,
}

/// Flags override the file; `SHOAL_*` variables override both.
#[derive(Args, Default)]
struct RunArgs {
    /// The TOML configuration file (default: none, every key at its default).
    #[arg(long, short = 'c', env = "SHOAL_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long)]
    bind: Option<String>,
    /// The host cluster clients are sent to (CLUSTER SLOTS, -MOVED).
    #[arg(long)]
    announce_host: Option<String>,
    /// Port of the first database.
    #[arg(long)]
    port: Option<u16>,
    /// Shards per database: a number or "auto".
    #[arg(long, value_parser = Shards::parse_str)]
    shards: Option<Shards>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, value_parser = AppendFsync::parse_str)]
    appendfsync: Option<AppendFsync>,
    #[arg(long)]
    admin_port: Option<u16>,
    /// Password of the first database. SHOAL_PASSWORD keeps it out of `ps`.
    #[arg(long)]
    requirepass: Option<String>,
    #[arg(long, value_parser = LogFormat::parse_str)]
    log_format: Option<LogFormat>,
    #[arg(long)]
    log_level: Option<String>,
}

#[derive(Args)]
struct ShardArgs {
    #[arg(long, default_value_t = 6379)]
    port: u16,
    #[arg(long, default_value = ".")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    #[arg(long)]
    unixsocket: Option<PathBuf>,
    /// Pin the shard's thread to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Also read from the environment so the agent can keep it off the command line.
    #[arg(long, env = "SHOAL_SHARD_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// yes or no: refuse non-loopback TCP clients while `default` has no password.
    #[arg(long, value_parser = parse_yes_no)]
    protected_mode: Option<bool>,
    /// Bytes, or with Redis's units (100mb, 1gb); 0 = no limit.
    #[arg(long, value_parser = parse_size)]
    maxmemory: Option<u64>,
    #[arg(long, value_parser = shoal_config::MaxmemoryPolicy::parse_str)]
    maxmemory_policy: Option<shoal_config::MaxmemoryPolicy>,
    /// yes or no.
    #[arg(long, value_parser = parse_yes_no)]
    appendonly: Option<bool>,
    #[arg(long, value_parser = parse_fsync)]
    appendfsync: Option<shoal_shard::config::AppendFsync>,
    #[arg(long, default_value = "info")]
    log_level: String,
    #[arg(long, value_parser = LogFormat::parse_str, default_value = "text")]
    log_format: LogFormat,
    /// Cluster mode: every shard of the database as `id,host,port,start-end;…`
    /// (id: 40 hex digits; start-end: its inclusive slot range). Needs --cluster-myid.
    #[arg(long, requires = "cluster_myid")]
    cluster_nodes: Option<String>,
    /// This shard's node ID, one of those in --cluster-nodes.
    #[arg(long, requires = "cluster_nodes")]
    cluster_myid: Option<String>,
}

#[derive(Args)]
struct HealthArgs {
    /// The agent's admin port.
    #[arg(long, env = "SHOAL_ADMIN_PORT", default_value_t = shoal_config::DEFAULT_ADMIN_PORT)]
    admin_port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Check liveness (/livez) instead of readiness (/readyz).
    #[arg(long)]
    live: bool,
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("{s:?} is neither yes nor no")),
    }
}

fn parse_fsync(s: &str) -> Result<shoal_shard::config::AppendFsync, String> {
    shoal_shard::config::AppendFsync::from_name(s)
        .ok_or_else(|| format!("{s:?} is not always, everysec or no"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    shoal_config::units::parse_bytes(s).ok_or_else(|| format!("{s:?} is not a size"))
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Some(Command::Shard(args)) => run_shard(args),
        Some(Command::Aof(cmd)) => run_aof(cmd),
        Some(Command::Run(args)) => run_agent(args),
        Some(Command::Config(c)) => config_command(c),
        Some(Command::Health(args)) => health(args),
        None => run_agent(cli.run),
    }
}

fn usage_error(e: &ConfigError) -> ExitCode {
    eprintln!("shoal: configuration error: {e}");
    ExitCode::from(EX_USAGE)
}

fn run_agent(args: RunArgs) -> ExitCode {
    let flags = Overrides {
        bind: args.bind,
        announce_host: args.announce_host,
        port: args.port,
        shards: args.shards,
        data_dir: args.data_dir,
        password: args.requirepass,
        log_format: args.log_format,
        log_level: args.log_level,
        admin_port: args.admin_port,
        appendfsync: args.appendfsync,
    };
    let env = match Overrides::from_env(std::env::vars()) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let config = match shoal_config::load(args.config.as_deref(), &flags.then(env))
        .and_then(|c| crate::proxy::acl::validate_users(&c).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    crate::logging::init(&config.log_level, config.log_format);
    match crate::run::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "agent failed");
            eprintln!("shoal: {e}");
            ExitCode::from(match &e {
                crate::run::RunError::Plan(p) if p.is_usage() => EX_USAGE,
                crate::run::RunError::AdminBind { .. } => EX_UNAVAILABLE,
                crate::run::RunError::Lock(crate::lock::LockError::Held { .. }) => EX_UNAVAILABLE,
                crate::run::RunError::Proxy(crate::proxy::ProxyError::Bind { .. }) => {
                    EX_UNAVAILABLE
                }
                _ => EX_OSERR,
            })
        }
    }
}

fn config_command(cmd: ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Default => {
            print!("{}", shoal_config::template::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        ConfigCommand::Check { file } => {
            match shoal_config::load(Some(&file), &Overrides::default())
                .and_then(|c| crate::proxy::acl::validate_users(&c).map(|()| c))
            {
                Ok(c) => {
                    println!(
                        "{}: ok ({} database{})",
                        file.display(),
                        c.databases.len(),
                        if c.databases.len() == 1 { "" } else { "s" }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(&e),
            }
        }
    }
}

fn health(args: HealthArgs) -> ExitCode {
    let path = if args.live { "/livez" } else { "/readyz" };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    match crate::health::check(&args.host, args.admin_port, path, timeout) {
        Ok((200, _)) => {
            println!("{path}: ok");
            ExitCode::SUCCESS
        }
        Ok((code, body)) => {
            println!("{path}: {code} {}", body.trim_end());
            ExitCode::from(1)
        }
        Err(e) => {
            println!("{path}: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_shard(args: ShardArgs) -> ExitCode {
    crate::logging::init(&args.log_level, args.log_format);
    let cluster = match (&args.cluster_nodes, &args.cluster_myid) {
        (Some(nodes), Some(myid)) => match shoal_shard::Topology::parse(nodes, myid) {
            Ok(t) => Some(std::sync::Arc::new(t)),
            Err(e) => {
                eprintln!("shoal shard: --cluster-nodes: {e}");
                return ExitCode::from(EX_USAGE);
            }
        },
        _ => None,
    };
    let users = shoal_shard::acl::decode_users(
        &std::env::var(shoal_shard::acl::USERS_ENV).unwrap_or_default(),
    );
    if let Err(e) = shoal_shard::acl::Acl::new(None, &users) {
        eprintln!("shoal shard: {}: {e}", shoal_shard::acl::USERS_ENV);
        return ExitCode::from(EX_USAGE);
    }
    let defaults = ShardConfig::default();
    let config = ShardConfig {
        port: args.port,
        bind: args.bind,
        unixsocket: args.unixsocket,
        data_dir: args.data_dir,
        cpu: args.cpu,
        requirepass: args
            .requirepass
            .filter(|p| !p.is_empty())
            .map(String::into_bytes),
        users,
        protected_mode: args.protected_mode.unwrap_or(defaults.protected_mode),
        maxmemory: args.maxmemory.unwrap_or(defaults.maxmemory),
        appendonly: args.appendonly.unwrap_or(defaults.appendonly),
        appendfsync: args.appendfsync.unwrap_or(defaults.appendfsync),
        maxmemory_policy: args
            .maxmemory_policy
            .map(|p| p.as_str().to_string())
            .unwrap_or(defaults.maxmemory_policy.clone()),
        cluster,
        ..defaults
    };
    // The shard's own log lines then say which shard they come from.
    let span = tracing::info_span!("shard", port = config.port, cpu = config.cpu);
    let _g = span.enter();
    match shoal_shard::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shard failed");
            eprintln!("shoal shard: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_aof(cmd: AofCommand) -> ExitCode {
    use shoal_shard::aof;
    let (res, path) = match &cmd {
        AofCommand::Check { path } => (aof::check(path, |_, _| {}), path),
        AofCommand::Fix { path } => (aof::fix(path, |_, _| {}), path),
    };
    match res {
        Ok(report) => {
            println!("{report}");
            if report.problem.is_some() && matches!(cmd, AofCommand::Check { .. }) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("shoal aof {}: {e}", path.display());
            ExitCode::from(EX_DATAERR)
        }
    }
}
