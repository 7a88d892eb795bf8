//! The command-line client's side of the relay protocol (PROTOCOL.md §8.3), over plain HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

use missive::access::Credential;
use missive::client::{Client, ClientStore, Outgoing};
use missive::envelope::{Envelope, MailboxId};
use missive::platform::CreditPurchase;
use missive::relay_api::{
    Ack, DeliveredEnvelope, DeliveryPage, PrekeyResponse, PrekeyStock, TokenIssue, TokenIssued,
    Undelivered,
};
use missive::token::TokenKind;

/// A relay at a base URL such as `http://127.0.0.1:8700`.
pub(crate) struct Relay {
    base: String,
    agent: ureq::Agent,
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// TLS with rustls: the web's roots, or only those in `MISSIVE_CA_CERT`.
fn tls_config() -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = match crate::tls::private_roots()? {
        None => RootCerts::WebPki,
        Some(roots) => {
            let roots: Vec<Certificate<'static>> = roots
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            RootCerts::new_with_certs(&roots)
        }
    };
    Ok(TlsConfig::builder().root_certs(roots).build())
}

fn user_hex(user: &[u8]) -> String {
    hex::encode(user)
}

/// How a failure to reach the relay at all begins.
const UNREACHABLE: &str = "relay unreachable";

impl Relay {
    /// Whether a submission that failed with `error` may succeed later unchanged: the relay
    /// was unreachable, overloaded, unavailable or limiting the rate.
    pub(crate) fn worth_retrying(error: &str) -> bool {
        error.starts_with(UNREACHABLE)
            || [" 429 ", " 502 ", " 503 ", " 504 "]
                .iter()
                .any(|status| error.contains(status))
    }

