//! The fan-out scenario: N WebSocket subscribers to one tenant's `traceAdded`,
//! one mutation, and how long until the last subscriber has its message.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::Error;
use crate::load::cpu_seconds;

/// What one fan-out run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FanOut {
    pub subscribers: usize,
    /// From the mutation's request to its response: a server that delivered
    /// before it answered shows here, not in the delays below, which it
    /// brings to zero.
    pub mutation_ms: f64,
    /// From the mutation's response to each subscriber's message.
    pub p50_ms: f64,
    pub last_ms: f64,
    pub lost: usize,
    /// The server's CPU time from the mutation to the last delivery (10 ms
    /// resolution, from /proc): the cost of the fan-out itself.
    pub server_cpu_ms: Option<f64>,
}

/// A server message's type, read without building the rest of it: the load
/// generator shares the machine with the server and should cost it little.
#[derive(serde::Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscriber(url: String, token: String) -> Result<Socket, Error> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => {}
        other => return Err(format!("no connection_ack: {other:?}").into()),
    }
    let query = "subscription { traceAdded(filter: { entityTypes: [\"Account\"] }) { seq entityId } }";
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket.send(Message::Text(subscribe.to_string().into())).await?;
    Ok(socket)
}

/// Writes a command to the profiler's control FIFO (`CRM_BENCH_PERF_CTL`, for
/// `perf record --control fifo:PATH -D -1`), so that a profile holds the
/// deliveries alone, not the thousands of connections opened before them.
fn profiler(command: &str) {
    if let Some(path) = std::env::var_os("CRM_BENCH_PERF_CTL") {
        use std::io::Write;
        let written = std::fs::OpenOptions::new().write(true).open(&path).and_then(|mut f| writeln!(f, "{command}"));
        if let Err(err) = written {
            eprintln!("CRM_BENCH_PERF_CTL: {err}");
        }
    }
}

/// Opens `n` subscribers, then runs `mutate` and times the deliveries.
pub async fn run<F, Fut>(ws_url: &str, token: &str, n: usize, pid: Option<u32>, mutate: F) -> Result<FanOut, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let mut sockets = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let opened =
            futures_util::future::join_all(chunk.iter().map(|_| subscriber(ws_url.to_owned(), token.to_owned()))).await;
        for socket in opened {
            sockets.push(socket?);
        }
    }
    // The subscribe messages carry no acknowledgement: give the server time to start every stream.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (sender, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut readers = Vec::with_capacity(n);
    for mut socket in sockets {
        let sender = sender.clone();
        // Subscribers stay connected once served, as live clients do: closing
        // at once would make the server tear connections down while it still
        // delivers to the others. They are dropped after the measurement.
        readers.push(tokio::spawn(async move {
            let mut served = false;
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && !served
                    && serde_json::from_str::<Kind<'_>>(text.as_str()).is_ok_and(|m| m.kind == "next")
                {
                    // One delivery counted per subscriber, so that a
                    // duplicate cannot hide a loss.
                    served = true;
                    let _ = sender.send(Instant::now());
                }
            }
        }));
    }
    drop(sender);
    profiler("enable");
    let cpu_before = pid.and_then(cpu_seconds);
    let sent = Instant::now();
    mutate().await?;
    let answered = Instant::now();
    let mut delays = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while delays.len() < n {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some(at)) => delays.push(at.saturating_duration_since(answered).as_secs_f64() * 1000.0),
            _ => break,
        }
    }
    let cpu_after = pid.and_then(cpu_seconds);
    profiler("disable");
    for reader in readers {
        reader.abort();
    }
    delays.sort_by(f64::total_cmp);
    Ok(FanOut {
        subscribers: n,
        mutation_ms: answered.duration_since(sent).as_secs_f64() * 1000.0,
        p50_ms: delays.get(delays.len() / 2).copied().unwrap_or(f64::NAN),
        last_ms: delays.last().copied().unwrap_or(f64::NAN),
        lost: n - delays.len(),
        server_cpu_ms: cpu_before.zip(cpu_after).map(|(before, after)| (after - before) * 1000.0),
    })
}
