//! Stream commands.
//!
//! # Layout
//! - this module: the command list and what the families share: key lookup, ID
//!   arguments and the reply shape of entries;
//! - [`write`]: XADD, XDEL, XTRIM, XSETID;
//! - [`read`]: XLEN, XRANGE, XREVRANGE, XREAD, XREADGROUP (blocking included);
//! - [`group`]: XGROUP, XACK, XPENDING;
//! - [`claim`]: XCLAIM, XAUTOCLAIM;
//! - [`info`]: XINFO and its subcommands;
//! - `propagate`: the records the consumer-group commands leave in the AOF.

pub mod claim;
pub mod group;
pub mod info;
mod propagate;
pub mod read;
pub mod write;

#[cfg(test)]
mod script_tests;

use bytes::Bytes;
use shoal_proto::Reply;

use super::{err, CmdError, Ctx, Handler};
use crate::db::stream::id::{self, INVALID_ID};
use crate::db::stream::{NodeLimits, Stream, StreamId};
use crate::db::{Db, Sds, Value};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("xadd", write::xadd),
    ("xdel", write::xdel),
    ("xtrim", write::xtrim),
    ("xsetid", write::xsetid),
    ("xlen", read::xlen),
    ("xrange", read::xrange),
    ("xrevrange", read::xrevrange),
    ("xread", read::xread),
    ("xreadgroup", read::xreadgroup),
    ("xgroup|create", group::create),
    ("xgroup|setid", group::setid),
    ("xgroup|destroy", group::destroy),
    ("xgroup|createconsumer", group::createconsumer),
    ("xgroup|delconsumer", group::delconsumer),
    ("xgroup|help", group::help),
    ("xack", group::xack),
    ("xpending", group::xpending),
    ("xclaim", claim::xclaim),
    ("xautoclaim", claim::xautoclaim),
    ("xinfo|stream", info::stream),
    ("xinfo|groups", info::groups),
    ("xinfo|consumers", info::consumers),
    ("xinfo|help", info::help),
];

/// An ID argument where `-` and `+` are refused.
pub fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    id::parse(arg, 0, true, false)
        .map(|p| p.id)
        .ok_or(CmdError::Static(INVALID_ID))
}

/// An ID argument where `-` and `+` are allowed; `missing_seq` completes a bare ms.
pub fn loose_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    id::parse(arg, missing_seq, false, false)
        .map(|p| p.id)
        .ok_or(CmdError::Static(INVALID_ID))
}

/// The stream at `key` for reading, None when missing, or WRONGTYPE.
pub fn lookup<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Stream>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The stream at `key` for writing, None when missing, or WRONGTYPE.
pub fn lookup_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a mut Stream>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

pub fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.srv.config.stream_node_max_bytes,
        max_entries: ctx.srv.config.stream_node_max_entries,
    }
}

/// An empty reply in the protocol of `like`, for parts whose length is known only
/// once written.
pub fn scratch(like: &Reply) -> Reply {
    Reply::new(if like.is_resp3() {
        shoal_proto::Protocol::Resp3
    } else {
        shoal_proto::Protocol::Resp2
    })
}

pub fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// One entry as `[id, [field, value, …]]`.
pub fn reply_entry(out: &mut Reply, id: StreamId, fields: &[Sds]) {
    out.array(2);
    reply_id(out, id);
    out.array(fields.len());
    for f in fields {
        out.bulk(f);
    }
}

/// The NOGROUP error Redis gives for a missing key or group.
pub fn nogroup(key: &[u8], group: &[u8], cmd: &str) -> CmdError {
    CmdError::Owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in {cmd} command",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// A positive COUNT-like integer argument.
pub fn int_arg(arg: &Bytes) -> Result<i64, CmdError> {
    super::args::int(arg)
}
