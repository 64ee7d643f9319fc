//! ACL on a shard. The users are per node, as in Redis Cluster: `ACL SETUSER` sent to one
//! shard's port changes that shard only. The agent's proxy applies its own `ACL SETUSER`
//! and `ACL DELUSER` to every shard too (over the Unix socket), so the ports agree.

use bytes::Bytes;

use crate::cmd::{CmdResult, Ctx};

/// ACL <subcommand> ...
pub fn acl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
    let acl = &ctx.srv.acl;
    let session = ctx.client.session.clone().unwrap_or_else(|| acl.session());
    crate::acl::command::acl(acl, &session, &args, ctx.out);
    Ok(())
}
