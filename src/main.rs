//! The `safegrid` command: the server and its operator tools.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use safegrid::config::Settings;

/// jemalloc rather than glibc's malloc: glibc keeps each thread's arena at its high-water mark
/// (a burst of worker-queue responses left the server 30 MB larger for good); jemalloc, with
/// the background purging set in `.cargo/config.toml`, gives freed pages back within a second
/// and is no slower (BENCHMARKS.md, "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// SafeGrid: safety-key reports, micro-wishes and grid worker queues for WeChat.
///
/// Configuration comes from SAFEGRID_* environment variables (see README.md); with none set
/// it serves on 127.0.0.1:8080 with a SQLite file safegrid.db in the current directory.
#[derive(Parser)]
#[command(name = "safegrid", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default). Pending migrations run first.
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage the area tree and grids.
    Areas {
        #[command(subcommand)]
        command: AreasCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The keys that encrypt phone numbers at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Dashboard maintenance.
    Dashboard {
        #[command(subcommand)]
        command: DashboardCommand,
    },
    /// Load a small demo district (streets, communities, grids, users, reports).
    Demo {
        /// Also write access tokens of the demo resident, worker and admin to this JSON file
        /// (valid for servers sharing this SAFEGRID_JWT_SECRET), for trying the API.
        #[arg(long)]
        tokens: Option<std::path::PathBuf>,
    },
    /// Fill the database with a synthetic city for load benchmarks (see BENCHMARKS.md):
    /// grids with realistic polygons, residents, workers and a year of reports and wishes.
    BenchData {
        #[arg(long, default_value_t = 10_000)]
        grids: usize,
        #[arg(long, default_value_t = 200_000)]
        reports: usize,
        #[arg(long, default_value_t = 20_000)]
        wishes: usize,
        /// Open reports in the queue of the benchmark worker (grid G000000).
        #[arg(long, default_value_t = 40)]
        queue_tasks: usize,
        /// Open lead assignments in the queue of the benchmark unit (BU0).
        #[arg(long, default_value_t = 40)]
        unit_tasks: usize,
        /// Rows per multi-row INSERT (one transaction each).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Write tokens (resident, worker of G000000, unit staff of BU0, admin) and a sample
        /// report body here.
        #[arg(long)]
        tokens: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator bound to one area (and everything below it).
    ///
    /// The password must be at least 12 characters mixing three of lowercase, uppercase,
    /// digits and other characters, must not contain the username nor be a common password;
    /// the admin must change it at the first login.
    ///
    /// Example: echo 'Tide-pool-42-lantern' | safegrid admin create --username chen --password-stdin --area 310101
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (it never appears in the shell history).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Code of the area the admin manages (not for a separated duty).
        #[arg(long, required_unless_present = "role", conflicts_with = "role")]
        area: Option<String>,
        /// A separated duty instead of an area (MLPS): system, security or audit.
        #[arg(long, value_parser = ["system", "security", "audit"])]
        role: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit trail's hash chain; exits non-zero naming the first broken record.
    Verify,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored phone number under the first key of SAFEGRID_DATA_KEYS (and
    /// SAFEGRID_CRYPTO's suite), in pages of one transaction each; safe while servers run,
    /// once every server holds the new key. Drop an old key only after this succeeded.
    Rotate {
        /// Rows per page (one transaction each).
        #[arg(long, default_value_t = 500)]
        page: u64,
    },
}

#[derive(Subcommand)]
enum DashboardCommand {
    /// Recompute every dashboard rollup from the raw reports (after a restore, a bulk load,
    /// or moving areas in the tree).
    Rebuild,
}

#[derive(Subcommand)]
enum AreasCommand {
    /// Import or update areas and grids from a GeoJSON FeatureCollection (all or nothing).
    Import {
        /// Path of the .geojson file.
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", safegrid::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("safegrid: {e}");
            return ExitCode::from(2);
        }
    };
    safegrid::telemetry::init_logging(&settings.log_filter);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("safegrid: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("safegrid: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = safegrid::startup::Application::build(settings).await?;
            tracing::info!(port = app.port(), "SafeGrid is serving");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            safegrid::cli::migrate(&settings).await?;
            println!("migrations are up to date");
        }
        Command::Openapi => print!("{}", safegrid::openapi::document_json()),
        Command::Admin {
            command:
                AdminCommand::Create {
                    username,
                    password_stdin: _,
                    area,
                    role,
                },
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            match (area, role) {
                (Some(area), _) => {
                    safegrid::cli::create_admin(&settings, &username, &password, &area).await?;
                    println!(
                        "admin {username} created for area {area}; the password must be changed at the first login"
                    );
                }
                (None, Some(duty)) => {
                    safegrid::cli::create_duty_admin(&settings, &username, &password, &duty)
                        .await?;
                    println!(
                        "{duty} admin {username} created; the password must be changed at the first login"
                    );
                }
                (None, None) => anyhow::bail!("name an --area or a --role"),
            }
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => safegrid::cli::audit_verify(&settings).await?,
        Command::Keys {
            command: KeysCommand::Rotate { page },
        } => safegrid::cli::keys_rotate(&settings, page).await?,
        Command::Areas {
            command: AreasCommand::Import { file },
        } => safegrid::cli::import_areas(&settings, &file).await?,
        Command::Dashboard {
            command: DashboardCommand::Rebuild,
        } => safegrid::cli::dashboard_rebuild(&settings).await?,
        Command::Demo { tokens } => safegrid::cli::demo(&settings, tokens.as_deref()).await?,
        Command::BenchData {
            grids,
            reports,
            wishes,
            queue_tasks,
            unit_tasks,
            batch,
            seed,
            tokens,
        } => {
            let opts = safegrid::benchdata::Options {
                grids,
                reports,
                wishes,
                queue_tasks,
                unit_tasks,
                batch,
                seed,
                tokens,
            };
            safegrid::cli::bench_data(&settings, &opts).await?
        }
    }
    Ok(())
}
