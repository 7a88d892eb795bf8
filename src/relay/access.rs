//! Who may deliver to a mailbox (PROTOCOL.md §11.3): each mailbox's registered access keys and
//! switches, and the check of a submission's credential against them. The check never needs
//! to know the sender: it asks only whether the credential is one the recipients handed out,
//! or a valid unspent token of a kind they accept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use subtle::{Choice, ConstantTimeEq};

use super::ratelimit::RateLimiter;
use super::refusal::Refusal;
use super::store::{MailboxId, RelayStore, Spend};
use crate::access::{AccessKey, AccessUpdate, Credential, MAX_KEYS, MemberToken};
use crate::platform::{PlatformKey, month_of};
use crate::token::{Issuer, Token, TokenKind, spend_account, spend_recipients};
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
    /// Removed from its account's devices (kept apart from the wire fields, see [`Revoked`]).
    #[serde(skip)]
    revoked: bool,
}

impl Wire for Record {
    const WHAT: &'static str = "mailbox access record";
    const VERSION: u8 = 1;
}

/// The record of a mailbox its account removed from its devices (PROTOCOL.md §12.5): nothing
/// is delivered to it, whatever the credential, and it registers nothing again. Written as
/// version 2, a version 1 record with a flag after it; every other record stays version 1.
#[derive(Serialize, Deserialize)]
struct Revoked {
    record: Record,
    revoked: bool,
}

impl Wire for Revoked {
    const WHAT: &'static str = "mailbox access record";
    const VERSION: u8 = 2;
}

