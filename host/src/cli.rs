//! Command line: `binyard serve [--config PATH] [--listen ADDR] [--data-dir DIR] [--plugins-dir DIR]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

#[derive(Parser)]
#[command(name = "binyard", version, about = "A universal binary repository manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve {
        /// Configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Address to listen on (overrides `server.listen`).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Data folder (overrides `storage.data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Plugins folder (overrides `plugins.dir`).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Unlock an account locked by failed logins (e.g. `admin` when no other
    /// administrator can): takes effect at its next login, no restart needed.
    UnlockUser {
        /// Configuration file (for `storage.data_dir`).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Data folder (overrides `storage.data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The user to unlock; `*` unlocks every account.
        name: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::UnlockUser { config, data_dir, name } => unlock_user(&config, data_dir, &name),
        Command::Serve {
            config,
            listen,
            data_dir,
            plugins_dir,
        } => {
            let mut cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("binyard: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = init_logging(cfg.log.format, &cfg.trace) {
                eprintln!("binyard: {e}");
                return ExitCode::from(2);
            }
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.storage.data_dir = d;
            }
            if let Some(p) = plugins_dir {
                cfg.plugins.dir = p;
            }
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .on_thread_park(crate::heap::on_worker_park)
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("binyard: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let served = rt.block_on(crate::http::serve::serve(cfg));
            drop(rt);
            crate::observe::trace::flush();
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("binyard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Leaves an unlock request in the data folder for the running server.
fn unlock_user(config: &std::path::Path, data_dir: Option<PathBuf>, name: &str) -> ExitCode {
    let data = match data_dir {
        Some(d) => d,
        None => match Config::load(config) {
            Ok(c) => c.storage.data_dir,
            Err(e) => {
                eprintln!("binyard: {e}");
                return ExitCode::from(2);
            }
        },
    };
    if name != "*" && (name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.')) {
        eprintln!("binyard: invalid user name '{name}'");
        return ExitCode::from(2);
    }
    let dir = crate::auth::unlock_requests_dir(&data.join("security"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(name), b"")) {
        Ok(()) => {
            println!("binyard: '{name}' will be unlocked at its next login attempt (a restart also clears every lock)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("binyard: cannot write the unlock request in {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr at `RUST_LOG` (default `info`), as text or one JSON object a line;
/// exports spans when `[trace]` names a collector.
fn init_logging(format: LogFormat, trace: &crate::config::TraceConfig) -> Result<(), String> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // Fields at the top level, so `jq .status` works on a request line.
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
    };
    let spans = crate::observe::trace::layer(trace)?;
    // RUST_LOG filters the log only: spans are exported whatever the log level.
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(spans)
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))
}
