//! The load generator: closed-loop clients over real HTTP, latency histograms,
//! and the server's CPU time per request read from /proc.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::Error;

/// One scenario's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Figures {
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Server CPU milliseconds per request (None for in-process floors).
    pub cpu_ms: Option<f64>,
}

/// The server's user+system CPU time so far, from /proc/<pid>/stat (USER_HZ = 100).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Resident memory in MB, from /proc/<pid>/status.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs `op` from `clients` concurrent loops for `duration`; each loop gets its
/// index and a counter so operations can vary (e.g. write distinct names).
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, pid: Option<u32>, op: F) -> Result<Figures, Error>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    let op = Arc::new(op);
    let cpu_before = pid.and_then(cpu_seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
            let mut n = 0u64;
            while started.elapsed() < duration {
                let t = Instant::now();
                op(client, n).await?;
                histogram.saturating_record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                n += 1;
            }
            Ok::<_, Error>(histogram)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    for task in tasks {
        let histogram = task.await.map_err(|e| e.to_string())??;
        all.add(&histogram).map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = all.len();
    let cpu_ms = match (cpu_before, pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) if requests > 0 => Some((after - before) * 1000.0 / requests as f64),
        _ => None,
    };
    Ok(Figures {
        requests,
        per_second: requests as f64 / elapsed,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        cpu_ms,
    })
}

/// What a fixed-arrival-rate run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Latency {
    /// Requests per second asked for, and those completed per second.
    pub target_per_second: f64,
    pub achieved_per_second: f64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// The most requests in flight at once (grows when the server falls behind).
    pub max_in_flight: usize,
}

/// Starts `op` at a fixed rate for `duration`, whatever the answers' pace, and
/// records each latency from the instant the request was due, not from when it
/// left: a server that falls behind shows it as queueing time instead of
/// silently slowing the load (no coordinated omission).
pub async fn fixed_rate<F, Fut>(rate: f64, duration: Duration, op: F) -> Result<Latency, Error>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let rate = rate.max(1.0);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (duration.as_secs_f64() * rate).ceil() as u64;
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut max_in_flight = 0;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let mut tasks = tokio::task::JoinSet::new();
    let started = tokio::time::Instant::now();
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due).await;
        let (op_future, in_flight) = (op(n), in_flight.clone());
        let now_in_flight = in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        max_in_flight = max_in_flight.max(now_in_flight);
        tasks.spawn(async move {
            let outcome = op_future.await;
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            outcome.map(|()| due.elapsed())
        });
        // Reap finished requests as we go, so a long run holds no pile of results.
        while let Some(done) = tasks.try_join_next() {
            record(&mut histogram, done)?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(&mut histogram, done)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |micros: u64| micros as f64 / 1000.0;
    Ok(Latency {
        target_per_second: rate,
        achieved_per_second: histogram.len() as f64 / elapsed,
        requests: histogram.len(),
        p50_ms: ms(histogram.value_at_quantile(0.5)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
        max_in_flight,
    })
}

fn record(
    histogram: &mut Histogram<u64>,
    done: Result<Result<Duration, Error>, tokio::task::JoinError>,
) -> Result<(), Error> {
    let latency = done.map_err(|e| e.to_string())??;
    histogram.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    Ok(())
}