impl Record {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        if self.revoked {
            return Revoked {
                record: self.clone(),
                revoked: true,
            }
            .to_wire();
        }
        self.to_wire()
    }

    fn decode(bytes: &[u8]) -> Result<Self, crate::error::DecodeError> {
        if bytes.first() == Some(&Revoked::VERSION) {
            let r = Revoked::from_wire(bytes)?;
            // Version 2 is only ever written revoked: one record, one encoding.
            if !r.revoked {
                return Err(crate::error::DecodeError::Invalid {
                    what: Revoked::WHAT,
                });
            }
            return Ok(Self {
                revoked: r.revoked,
                ..r.record
            });
        }
        Self::from_wire(bytes)
    }

    /// A revoked mailbox's record.
    fn revoked() -> Self {
        Self {
            refuses_sponsored: true,
            revoked: true,
            ..Self::default()
        }
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
        if self.revoked {
            return Err(Refusal::Forbidden);
        }
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

/// How long a change to a mailbox whose record is not cached is remembered: longer than any
/// read of the store takes (3 s at most before it fails).
const RECENT: Duration = Duration::from_secs(60);

/// The access records this relay has needed lately: a bounded cache in front of the store,
/// which holds every mailbox's. A record is read from the store when a submission first names
/// its mailbox (see [`AccessBook::missing`] and [`AccessBook::fill`]), kept current by this
/// relay's own updates and by the changes other relays write, and dropped when unused for a
/// while. Memory stays bounded however many mailboxes the network has.
#[derive(Debug)]
pub(crate) struct AccessBook {
    cache: Mutex<Cache>,
    /// Records kept at most (about).
    capacity: usize,
}

/// A cached entry: the record, or `None` when the mailbox has none (so a submission to an
/// unregistered mailbox does not read the store every time).
type Entry = Option<Arc<Record>>;

#[derive(Debug, Default)]
struct Cache {
    /// Entries used since `cold` was last replaced: when `hot` is half the capacity it
    /// becomes `cold` and the old `cold` goes (an entry used in between moves back to `hot`).
    hot: HashMap<MailboxId, Entry>,
    cold: HashMap<MailboxId, Entry>,
    /// Changes applied so far.
    changes: u64,
    /// Mailboxes changed while not cached, with the count at the change: a read of the store
    /// begun before then may have read the record from before it, and must not be cached.
    recent: HashMap<MailboxId, (u64, Instant)>,
}

impl Cache {
    fn get(&mut self, mailbox: &MailboxId, capacity: usize) -> Option<Entry> {
        if let Some(entry) = self.hot.get(mailbox) {
            return Some(entry.clone());
        }
        let entry = self.cold.remove(mailbox)?;
        self.insert(*mailbox, entry.clone(), capacity);
        Some(entry)
    }

    fn insert(&mut self, mailbox: MailboxId, entry: Entry, capacity: usize) {
        if self.hot.len() >= (capacity / 2).max(1) {
            self.cold = std::mem::take(&mut self.hot);
        }
        self.cold.remove(&mailbox);
        self.hot.insert(mailbox, entry);
    }

    fn cached(&mut self, mailbox: &MailboxId) -> Option<&mut Entry> {
        match self.hot.get_mut(mailbox) {
            Some(entry) => Some(entry),
            None => self.cold.get_mut(mailbox),
        }
    }
}

impl AccessBook {
    /// An empty book keeping about `capacity` records.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cache: Mutex::default(),
            capacity: capacity.max(2),
        }
    }

    /// Those of `mailboxes` whose records are not cached, and where the changes stand: pass
    /// both to [`AccessBook::fill`] with what the store holds for them.
    pub(crate) fn missing(&self, mailboxes: &[MailboxId]) -> (Vec<MailboxId>, u64) {
        let mut cache = self.lock();
        let missing = mailboxes
            .iter()
            .filter(|m| cache.cached(m).is_none())
            .copied()
            .collect();
        (missing, cache.changes)
    }

    /// Caches what the store held for `asked` (read after [`AccessBook::missing`] returned
    /// `since`), except for mailboxes cached or changed since: what was read for those may be
    /// older than what this relay knows. Returns how many it left out.
    pub(crate) fn fill(
        &self,
        asked: &[MailboxId],
        found: Vec<(MailboxId, Vec<u8>)>,
        since: u64,
    ) -> usize {
        let mut found: HashMap<MailboxId, Vec<u8>> = found.into_iter().collect();
        let mut cache = self.lock();
        let mut left = 0;
        for mailbox in asked {
            let changed = cache.recent.get(mailbox).is_some_and(|(at, _)| *at > since);
            if changed || cache.cached(mailbox).is_some() {
                left += usize::from(changed);
                continue;
            }
            let entry = found.remove(mailbox).and_then(|bytes| decoded(&bytes));
            cache.insert(*mailbox, entry, self.capacity);
        }
        left
    }

    /// The cached records of `mailboxes` (those with none, or not cached, are left out).
    fn records(&self, mailboxes: &[MailboxId]) -> HashMap<MailboxId, Arc<Record>> {
        let mut cache = self.lock();
        mailboxes
            .iter()
            .filter_map(|m| Some((*m, cache.get(m, self.capacity)??)))
            .collect()
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
            // A stored record that does not decode is replaced.
            let record = current
                .and_then(|bytes| Record::decode(bytes).ok())
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
            self.change(vec![(*mailbox, bytes)], true);
        }
        Ok(())
    }

    /// Revokes `mailbox` (its account removed the device): from now on nothing is delivered to
    /// it and it registers nothing, on every relay that reads the store.
    pub(crate) fn revoke(
        &self,
        mailbox: &MailboxId,
        store: &dyn RelayStore,
    ) -> Result<(), Refusal> {
        let bytes = Record::revoked().to_bytes();
        store.change_access(mailbox, &mut |_| Some(bytes.clone()))?;
        self.change(vec![(*mailbox, bytes)], true);
        Ok(())
    }

    /// Takes records written through other relays (or again through this one): cached ones
    /// are replaced, the others are read from the store when next needed.
    pub(crate) fn apply(&self, changed: Vec<(MailboxId, Vec<u8>)>) {
        self.change(changed, false);
    }

    fn change(&self, changed: Vec<(MailboxId, Vec<u8>)>, cache_new: bool) {
        if changed.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.lock();
        cache
            .recent
            .retain(|_, (_, at)| now.duration_since(*at) < RECENT);
        for (mailbox, bytes) in changed {
            let entry = decoded(&bytes);
            cache.changes += 1;
            let at = cache.changes;
            match cache.cached(&mailbox) {
                Some(cached) => *cached = entry,
                None if cache_new => cache.insert(mailbox, entry, self.capacity),
                None => {
                    cache.recent.insert(mailbox, (at, now));
                }
            }
        }
    }

    /// The contact key cached for `mailbox`.
    #[cfg(test)]
    pub(crate) fn contact(&self, mailbox: &MailboxId) -> Option<AccessKey> {
        self.records(&[*mailbox])
            .get(mailbox)
            .and_then(|r| r.contact.clone())
    }

    /// Records cached now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let cache = self.lock();
        cache.hot.len() + cache.cold.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stored record holding only `contact`.
