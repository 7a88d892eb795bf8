//! Who may deliver to a mailbox (PROTOCOL.md §11.3): each mailbox's registered access keys and
//! switches, and the check of a submission's credential against them. The check never needs
//! to know the sender: it asks only whether the credential is one the recipients handed out,
//! or a valid unspent token of a kind they accept.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::ratelimit::RateLimiter;
use super::refusal::Refusal;
use super::store::{MailboxId, RelayStore, Spend};
use crate::access::{AccessKey, AccessUpdate, Credential, MAX_KEYS};
use crate::platform::{PlatformKey, month_of};
use crate::token::{Issuer, Token, TokenKind};
use crate::wire::Wire;

/// Seconds during which a spent token may come back for the same recipients.
pub(crate) const SPEND_WINDOW: u64 = 600;
/// Most envelopes one token may carry (a send's session set-up, key hand-offs and message).
pub(crate) const SPEND_USES: u32 = 8;

/// What the relay keeps for one mailbox.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Record {
    contact: Option<AccessKey>,
    keys: Vec<AccessKey>,
    open_profile: bool,
    refuses_sponsored: bool,
    /// Unix seconds until which the mailbox's account is known to be premium.
    premium_until: u64,
}

impl Wire for Record {
    const WHAT: &'static str = "mailbox access record";
    const VERSION: u8 = 1;
}

impl Record {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Whether `key` is one this mailbox registered. Compares with every key, so how long it
    /// takes depends only on how many there are.
    fn admits(&self, key: &AccessKey) -> Choice {
        self.keys
            .iter()
            .chain(&self.contact)
            .fold(Choice::from(0), |found, k| found | k.ct_eq(key))
    }

    fn premium(&self, now: u64) -> bool {
        self.premium_until > now
    }

    /// The record after `update`; the account certificate, if any, is checked against the
    /// platform's key and must name this mailbox.
    fn updated(
        &self,
        mailbox: &MailboxId,
        update: &AccessUpdate,
        platform: Option<&PlatformKey>,
        now: u64,
    ) -> Result<Self, Refusal> {
        let mut next = self.clone();
        if let Some(contact) = &update.contact {
            next.contact = Some(contact.clone());
        }
        next.keys.retain(|k| !update.remove.contains(k));
        for key in &update.add {
            if !next.keys.contains(key) {
                next.keys.push(key.clone());
            }
        }
        if next.keys.len() > MAX_KEYS {
            return Err(Refusal::TooManyKeys);
        }
        if let Some(settings) = &update.settings {
            next.open_profile = settings.open_profile;
            next.refuses_sponsored = !settings.sponsored;
            next.premium_until = 0;
            if let Some(account) = &settings.account {
                let platform = platform.ok_or(Refusal::Forbidden)?;
                account
                    .verify(platform, now)
                    .map_err(|_| Refusal::Forbidden)?;
                if account.mailbox != *mailbox {
                    return Err(Refusal::Forbidden);
                }
                if account.tier.is_premium() {
                    next.premium_until = account.expires;
                }
            }
        }
        Ok(next)
    }
}

/// Every mailbox's record, in memory (the store holds the durable copy).
#[derive(Debug, Default)]
pub(crate) struct AccessBook {
    records: RwLock<HashMap<MailboxId, Record>>,
}

impl AccessBook {
    /// The book from the store's records; a record that does not decode is skipped (and
    /// logged): its mailbox re-registers.
    pub(crate) fn load(rows: Vec<(MailboxId, Vec<u8>)>) -> Self {
        let book = Self {
            records: RwLock::new(HashMap::new()),
        };
        book.apply(rows);
        book
    }

    /// Applies `update` to `mailbox`'s record as the store holds it (written durably, under
    /// the store's lock, before it takes effect here).
    pub(crate) fn update(
        &self,
        mailbox: &MailboxId,
        update: &AccessUpdate,
        platform: Option<&PlatformKey>,
        now: u64,
        store: &dyn RelayStore,
    ) -> Result<(), Refusal> {
        let mut refused = None;
        let written = store.change_access(mailbox, &mut |current| {
            // A stored record that does not decode is replaced, as at load.
            let record = current
                .and_then(|bytes| Record::from_wire(bytes).ok())
                .unwrap_or_default();
            match record.updated(mailbox, update, platform, now) {
                Ok(next) => Some(next.to_bytes()),
                Err(e) => {
                    refused = Some(e);
                    None
                }
            }
        })?;
        if let Some(e) = refused {
            return Err(e);
        }
        if let Some(bytes) = written {
            self.apply(vec![(*mailbox, bytes)]);
        }
        Ok(())
    }

