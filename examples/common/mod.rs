//! What the examples share: members known to a platform, and an in-memory stand-in for the
//! relay that splits each envelope and hands every mailbox its delivery.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use missive::Error;
use missive::client::{Access, Client, Event, MemoryStore, Outgoing};
use missive::envelope::{self, MailboxId};
use missive::platform::{Platform, Profile, monthly_tokens};
use missive::relay_api::{PrekeyResponse, TokenIssued};
use missive::token::{Issuer, TokenKind};

pub(crate) const NOW: u64 = 1_800_000_000;

/// What an example step can fail with: the engine's error or the store's.
pub(crate) type Failed = Box<dyn std::error::Error>;

/// Where each member's app keeps its client's state, by name. A real app keeps one per account,
/// encrypted (`SqliteStore` with a key from the platform's keystore, or its own). Every send
/// hands out its envelopes only after `save` has written the state that sent them: an app that
/// submitted first and crashed would reuse keys when it restarted from the earlier state.
#[derive(Default)]
pub(crate) struct Stores(BTreeMap<&'static str, MemoryStore>);

impl Stores {
    pub(crate) fn of(&mut self, name: &'static str) -> &mut MemoryStore {
        self.0.entry(name).or_default()
    }
}

/// The set-up steps' saves (tokens, prekeys, connections) go to a store of their own.
fn setup() -> MemoryStore {
    MemoryStore::default()
}

/// The relay's token issuer, in this in-memory world.
pub(crate) fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| Issuer::generate(&mut rand::rng()))
}

/// A member with `profile`, registered with `platform`, certified, and holding this month's
/// tokens: invitations, and its tier's InMail credits and premium messages.
pub(crate) fn member(platform: &mut Platform, name: &str, profile: Profile) -> Client {
    let mut c = Client::new(&mut rand::rng(), name.as_bytes());
    c.set_profile(profile);
    c.set_platform_key(platform.public_key());
    platform.register(*c.mailbox_id(), profile);
    certify(platform, &mut c, false);
    for (kind, count) in [
        (TokenKind::Invite, 10),
        (TokenKind::Credit, 15),
        (TokenKind::Premium, 10),
    ] {
        fund(&mut c, kind, count);
    }
    c
}

/// The platform's certificate of `c`'s account.
pub(crate) fn certify(platform: &Platform, c: &mut Client, advertiser: bool) {
    if let Ok(account) = platform.certify_account(c.mailbox_id(), advertiser, NOW + 86_400 * 365) {
        c.set_account(account);
    }
}

/// Up to `count` tokens of `kind` from the relay, as its quota for `c`'s account allows.
pub(crate) fn fund(c: &mut Client, kind: TokenKind, count: usize) {
    let Some(account) = c.account().cloned() else {
        return;
    };
    let count = count.min(monthly_tokens(kind, &account) as usize);
    if count == 0 {
        return;
    }
    let Ok(Ok(issue)) = c
        .request_tokens(&mut rand::rng(), kind, count, NOW)
        .map(|u| u.save(&mut rand::rng(), &mut setup()))
    else {
        return;
    };
    let issued = issuer()
        .issue(&mut rand::rng(), &issue.request)
        .and_then(|response| {
            Ok(TokenIssued {
                key: issuer().public_key(kind, issue.request.period)?,
                response,
            })
        });
    if let Ok(issued) = issued {
        let _ = c.add_tokens(&issued);
    }
}

/// `from` looks `to` up in the directory and starts a pairwise session (no connection yet).
pub(crate) fn look_up(from: &mut Client, to: &mut Client) -> Result<MailboxId, Failed> {
    let published = to
        .publish(&mut rand::rng(), 1)?
        .save(&mut rand::rng(), &mut setup())?;
    let response = PrekeyResponse {
        mailbox: *to.mailbox_id(),
        bundle: published.bundle,
        one_time: published.one_time.into_iter().next(),
    };
    Ok(from.add_contact(&mut rand::rng(), to.user(), &response)?)
}

/// Delivers to `to` whatever in `out` is addressed to it, and prints what it shows.
pub(crate) fn deliver(to: &mut Client, out: &[Outgoing]) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    for o in out {
        for d in envelope::split(&o.envelope)? {
            if d.mailbox() == *to.mailbox_id() {
                events.extend(to.receive(&d.to_bytes(), NOW)?);
            }
        }
    }
    let name = String::from_utf8_lossy(to.user()).into_owned();
    for e in &events {
        println!("{name}: {}", describe(to, e));
    }
    Ok(events)
}

/// Connects `a` and `b` (invitation and acceptance).
pub(crate) fn connect(a: &mut Client, b: &mut Client) -> Result<MailboxId, Failed> {
    let b_id = look_up(a, b)?;
    let invite = a.invite(&mut rand::rng(), &b_id, None, NOW)?;
    deliver(b, &invite.save(&mut rand::rng(), &mut setup())?)?;
    let a_id = *a.mailbox_id();
    let accept = b.accept(&mut rand::rng(), &a_id, NOW)?;
    deliver(a, &accept.save(&mut rand::rng(), &mut setup())?)?;
    Ok(b_id)
}

/// One line for a person to read.
pub(crate) fn describe(client: &Client, event: &Event) -> String {
    let who = |m: &MailboxId| {
        client.contact(m).ok().flatten().map_or_else(
            || "someone".to_string(),
            |c| String::from_utf8_lossy(&c.user).into_owned(),
        )
    };
    match event {
        Event::Message {
            from,
            access,
            content,
            ..
        } => {
            let kind = match access {
                Access::Connection => "direct",
                Access::Opened => "reply",
                Access::OpenProfile => "Open Profile",
                Access::InMail(_) => "InMail",
                Access::GroupMember(_) => "fellow group member",
                Access::Group => "group post",
                Access::Multi => "multi-recipient",
                Access::Sponsored(c) => {
                    return format!("sponsored by {} (platform-verified): {:?}", c.name, content);
                }
                _ => "other",
            };
            format!(
                "[{kind}] {}: {}",
                who(from),
                content.as_text().unwrap_or("(not text)")
            )
        }
        Event::Refused { from, reason, .. } => {
            format!("refused a message from {}: {reason}", who(from))
        }
        Event::NewContact(c) => format!(
            "new pairwise session with {}",
            String::from_utf8_lossy(&c.user)
        ),
        Event::Joined(_) => "joined a conversation".into(),
        Event::Invitation { from, note } => format!(
            "invitation from {} ({})",
            who(from),
            note.as_deref().unwrap_or("no note")
        ),
        Event::Connected(m) => format!("connected with {}", who(m)),
        Event::Disconnected(m) => format!("{} removed the connection", who(m)),
        Event::Read { by, .. } => format!("{} read the conversation", who(by)),
        Event::Typing { from, typing, .. } => format!(
            "{} {} typing",
            who(from),
            if *typing { "is" } else { "stopped" }
        ),
        Event::Lead(l) => format!(
            "lead from {}: {:?}",
            String::from_utf8_lossy(&l.user),
            l.answers
        ),
        Event::Waiting(_) => "kept a message until what it needs arrives".into(),
        other => format!("{other:?}"),
    }
}
