//! `crm-bench`: the server against the raw-database floor, on SQLite or PostgreSQL.
//!
//! Seeds a fresh database, starts the real server in a child process (this same
//! binary, re-executed), drives it over HTTP from a closed-loop load generator,
//! runs the floor for the same work in-process, and prints one table (also
//! written as JSON to `target/bench/<db>-<timestamp>.json`).
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]

mod fanout;
mod floor;
mod load;
mod seed;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use crm_api::config::Config;
use crm_api::db::{Db, system};
use crm_api::{AppState, app};
use load::{Figures, Latency, closed_loop, fixed_rate, rss_mb};
use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const SECRET: &str = "crm-bench-secret-crm-bench-secret-0123456789";

/// The server's allocator (see `crm`'s main), so that the child server
/// measured here runs as `crm serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The scenarios, to run a few of them alone (`--only bulk,write`).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Scenario {
    Read,
    PointRead,
    Write,
    Bulk,
    Adoption,
    DataQuality,
    FanOut,
}

#[derive(Parser)]
#[command(about = "Benchmark the CRM server against the raw-database floor")]
struct Cli {
    #[arg(long, value_enum, default_value = "sqlite")]
    db: Backend,
    /// Small dataset, a few seconds per scenario: checks that the harness works.
    #[arg(long)]
    quick: bool,
    /// Concurrent connections of the throughput runs.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Rate of the fixed-arrival-rate latency runs, as a share of the
    /// closed-loop throughput just measured for the same scenario.
    #[arg(long, default_value_t = 0.5)]
    arrival_share: f64,
    /// Records per type in the bulk scenario (default 5,000; 500 with --quick).
    #[arg(long)]
    batch: Option<usize>,
    /// Subscriber counts of the fan-out scenario (default 1,000 and 5,000; 20
    /// and 100 with --quick).
    #[arg(long, value_delimiter = ',')]
    subscribers: Vec<usize>,
    /// Run only these scenarios (default: all of them).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(long, env = "CRM_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Internal: run as the server child on this database URL and address.
    #[arg(long, hide = true, num_args = 2, value_names = ["URL", "ADDR"])]
    serve_child: Option<Vec<String>>,
}

impl Cli {
    fn runs(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    if let Some(args) = &cli.serve_child {
        return serve_child(&args[0], args[1].parse()?).await;
    }
    run(cli).await
}

async fn serve_child(url: &str, addr: SocketAddr) -> Result<(), Error> {
    let db = Db::connect(url).await?;
    let state = AppState::new(db, &Config::new(url, SECRET.as_bytes().to_vec()));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app(state)).await?;
    Ok(())
}

/// A database made for this run, dropped afterwards (PostgreSQL) or deleted (SQLite).
struct Fresh {
    url: String,
    drop: Option<(String, String)>,
    dir: Option<PathBuf>,
}

async fn fresh(cli: &Cli) -> Result<Fresh, Error> {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    match cli.db {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("crm-bench-{stamp}-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            Ok(Fresh {
                url: format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
                drop: None,
                dir: Some(dir),
            })
        }
        Backend::Postgres => {
            let name = format!("crm_bench_{stamp}_{}", std::process::id());
            let admin = sea_orm::Database::connect(&cli.postgres_url).await?;
            sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE DATABASE \"{name}\"")).await?;
            let base = cli.postgres_url.rsplit_once('/').map_or(cli.postgres_url.as_str(), |(b, _)| b);
            Ok(Fresh { url: format!("{base}/{name}"), drop: Some((cli.postgres_url.clone(), name)), dir: None })
        }
    }
}

impl Fresh {
    async fn remove(self) {
        if let Some((admin_url, name)) = self.drop
            && let Ok(admin) = sea_orm::Database::connect(&admin_url).await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sea_orm::ConnectionTrait::execute_unprepared(&admin, &sql).await;
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

struct Server {
    child: tokio::process::Child,
    pid: u32,
    base: String,
}

async fn start_server(url: &str) -> Result<Server, Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    // CRM_BENCH_WRAP runs the server under a profiler, e.g.
    // "valgrind --tool=callgrind --callgrind-out-file=/tmp/server.cg".
    let wrap = std::env::var("CRM_BENCH_WRAP").unwrap_or_default();
    let mut command: Vec<String> = wrap.split_whitespace().map(str::to_owned).collect();
    command.push(std::env::current_exe()?.display().to_string());
    let child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .args(["--serve-child", url, &addr])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the server exited at once")?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the server did not start within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Server { child, pid, base })
}

/// One request of a load run.
type LoadFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>>;

/// A load operation that sends the same query, without variables, every time.
fn fixed_query(
    http: &reqwest::Client,
    base: &str,
    token: &Arc<str>,
    query: &'static str,
) -> impl Fn(usize, u64) -> LoadFuture + Clone + Send + Sync + 'static {
    let (http, base, token) = (http.clone(), base.to_owned(), token.clone());
    move |_, _| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        Box::pin(async move { answer(&http, &base, Some(&token), query, json!({})).await.map(drop) })
    }
}

