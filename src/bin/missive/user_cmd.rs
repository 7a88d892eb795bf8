//! `missive init`, `publish`, `send` and `read`: one user's client state in a file.

use std::path::Path;

use missive::client::{Client, Content, Event};
use missive::envelope::MailboxId;

use crate::http::{Relay, now};

/// Loads the client state from `path`.
pub(crate) fn load(path: &Path) -> Result<Client, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Client::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the client state to `path` atomically, readable by the owner only.
///
/// The state holds every secret of the user; this command-line client keeps it in a file the
/// way `ssh` keeps keys. Apps should encrypt it with a key from the platform's keystore.
pub(crate) fn save(path: &Path, client: &Client) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    write_private(&tmp, &client.to_bytes()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

pub(crate) fn init(state: &Path, user: &str) -> Result<(), String> {
    if state.exists() {
        return Err(format!("{} exists already", state.display()));
    }
    let client = Client::new(&mut rand::rng(), user.as_bytes());
    save(state, &client)?;
    println!(
        "created {user}: mailbox {}",
        hex::encode(client.mailbox_id().0)
    );
    Ok(())
}

pub(crate) fn publish(state: &Path, relay: &str, count: usize) -> Result<(), String> {
    let mut client = load(state)?;
    Relay::new(relay).publish(&mut client, count)?;
    save(state, &client)?;
    println!("published a bundle and {count} one-time prekeys");
    Ok(())
}

/// The mailbox of `user`, starting a session from the directory if they are new to us.
pub(crate) fn contact(relay: &Relay, client: &mut Client, user: &str) -> Result<MailboxId, String> {
    if let Some(c) = client.contact_by_user(user.as_bytes()) {
        return Ok(c.mailbox);
    }
    let response = relay.lookup(user.as_bytes())?;
    client
        .add_contact(&mut rand::rng(), user.as_bytes(), &response)
        .map_err(|e| e.to_string())
}

pub(crate) fn send(state: &Path, relay_url: &str, to: &[String], text: &str) -> Result<(), String> {
    let mut client = load(state)?;
    let relay = Relay::new(relay_url);
    let mailboxes = to
        .iter()
        .map(|u| contact(&relay, &mut client, u))
        .collect::<Result<Vec<_>, _>>()?;
    let content = Content::text(text);
    let outgoing = match mailboxes.as_slice() {
        [one] => client.send(&mut rand::rng(), one, &content, now()),
        many => client
            .send_multi(&mut rand::rng(), many, &content, now())
            .map(|(_, out)| out),
    }
    .map_err(|e| e.to_string())?;
    // Save first: a crash after submitting must not reuse a message key.
    save(state, &client)?;
    relay.submit(&outgoing)?;
    println!("sent to {}", to.join(", "));
    Ok(())
}

pub(crate) fn read(state: &Path, relay_url: &str) -> Result<(), String> {
    let mut client = load(state)?;
    let relay = Relay::new(relay_url);
    for line in receive_all(&relay, &mut client)? {
        println!("{line}");
    }
    save(state, &client)
}

/// Fetches, decrypts and acknowledges everything waiting; returns one line per event.
pub(crate) fn receive_all(relay: &Relay, client: &mut Client) -> Result<Vec<String>, String> {
    let deliveries = relay.fetch(client)?;
    let mut lines = Vec::new();
    let mut ids = Vec::new();
    for d in deliveries {
        match client.receive(&d.delivery) {
            Ok(events) => lines.extend(events.iter().filter_map(describe)),
            Err(e) => lines.push(format!("(dropped a delivery: {e})")),
        }
        ids.push(d.id);
    }
    relay.ack(client, ids)?;
    Ok(lines)
}

/// A line for a person to read, or nothing for bookkeeping events.
pub(crate) fn describe(event: &Event) -> Option<String> {
    match event {
        Event::Message {
            from_user,
            from,
            content: Content::Text { text },
            ..
        } => {
            let who = from_user.as_ref().map_or_else(
                || hex::encode(&from.0[..4]),
                |u| String::from_utf8_lossy(u).into_owned(),
            );
            Some(format!("{who}: {text}"))
        }
        Event::NewContact(c) => Some(format!(
            "(new contact: {})",
            String::from_utf8_lossy(&c.user)
        )),
        Event::Joined(_) => Some("(added to a conversation)".into()),
        _ => None,
    }
}
