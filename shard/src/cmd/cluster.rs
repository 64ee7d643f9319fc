//! Cluster mode: CLUSTER and its subcommands, READONLY, READWRITE, ASKING, and the
//! redirection check (`-MOVED`, `-CROSSSLOT`) that runs before a command.
//!
//! A shard is in cluster mode when the agent gives it the database's topology
//! (`--cluster-nodes`, `--cluster-myid`); the layout is fixed for the shard's life, so
//! there are no slot migrations, hence no ASK, TRYAGAIN or CLUSTERDOWN.
//!
//! Only TCP connections are redirected. The Unix socket is the agent's proxy, which routes
//! every key to its owner and may send a split part of a command; a second check there
//! would cost time and could only fail on the proxy's own bug.
//!
//! COUNTKEYSINSLOT and GETKEYSINSLOT scan the keyspace: a per-slot index would cost every
//! write, for two commands only resharding tools use.

use bytes::Bytes;
use shoal_proto::cluster::{Topology, CROSSSLOT, DISABLED};
use shoal_proto::{key_hash_slot, CommandSpec, SLOT_COUNT};

use super::{args, CmdError, CmdResult, Ctx, Handler};
use crate::client::Client;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("cluster|slots", topology),
    ("cluster|shards", topology),
    ("cluster|nodes", topology),
    ("cluster|myid", topology),
    ("cluster|info", topology),
    ("cluster|keyslot", topology),
    ("cluster|countkeysinslot", countkeysinslot),
    ("cluster|getkeysinslot", getkeysinslot),
    ("readonly", ok_in_cluster_mode),
    ("readwrite", ok_in_cluster_mode),
    ("asking", ok_in_cluster_mode),
];

fn cluster(ctx: &Ctx<'_>) -> Result<std::sync::Arc<Topology>, CmdError> {
    ctx.srv
        .config
        .cluster
        .clone()
        .ok_or(CmdError::Static(DISABLED))
}

/// The subcommands answered from the topology alone.
fn topology(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let topo = cluster(ctx)?;
    let rest: Vec<&[u8]> = argv[2..].iter().map(|a| &a[..]).collect();
    let reply = topo
        .answer(&argv[1], &rest, "", ctx.out.proto)
        .ok_or_else(|| super::wrong_arity(ctx.spec.name))?;
    ctx.out.raw(&reply);
    Ok(())
}

/// READONLY, READWRITE, ASKING: there are no replicas and no migrations, so each only
/// acknowledges.
fn ok_in_cluster_mode(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}

fn slot_arg(arg: &[u8], err: &'static str) -> Result<u16, CmdError> {
    let n = args::int(arg).map_err(|_| CmdError::Static(super::err::NOT_INT))?;
    u16::try_from(n)
        .ok()
        .filter(|&s| s < SLOT_COUNT)
        .ok_or(CmdError::Static(err))
}

/// CLUSTER COUNTKEYSINSLOT slot
fn countkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(&argv[2], "ERR Invalid slot")?;
    let n = ctx
        .srv
        .db
        .iter()
        .filter(|(k, _)| key_hash_slot(k) == slot)
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// CLUSTER GETKEYSINSLOT slot count
fn getkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    const BAD: &str = "ERR Invalid slot or number of keys";
    let slot = args::int(&argv[2]).map_err(|_| CmdError::Static(super::err::NOT_INT))?;
    let max = args::int(&argv[3]).map_err(|_| CmdError::Static(super::err::NOT_INT))?;
    let slot = u16::try_from(slot)
        .ok()
        .filter(|&s| s < SLOT_COUNT)
        .ok_or(CmdError::Static(BAD))?;
    let max = usize::try_from(max).map_err(|_| CmdError::Static(BAD))?;
    let keys: Vec<&[u8]> = ctx
        .srv
        .db
        .iter()
        .map(|(k, _)| &k[..])
        .filter(|k| key_hash_slot(k) == slot)
        .take(max)
        .collect();
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// The redirection a TCP client in cluster mode gets instead of running `args`: MOVED
/// when the keys' slot is another shard's, CROSSSLOT when they span slots. EXEC is
/// checked over every queued command, as Redis does. Commands without keys run here.
pub fn redirect(
    topo: &Topology,
    client: &Client,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Option<CmdError> {
    let mut slot = None;
    if spec.name == "exec" {
        let tx = client.tx.as_ref()?;
        for (spec, _, argv) in &tx.cmds {
            if let Err(e) = command_slot(spec, argv, &mut slot) {
                return Some(e);
            }
        }
    } else if let Err(e) = command_slot(spec, args, &mut slot) {
        return Some(e);
    }
    topo.moved(slot?).map(CmdError::Owned)
}

/// Folds the slot of each of a command's keys into `slot`; CROSSSLOT when two differ.
fn command_slot(
    spec: &CommandSpec,
    args: &[Bytes],
    slot: &mut Option<u16>,
) -> Result<(), CmdError> {
    let mut fold = |key: &[u8]| {
        let s = key_hash_slot(key);
        match *slot {
            Some(prev) if prev != s => Err(CmdError::Static(CROSSSLOT)),
            _ => {
                *slot = Some(s);
                Ok(())
            }
        }
    };
    // Shard channels route like keys, though their key specifications say "not a key".
    match spec.name {
        "spublish" => return args.get(1).map_or(Ok(()), |c| fold(c)),
        "ssubscribe" | "sunsubscribe" => return args[1..].iter().try_for_each(|c| fold(c)),
        _ => {}
    }
    if spec.key_specs.is_empty() && !matches!(spec.name, "sort" | "sort_ro") {
        return Ok(());
    }
    // Arguments that do not parse as the command's keys run, and fail, here.
    let Ok(positions) = spec.key_positions(args) else {
        return Ok(());
    };
    positions
        .into_iter()
        .filter_map(|p| args.get(p))
        .try_for_each(|k| fold(k))
}
