//! `missive relay`.

use std::net::SocketAddr;
use std::path::Path;

use missive::relay::{RelayConfig, RelayState, serve};

/// Runs a relay until Ctrl-C.
pub(crate) fn run(data_dir: &Path, listen: SocketAddr, config: RelayConfig) -> Result<(), String> {
    init_logging();
    let state = RelayState::open(data_dir, config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%addr, data_dir = %data_dir.display(), "relay listening");
        println!("relay listening on http://{addr}");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, state, shutdown)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Structured logs to stderr; `RUST_LOG` filters them (default `info`).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
