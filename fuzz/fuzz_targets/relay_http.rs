#![no_main]
//! The relay's whole request path, in-process: any method, path, proof and body a client can
//! send gets an answer below 500 and never a panic. The first byte picks the endpoint, the
//! second how the request is authenticated (none, a valid proof of the fuzzed body, garbage),
//! the rest is the body.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use missive::mailbox::MailboxKey;
use missive::platform::Platform;
use missive::relay::{Limits, RelayConfig, RelayState, SqliteStore, app, system_clock};
use tower::ServiceExt;

const ENDPOINTS: [(&str, &str); 14] = [
    ("POST", "/v1/envelopes"),
    ("POST", "/v1/ephemeral"),
    ("PUT", "/v1/directory/616c696365"),
    ("GET", "/v1/directory/616c696365"),
    ("GET", "/v1/mailbox"),
    ("GET", "/v1/mailbox?after=3&limit=2"),
    ("POST", "/v1/mailbox/ack"),
    ("GET", "/v1/mailbox/ws"),
    ("GET", "/v1/directory/zz"),
    ("GET", "/metrics"),
    ("PUT", "/v1/mailbox/access"),
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens/credit/671"),
    ("GET", "/v1/tokens/bogus/1"),
];

struct Relay {
    runtime: tokio::runtime::Runtime,
    state: RelayState,
    key: MailboxKey,
}

fn relay() -> &'static Relay {
    static RELAY: OnceLock<Relay> = OnceLock::new();
    RELAY.get_or_init(|| {
        let config = RelayConfig {
            rate_per_second: u32::MAX,
            rate_burst: u32::MAX,
            open_per_hour: u32::MAX,
            open_burst: u32::MAX,
            platform: Some(Platform::from_seed(&[9; 32]).public_key()),
            ..RelayConfig::default()
        };
        let store = SqliteStore::in_memory(Limits::default()).expect("in-memory store");
        Relay {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            state: RelayState::new(Arc::new(store), config, system_clock).expect("relay state"),
            key: MailboxKey::from_seed(&[7; 32]),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [endpoint, mode, body @ ..] = data else {
        return;
    };
    let relay = relay();
    let (method, path) = ENDPOINTS[usize::from(*endpoint) % ENDPOINTS.len()];
    let mut request = Request::builder().method(method).uri(path);
    match mode % 3 {
        0 => {}
        1 => {
            let proof = relay
                .key
                .prove(&mut rand::rng(), method, path, body, system_clock());
            request = request.header(
                "authorization",
                format!("Missive {}", hex(&proof.to_bytes())),
            );
        }
        _ => request = request.header("authorization", format!("Missive {}", hex(body))),
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    let response = relay
        .runtime
        .block_on(app(relay.state.clone()).oneshot(request))
        .expect("infallible");
    assert!(
        !response.status().is_server_error(),
        "{method} {path}: {}",
        response.status()
    );
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
