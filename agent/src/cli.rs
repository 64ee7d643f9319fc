//! Command-line parsing and the mapping of errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shoal_shard::ShardConfig;

/// `EX_USAGE`: bad flags or configuration.
const EX_USAGE: u8 = 64;
/// `EX_DATAERR`: the AOF could not be read or repaired.
const EX_DATAERR: u8 = 65;

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "Redis-compatible shards behind one proxy"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one shard as a standalone Redis-compatible server.
    Shard(ShardArgs),
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

#[derive(clap::Args)]
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
    #[arg(long)]
    requirepass: Option<String>,
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Keep an append-only file in DATA_DIR/appendonlydir.
    #[arg(long, default_value = "no", value_parser = ["yes", "no"])]
    appendonly: String,
    /// When a write is synced: always (before its reply), everysec, or no.
    #[arg(long, default_value = "everysec", value_parser = ["always", "everysec", "no"])]
    appendfsync: String,
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
        None => {
            eprintln!("shoal: the agent is not available yet; run `shoal shard --port P`");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn run_shard(args: ShardArgs) -> ExitCode {
    init_tracing(&args.log_level);
    let config = ShardConfig {
        port: args.port,
        bind: args.bind,
        unixsocket: args.unixsocket,
        data_dir: args.data_dir,
        cpu: args.cpu,
        requirepass: args.requirepass.map(String::into_bytes),
        appendonly: args.appendonly == "yes",
        appendfsync: shoal_shard::config::AppendFsync::from_name(&args.appendfsync)
            .unwrap_or(shoal_shard::config::AppendFsync::Everysec),
        ..ShardConfig::default()
    };
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

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
