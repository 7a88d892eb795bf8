//! The relay's structured logs, at the most verbose level, after accepted, refused, fetched
//! and pushed traffic: they never contain a body, a mailbox id or a proof.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod relay_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use relay_support::{auth, call, in_process, mailbox_key, opaque_envelope, unchecked};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_reasons_and_counts_never_bodies_or_ids() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let state = in_process(unchecked());
    let key = mailbox_key();
    let envelope = opaque_envelope(&[*key.id()], 600);
    let proof = auth(&key, "GET", "/v1/mailbox", b"");
    let requests = [
        ("POST", "/v1/envelopes", None, envelope.clone()),
        ("POST", "/v1/envelopes", None, envelope[..300].to_vec()),
        ("GET", "/v1/mailbox", Some(proof.clone()), vec![]),
        ("GET", "/v1/mailbox", Some(proof.clone()), vec![]),
    ];
    for (method, path, auth, body) in requests {
        let (status, _) = call(&state, method, path, auth, body).await;
        assert!(status.as_u16() < 500);
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("envelope stored"), "{logs}");
    assert!(logs.contains("reason=\"malformed\""), "{logs}");
    assert!(logs.contains("replayed"), "{logs}");
    let body = &envelope[envelope.len() - 64..];
    for secret in [
        hex::encode(body),
        hex::encode(key.id().0),
        proof[8..40].to_string(),
    ] {
        assert!(!logs.contains(&secret), "logged {secret}");
    }
    assert!(!logs.as_bytes().windows(32).any(|w| w == &body[..32]));
    assert!(
        !logs.contains(&format!("{:?}", key.id())),
        "mailbox id logged"
    );
}
