//! Runs a split or fan-out plan ([`super::split`], [`super::fanout`]) on the shared
//! upstreams: each part goes to its shard's pipeline like any forwarded request, and a
//! local task merges the parts' replies into the client's reply slot once all are in.
//! The client's slot is reserved first, so its replies stay in request order.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use shoal_proto::{reply_value, Protocol};

use super::replies::Replies;
use super::split::Route;
use super::thread::ThreadCtx;
use super::upstream::{tryagain, Waiter};
use super::{fanout, split, Database};

/// What the client needs to run a plan for one request.
pub struct Exec<'a> {
    pub ctx: &'a ThreadCtx,
    pub db: &'a Arc<Database>,
    pub proto: Protocol,
    pub replies: &'a Rc<Replies>,
    pub now: Instant,
}

/// Plans `args` (a split or fan-out command) and sends it; `frame` is the request as
/// the client sent it, forwarded untouched when one shard suffices.
pub fn run(x: Exec<'_>, frame: &[u8], args: &[&[u8]]) {
    let owned: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    let route = split::plan(&owned, &x.db.slots)
        .or_else(|| fanout::plan(&owned, &x.db.slots, rand::random()))
        .unwrap_or(Route::Shard(0));
    match route {
        Route::Shard(shard) => {
            let seq = x.replies.reserve();
            send(&x, shard, frame, x.replies, seq);
        }
        Route::Reply(bytes) => x.replies.push_ready(Bytes::from(bytes)),
        Route::Plan(mut plan) => {
            if let split::Merger::Info(info) = &mut plan.merger {
                info.set("connected_clients", x.db.metrics.connected.get());
            }
            let seq = x.replies.reserve();
            // The parts count against the client's output-buffer limit until merged.
            let parts = Rc::new(Replies::new(x.replies.obuf().clone()));
            let mut seqs = Vec::with_capacity(plan.parts.len());
            for p in &plan.parts {
                let s = parts.reserve();
                seqs.push(s);
                send(&x, p.shard, &p.frame, &parts, s);
            }
            let client = x.replies.clone();
            let proto = x.proto;
            tokio::task::spawn_local(async move {
                parts.wait_all().await;
                if parts.obuf().over() {
                    // The client is being closed; nothing to merge for it.
                    return;
                }
                let mut all = bytes::BytesMut::new();
                parts.drain_into(&mut all);
                let frames = split_frames(&all);
                let merged = if frames.len() == plan.parts.len() {
                    plan.merger.merge(&frames, proto)
                } else {
                    split::BAD_REPLY.to_vec()
                };
                client.fill(seq, Bytes::from(merged));
            });
        }
    }
}

fn send(x: &Exec<'_>, shard: usize, frame: &[u8], to: &Rc<Replies>, seq: u64) {
    let Some(up) = x.ctx.upstream(x.db, shard, x.proto == Protocol::Resp3) else {
        to.fill(seq, tryagain(x.db, shard));
        return;
    };
    let w = Waiter {
        to: Some((to.clone(), seq)),
        len: frame.len() as u32,
        since: x.now,
    };
    if up.send(frame, [w], 1).is_err() {
        to.fill(seq, up.tryagain());
    }
}

/// The reply frames of `buf`, in order.
fn split_frames(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match reply_value::decode(&buf[pos..]) {
            Ok(Some((_, n))) => {
                out.push(&buf[pos..pos + n]);
                pos += n;
            }
            _ => break,
        }
    }
    out
}
