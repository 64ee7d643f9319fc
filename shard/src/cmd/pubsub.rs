//! Pub/sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBE forms, PUBLISH,
//! SPUBLISH and PUBSUB. The broker itself is [`crate::pubsub`].

use bytes::Bytes;

use super::{CmdResult, Ctx, Handler};
use crate::pubsub::{Kind, Sink};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("psubscribe", psubscribe),
    ("ssubscribe", ssubscribe),
    ("unsubscribe", unsubscribe),
    ("punsubscribe", punsubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish),
    ("spublish", spublish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|help", pubsub_help),
];

fn sub_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    for name in &argv[1..] {
        let outbox = ctx.client.outbox.clone();
        let count = ctx.srv.pubsub.subscribe(id, || outbox, kind, name);
        confirm(ctx, kind.subscribe_word(), Some(name), count);
    }
    Ok(())
}

/// Sends a (un)subscribe confirmation. Redis treats these as pushes, which even CLIENT
/// REPLY OFF does not silence, so they go through the outbox rather than the command's
/// reply; the connection places them where the reply would have been.
fn confirm(ctx: &mut Ctx<'_>, word: &[u8], name: Option<&[u8]>, count: usize) {
    let mut r = shoal_proto::Reply {
        buf: Default::default(),
        proto: ctx.client.proto,
    };
    r.push(3);
    r.bulk(word);
    match name {
        Some(n) => r.bulk(n),
        None => r.null(),
    }
    r.int(count as i64);
    ctx.client.outbox.deliver(&r.buf.freeze());
}

fn unsub_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> CmdResult {
    let id = ctx.client.id;
    let names: Vec<Bytes> = if argv.len() > 1 {
        argv[1..].to_vec()
    } else {
        ctx.srv.pubsub.subscriptions(id, kind)
    };
    if names.is_empty() {
        // Nothing to leave: Redis still confirms, with a null name.
        let (count, shard) = ctx.srv.pubsub.counts(id);
        ctx.out.push(3);
        ctx.out.bulk(kind.unsubscribe_word());
        ctx.out.null();
        ctx.out
            .int(if kind == Kind::Shard { shard } else { count } as i64);
        return Ok(());
    }
    for name in &names {
        let count = ctx.srv.pubsub.unsubscribe(id, kind, name);
        confirm(ctx, kind.unsubscribe_word(), Some(name), count);
    }
    Ok(())
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    sub_generic(ctx, argv, Kind::Channel)
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    sub_generic(ctx, argv, Kind::Pattern)
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    sub_generic(ctx, argv, Kind::Shard)
}

/// UNSUBSCRIBE [channel ...]
fn unsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsub_generic(ctx, argv, Kind::Channel)
}

/// PUNSUBSCRIBE [pattern ...]
fn punsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsub_generic(ctx, argv, Kind::Pattern)
}

/// SUNSUBSCRIBE [shardchannel ...]
fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    unsub_generic(ctx, argv, Kind::Shard)
}

/// PUBLISH channel message
fn publish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = ctx.srv.pubsub.publish(&argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = ctx.srv.pubsub.spublish(&argv[1], &argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

fn channels(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> CmdResult {
    let names = ctx
        .srv
        .pubsub
        .channel_names(kind, argv.get(2).map(|p| &p[..]));
    ctx.out.bulks(names.iter());
    Ok(())
}

/// PUBSUB CHANNELS [pattern]
fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    channels(ctx, argv, Kind::Channel)
}

/// PUBSUB SHARDCHANNELS [pattern]
fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    channels(ctx, argv, Kind::Shard)
}

fn numsub(ctx: &mut Ctx<'_>, argv: &[Bytes], kind: Kind) -> CmdResult {
    // A flat array even for RESP3 clients, as Redis 7.0 replies.
    ctx.out.array(2 * (argv.len() - 2));
    for ch in &argv[2..] {
        ctx.out.bulk(ch);
        let n = ctx.srv.pubsub.numsub(kind, ch);
        ctx.out.int(n as i64);
    }
    Ok(())
}

/// PUBSUB NUMSUB [channel ...]
fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    numsub(ctx, argv, Kind::Channel)
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    numsub(ctx, argv, Kind::Shard)
}

/// PUBSUB NUMPAT
fn pubsub_numpat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let n = ctx.srv.pubsub.numpat();
    ctx.out.int(n as i64);
    Ok(())
}

/// PUBSUB HELP
fn pubsub_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
    Ok(())
}
