//! `crm`: the server and its operator commands.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a CLI talks to its operator on the terminal")]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use crm_api::auth::Actor;
use crm_api::config::{Config, DEFAULT_DATABASE_URL};
use crm_api::db::trace::{ChainStatus, verify_chain};
use crm_api::db::{Db, system};
use crm_api::error::ServiceError;
use crm_api::service::{adoption, demo, tenants, users};
use crm_api::{AppState, app, schema_sdl};

/// glibc's allocator spends a fifth of a read request's CPU in malloc and
/// free (perf, under the benchmark's read load); mimalloc's thread-local
/// free lists cut that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "crm", version, about = "Multi-tenant CRM API server")]
struct Cli {
    /// sqlite://FILE?mode=rwc (default, embedded) or postgres://USER@HOST/DB
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server (migrates first).
    Serve(ServeArgs),
    /// Applies pending database migrations.
    Migrate,
    /// Tenant administration.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// User administration.
    #[command(subcommand)]
    User(UserCommand),
    /// Prints the GraphQL schema (SDL).
    Schema,
    /// Creates or completes the `demo` tenant, with weeks of CRM history (idempotent).
    Demo {
        /// Weeks of history to replay, ending now.
        #[arg(long, default_value_t = demo::WEEKS, value_parser = clap::value_parser!(u32).range(1..=104))]
        weeks: u32,
    },
    /// Trace integrity.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Adoption metrics.
    #[command(subcommand)]
    Metrics(MetricsCommand),
}

#[derive(Subcommand)]
enum MetricsCommand {
    /// Recomputes the weekly adoption counters from the traces (all tenants, or one).
    Rebuild {
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Secret that signs session tokens (at least 32 bytes).
    #[arg(long, env = "CRM_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Development mode: generates a throw-away JWT secret when none is set.
    #[arg(long)]
    dev: bool,
    /// Creates the demo tenant before serving.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Creates a tenant with the default profiles and its first admin.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, env = "CRM_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates a user in a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "CRM_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Profile name: Admin, Sales, Marketing, Customer Service, or one an admin created.
        #[arg(long, default_value = "Sales")]
        profile: String,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Walks each tenant's hash chain and reports the first broken link.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
    },
}

const MIN_SECRET_BYTES: usize = 32;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn describe(err: ServiceError) -> String {
    match err {
        ServiceError::Invalid { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

async fn open(url: &str) -> Result<Db, String> {
    let db = Db::connect(url).await.map_err(|e| format!("cannot open {url}: {e}"))?;
    db.migrate().await.map_err(|e| format!("migration failed: {e}"))?;
    Ok(db)
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Schema => {
            print!("{}", schema_sdl());
        }
        Command::Migrate => {
            open(&cli.database_url).await?;
            println!("database is up to date");
        }
        Command::Serve(args) => serve(&cli.database_url, args).await?,
        Command::Demo { weeks } => {
            let db = open(&cli.database_url).await?;
            let created = demo::ensure(&db, weeks).await.map_err(describe)?;
            println!("{}", if created { "demo tenant ready" } else { "demo tenant already complete" });
            print_demo_login();
        }
        Command::Tenant(TenantCommand::Create { slug, name, admin_email, admin_password }) => {
            let db = open(&cli.database_url).await?;
            let input = tenants::NewTenant { slug, name, admin_email, admin_password, admin_name: None };
            let tenant = tenants::create(&db, input).await.map_err(describe)?;
            println!("created tenant {} ({})", tenant.slug, tenant.id);
        }
        Command::User(UserCommand::Create { tenant, email, name, password, profile }) => {
            let db = open(&cli.database_url).await?;
            let tenant = system::tenant_by_slug(db.connection(), &tenant)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no tenant {tenant}"))?;
            let admin = users::profiles(&db.read(Arc::new(Actor::system(tenant.id, uuid::Uuid::nil()))))
                .await
                .map_err(describe)?
                .into_iter()
                .find(|p| p.is_admin)
                .ok_or("the tenant has no admin profile")?;
            let tx = db.begin(Arc::new(Actor::system(tenant.id, admin.id)), None).await.map_err(|e| e.to_string())?;
            let new = users::NewUser {
                email,
                display_name: name,
                password,
                profile_id: None,
                profile_name: Some(profile),
                manager_id: None,
            };
            let user = users::create(&tx, new).await.map_err(describe)?;
            tx.commit().await.map_err(|e| e.to_string())?;
            println!("created user {} ({})", user.email, user.id);
        }
        Command::Metrics(MetricsCommand::Rebuild { tenant }) => {
            let db = open(&cli.database_url).await?;
            for t in selected_tenants(&db, tenant).await? {
                let counted = adoption::rebuild(&db, t.id).await.map_err(describe)?;
                println!("{}: adoption rebuilt from {counted} traces", t.slug);
            }
        }
        Command::Trace(TraceCommand::Verify { tenant }) => {
            let db = open(&cli.database_url).await?;
            let selected = selected_tenants(&db, tenant).await?;
            let mut broken = false;
            for t in selected {
                match verify_chain(db.connection(), t.id).await.map_err(|e| e.to_string())? {
                    ChainStatus::Intact { traces } => println!("{}: intact ({traces} traces)", t.slug),
                    ChainStatus::Broken { seq, reason } => {
                        broken = true;
                        println!("{}: BROKEN at trace #{seq}: {reason}", t.slug);
                    }
                }
            }
            return Ok(if broken { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every tenant, or the one named; an unknown name is an error.
async fn selected_tenants(db: &Db, slug: Option<String>) -> Result<Vec<entity::tenant::Model>, String> {
    let all = system::all_tenants(db.connection()).await.map_err(|e| e.to_string())?;
    let selected: Vec<_> = all.into_iter().filter(|t| slug.as_ref().is_none_or(|s| &t.slug == s)).collect();
    if selected.is_empty() {
        return Err(format!("no tenant {}", slug.unwrap_or_default()));
    }
    Ok(selected)
}

fn print_demo_login() {
    println!("demo login: tenant \"{}\", email \"{}\", password \"{}\"", demo::SLUG, demo::ADMIN_EMAIL, demo::PASSWORD);
}

async fn serve(database_url: &str, args: ServeArgs) -> Result<(), String> {
    let secret = match (args.jwt_secret, args.dev) {
        (Some(secret), _) if secret.len() >= MIN_SECRET_BYTES => secret.into_bytes(),
        (Some(_), _) => return Err(format!("CRM_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")),
        (None, true) => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
            eprintln!("--dev: generated a throw-away JWT secret; sessions end when the server stops");
            bytes.to_vec()
        }
        (None, false) => {
            return Err("set CRM_JWT_SECRET (at least 32 bytes), or pass --dev for a throw-away secret".into());
        }
    };
    let db = open(database_url).await?;
    if args.demo {
        demo::ensure(&db, demo::WEEKS).await.map_err(describe)?;
    }
    let config = Config::new(database_url, secret);
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.map_err(|e| format!("cannot bind {}: {e}", args.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("CRM API listening on http://{addr}/graphql (GraphiQL in a browser)");
    if args.demo {
        print_demo_login();
    }
    let app = app(AppState::new(db, &config));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