/// POSTs a GraphQL request; any error in the answer fails the run.
async fn gql(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, Error> {
    Ok(serde_json::from_slice(answer(http, base, token, query, variables).await?.as_ref())?)
}

/// The answer to a GraphQL request, checked for errors without building it
/// as a JSON tree (what measured requests need: that work would land on the
/// 2 cores the server runs on, about a millisecond for the adoption report's
/// 200 KB).
async fn answer(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<impl AsRef<[u8]>, Error> {
    #[derive(serde::Deserialize)]
    struct Checked {
        #[serde(default)]
        errors: Option<Value>,
        #[serde(default, rename = "data")]
        _data: Option<serde::de::IgnoredAny>,
    }
    let mut request = http.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = request.send().await?.bytes().await?;
    match serde_json::from_slice::<Checked>(&body)?.errors {
        Some(errors) => Err(format!("GraphQL errors: {errors}").into()),
        None => Ok(body),
    }
}

struct Row {
    scenario: &'static str,
    server: Figures,
    /// Latency at one connection.
    single: Option<Figures>,
    floor: Option<Figures>,
    /// Latency when requests arrive at a fixed rate.
    fixed: Option<Latency>,
}

impl Row {
    /// A scenario the server runs under load, against its floor.
    fn compared(scenario: &'static str, runs: ServerRuns, floor: Figures) -> Self {
        let ServerRuns { single, busy, fixed } = runs;
        Self { scenario, server: busy, single: Some(single), floor: Some(floor), fixed: Some(fixed) }
    }

    /// A scenario measured at one connection only.
    fn alone(scenario: &'static str, single: Figures) -> Self {
        Self { scenario, server: single.clone(), single: Some(single), floor: None, fixed: None }
    }
}

/// One scenario's runs against the server.
struct ServerRuns {
    single: Figures,
    busy: Figures,
    fixed: Latency,
}

/// Runs `op` at one connection, at `--clients` connections, then at a fixed
/// arrival rate (a share of the rate just measured).
async fn server_runs<F, Fut>(cli: &Cli, seconds: Duration, pid: u32, op: F) -> Result<ServerRuns, Error>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let single = closed_loop(1, seconds, Some(pid), op.clone()).await?;
    let busy = closed_loop(cli.clients, seconds, Some(pid), op.clone()).await?;
    // An index of its own, past the closed loops' ones.
    let own = cli.clients;
    let fixed = fixed_rate(busy.per_second * cli.arrival_share, seconds, move |n| op(own, n)).await?;
    Ok(ServerRuns { single, busy, fixed })
}

async fn run(cli: Cli) -> Result<(), Error> {
    let size = if cli.quick { seed::Size::quick() } else { seed::Size::full() };
    let seconds = Duration::from_secs(if cli.quick { 2 } else { 15 });
    let db_name = format!("{:?}", cli.db).to_lowercase();
    let fresh = fresh(&cli).await?;
    let outcome = measure(&cli, &fresh.url, &size, seconds, &db_name).await;
    fresh.remove().await;
    outcome
}

async fn measure(cli: &Cli, url: &str, size: &seed::Size, seconds: Duration, db_name: &str) -> Result<(), Error> {
    eprintln!("seeding {db_name} ({} contacts, {} traces)...", size.contacts, size.traces);
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let t = Instant::now();
    let data = seed::seed(&db, size).await?;
    eprintln!("seeded in {:.1} s; starting the server", t.elapsed().as_secs_f64());
    let mut server = start_server(url).await?;
    let idle_rss = rss_mb(server.pid);
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let login = gql(
        &http,
        &server.base,
        None,
        "mutation($t: String!, $e: String!, $p: String!) { login(tenant: $t, email: $e, password: $p) { token user { id } } }",
        json!({ "t": data.slug, "e": data.user_email, "p": seed::PASSWORD }),
    )
    .await?;
    let token: Arc<str> = login["data"]["login"]["token"].as_str().ok_or("no token")?.into();
    let user_id = uuid::Uuid::parse_str(login["data"]["login"]["user"]["id"].as_str().ok_or("no user id")?)?;
    let tenant = system::tenant_by_slug(db.connection(), &data.slug).await?.ok_or("no tenant")?.id;
    let conn = db.connection().clone();
    let accounts = Arc::new(data.accounts.clone());
    let pid = Some(server.pid);
    let mut rows = Vec::new();

    let mut busy_rss = None;
    let mut fan_outs = Vec::new();
    let admin = gql(
        &http,
        &server.base,
        None,
        "mutation($t: String!, $e: String!, $p: String!) { login(tenant: $t, email: $e, password: $p) { token } }",
        json!({ "t": data.slug, "e": format!("admin@{}.test", data.slug), "p": seed::PASSWORD }),
    )
    .await?;
    let admin: Arc<str> = admin["data"]["login"]["token"].as_str().ok_or("no admin token")?.into();

    // read: a page of contacts with each one's account name and owner.
    if cli.runs(Scenario::Read) {
        let read = "{ contacts(first: 50) { nodes { id firstName lastName email account { name } owner { email } } } }";
        let read_op = fixed_query(&http, &server.base, &token, read);
        let runs = server_runs(cli, seconds, server.pid, read_op).await?;
        busy_rss = rss_mb(server.pid);
        let (c, shelf) = (conn.clone(), Arc::new(floor::Shelf::default()));
        let floor = closed_loop(cli.clients, seconds, None, move |_, _| {
            let (c, shelf) = (c.clone(), shelf.clone());
            async move { floor::read(&c, &shelf, tenant).await.map(|_| ()) }
        })
        .await?;
        rows.push(Row::compared("read", runs, floor));
    }
    // point read: one account by id with its opportunities.
    if cli.runs(Scenario::PointRead) {
        let point =
            "query($id: ID!) { account(id: $id) { name opportunities { name amount stage { key isClosed } } } }";
        let point_op = {
            let (http, base, token, accounts) = (http.clone(), server.base.clone(), token.clone(), accounts.clone());
            move |client: usize, n: u64| {
                let (http, base, token) = (http.clone(), base.clone(), token.clone());
                let id = accounts[(client * 7919 + n as usize * 31) % accounts.len()];
                async move { answer(&http, &base, Some(&token), point, json!({ "id": id })).await.map(drop) }
            }
        };
        let runs = server_runs(cli, seconds, server.pid, point_op).await?;
        let (c, a, shelf) = (conn.clone(), accounts.clone(), Arc::new(floor::Shelf::default()));
        let floor = closed_loop(cli.clients, seconds, None, move |client, n| {
            let (c, shelf) = (c.clone(), shelf.clone());
            let id = a[(client * 7919 + n as usize * 31) % a.len()];
            async move { floor::point(&c, &shelf, tenant, id).await.map(|_| ()) }
        })
        .await?;
        rows.push(Row::compared("point read", runs, floor));
    }
    // write: createContact, with its trace, in one transaction.
    if cli.runs(Scenario::Write) {
        let write = "mutation($n: String!) { createContact(input: { lastName: $n }) { id } }";
        let write_op = {
            let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
            move |client: usize, n: u64| {
                let (http, base, token) = (http.clone(), base.clone(), token.clone());
                async move {
                    answer(&http, &base, Some(&token), write, json!({ "n": format!("Bench {client}-{n}") }))
                        .await
                        .map(drop)
                }
            }
        };
        let runs = server_runs(cli, seconds, server.pid, write_op).await?;
        // Writes take turns on SQLite's one writing connection, as the server's do.
        let c = db.write_connection().clone();
        let floor = closed_loop(cli.clients, seconds, None, move |_, n| {
            let c = c.clone();
            async move { floor::write(&c, tenant, user_id, n).await }
        })
        .await?;
        rows.push(Row::compared("write", runs, floor));
    }
    // bulk: one ERP batch of accounts, then their contacts (records/s counts both).
    if cli.runs(Scenario::Bulk) {
        let batch = cli.batch.unwrap_or(if cli.quick { 500 } else { 5_000 });
        let accounts_in: Vec<Value> = (0..batch)
            .map(|i| json!({ "externalId": format!("ERP-A-{i}"), "name": format!("ERP Account {i}"), "city": "Lyon" }))
            .collect();
        let contacts_in: Vec<Value> = (0..batch)
            .map(|i| json!({ "externalId": format!("ERP-C-{i}"), "lastName": format!("Erp {i}"), "accountExternalId": format!("ERP-A-{i}") }))
            .collect();
        let cpu = load::cpu_seconds(server.pid);
        let t = Instant::now();
        let bulk = "mutation($a: [AccountUpsertInput!]!, $c: [ContactUpsertInput!]!) { upsertAccounts(records: $a) { created failed } upsertContacts(records: $c) { created failed } }";
        let answer =
            gql(&http, &server.base, Some(&token), bulk, json!({ "a": accounts_in, "c": contacts_in })).await?;
        let elapsed = t.elapsed().as_secs_f64();
        if answer["data"]["upsertContacts"]["failed"] != 0 || answer["data"]["upsertAccounts"]["failed"] != 0 {
            return Err(format!("bulk upsert failed records: {answer}").into());
        }
        let records = 2.0 * batch as f64;
        rows.push(Row {
            scenario: "bulk (records/s)",
            server: Figures {
                requests: 1,
                per_second: records / elapsed,
                p50_ms: elapsed * 1000.0,
                p99_ms: elapsed * 1000.0,
                cpu_ms: cpu.zip(load::cpu_seconds(server.pid)).map(|(b, a)| (a - b) * 1000.0),
            },
            single: None,
            floor: None,
            fixed: None,
        });
    }
    // metrics: 26 weeks of adoption for every user, from the rollup, at a tenth
    // of the traces and then at all of them: the cost must not follow the traces.
    if cli.runs(Scenario::Adoption) {
        let today = chrono::Utc::now().date_naive();
        let range = json!({ "f": (today - chrono::Days::new(7 * 25)).to_string(), "t": today.to_string() });
        let adoption = "query($f: NaiveDate!, $t: NaiveDate!) { adoption(from: $f, to: $t) { users { week userId counts { writes logins updates } lastActiveAt } totals { week seats writingShare } } }";
        // The same question again is answered from the answer the server kept
        // (until a write, a rebuild or the clock moves the figures); a comment
        // numbering each request makes it a new question, which the server
        // computes from the rollup.
        let report_of = |range: Value, new_each_time: bool| {
            let (http, base, token) = (http.clone(), server.base.clone(), admin.clone());
            move |_: usize, n: u64| {
                let (http, base, token, range) = (http.clone(), base.clone(), token.clone(), range.clone());
                let query = if new_each_time { format!("{adoption}\n# question {n}") } else { adoption.to_owned() };
                async move { answer(&http, &base, Some(&token), &query, range).await.map(drop) }
            }
        };
        let few = size.traces / 10;
        for traces in [few, size.traces] {
            if traces > few {
                eprintln!("adding {} traces and rebuilding the rollup...", size.traces - few);
                let t = Instant::now();
                seed::add_traces(&db, &data, size.traces - few).await?;
                eprintln!("done in {:.1} s", t.elapsed().as_secs_f64());
            }
            let computed = closed_loop(1, seconds, pid, report_of(range.clone(), true)).await?;
            rows.push(Row::alone(metrics_label(traces, true), computed));
            let kept = closed_loop(1, seconds, pid, report_of(range.clone(), false)).await?;
            rows.push(Row::alone(metrics_label(traces, false), kept));
        }
        // The narrower question a dashboard asks most: this week, everyone.
        let this_week = json!({ "f": today.to_string(), "t": today.to_string() });
        let single = closed_loop(1, seconds, pid, report_of(this_week, true)).await?;
        rows.push(Row::alone("adoption 1 week", single));
    }
    // data quality: the contacts' figures (aggregates over 100,000 rows).
    if cli.runs(Scenario::DataQuality) {
        let quality = "{ dataQuality(entity: \"Contact\") { records averageCompleteness distribution { min max records } fillRates { field rate } owners { ownerId averageCompleteness } missingRequired } }";
        let single = closed_loop(1, seconds, pid, fixed_query(&http, &server.base, &admin, quality)).await?;
        rows.push(Row::alone("dataQuality", single));
    }
    // fan-out: subscribers to one tenant's traceAdded, one createAccount.
    if cli.runs(Scenario::FanOut) {
        let ws = server.base.replace("http://", "ws://") + "/graphql/ws";
        let counts = match (cli.subscribers.is_empty(), cli.quick) {
            (false, _) => cli.subscribers.clone(),
            (true, true) => vec![20, 100],
            (true, false) => vec![1_000, 5_000],
        };
        for n in counts {
            let (http, base, writer) = (http.clone(), server.base.clone(), token.clone());
            let mutate = || async move {
                answer(
                    &http,
                    &base,
                    Some(&writer),
                    "mutation { createAccount(input: { name: \"Fan-out\" }) { id } }",
                    json!({}),
                )
                .await
                .map(drop)
            };
            fan_outs.push(fanout::run(&ws, &token, n, Some(server.pid), mutate).await?);
        }
    }
    if std::env::var_os("CRM_BENCH_WRAP").is_some() {
        // A profiler writes its figures when the server ends politely only.
        let _ = tokio::process::Command::new("kill").args(["-TERM", &server.pid.to_string()]).status().await;
        let _ = tokio::time::timeout(Duration::from_secs(300), server.child.wait()).await;
    }
    if server.child.try_wait()?.is_none() {
        server.child.kill().await?;
    }
    report(db_name, cli.quick, cli.arrival_share, &rows, &fan_outs, idle_rss, busy_rss)
}

/// The adoption rows' labels: at how many traces, and whether each request
/// asked a new question (computed) or the same one (answered from the kept answer).
fn metrics_label(traces: usize, new_each_time: bool) -> &'static str {
    match (traces, new_each_time) {
        (1_000_000, true) => "adoption@1M",
        (1_000_000, false) => "adoption@1M kept",
        (100_000, true) => "adoption@100k",
        (100_000, false) => "adoption@100k kept",
        (10_000, true) => "adoption@10k",
        (10_000, false) => "adoption@10k kept",
        (1_000, true) => "adoption@1k",
        (1_000, false) => "adoption@1k kept",
        (_, true) => "adoption",
        (_, false) => "adoption kept",
    }
}

