//! The requests the proxy answers itself, or adapts before a shard sees them: PING, ECHO,
//! AUTH and HELLO, CLIENT and CONFIG of the proxy's own settings, subscribed mode and
//! CLIENT REPLY.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use shoal_proto::{Protocol, Reply};

use super::super::pubsub;
use super::super::route::Special;
use super::super::upstream::push_command;
use super::super::{acl, local, plan_exec};
use super::{Client, Multi};

impl Client {
    pub(super) async fn local(&mut self, s: Special, frame: &[u8], args: &[&[u8]]) {
        let mut out = self.reply();
        match s {
            Special::Ping => local::ping(
                args,
                self.subscribed && self.proto == Protocol::Resp2,
                &mut out,
            ),
            Special::Echo => match args {
                [_, m] => out.bulk(m),
                _ => out.error(&local::wrong_arity("echo")),
            },
            Special::Select => local::select(args, &mut out),
            Special::Auth => {
                let meta = &self.meta;
                acl::command::auth(
                    &self.db.access.acl,
                    &mut self.session,
                    args,
                    &mut out,
                    &|| meta.line((0, 0), -1),
                );
            }
            Special::Acl => {
                acl::command::acl(&self.db.access.acl, &self.session, args, &mut out);
                self.acl_to_shards(args, &out, frame);
            }
            Special::Config => {
                if !local_config(&self.db.access.limits, args, &mut out) {
                    if args.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"set")) {
                        self.db.scripts.config_set(args);
                    }
                    // Every shard gets a CONFIG SET, RESETSTAT or REWRITE; shard 0 answers
                    // the rest.
                    return plan_exec::run(self.plan_exec(), frame, args);
                }
            }
            Special::Hello => {
                let now = local::hello(
                    &self.db,
                    &self.meta,
                    args,
                    self.proto,
                    &mut self.session,
                    &mut out,
                );
                self.set_proto(now.proto);
            }
            Special::Client => {
                if let Some((shard, f)) = self.unblock_target(args) {
                    return self.forward(shard, &f);
                }
                if args.len() == 3 && args[1].eq_ignore_ascii_case(b"reply") {
                    return self.client_reply(args[2]);
                }
                let multi = self.multi.as_ref().map_or(-1, |m| m.count as i64);
                let db = self.db.clone();
                let subs = move |id: u64| match db.broker.lock() {
                    Ok(b) => b.counts(id),
                    Err(p) => p.into_inner().counts(id),
                };
                let o = local::client(&self.db, &self.meta, args, multi, &subs, &mut out);
                if o.close_self {
                    self.close = true;
                }
            }
            Special::Quit => {
                out.ok();
                self.close = true;
            }
            Special::Reset => {
                self.multi = None;
                self.watch = None;
                self.blocking = None;
                pubsub::remove_client(&self.db, self.meta.id);
                self.set_subscribed(false);
                self.set_proto(Protocol::Resp2);
                out.proto = Protocol::Resp2;
                self.meta.set_name(None);
                self.session = self.db.access.acl.session();
                out.simple("RESET");
            }
            Special::Multi => match &self.multi {
                Some(_) => out.error("ERR MULTI calls can not be nested"),
                None => {
                    self.multi = Some(Multi::default());
                    out.ok();
                }
            },
            Special::Exec => return self.exec().await,
            Special::Discard => match self.multi.take() {
                None => out.error("ERR DISCARD without MULTI"),
                Some(_) => {
                    self.watch = None;
                    out.ok();
                }
            },
            Special::Watch => return self.watch(frame, args).await,
            Special::Unwatch => {
                self.watch = None;
                out.ok();
            }
            Special::Subscribe => {
                if args.len() < 2 {
                    out.error(&local::wrong_arity(
                        &String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
                    ));
                } else {
                    let cmd = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
                    pubsub::subscribe(
                        &self.db,
                        self.meta.id,
                        &self.push,
                        &cmd,
                        &args[1..],
                        &mut out,
                    );
                }
                self.set_subscribed(pubsub::is_subscribed(&self.db, self.meta.id));
            }
            Special::Unsubscribe => {
                let cmd = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
                pubsub::unsubscribe(&self.db, self.meta.id, &cmd, &args[1..], &mut out);
                self.set_subscribed(pubsub::is_subscribed(&self.db, self.meta.id));
            }
            Special::Publish => match args {
                [cmd, ch, msg] => {
                    let shard_kind = cmd.first().is_some_and(|c| c.eq_ignore_ascii_case(&b's'));
                    let n = pubsub::publish(&self.db, shard_kind, ch, msg);
                    out.int(n as i64);
                }
                _ => out.error(&local::wrong_arity(
                    &String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
                )),
            },
            Special::PubSub => {
                if !pubsub::pubsub_command(&self.db, args, &mut out) {
                    let sub = args
                        .get(1)
                        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
                    match sub {
                        None => out.error(&local::wrong_arity("pubsub")),
                        Some(s) => out.error(&format!(
                            "ERR unknown subcommand or wrong number of arguments for '{s}'. Try PUBSUB HELP."
                        )),
                    }
                }
            }
            Special::Cluster => match self.db.cluster.answer(args, self.proto) {
                super::super::cluster::Answer::Reply(bytes) => out.raw(&bytes),
                super::super::cluster::Answer::Shard(i) => return self.forward(i, frame),
            },
            Special::Blocking
            | Special::BlockOption
            | Special::Wait
            | Special::Split
            | Special::FanOut => {
                // Routed before reaching here; answer as the shard would.
                return self.forward(0, frame);
            }
        }
        self.ready(out.buf.freeze());
    }

    /// A subscribed client's output is held to the pubsub class, as in Redis.
    pub(super) fn set_subscribed(&mut self, on: bool) {
        self.subscribed = on;
        self.replies.obuf().set_pubsub(on);
    }

    /// CLIENT REPLY ON|OFF|SKIP: only ON is answered.
    pub(super) fn client_reply(&mut self, mode: &[u8]) {
        if mode.eq_ignore_ascii_case(b"on") {
            self.reply_off = false;
            self.reply_skip = false;
            self.reply_skip_next = false;
            self.ready(Bytes::from_static(b"+OK\r\n"));
        } else if mode.eq_ignore_ascii_case(b"off") {
            self.reply_off = true;
        } else if mode.eq_ignore_ascii_case(b"skip") {
            self.reply_skip_next = !self.reply_off;
        } else {
            self.error("ERR syntax error");
        }
    }

    /// CLIENT UNBLOCK of a client waiting on a dedicated connection: the request for its
    /// shard, naming the connection there. Anything else is answered locally.
    pub(super) fn unblock_target(&self, args: &[&[u8]]) -> Option<(usize, Vec<u8>)> {
        if !args.get(1)?.eq_ignore_ascii_case(b"unblock") || !(3..=4).contains(&args.len()) {
            return None;
        }
        if let Some(mode) = args.get(3) {
            if !mode.eq_ignore_ascii_case(b"timeout") && !mode.eq_ignore_ascii_case(b"error") {
                return None;
            }
        }
        let id = shoal_proto::number::parse_i64(args[2])?;
        let target = self.db.clients.get(u64::try_from(id).ok()?)?;
        let (shard, shard_id) = target.blocked_on()?;
        let id_text = shard_id.to_string();
        let mut f = BytesMut::new();
        let mut parts: Vec<&[u8]> = vec![b"CLIENT", b"UNBLOCK", id_text.as_bytes()];
        parts.extend(args.get(3));
        push_command(&mut f, &parts);
        Some((shard, f.to_vec()))
    }

    pub(super) fn set_proto(&mut self, p: Protocol) {
        self.proto = p;
        self.push.set_protocol(p);
        self.meta
            .resp
            .store(if p == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
}

/// CONFIG GET/SET of a client limit (`maxclients`, `timeout`, `protected-mode`, the
/// buffer limits) is the proxy's; false leaves the command to the shard.
fn local_config(limits: &super::super::limits::Limits, args: &[&[u8]], out: &mut Reply) -> bool {
    let sub = args.get(1).copied().unwrap_or_default();
    if sub.eq_ignore_ascii_case(b"get") && args.len() == 3 {
        let pattern = args[2];
        // A pattern could match shard settings too; only exact names are answered here.
        if pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            return false;
        }
        let found = limits.config_get(pattern);
        if found.is_empty() {
            return false;
        }
        out.map(found.len());
        for (name, value) in found {
            out.bulk(name.as_bytes());
            out.bulk(value.as_bytes());
        }
        return true;
    }
    if sub.eq_ignore_ascii_case(b"set") && args.len() == 4 {
        return match limits.config_set(args[2], args[3]) {
            None => false,
            Some(Ok(())) => {
                out.ok();
                true
            }
            Some(Err(e)) => {
                out.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {e}",
                    String::from_utf8_lossy(args[2])
                ));
                true
            }
        };
    }
    false
}
