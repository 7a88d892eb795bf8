//! `missive relay`.

use std::net::SocketAddr;
use std::path::Path;

use missive::platform::Platform;
use missive::relay::{RelayConfig, RelayState, serve};

/// Runs a relay until Ctrl-C. A stand-alone relay is its own platform: its key (created in
/// the data directory the first time) signs the account certificates `missive certify` makes.
pub(crate) fn run(
    data_dir: &Path,
    store: Option<&str>,
    listen: SocketAddr,
    config: RelayConfig,
) -> Result<(), String> {
    init_logging();
    let platform = platform(data_dir)?;
    let config = RelayConfig {
        platform: Some(platform.public_key()),
        ..config
    };
    let state = match store {
        Some(url) => {
            RelayState::open_postgres(url, config).map_err(|e| format!("{}: {e}", redacted(url)))?
        }
        None => RelayState::open(data_dir, config).map_err(|e| e.to_string())?,
    };
    let stored_in = store.map_or_else(|| data_dir.display().to_string(), redacted);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, store = %stored_in, "relay listening");
        println!("relay listening on http://{addr}");
        serve(listener, state, stop_signal())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("relay stopped");
        println!("relay stopped");
        Ok(())
    })
}

/// A database URL without its password, for logs and errors.
fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some((_, host))) => {
            let user = rest.split(['@', ':']).next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        _ => url.to_owned(),
    }
}

/// Ctrl-C, or SIGTERM (what `kill` and service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The platform key of the relay whose data directory is `data_dir`; refuses a directory
/// that holds no relay (a mistyped path must not mint a new platform).
pub(crate) fn existing_platform(data_dir: &Path) -> Result<Platform, String> {
    if !data_dir.join("platform.key").exists() {
        return Err(format!(
            "{} holds no relay (no platform.key): give the --data-dir of a relay that has run",
            data_dir.display()
        ));
    }
    platform(data_dir)
}

/// The platform whose key is kept in `data_dir/platform.key`, created if missing.
pub(crate) fn platform(data_dir: &Path) -> Result<Platform, String> {
    let path = data_dir.join("platform.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let seed: [u8; 32] = bytes
                .try_into()
                .map_err(|_| format!("{}: not a 32-byte key", path.display()))?;
            Ok(Platform::from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let platform = Platform::new(&mut rand::rng());
            crate::state_file::write_private(&path, &platform.to_seed()[..])
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(platform)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Structured logs to stderr; `RUST_LOG` filters them (default `info`).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person watching: a log file gets no escape codes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
