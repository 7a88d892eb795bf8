//! Real clients on a real relay socket, the way an app drives them: a platform that certifies
//! accounts, registration of access keys, tokens from the relay, submissions and reads.

use super::saved::Saved;
use missive::client::{Client, Event, Outgoing};
use missive::envelope::MailboxId;
use missive::platform::{CreditPurchase, Platform, Profile, monthly_tokens};
use missive::relay::{RelayConfig, system_clock};
use missive::relay_api::{Ack, DeliveryPage, PrekeyResponse, TokenIssue, TokenIssued, Undelivered};
use missive::token::TokenKind;

use super::{LiveRelay, http};

/// A relay that trusts `platform`, and the platform.
pub struct Net {
    pub relay: LiveRelay,
    pub platform: Platform,
}

impl Net {
    pub fn start() -> Self {
        Self::start_with(RelayConfig::default())
    }

    /// A relay with `config`, trusting a new platform.
    pub fn start_with(config: RelayConfig) -> Self {
        let platform = Platform::new(&mut rand::rng());
        let relay = LiveRelay::start(RelayConfig {
            platform: Some(platform.public_key()),
            ..config
        });
        Self { relay, platform }
    }

    fn proof(client: &Client, method: &str, path: &str, body: &[u8]) -> String {
        let proof = client.prove(&mut rand::rng(), method, path, body, system_clock());
        format!("Missive {}", hex::encode(proof.to_bytes()))
    }

    /// An authenticated request on `client`'s mailbox.
    pub fn authed(&self, client: &Client, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let auth = Self::proof(client, method, path, body);
        http(method, &self.relay.url(path), Some(&auth), body)
    }

    /// A member: certified by the platform, prekeys published, access registered, and this
    /// month's tokens taken (up to 10 of each kind its account may have).
    pub fn join(&mut self, name: &str, profile: Profile, advertiser: bool) -> Client {
        let mut c = Client::new(&mut rand::rng(), name.as_bytes());
        c.set_profile(profile);
        c.set_platform_key(self.platform.public_key());
        self.platform.register(*c.mailbox_id(), profile);
        let account = self
            .platform
            .certify_account(c.mailbox_id(), advertiser, system_clock() + 86_400)
            .unwrap();
        c.set_account(account.clone());
        let path = format!("/v1/directory/{}", hex::encode(c.user()));
        let body = c.publish(&mut rand::rng(), 5).saved().unwrap().to_bytes();
        assert_eq!(self.authed(&c, "PUT", &path, &body).0, 204);
        self.sync(&mut c);
        for kind in [
            TokenKind::Invite,
            TokenKind::Credit,
            TokenKind::Premium,
            TokenKind::Sponsored,
        ] {
            let n = monthly_tokens(kind, &account).min(10) as usize;
            if n > 0 {
                assert_eq!(self.tokens(&mut c, kind, n), 200);
            }
        }
        c
    }

    /// Registers what changed in `client`'s keys and switches; sends its key notices.
    pub fn sync(&self, client: &mut Client) {
        let sync = client
            .access_sync(&mut rand::rng(), system_clock())
            .saved()
            .unwrap();
        if let Some(update) = sync.update {
            let (status, body) =
                self.authed(client, "PUT", "/v1/mailbox/access", &update.to_bytes());
            assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
        }
        self.send(&sync.notices);
    }

    /// Asks for `count` tokens of `kind`; the status (200 when issued and added).
    pub fn tokens(&self, client: &mut Client, kind: TokenKind, count: usize) -> u16 {
        let issue = client
            .request_tokens(&mut rand::rng(), kind, count, system_clock())
            .saved()
            .unwrap();
        self.issue(client, &issue)
    }

    /// Posts a token request; adds what was issued. The status.
    fn issue(&self, client: &mut Client, issue: &TokenIssue) -> u16 {
        let (status, body) = self.authed(client, "POST", "/v1/tokens", &issue.to_bytes());
        if status == 200 {
            let issued = TokenIssued::from_bytes(&body).unwrap();
            client.add_tokens(&issued).unwrap();
        }
        status
    }

    /// Redeems credits `client` bought; the status (200 when issued and added).
    pub fn redeem(&self, client: &mut Client, purchase: &CreditPurchase) -> u16 {
        let issue = client
            .redeem_credits(&mut rand::rng(), purchase, system_clock())
            .saved()
            .unwrap();
        self.issue(client, &issue)
    }

    /// `client` looks `other` up in the directory and starts a session.
    pub fn lookup(&self, client: &mut Client, other: &Client) -> MailboxId {
        let path = format!("/v1/directory/{}", hex::encode(other.user()));
        let (status, body) = self.authed(client, "GET", &path, b"");
        assert_eq!(status, 200);
        let response = PrekeyResponse::from_bytes(&body).unwrap();
        client
            .add_contact(&mut rand::rng(), other.user(), &response)
            .unwrap()
    }

    /// Submits one outgoing envelope: status and body.
    pub fn submit(&self, out: &Outgoing) -> (u16, Vec<u8>) {
        self.post(&out.submission(), out.ephemeral)
    }

    /// Posts submission bytes.
    pub fn post(&self, submission: &[u8], ephemeral: bool) -> (u16, Vec<u8>) {
        let path = if ephemeral {
            "/v1/ephemeral"
        } else {
            "/v1/envelopes"
        };
        http("POST", &self.relay.url(path), None, submission)
    }

    /// Submits everything; each must be accepted for every recipient.
    pub fn send(&self, outgoing: &[Outgoing]) {
        for out in outgoing {
            let (status, body) = self.submit(out);
            assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
            assert!(
                body.is_empty(),
                "not delivered to {:?}",
                Undelivered::from_bytes(&body)
            );
        }
    }

    /// Fetches, opens and acknowledges everything waiting; then syncs access. The events.
    pub fn read(&self, client: &mut Client) -> Vec<Event> {
        let (status, body) = self.authed(client, "GET", "/v1/mailbox", b"");
        assert_eq!(status, 200);
        let page = DeliveryPage::from_bytes(&body).unwrap();
        let mut events = Vec::new();
        for d in &page.deliveries {
            events.extend(client.receive(&d.delivery, system_clock()).unwrap());
        }
        let ack = Ack {
            ids: page.deliveries.iter().map(|d| d.id).collect(),
        }
        .to_bytes();
        assert_eq!(self.authed(client, "POST", "/v1/mailbox/ack", &ack).0, 204);
        self.sync(client);
        events
    }

    /// Invitation and acceptance through the relay; returns `b`'s mailbox.
    pub fn connect(&self, a: &mut Client, b: &mut Client) -> MailboxId {
        let b_id = self.lookup(a, b);
        let invite = a
            .invite(&mut rand::rng(), &b_id, None, system_clock())
            .saved()
            .unwrap();
        self.send(&invite);
        self.read(b);
        let a_id = *a.mailbox_id();
        let accept = b
            .accept(&mut rand::rng(), &a_id, system_clock())
            .saved()
            .unwrap();
        self.send(&accept);
        self.read(a);
        b_id
    }
}

/// The texts of the messages among `events`.
pub fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { content, .. } => content.as_text().map(str::to_string),
            _ => None,
        })
        .collect()
}
