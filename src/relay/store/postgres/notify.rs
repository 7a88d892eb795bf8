//! Delivery notifications between relays: a batch's transaction notifies the mailboxes it
//! delivered to (`pg_notify`, sent by PostgreSQL only if it commits), and every relay listens on
//! a connection of its own and hands the mailboxes to its sockets, which fetch what is new.
//! Ephemeral deliveries travel whole in a notification of their own: PostgreSQL queues
//! notifications in memory (spilling to its `pg_notify` queue files only under a backlog),
//! never in a table or the write-ahead log, and drops them once every listener has read them.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::AsyncMessage;

use super::super::{MAX_PASSED, MailboxId, Passed};
use super::sql::{Fault, query};

/// The channel stored deliveries are announced on.
const CHANNEL: &str = "missive_deliveries";
/// The channel ephemeral deliveries travel on.
const EPHEMERAL: &str = "missive_ephemeral";
/// Mailboxes per notification: 16 hex digits of instance, a colon, then 33 bytes per mailbox
/// stay under PostgreSQL's 8,000-byte payload.
const PER_NOTIFICATION: usize = 200;
/// How long to wait before listening again after the connection failed.
const RECONNECT: Duration = Duration::from_secs(1);

/// Sends a batch's notifications (sent by PostgreSQL only if its transaction commits).
pub(super) const NOTIFY: &str =
    "SELECT pg_notify('missive_deliveries', p) FROM unnest($1::text[]) AS p";

/// The notifications saying that `mailboxes` have new deliveries (from the store named
/// `instance`).
pub(super) fn payloads(instance: &str, mailboxes: &[&[u8]]) -> Vec<String> {
    let mut unique: Vec<&[u8]> = mailboxes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    unique
        .chunks(PER_NOTIFICATION)
        .map(|chunk| {
            let hex: Vec<String> = chunk.iter().map(hex::encode).collect();
            format!("{instance}:{}", hex.join(","))
        })
        .collect()
}

/// Passes an encoded ephemeral delivery to the relays listening (the sender skips its own).
pub(super) async fn pass(
    client: &deadpool_postgres::Client,
    instance: &str,
    delivery: &[u8],
) -> Result<(), Fault> {
    if delivery.len() > MAX_PASSED {
        return Err(Fault::Refused(super::super::StoreError::Backend));
    }
    let payload = format!("{instance}:{}", hex::encode(delivery));
    query(
        client,
        "SELECT pg_notify('missive_ephemeral', $1)",
        &[&payload],
    )
    .await
    .map(drop)
}

/// Listens until `delivered` is closed, connecting again whenever the connection fails.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    instance: String,
    delivered: UnboundedSender<Passed>,
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
    delivered: &UnboundedSender<Passed>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let own = format!("{instance}:");
    let forward = delivered.clone();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if !n.payload().starts_with(&own) => {
                    let passed = if n.channel() == EPHEMERAL {
                        match ephemeral(n.payload()) {
                            Some(bytes) => Passed::Ephemeral(bytes),
                            None => continue,
                        }
                    } else {
                        Passed::Stored(mailboxes(n.payload()))
                    };
                    if forward.send(passed).is_err() {
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
    client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {EPHEMERAL}"))
        .await?;
    let _ = driver.await;
    drop(client);
    Ok(())
}

/// The encoded delivery in an ephemeral notification's payload, if it is hex.
fn ephemeral(payload: &str) -> Option<Vec<u8>> {
    let (_, bytes) = payload.split_once(':')?;
    hex::decode(bytes).ok()
}

/// The mailboxes in a notification's payload (what does not parse is skipped).
fn mailboxes(payload: &str) -> Vec<MailboxId> {
    let list = payload.split_once(':').map_or("", |(_, list)| list);
    list.split(',')
        .filter_map(|m| <[u8; 16]>::try_from(hex::decode(m).ok()?).ok())
        .map(MailboxId)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{MailboxId, ephemeral, mailboxes};

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

    #[test]
    fn an_ephemeral_payload_is_the_hex_after_the_sender() {
        assert_eq!(ephemeral("0123:00ff10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(ephemeral("0123:"), Some(Vec::new()));
        assert_eq!(ephemeral("0123:0"), None);
        assert_eq!(ephemeral("0123:zz"), None);
        assert_eq!(ephemeral("no sender"), None);
    }
}
