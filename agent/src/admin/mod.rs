//! The admin HTTP server (default `127.0.0.1:8070`). Endpoints:
//!
//! - `GET /livez`: 200 while the supervisor's loop is turning, 503 if it has stalled.
//! - `GET /readyz`: 200 when every shard answers PING over its socket, else 503 (while
//!   shards start or load their AOF, while one is restarting, and during shutdown).
//! - `GET /status`: JSON: per shard its pid, CPU, state, restarts, port and INFO figures.
//! - `GET /metrics`: Prometheus text format.
//!
//! Hand-written HTTP/1.1, one request per connection: the clients are probes and
//! scrapers, and a framework would be most of the agent's code.

mod http;

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use self::http::{HeadError, Request, Response};
use crate::state::Shared;

/// Probes and scrapers need a handful of connections; the cap keeps a flood on the admin
/// port from costing the supervisor's thread more than that.
const MAX_CONNECTIONS: usize = 64;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::debug!(peer = %peer, "admin connection refused: too many open");
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &shared).await {
                        tracing::debug!(peer = %peer, error = %e, "admin connection");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on accept.
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let req = tokio::time::timeout(http::READ_TIMEOUT, http::read_request(&mut stream)).await;
    let (resp, head_only) = match req {
        Ok(Ok(req)) => (route(&req, shared), req.method == "HEAD"),
        Ok(Err(HeadError::TooLarge)) => (Response::text(431, "request too large\n"), false),
        Ok(Err(HeadError::Malformed)) => (Response::text(400, "bad request\n"), false),
        Ok(Err(HeadError::Closed)) | Err(_) => return Ok(()),
    };
    http::write_response(&mut stream, &resp, head_only).await
}

pub fn route(req: &Request, shared: &Shared) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "only GET\n");
    }
    match req.path.as_str() {
        "/livez" => match shared.is_live() {
            true => Response::text(200, "ok\n"),
            false => Response::text(503, "supervisor loop stalled\n"),
        },
        "/readyz" => readyz(shared),
        "/status" => {
            let body = serde_json::to_string_pretty(&shared.snapshot())
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            Response {
                status: 200,
                content_type: "application/json",
                body: body + "\n",
            }
        }
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: shared.metrics.render(),
        },
        "/" => Response::text(200, "/livez /readyz /status /metrics\n"),
        _ => Response::text(404, "not found\n"),
    }
}

fn readyz(shared: &Shared) -> Response {
    let status = shared.snapshot();
    if status.ready {
        return Response::text(200, "ready\n");
    }
    let mut body = String::from(if status.stopping {
        "stopping\n"
    } else {
        "not ready\n"
    });
    for s in status.shards.iter().filter(|s| s.state != "up") {
        body.push_str(&format!("{} shard {}: {}\n", s.database, s.shard, s.state));
    }
    Response::text(503, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::state::{ShardStatus, Status};

    fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
        }
    }

    fn shard(state: &'static str) -> ShardStatus {
        ShardStatus {
            database: "default".into(),
            shard: 0,
            pid: Some(10),
            cpu: Some(0),
            state,
            restarts: 0,
            port: Some(6380),
            socket: "/run/default-0.sock".into(),
            last_exit: None,
            backoff_ms: None,
            keys: None,
            memory_used_bytes: None,
            connected_clients: None,
        }
    }

    #[test]
    fn readiness_follows_the_published_status() {
        let shared = Shared::new(Metrics::new().unwrap());
        shared.publish(Status {
            ready: false,
            stopping: false,
            shards: vec![shard("starting")],
        });
        let r = route(&get("/readyz"), &shared);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("default shard 0: starting"), "{}", r.body);
        shared.publish(Status {
            ready: true,
            stopping: false,
            shards: vec![shard("up")],
        });
        assert_eq!(route(&get("/readyz"), &shared).status, 200);
        let status = route(&get("/status"), &shared);
        assert!(status.body.contains("\"state\": \"up\""), "{}", status.body);
    }

    #[test]
    fn liveness_needs_a_heartbeat_and_other_paths() {
        let shared = Shared::new(Metrics::new().unwrap());
        shared.beat();
        assert_eq!(route(&get("/livez"), &shared).status, 200);
        assert_eq!(route(&get("/nope"), &shared).status, 404);
        let post = Request {
            method: "POST".into(),
            path: "/livez".into(),
        };
        assert_eq!(route(&post, &shared).status, 405);
        let m = route(&get("/metrics"), &shared);
        assert!(m.body.contains("shoal_ready 0"), "{}", m.body);
    }
}