#[cfg(test)]
pub(crate) fn record_with_contact(contact: [u8; 16]) -> Vec<u8> {
    Record {
        contact: Some(AccessKey::from_bytes(contact)),
        ..Record::default()
    }
    .to_bytes()
}

/// A stored record; one that does not decode counts as none (and is logged): its mailbox
/// registers again.
fn decoded(bytes: &[u8]) -> Entry {
    match Record::decode(bytes) {
        Ok(record) => Some(Arc::new(record)),
        Err(e) => {
            tracing::error!(error = %e, "stored access record does not decode");
            None
        }
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
    /// For a [`Credential::Member`], the mailboxes the named account's stored device list
    /// names (its own entry's alone while it has no list); empty otherwise.
    pub(crate) listed: &'a [MailboxId],
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
        // A member token's account may be premium through any of its devices.
        let both;
        let asked = if self.listed.is_empty() {
            mailboxes
        } else {
            both = [mailboxes, self.listed].concat();
            &both
        };
        let records = self.book.records(asked);
        let record = |m: &MailboxId| {
            (records.get(m).map(|r| &**r))
                .filter(|r| !r.revoked)
                .ok_or(Refusal::AccessDenied)
        };
        // Whatever the credential, a revoked mailbox gets nothing.
        if !matches!(credential, Credential::Keys(_))
            && mailboxes
                .iter()
                .any(|m| records.get(m).is_some_and(|r| r.revoked))
        {
            return Err(Refusal::AccessDenied);
        }
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
            Credential::Member(paid) if !ephemeral => self.member(paid, mailboxes, &record),
            Credential::Token(_) | Credential::Member(_) => Err(Refusal::AccessDenied),
        }
    }

    /// A token paying for every device of one account: each recipient is a device the
    /// account lists, and every envelope it pays for counts against the account.
    fn member<'r>(
        &self,
        paid: &MemberToken,
        mailboxes: &[MailboxId],
        record: &impl Fn(&MailboxId) -> Result<&'r Record, Refusal>,
    ) -> Result<Admission, Refusal> {
        let token = &paid.token;
        let accepted = mailboxes.iter().all(|m| self.listed.contains(m))
            && match token.kind {
                TokenKind::Invite | TokenKind::Credit => true,
                // The account is premium when a device of it shows a premium certificate.
                TokenKind::Premium => {
                    (self.listed.iter()).any(|m| record(m).is_ok_and(|r| r.premium(self.now)))
                }
                TokenKind::Sponsored => false,
            };
        if !accepted || !self.valid(token) {
            return Err(Refusal::AccessDenied);
        }
        let devices = u32::try_from(self.listed.len()).unwrap_or(u32::MAX);
        Ok(Admission {
            spend: Some(Spend {
                recipients: spend_account(&paid.user),
                max_uses: SPEND_USES.saturating_mul(devices),
                ..self.spend(token)
            }),
            ..Admission::default()
        })
    }

    /// Whether `token` is of this period or the last and genuine.
    fn valid(&self, token: &Token) -> bool {
        let period = month_of(self.now);
        (token.period == period || token.period.saturating_add(1) == period)
            && self.issuer.verify(token)
    }

    /// The record of spending `token` on one recipient list.
    fn spend(&self, token: &Token) -> Spend {
        Spend {
            token: token.id(),
            recipients: [0; 16],
            window: SPEND_WINDOW,
            max_uses: SPEND_USES,
            // A token is valid in its period and the next, so at most 62 days from now: the
            // record may go once that is over.
            expires_at: self.now.saturating_add(62 * 86_400),
        }
    }

    fn token<'r>(
        &self,
        token: &Token,
        mailboxes: &[MailboxId],
        record: &impl Fn(&MailboxId) -> Result<&'r Record, Refusal>,
    ) -> Result<Admission, Refusal> {
        let accepted = match token.kind {
            TokenKind::Invite | TokenKind::Credit => mailboxes.len() == 1,
            TokenKind::Premium => {
                // An unregistered recipient is not known to be premium: refused.
                mailboxes.len() == 1 && record(&mailboxes[0])?.premium(self.now)
            }
            TokenKind::Sponsored => true,
        };
        if !accepted || !self.valid(token) {
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
            recipients: spend_recipients(mailboxes),
            ..self.spend(token)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn mailbox(i: u16) -> MailboxId {
        let mut id = [0u8; 16];
        id[..2].copy_from_slice(&i.to_be_bytes());
        MailboxId(id)
    }

    fn record(contact: u8) -> Vec<u8> {
        Record {
            contact: Some(AccessKey::from_bytes([contact; 16])),
            ..Record::default()
        }
        .to_bytes()
    }

    fn contact(book: &AccessBook, m: MailboxId) -> Option<AccessKey> {
        book.records(&[m]).get(&m).and_then(|r| r.contact.clone())
    }

    /// What a relay does before a check: read what is missing, cache it.
    fn read(book: &AccessBook, m: MailboxId, stored: Option<Vec<u8>>) -> usize {
        let (missing, since) = book.missing(&[m]);
        let found = stored.map(|r| vec![(m, r)]).unwrap_or_default();
        book.fill(&missing, found, since)
    }

    #[test]
    fn a_revoked_mailbox_gets_nothing_and_registers_nothing() {
        let m = mailbox(3);
        let key = AccessKey::from_bytes([5; 16]);
        let registered = Record {
            contact: Some(key.clone()),
            keys: vec![key.clone()],
            open_profile: true,
            premium_until: u64::MAX,
            ..Record::default()
        };
        let revoked = Record {
            revoked: true,
            ..registered.clone()
        };
        // Written as version 2 (version 1 with a flag), read back as it was; others stay 1.
        assert_eq!(registered.to_bytes()[0], 1);
        assert_eq!(revoked.to_bytes()[0], 2);
        assert!(Record::decode(&revoked.to_bytes()).unwrap().revoked);
        assert!(!Record::decode(&registered.to_bytes()).unwrap().revoked);
        let unrevoked = Revoked {
            record: registered.clone(),
            revoked: false,
        };
        assert!(Record::decode(&unrevoked.to_wire()).is_err());
        let update = AccessUpdate {
            contact: Some(key.clone()),
            add: Vec::new(),
            remove: Vec::new(),
            settings: None,
        };
        assert!(registered.updated(&m, &update, None, 0).is_ok());
        assert!(matches!(
            revoked.updated(&m, &update, None, 0),
            Err(Refusal::Forbidden)
        ));
        let issuer = Issuer::generate(&mut rand::rng());
        let open = RateLimiter::new(1, 10);
        for (record, allowed) in [(&registered, true), (&revoked, false)] {
            let book = AccessBook::new(10);
            read(&book, m, Some(record.to_bytes()));
            let checker = Checker {
                book: &book,
                issuer: &issuer,
                open: &open,
                listed: &[],
                now: 0,
            };
            let contacts = checker.check(&Credential::Contacts(key.clone()), &[m], false);
            assert_eq!(contacts.is_ok(), allowed);
            let open_profile = checker.check(&Credential::Open, &[m], false);
            assert_eq!(open_profile.is_ok(), allowed);
            let keys = checker.check(&Credential::Keys(vec![vec![key.clone()]]), &[m], false);
            assert_eq!(keys.is_ok(), allowed);
        }
    }

    fn tokens(issuer: &Issuer, kind: TokenKind, period: u32, count: usize) -> Vec<Token> {
        let mut rng = rand::rng();
        let (pending, request) =
            crate::token::request_tokens(&mut rng, kind, period, count).unwrap();
        let response = issuer.issue(&mut rng, &request).unwrap();
        let key = issuer.public_key(kind, period).unwrap();
        pending.finish(&response, &key).unwrap()
    }

    #[test]
    fn a_member_token_pays_for_the_devices_its_account_lists_and_counts_against_the_account() {
        let now = 1_800_000_000;
        let period = month_of(now);
        let issuer = Issuer::generate(&mut rand::rng());
        let open = RateLimiter::new(1, 10);
        let book = AccessBook::new(10);
        let (phone, laptop, stranger) = (mailbox(1), mailbox(2), mailbox(3));
        let premium = Record {
            premium_until: now + 1,
            ..Record::default()
        };
        let revoked = Record {
            revoked: true,
            ..Record::default()
        };
        read(&book, phone, Some(record(1)));
        read(&book, laptop, Some(premium.to_bytes()));
        read(&book, stranger, Some(revoked.to_bytes()));
        let listed = [phone, laptop];
        let checker = Checker {
            book: &book,
            issuer: &issuer,
            open: &open,
            listed: &listed,
            now,
        };
        let paid = |token: &Token, user: &[u8]| {
            Credential::Member(MemberToken {
                token: token.clone(),
                user: user.to_vec(),
            })
        };
        for kind in [TokenKind::Invite, TokenKind::Credit, TokenKind::Premium] {
            let token = &tokens(&issuer, kind, period, 1)[0];
            // One envelope to both devices, or one to each: the same account.
            for to in [&listed[..], &[phone], &[laptop]] {
                let admitted = checker.check(&paid(token, b"alice"), to, false).unwrap();
                let spend = admitted.spend.unwrap();
                assert_eq!(spend.token, token.id());
                assert_eq!(spend.recipients, spend_account(b"alice"));
                assert_ne!(spend.recipients, spend_account(b"alicf"));
                assert_eq!(spend.max_uses, 2 * SPEND_USES);
                assert_eq!(spend.window, SPEND_WINDOW);
                assert_eq!(spend.expires_at, now + 62 * 86_400);
                assert!(admitted.skip.is_empty() && admitted.denied.is_empty());
            }
            // A mailbox the account does not list, a revoked one, or a submission that is
            // never stored: refused.
            for to in [&[stranger][..], &[phone, stranger], &[mailbox(4)]] {
                assert!(checker.check(&paid(token, b"alice"), to, false).is_err());
            }
            assert!(
                checker
                    .check(&paid(token, b"alice"), &[phone], true)
                    .is_err()
            );
        }
        // A premium token needs a premium device on the account: here, the laptop.
        let premium_token = &tokens(&issuer, TokenKind::Premium, period, 1)[0];
        let phone_only = Checker {
            listed: &[phone],
            ..checker
        };
        assert!((phone_only.check(&paid(premium_token, b"alice"), &[phone], false)).is_err());
        let credit = &tokens(&issuer, TokenKind::Credit, period, 1)[0];
        let spend = (phone_only.check(&paid(credit, b"alice"), &[phone], false))
            .unwrap()
            .spend
            .unwrap();
        assert_eq!(spend.max_uses, SPEND_USES);
        // A token for one mailbox is recorded against that mailbox, not the account.
        let single = (phone_only.check(&Credential::Token(credit.clone()), &[phone], false))
            .unwrap()
            .spend
            .unwrap();
        assert_eq!(single.recipients, spend_recipients(&[phone]));
        assert_ne!(single.recipients, spend_recipients(&[laptop]));
        assert_eq!(single.max_uses, SPEND_USES);
        // Sponsored tokens pay per envelope, never per account.
        let sponsored = &tokens(&issuer, TokenKind::Sponsored, period, 1)[0];
        assert!(
            checker
                .check(&paid(sponsored, b"alice"), &[phone], false)
                .is_err()
        );
        // A token of the month before is good; two months back, or forged, is not.
        let last = &tokens(&issuer, TokenKind::Credit, period - 1, 1)[0];
        assert!(
            checker
                .check(&paid(last, b"alice"), &[phone], false)
                .is_ok()
        );
        let old = &tokens(&issuer, TokenKind::Credit, period - 2, 1)[0];
        assert!(
            checker
                .check(&paid(old, b"alice"), &[phone], false)
                .is_err()
        );
        let other = Issuer::generate(&mut rand::rng());
        let forged = &tokens(&other, TokenKind::Credit, period, 1)[0];
        assert!(
            checker
                .check(&paid(forged, b"alice"), &[phone], false)
                .is_err()
        );
    }

    #[test]
    fn records_are_read_when_first_needed_and_the_cache_stays_bounded() {
        let book = AccessBook::new(10);
        let first = mailbox(0);
        assert_eq!(book.missing(&[first]).0, [first]);
        read(&book, first, Some(record(1)));
        assert!(book.missing(&[first]).0.is_empty());
        for i in 1..100 {
            read(&book, mailbox(i), Some(record(2)));
            // The first mailbox is used all along: it stays.
            assert_eq!(contact(&book, first), Some(AccessKey::from_bytes([1; 16])));
            assert!(book.len() <= 10, "{} cached", book.len());
        }
        // One used long ago is gone, and read again when needed.
        assert_eq!(book.missing(&[mailbox(1)]).0, [mailbox(1)]);
        assert!(book.missing(&[first, mailbox(99)]).0.is_empty());
        // Up to its capacity, everything read stays.
        let book = AccessBook::new(10);
        let ten: Vec<MailboxId> = (0..10).map(mailbox).collect();
        for m in &ten {
            read(&book, *m, Some(record(2)));
        }
        assert!(
            book.missing(&ten).0.is_empty(),
            "{} of 10 cached",
            book.len()
        );
    }

    #[test]
    fn a_mailbox_without_a_record_is_remembered_until_it_registers() {
        let book = AccessBook::new(10);
        let m = mailbox(7);
        read(&book, m, None);
        assert!(book.missing(&[m]).0.is_empty(), "not read again");
        assert!(book.records(&[m]).is_empty());
        // Registered through another relay: the change reaches the cached absence.
        book.apply(vec![(m, record(3))]);
        assert_eq!(contact(&book, m), Some(AccessKey::from_bytes([3; 16])));
        // And a change that does not decode counts as no record.
        book.apply(vec![(m, vec![0xff])]);
        assert!(book.records(&[m]).is_empty());
    }

    #[test]
    fn a_read_begun_before_a_change_does_not_cache_what_it_read() {
        let book = AccessBook::new(10);
        let m = mailbox(1);
        let (missing, since) = book.missing(&[m]);
        // The record changes (through another relay) while the store is read...
        book.apply(vec![(m, record(9))]);
        // ...and other changes follow...
        book.apply(vec![(mailbox(3), record(1))]);
        // ...so what the read found, which may be older, is not cached.
        assert_eq!(book.fill(&missing, vec![(m, record(8))], since), 1);
        assert_eq!(book.missing(&[m]).0, [m]);
        // Read again after the change: cached.
        assert_eq!(read(&book, m, Some(record(9))), 0);
        assert_eq!(contact(&book, m), Some(AccessKey::from_bytes([9; 16])));
        // A change read before a fill of another mailbox does not hold that one up.
        let other = mailbox(2);
        assert_eq!(read(&book, other, Some(record(4))), 0);
    }

    #[test]
    fn a_cached_record_is_not_replaced_by_a_read_and_this_relays_own_update_is_cached() {
        let book = AccessBook::new(10);
        let m = mailbox(1);
        let (missing, since) = book.missing(&[m]);
        // This relay writes the record while another request reads it from the store.
        book.change(vec![(m, record(5))], true);
        assert_eq!(
            book.fill(&missing, vec![(m, record(4))], since),
            0,
            "cached: none left"
        );
        assert_eq!(contact(&book, m), Some(AccessKey::from_bytes([5; 16])));
        // Another relay's change to an uncached mailbox is not cached by itself.
        book.apply(vec![(mailbox(2), record(6))]);
        assert_eq!(book.missing(&[mailbox(2)]).0, [mailbox(2)]);
    }
}