    /// A relay at `base`: `http://` on a trusted network, `https://` anywhere else (verified
    /// against the Mozilla roots, or against `MISSIVE_CA_CERT`, a PEM file, for a relay with
    /// a private certificate authority).
    pub(crate) fn new(base: &str) -> Result<Self, String> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls_config()?)
            .build()
            .into();
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
        })
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The `authorization` header value proving `client` holds its mailbox key for one request.
    pub(crate) fn auth(client: &Client, method: &str, path: &str, body: &[u8]) -> String {
        let proof = client.prove(&mut rand::rng(), method, path, body, now());
        format!("Missive {}", hex::encode(proof.to_bytes()))
    }

    fn check(what: &str, response: ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, String> {
        let status = response.status();
        let body = response
            .into_body()
            .read_to_vec()
            .map_err(|e| format!("{what}: {e}"))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!(
                "{what}: relay answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ))
        }
    }

    /// Publishes the client's bundle and `count` one-time prekeys.
    pub(crate) fn publish(
        &self,
        client: &mut Client,
        store: &mut dyn ClientStore,
        count: usize,
    ) -> Result<(), String> {
        let body = client
            .publish(&mut rand::rng(), count)
            .map_err(|e| e.to_string())?
            .save(&mut rand::rng(), store)
            .map_err(|e| e.to_string())?
            .to_bytes();
        let path = format!("/v1/directory/{}", user_hex(client.user()));
        let auth = Self::auth(client, "PUT", &path, &body);
        let response = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("authorization", auth)
            .send(&body[..]);
        Self::check("publish", response.map_err(|e| e.to_string())?).map(drop)
    }

    /// The directory entry of `user`.
    /// `client` looks `user` up in the directory (a lookup is authenticated and rate-limited).
    pub(crate) fn lookup(&self, client: &Client, user: &[u8]) -> Result<PrekeyResponse, String> {
        let path = format!("/v1/directory/{}", user_hex(user));
        let body = self.authed(client, "GET", &path, b"")?;
        PrekeyResponse::from_bytes(&body).map_err(|e| e.to_string())
    }

    /// `client` looks up the devices of `user`'s account: its signed list and each listed
    /// device's prekeys.
    pub(crate) fn devices(
        &self,
        client: &Client,
        user: &[u8],
    ) -> Result<missive::relay_api::DeviceDirectory, String> {
        let path = format!("/v1/directory/{}/devices", user_hex(user));
        let body = self.authed(client, "GET", &path, b"")?;
        missive::relay_api::DeviceDirectory::from_bytes(&body).map_err(|e| e.to_string())
    }

    /// Publishes the account's newest signed device list, from one of its devices.
    pub(crate) fn put_devices(&self, client: &Client, list: &[u8]) -> Result<(), String> {
        let path = format!("/v1/directory/{}/devices", user_hex(client.user()));
        self.authed(client, "PUT", &path, list).map(drop)
    }

    /// How many one-time prekeys `user` (owned by `client`) has left.
    pub(crate) fn stock(&self, client: &Client, user: &[u8]) -> Result<u32, String> {
        let path = format!("/v1/directory/{}/stock", user_hex(user));
        let body = self.authed(client, "GET", &path, b"")?;
        Ok(PrekeyStock::from_bytes(&body)
            .map_err(|e| e.to_string())?
            .one_time)
    }

    /// The relay's counters, in the Prometheus text format.
    pub(crate) fn metrics(&self) -> Result<String, String> {
        let response = self.agent.get(format!("{}/metrics", self.base)).call();
        let body = Self::check("metrics", response.map_err(|e| e.to_string())?)?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Hands envelopes to the relay; returns those it did not store for every recipient,
    /// with whom it did not reach (group members who have not caught up with a change).
    pub(crate) fn submit(
        &self,
        outgoing: &[Outgoing],
    ) -> Result<Vec<(Outgoing, Vec<MailboxId>)>, String> {
        let mut missed = Vec::new();
        for o in outgoing {
            let path = if o.ephemeral {
                "/v1/ephemeral"
            } else {
                "/v1/envelopes"
            };
            let response = self
                .agent
                .post(format!("{}{path}", self.base))
                .send(&o.submission()[..]);
            let what = match &o.credential {
                Credential::Contacts(_) => "submit (contact keys)",
                Credential::Keys(_) => "submit (access keys)",
                Credential::Token(_) | Credential::Member(_) => "submit (token)",
                Credential::Open => "submit (Open Profile)",
            };
            let response = response.map_err(|e| format!("{UNREACHABLE}: {e}"))?;
            // A conversation message that reached none of its recipients (none has caught up
            // with a change yet) is kept for later like one that missed some of them.
            if response.status() == ureq::http::StatusCode::FORBIDDEN && o.conversation.is_some() {
                let envelope = Envelope::from_bytes(&o.envelope).map_err(|e| e.to_string())?;
                missed.push((o.clone(), envelope.mailboxes()));
                continue;
            }
            let body = Self::check(what, response)?;
            if !body.is_empty() {
                let undelivered = Undelivered::from_bytes(&body).map_err(|e| e.to_string())?;
                missed.push((o.clone(), undelivered.mailboxes));
            }
        }
        Ok(missed)
    }

    /// An authenticated request on the client's mailbox.
    fn authed(
        &self,
        client: &Client,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let auth = Self::auth(client, method, path, body);
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.agent.get(url).header("authorization", auth).call(),
            "PUT" => self.agent.put(url).header("authorization", auth).send(body),
            _ => self
                .agent
                .post(url)
                .header("authorization", auth)
                .send(body),
        };
        Self::check(path, response.map_err(|e| format!("{UNREACHABLE}: {e}"))?)
    }

    /// Registers what changed in the client's access keys and switches, then hands a new
    /// contact key to those who keep it (in that order: the key must work when it arrives).
    pub(crate) fn sync(
        &self,
        client: &mut Client,
        store: &mut dyn ClientStore,
    ) -> Result<(), String> {
        let sync = client
            .access_sync(&mut rand::rng(), now())
            .map_err(|e| e.to_string())?
            .save(&mut rand::rng(), store)
            .map_err(|e| e.to_string())?;
        if let Some(update) = sync.update {
            let registered = self.authed(client, "PUT", "/v1/mailbox/access", &update.to_bytes());
            if let Err(e) = registered {
                client.reset_access_registration();
                client
                    .save_to(&mut rand::rng(), store)
                    .map_err(|e| e.to_string())?;
                return Err(e);
            }
        }
        self.submit(&sync.notices).map(drop)
    }

    /// A line saying how many recipients the relay kept nothing for yet, if any.
    pub(crate) fn missed_note(missed: &[(Outgoing, Vec<MailboxId>)]) -> Option<String> {
        let count: usize = missed.iter().map(|(_, m)| m.len()).sum();
        (count > 0).then(|| {
            format!(
                "(the relay kept nothing for {count} recipient(s) who have not registered the \
                 group's new key yet: it will be sent to them again once they have)"
            )
        })
    }

    /// Asks for `count` tokens of `kind` (within the account's monthly quota).
    pub(crate) fn tokens(
        &self,
        client: &mut Client,
        store: &mut dyn ClientStore,
        kind: TokenKind,
        count: usize,
    ) -> Result<usize, String> {
        let issue = client
            .request_tokens(&mut rand::rng(), kind, count, now())
            .map_err(|e| e.to_string())?
            .save(&mut rand::rng(), store)
            .map_err(|e| e.to_string())?;
        self.issue(client, store, &issue)
    }

    /// Redeems InMail credits bought from the platform for credit tokens.
    pub(crate) fn redeem(
        &self,
        client: &mut Client,
        store: &mut dyn ClientStore,
        purchase: &CreditPurchase,
    ) -> Result<usize, String> {
        let issue = client
            .redeem_credits(&mut rand::rng(), purchase, now())
            .map_err(|e| e.to_string())?
            .save(&mut rand::rng(), store)
            .map_err(|e| e.to_string())?;
        self.issue(client, store, &issue)
    }

    /// Posts a saved token request and adds what the relay issued.
    fn issue(
        &self,
        client: &mut Client,
        store: &mut dyn ClientStore,
        issue: &TokenIssue,
    ) -> Result<usize, String> {
        let body = self.authed(client, "POST", "/v1/tokens", &issue.to_bytes())?;
        let issued = TokenIssued::from_bytes(&body).map_err(|e| e.to_string())?;
        // The key must be the one published for everyone: a key of our own would mark our
        // tokens as ours when we spend them.
        let kind = issue.request.kind.label();
        let path = format!("/v1/tokens/{kind}/{}", issue.request.period);
        let response = self.agent.get(format!("{}{path}", self.base)).call();
        let published = Self::check("token key", response.map_err(|e| e.to_string())?)?;
        if published != issued.key.0 {
            return Err("the relay issued tokens under a key it does not publish".into());
        }
        let added = client.add_tokens(&issued).map_err(|e| e.to_string())?;
        client
            .save_to(&mut rand::rng(), store)
            .map_err(|e| e.to_string())?;
        Ok(added)
    }

    /// Everything waiting in the client's mailbox.
    pub(crate) fn fetch(&self, client: &Client) -> Result<Vec<DeliveredEnvelope>, String> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/v1/mailbox?after={after}");
            let page = DeliveryPage::from_bytes(&self.authed(client, "GET", &path, b"")?)
                .map_err(|e| e.to_string())?;
            let Some(last) = page.deliveries.last() else {
                return Ok(all);
            };
            after = last.seq;
            all.extend(page.deliveries);
        }
    }

    /// Deletes deliveries the client has processed.
    pub(crate) fn ack(&self, client: &Client, ids: Vec<[u8; 16]>) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let body = Ack { ids }.to_bytes();
        let path = "/v1/mailbox/ack";
        let auth = Self::auth(client, "POST", path, &body);
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("authorization", auth)
            .send(&body[..]);
        Self::check("ack", response.map_err(|e| format!("{UNREACHABLE}: {e}"))?).map(drop)
    }
}
