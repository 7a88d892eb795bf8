//! A tiny in-memory world for client tests: users, the platform, and the relay's split.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::saved::Saved;
use std::sync::OnceLock;

use missive::client::{Client, Event, Outgoing};
use missive::envelope::{self, MailboxId};
use missive::platform::{Platform, Profile, monthly_tokens};
use missive::relay_api::{PrekeyResponse, TokenIssued};
use missive::token::{Issuer, TokenKind};

pub(crate) const NOW: u64 = 1_800_000_000;

/// A Premium Career member's profile (five InMail credits a month).
pub(crate) const CAREER: Profile = Profile {
    tier: missive::platform::Tier::PremiumCareer,
    open_profile: false,
};

/// The token issuer of this in-memory world (a relay's, in real life).
pub(crate) fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| Issuer::generate(&mut rand::rng()))
}

/// A user known to `platform` with `profile`, certified, holding a month's tokens: a few
/// invitations, its tier's InMail credits, and premium tokens if premium.
pub(crate) fn member(platform: &mut Platform, name: &str, profile: Profile) -> Client {
    let mut c = Client::new(&mut rand::rng(), name.as_bytes());
    c.set_profile(profile);
    c.set_platform_key(platform.public_key());
    platform.register(*c.mailbox_id(), profile);
    certify(platform, &mut c, false);
    fund(&mut c, TokenKind::Invite, 10);
    for kind in [TokenKind::Credit, TokenKind::Premium] {
        fund(&mut c, kind, usize::MAX);
    }
    c
}

/// Makes sure `c` can invite: a free account of its own if it has none, and tokens.
pub(crate) fn invitations(c: &mut Client) {
    if c.tokens(TokenKind::Invite) > 0 {
        return;
    }
    if c.account().is_none() {
        let mut platform = Platform::new(&mut rand::rng());
        platform.register(*c.mailbox_id(), *c.profile());
        certify(&platform, c, false);
    }
    fund(c, TokenKind::Invite, 10);
}

/// Sets `c`'s account certificate (valid for a year from [`NOW`]).
pub(crate) fn certify(platform: &Platform, c: &mut Client, advertiser: bool) {
    let account = platform
        .certify_account(c.mailbox_id(), advertiser, NOW + 365 * 86_400)
        .unwrap();
    c.set_account(account);
}

/// Issues `c` up to `count` tokens of `kind`, within its monthly quota, the way a relay would.
pub(crate) fn fund(c: &mut Client, kind: TokenKind, count: usize) {
    let quota = monthly_tokens(kind, c.account().unwrap()) as usize;
    let count = count.min(quota).min(missive::token::MAX_BATCH);
    if count == 0 {
        return;
    }
    let issue = c
        .request_tokens(&mut rand::rng(), kind, count, NOW)
        .saved()
        .unwrap();
    let issued = TokenIssued {
        key: issuer().public_key(kind, issue.request.period).unwrap(),
        response: issuer().issue(&mut rand::rng(), &issue.request).unwrap(),
    };
    c.add_tokens(&issued).unwrap();
}

/// What the relay's directory would answer for `owner`.
pub(crate) fn directory(owner: &mut Client) -> PrekeyResponse {
    let published = owner.publish(&mut rand::rng(), 1).saved().unwrap();
    PrekeyResponse {
        mailbox: *owner.mailbox_id(),
        bundle: published.bundle,
        one_time: published.one_time.into_iter().next(),
    }
}

/// A pairwise session from `a` to `b`, without a connection; returns `b`'s mailbox.
pub(crate) fn contact(a: &mut Client, b: &mut Client) -> MailboxId {
    if let Some(c) = a.contact(b.mailbox_id()).unwrap() {
        return c.mailbox;
    }
    let response = directory(b);
    a.add_contact(&mut rand::rng(), b.user(), &response)
        .unwrap()
}

/// The deliveries the relay would hand `to` for `outgoing`.
pub(crate) fn deliveries_for(outgoing: &[Outgoing], to: &MailboxId) -> Vec<Vec<u8>> {
    outgoing
        .iter()
        .flat_map(|o| envelope::split(&o.envelope).unwrap())
        .filter(|d| d.mailbox() == *to)
        .map(|d| d.to_bytes())
        .collect()
}

/// Delivers what is addressed to `to` and returns its events.
pub(crate) fn deliver(to: &mut Client, outgoing: &[Outgoing]) -> Vec<Event> {
    let mailbox = *to.mailbox_id();
    deliveries_for(outgoing, &mailbox)
        .iter()
        .flat_map(|d| to.receive(d, NOW).unwrap())
        .collect()
}

/// `from` sends `text` to member `to` (saved); what it sent.
pub(crate) fn say(from: &mut Client, to: &MailboxId, text: &str) -> Vec<Outgoing> {
    let content = missive::client::Content::text(text);
    from.send(&mut rand::rng(), to, &content, NOW)
        .saved()
        .unwrap()
}

/// A session and an accepted connection between `a` and `b`; returns `b`'s mailbox.
pub(crate) fn connect(a: &mut Client, b: &mut Client) -> MailboxId {
    invitations(a);
    let b_id = contact(a, b);
    let invite = a
        .invite(&mut rand::rng(), &b_id, None, NOW)
        .saved()
        .unwrap();
    deliver(b, &invite);
    let a_id = *a.mailbox_id();
    let accept = b.accept(&mut rand::rng(), &a_id, NOW).saved().unwrap();
    deliver(a, &accept);
    b_id
}

/// The texts of the messages among `events`.
pub(crate) fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { content, .. } => content.as_text().map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The refusal reasons among `events`.
pub(crate) fn refusals(events: &[Event]) -> Vec<missive::PolicyError> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// A pairwise session from every one of `users` to every other.
pub(crate) fn sessions_between_all(users: &mut [Client]) {
    for a in 0..users.len() {
        for b in 0..users.len() {
            if a != b {
                let (x, y) = two(users, a, b);
                contact(x, y);
            }
        }
    }
}

/// Users `a` and `b` (distinct) of `users`, both mutable.
pub(crate) fn two(users: &mut [Client], a: usize, b: usize) -> (&mut Client, &mut Client) {
    if a < b {
        let (l, r) = users.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = users.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}

/// The senders of the messages among `events`, in order.
pub(crate) fn senders(events: &[Event]) -> Vec<MailboxId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { from, .. } => Some(*from),
            _ => None,
        })
        .collect()
}