    /// Takes records written through other relays (or again through this one).
    pub(crate) fn apply(&self, changed: Vec<(MailboxId, Vec<u8>)>) {
        if changed.is_empty() {
            return;
        }
        let decoded: Vec<(MailboxId, Record)> = changed
            .into_iter()
            .filter_map(|(mailbox, bytes)| match Record::from_wire(&bytes) {
                Ok(record) => Some((mailbox, record)),
                Err(e) => {
                    tracing::error!(error = %e, "stored access record does not decode");
                    None
                }
            })
            .collect();
        self.records
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(decoded);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<MailboxId, Record>> {
        self.records.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a checked credential lets through.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// The token to record as spent with the envelope.
    pub(crate) spend: Option<Spend>,
    /// Recipients who switched sponsored messages off: they get nothing, and the sender is
    /// not told who they are.
    pub(crate) skip: Vec<MailboxId>,
    /// Recipients none of whose presented keys is registered (a group member who has not
    /// caught up with a new epoch yet): they get nothing, and the sender is told, to retry.
    pub(crate) denied: Vec<MailboxId>,
}

/// What a credential is checked with.
pub(crate) struct Checker<'a> {
    pub(crate) book: &'a AccessBook,
    pub(crate) issuer: &'a Issuer,
    /// Credential-less deliveries per Open Profile mailbox.
    pub(crate) open: &'a RateLimiter,
    pub(crate) now: u64,
}

impl Checker<'_> {
    /// Whether `credential` lets its sender deliver to every one of `mailboxes`; for a token,
    /// the spend to record with the envelope. `ephemeral` submissions are never stored, so
    /// they cannot spend a token.
    pub(crate) fn check(
        &self,
        credential: &Credential,
        mailboxes: &[MailboxId],
        ephemeral: bool,
    ) -> Result<Admission, Refusal> {
        let records = self.book.read();
        let record = |m: &MailboxId| records.get(m).ok_or(Refusal::AccessDenied);
        match credential {
            Credential::Contacts(combined) => {
                let keys = mailboxes
                    .iter()
                    .map(|m| record(m)?.contact.as_ref().ok_or(Refusal::AccessDenied))
                    .collect::<Result<Vec<_>, _>>()?;
                allow(AccessKey::combine(keys).ct_eq(combined))
            }
            Credential::Keys(lists) => {
                if lists.len() != mailboxes.len() {
                    return Err(Refusal::AccessDenied);
                }
                // Each recipient on its own: one member who has not registered a new epoch's
                // key yet must not hold up everyone else's delivery.
                let denied: Vec<MailboxId> = mailboxes
                    .iter()
                    .zip(lists)
                    .filter(|(mailbox, keys)| {
                        let admitted = record(mailbox).is_ok_and(|record| {
                            let any = keys
                                .iter()
                                .fold(Choice::from(0), |any, k| any | record.admits(k));
                            bool::from(any)
                        });
                        !admitted
                    })
                    .map(|(mailbox, _)| *mailbox)
                    .collect();
                if denied.len() == mailboxes.len() {
                    return Err(Refusal::AccessDenied);
                }
                Ok(Admission {
                    skip: denied.clone(),
                    denied,
                    spend: None,
                })
            }
            Credential::Open => {
                let [mailbox] = mailboxes else {
                    return Err(Refusal::AccessDenied);
                };
                let record = record(mailbox)?;
                if !(record.open_profile && record.premium(self.now)) {
                    return Err(Refusal::AccessDenied);
                }
                if !self.open.allow(mailbox.0) {
                    return Err(Refusal::RateLimited);
                }
                Ok(Admission::default())
            }
            Credential::Token(token) if !ephemeral => self.token(token, mailboxes, &record),
            Credential::Token(_) => Err(Refusal::AccessDenied),
        }
    }

    fn token<'r>(
        &self,
        token: &Token,
        mailboxes: &[MailboxId],
        record: &impl Fn(&MailboxId) -> Result<&'r Record, Refusal>,
    ) -> Result<Admission, Refusal> {
        let period = month_of(self.now);
        if token.period != period && token.period.saturating_add(1) != period {
            return Err(Refusal::AccessDenied);
        }
        let accepted = match token.kind {
            TokenKind::Invite | TokenKind::Credit => mailboxes.len() == 1,
            TokenKind::Premium => {
                // An unregistered recipient is not known to be premium: refused.
                mailboxes.len() == 1 && record(&mailboxes[0])?.premium(self.now)
            }
            TokenKind::Sponsored => true,
        };
        if !accepted || !self.issuer.verify(token) {
            return Err(Refusal::AccessDenied);
        }
        let skip = match token.kind {
            TokenKind::Sponsored => mailboxes
                .iter()
                .filter(|m| record(m).is_ok_and(|r| r.refuses_sponsored))
                .copied()
                .collect(),
            _ => Vec::new(),
        };
        let spend = Spend {
            token: token.id(),
            recipients: recipients_hash(mailboxes),
            window: SPEND_WINDOW,
            max_uses: SPEND_USES,
            // A token is valid in its period and the next, so at most 62 days from now: the
            // record may go once that is over.
            expires_at: self.now.saturating_add(62 * 86_400),
        };
        Ok(Admission {
            spend: Some(spend),
            skip,
            denied: Vec::new(),
        })
    }
}

fn allow(ok: Choice) -> Result<Admission, Refusal> {
    if bool::from(ok) {
        Ok(Admission::default())
    } else {
        Err(Refusal::AccessDenied)
    }
}

fn recipients_hash(mailboxes: &[MailboxId]) -> [u8; 16] {
    let mut hash = Sha256::new_with_prefix(b"missive/v1/spend-recipients");
    for m in mailboxes {
        hash.update(m.0);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.finalize()[..16]);
    out
}