fn report(
    db: &str,
    quick: bool,
    arrival_share: f64,
    rows: &[Row],
    fan_outs: &[fanout::FanOut],
    idle_rss: Option<f64>,
    busy_rss: Option<f64>,
) -> Result<(), Error> {
    println!("\ncrm-bench on {db}{}", if quick { " (quick: the harness works; the numbers mean little)" } else { "" });
    println!(
        "{:<18} {:>10} {:>9} {:>9} {:>10} {:>9} {:>12} {:>7}",
        "scenario", "req/s", "p50 ms", "p99 ms", "p50@1 ms", "cpu ms", "floor req/s", "ratio"
    );
    let mut json_rows = Vec::new();
    for row in rows {
        let ratio = row.floor.as_ref().map(|f| row.server.per_second / f.per_second);
        let show = |v: Option<f64>, precision: usize| v.map_or("-".to_owned(), |v| format!("{v:.precision$}"));
        println!(
            "{:<18} {:>10.0} {:>9.2} {:>9.2} {:>10} {:>9} {:>12} {:>7}",
            row.scenario,
            row.server.per_second,
            row.server.p50_ms,
            row.server.p99_ms,
            show(row.single.as_ref().map(|s| s.p50_ms), 2),
            show(row.server.cpu_ms, 3),
            show(row.floor.as_ref().map(|f| f.per_second), 0),
            show(ratio, 2),
        );
        json_rows.push(json!({
            "scenario": row.scenario, "server": row.server, "single_connection": row.single,
            "floor": row.floor, "ratio": ratio, "fixed_arrival_rate": row.fixed,
        }));
    }
    println!("server RSS: {} MB idle, {} MB under the read load", show_mb(idle_rss), show_mb(busy_rss));
    for f in fan_outs {
        let cpu = match f.server_cpu_ms {
            Some(ms) => {
                format!(", server CPU {ms:.0} ms ({:.0} µs per subscriber)", ms * 1000.0 / f.subscribers as f64)
            }
            None => String::new(),
        };
        println!(
            "fan-out {:>5} subscribers: mutation answered in {:.1} ms, then p50 {:.1} ms, last {:.1} ms, {} lost{cpu}",
            f.subscribers, f.mutation_ms, f.p50_ms, f.last_ms, f.lost
        );
    }
    println!(
        "\nfixed arrival rate ({:.0}% of each scenario's closed-loop req/s; latency counted from when a request was due)",
        arrival_share * 100.0
    );
    println!(
        "{:<18} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "scenario", "asked/s", "served/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "in flight"
    );
    for row in rows {
        if let Some(f) = &row.fixed {
            println!(
                "{:<18} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10}",
                row.scenario,
                f.target_per_second,
                f.achieved_per_second,
                f.p50_ms,
                f.p99_ms,
                f.p999_ms,
                f.max_ms,
                f.max_in_flight
            );
        }
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.parent().unwrap_or(&manifest).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{db}-{}.json", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let document = json!({ "db": db, "quick": quick, "rows": json_rows, "fan_out": fan_outs, "rss_mb": { "idle": idle_rss, "read_load": busy_rss } });
    std::fs::write(&path, serde_json::to_string_pretty(&document)?)?;
    println!("written to {}", path.display());
    Ok(())
}

fn show_mb(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}
