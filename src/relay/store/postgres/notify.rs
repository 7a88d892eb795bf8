//! Delivery notifications between relays: a batch's transaction notifies the mailboxes it
//! delivered to (`pg_notify`, sent by PostgreSQL only if it commits), and every relay listens on
//! a connection of its own and hands the mailboxes to its sockets, which fetch what is new.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::AsyncMessage;

use super::super::MailboxId;
use super::sql::{Fault, query};

/// The channel relays notify and listen on.
const CHANNEL: &str = "missive_deliveries";
/// Mailboxes per notification: 16 hex digits of instance, a colon, then 33 bytes per mailbox
/// stay under PostgreSQL's 8,000-byte payload.
const PER_NOTIFICATION: usize = 200;
/// How long to wait before listening again after the connection failed.
const RECONNECT: Duration = Duration::from_secs(1);

/// Notifies, in `tx`, that `mailboxes` have new deliveries (from the store named `instance`).
pub(super) async fn notify(
    tx: &deadpool_postgres::Transaction<'_>,
    instance: &str,
    mailboxes: &[&[u8]],
) -> Result<(), Fault> {
    let mut unique: Vec<&[u8]> = mailboxes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let payloads: Vec<String> = unique
        .chunks(PER_NOTIFICATION)
        .map(|chunk| {
            let hex: Vec<String> = chunk
                .iter()
                .map(|m| m.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            format!("{instance}:{}", hex.join(","))
        })
        .collect();
    if !payloads.is_empty() {
        query(
            tx,
            "SELECT pg_notify('missive_deliveries', p) FROM unnest($1::text[]) AS p",
            &[&payloads],
        )
        .await?;
    }
    Ok(())
}

/// Listens until `delivered` is closed, connecting again whenever the connection fails.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    instance: String,
    delivered: UnboundedSender<Vec<MailboxId>>,
) {
    while !delivered.is_closed() {
        if let Err(e) = listen_once(&config, &instance, &delivered).await {
            tracing::warn!(error = %e, "listening for deliveries through other relays");
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    instance: &str,
    delivered: &UnboundedSender<Vec<MailboxId>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let own = format!("{instance}:");
    let forward = delivered.clone();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if !n.payload().starts_with(&own) => {
                    if forward.send(mailboxes(n.payload())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "delivery notifications");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let _ = driver.await;
    drop(client);
    Ok(())
}

/// The mailboxes in a notification's payload (what does not parse is skipped).
fn mailboxes(payload: &str) -> Vec<MailboxId> {
    let list = payload.split_once(':').map_or("", |(_, list)| list);
    list.split(',')
        .filter_map(|hex| {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                })
                .collect();
            bytes
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(MailboxId)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{MailboxId, mailboxes};

    #[test]
    fn a_payload_names_its_mailboxes_and_what_does_not_parse_is_skipped() {
        let a = "00112233445566778899aabbccddeeff";
        let b = "ffeeddccbbaa99887766554433221100";
        let parsed = mailboxes(&format!("0123456789abcdef:{a},{b}"));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0[1], 0x11);
        assert_eq!(
            parsed[1],
            MailboxId([
                0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
                0x11, 0x00
            ])
        );
        // Too short, too long, not hex, odd, multibyte: none of them a mailbox.
        for bad in [
            "00",
            &format!("{a}00"),
            &"zz".repeat(16),
            &a[1..],
            "é".repeat(16).as_str(),
        ] {
            assert!(mailboxes(&format!("x:{bad}")).is_empty(), "{bad}");
        }
        assert!(mailboxes("no colon at all").is_empty());
        assert_eq!(mailboxes(&format!("x:{a},,{b}")).len(), 2);
    }
}
