//! The client's whole state at rest (PROTOCOL.md §9.6). Encrypt it before writing it anywhere:
//! it holds every secret the user has. The buffer is wiped on drop.
//!
//! Every collection is written in one order only (maps and sets sorted by key), and the strict
//! decoder re-encodes and compares, so a saved state always loads and saving a loaded state
//! gives back the same bytes. States saved by version 2, whose maps were written in a random
//! order, are read once by [`super::legacy`] and saved in this form from then on.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::conversation::{Conversation, ConversationId, FanOut};
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::identity::{Identity, PublicIdentity};
use crate::mailbox::MailboxKey;
use crate::platform::{AdvertiserCertificate, PlatformKey, Profile};
use crate::session::{PrekeyOwner, Session, older_owner_form, older_session_form};
use crate::wire::Wire;

use super::access::AccessState;
use super::account_sync::AccountSync;
use super::devices::AccountRecord;
use super::index::{Index, name_key, roster_keys, seal_keys};
use super::outbox::Queued;
use super::retry::{MAX_RETRIES, Retry};
use super::sessions::{MAX_PER_PEER, PeerSessions};
use super::{Client, Connection, Contact, legacy};

const INVALID: DecodeError = DecodeError::Invalid {
    what: "client state",
};

#[derive(Serialize, Deserialize)]
pub(super) struct ContactState {
    pub(super) user: Vec<u8>,
    pub(super) identity: PublicIdentity,
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) enum ConnectionState {
    Invited,
    InvitedUs(Option<String>),
    Connected,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SettingsState {
    pub(super) read_receipts: bool,
    pub(super) typing_indicators: bool,
    pub(super) sponsored_messages: bool,
}

/// A secret byte string of the state (a session or a conversation), wiped on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(super) struct StoredSecret(#[serde(with = "serde_bytes")] pub(super) Vec<u8>);

#[derive(Serialize, Deserialize)]
pub(super) struct ClientState {
    pub(super) user: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub(super) identity: Vec<u8>,
    pub(super) mailbox_seed: [u8; 32],
    #[serde(with = "serde_bytes")]
    pub(super) prekeys: Vec<u8>,
    pub(super) profile: Profile,
    pub(super) settings: SettingsState,
    pub(super) platform: Option<PlatformKey>,
    pub(super) advertiser: Option<AdvertiserCertificate>,
    pub(super) lead_keys: Vec<([u8; 16], [u8; 32])>,
    pub(super) contacts: BTreeMap<MailboxId, ContactState>,
    pub(super) profiles: BTreeMap<MailboxId, Profile>,
    pub(super) connections: BTreeMap<MailboxId, ConnectionState>,
    /// Each peer's sessions, the one we send with first (1 to [`MAX_PER_PEER`]).
    pub(super) sessions: BTreeMap<MailboxId, Vec<StoredSecret>>,
    /// Each conversation's state under its id.
    pub(super) conversations: BTreeMap<ConversationId, StoredSecret>,
    pub(super) direct: BTreeMap<MailboxId, ConversationId>,
    pub(super) groups: BTreeSet<ConversationId>,
    pub(super) opened: BTreeSet<ConversationId>,
    pub(super) access: AccessState,
    #[serde(with = "serde_bytes")]
    pub(super) fanout: Vec<u8>,
    pub(super) granted: BTreeSet<MailboxId>,
    pub(super) seen: Vec<EnvelopeId>,
    pub(super) pending: Vec<Vec<u8>>,
    /// Envelopes owed to recipients the relay did not reach yet (oldest first).
    pub(super) retries: Vec<Retry>,
}

impl Drop for ClientState {
    fn drop(&mut self) {
        self.identity.zeroize();
        self.mailbox_seed.zeroize();
        self.prekeys.zeroize();
        self.lead_keys.iter_mut().for_each(|(_, k)| k.zeroize());
        self.fanout.zeroize();
    }
}

/// Version 3: everything but the outbox. Read, never written whole; the core record
/// (PROTOCOL.md §9.6) is one with the per-member and per-conversation fields left empty.
impl Wire for ClientState {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 3;
}

/// The state as saved now: version 3's fields, then the outbox.
#[derive(Serialize, Deserialize)]
struct SavedState {
    core: ClientState,
    outbox: Vec<Queued>,
}

impl Wire for SavedState {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 4;
}

/// The state of a client that knows of devices (its account has several, or a contact's
/// does): version 4's, then the account record if any and the contacts' device lists. Others
/// still write version 4.
#[derive(Serialize, Deserialize)]
struct SavedDevice {
    core: ClientState,
    outbox: Vec<Queued>,
    account: Option<AccountRecord>,
    /// Each member's list, in strictly increasing member order.
    lists: Vec<(MailboxId, serde_bytes::ByteBuf)>,
}

impl Wire for SavedDevice {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 5;
}

/// Version 5's fields, then where the account's switches and contact key stand among its
/// devices: what a client that knows of devices writes once it shared either.
#[derive(Serialize, Deserialize)]
struct SavedSynced {
    core: ClientState,
    outbox: Vec<Queued>,
    account: Option<AccountRecord>,
    lists: Vec<(MailboxId, serde_bytes::ByteBuf)>,
    sync: AccountSync,
}

impl Wire for SavedSynced {
    const WHAT: &'static str = "client state";
    const VERSION: u8 = 6;
}

/// Copies a secret buffer into the state, which wipes it on drop.
fn plain(bytes: Zeroizing<Vec<u8>>) -> Vec<u8> {
    bytes.to_vec()
}

impl Client {
    /// Everything, in one buffer: the state as saved whole by version 4 (PROTOCOL.md §9.6),
    /// for export and for tests. Encrypt it; the buffer is wiped on drop. A client loaded
    /// lazily reads every record it has not loaded (and keeps none of them).
    ///
    /// # Errors
    /// The store's, reading a record not in memory.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, super::StoreError> {
        let mut core = self.state(true);
        let mut lists = self.merge_stored(&mut core)?;
        lists.extend(self.peer_devices.resident().map(|(m, l)| (*m, l.clone())));
        let outbox = self.outbox.iter().map(Queued::from_outgoing).collect();
        if self.devices.is_some() || !lists.is_empty() {
            let account = (self.devices.as_ref()).map(super::devices::AccountKeys::to_record);
            let lists = (lists.into_iter())
                .map(|(m, l)| (m, serde_bytes::ByteBuf::from(l.to_bytes())))
                .collect();
            // Version 5 while nothing was shared: a state that never used it reads as before.
            // Kept, like the account record, only by a device of an account with several.
            let sync = self.account_sync;
            if sync != AccountSync::default() && self.devices.is_some() {
                let saved = SavedSynced {
                    core,
                    outbox,
                    account,
                    lists,
                    sync,
                };
                return Ok(Zeroizing::new(saved.to_wire()));
            }
            let saved = SavedDevice {
                core,
                outbox,
                account,
                lists,
            };
            return Ok(Zeroizing::new(saved.to_wire()));
        }
        Ok(Zeroizing::new(SavedState { core, outbox }.to_wire()))
    }

    /// The state's fields; with `whole` false, only those of the core record (nothing kept
    /// per member or per conversation, no fan-out, seen ids or waiting deliveries).
    pub(super) fn state(&self, whole: bool) -> ClientState {
        let mut state = ClientState {
            user: self.user.clone(),
            identity: plain(self.identity.to_secret_bytes()),
            mailbox_seed: *self.mailbox.to_seed(),
            prekeys: plain(self.prekeys.to_bytes()),
            profile: self.profile,
            settings: SettingsState::of(&self.settings),
            platform: self.platform,
            advertiser: self.advertiser.clone(),
            lead_keys: self
                .lead_keys
                .iter()
                .map(|(id, k)| (*id, *k.to_secret_bytes()))
                .collect(),
            contacts: BTreeMap::new(),
            profiles: BTreeMap::new(),
            connections: BTreeMap::new(),
            sessions: BTreeMap::new(),
            conversations: BTreeMap::new(),
            direct: BTreeMap::new(),
            groups: BTreeSet::new(),
            opened: BTreeSet::new(),
            access: if whole {
                self.access.in_memory()
            } else {
                self.access.without_members()
            },
            fanout: Vec::new(),
            granted: BTreeSet::new(),
            seen: Vec::new(),
            pending: Vec::new(),
            retries: self.retries.clone(),
        };
        if !whole {
            return state;
        }
        // Only what is in memory: a client loaded lazily adds its stored records after.
        state.contacts = self
            .contacts
            .resident()
            .map(|(m, c)| (*m, contact_state(c)))
            .collect();
        state.profiles = self.profiles.resident().map(|(m, p)| (*m, *p)).collect();
        state.connections = self
            .connections
            .resident()
            .filter_map(|(m, c)| Some((*m, connection_state(c)?)))
            .collect();
        state.sessions = self
            .sessions
            .resident()
            .map(|(m, peer)| (*m, stored_sessions(peer)))
            .collect();
        state.conversations = self
            .conversations
            .resident()
            .map(|(id, c)| (*id, StoredSecret(plain(c.to_bytes()))))
            .collect();
        state.direct = self.direct.resident().map(|(m, c)| (*m, *c)).collect();
        state.groups = self.groups.iter().copied().collect();
        state.opened = self.opened.resident().copied().collect();
        state.fanout = plain(self.fanout.to_bytes());
        state.granted = self.granted.resident().copied().collect();
        state.seen = self.seen.in_order();
        state.pending = self.pending.iter().cloned().collect();
        state
    }

    /// Restores a client written by [`Client::to_bytes`], or by an earlier version of it.
    ///
    /// # Errors
    /// A state that does not decode, is not in its one canonical form (such as maps out of
    /// order or with a repeated key), or breaks an invariant (a peer without sessions, a
    /// conversation filed under another id).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let none = AccountSync::default();
        let version = bytes.first().copied();
        let (state, outbox, account, lists, sync) = match bytes.first() {
            Some(&legacy::VERSION) => (legacy::read(bytes)?, Vec::new(), None, Vec::new(), none),
            Some(&ClientState::VERSION) => {
                let core = ClientState::from_wire(bytes)?;
                (core, Vec::new(), None, Vec::new(), none)
            }
            Some(&SavedDevice::VERSION) => {
                let saved = SavedDevice::from_wire(bytes)?;
                (saved.core, saved.outbox, saved.account, saved.lists, none)
            }
            Some(&SavedSynced::VERSION) => {
                let s = SavedSynced::from_wire(bytes)?;
                (s.core, s.outbox, s.account, s.lists, s.sync)
            }
            _ => {
                let saved = SavedState::from_wire(bytes)?;
                (saved.core, saved.outbox, None, Vec::new(), none)
            }
        };
        // One encoding per state: the writer uses version 5 only with an account record or a
        // contact's list, and version 6 only with the record and a sync that is not all zero.
        let needless = match version {
            Some(SavedDevice::VERSION) => account.is_none() && lists.is_empty(),
            Some(SavedSynced::VERSION) => account.is_none() || sync == none,
            _ => false,
        };
        if needless || !lists.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(DecodeError::NonCanonical {
                what: "client state",
            });
        }
        let mut client = state.into_client()?;
        client.account_sync = sync;
        client.outbox = outbox.into_iter().map(Queued::into_outgoing).collect();
        if let Some(account) = &account {
            client.set_account_record(account)?;
        }
        let mut peer_devices = Vec::with_capacity(lists.len());
        for (m, list) in &lists {
            peer_devices.push((*m, crate::device::SignedDeviceList::from_bytes(list)?));
        }
        client.peer_devices = peer_devices.into_iter().collect();
        Ok(client)
    }
}

pub(super) fn contact_state(c: &Contact) -> ContactState {
    ContactState {
        user: c.user.clone(),
        identity: c.identity,
    }
}

pub(super) fn stored_sessions(peer: &PeerSessions) -> Vec<StoredSecret> {
    let all = peer.all().iter().map(|s| StoredSecret(plain(s.to_bytes())));
    all.collect()
}

impl ClientState {
    pub(super) fn into_client(self) -> Result<Client, DecodeError> {
        let s = self;
        let mut sessions = BTreeMap::new();
        for (mailbox, saved) in &s.sessions {
            sessions.insert(*mailbox, restore_sessions(saved)?);
        }
        if s.retries.len() > MAX_RETRIES {
            return Err(INVALID);
        }
        let mut conversations = BTreeMap::new();
        for (id, bytes) in &s.conversations {
            conversations.insert(*id, restore_conversation(id, bytes)?);
        }
        let mailbox = MailboxKey::from_seed(&s.mailbox_seed);
        let indexes = Indexes::build(&s, mailbox.id(), &conversations, &sessions)?;
        Ok(Client {
            user: s.user.clone(),
            identity: Identity::from_secret_bytes(&s.identity)?,
            mailbox,
            prekeys: PrekeyOwner::from_bytes(&s.prekeys)?,
            profile: s.profile,
            settings: s.settings.settings(),
            account_sync: AccountSync::default(),
            platform: s.platform,
            advertiser: s.advertiser.clone(),
            lead_keys: s
                .lead_keys
                .iter()
                .map(|(id, k)| (*id, super::lead::LeadKey::from_secret_bytes(k)))
                .collect(),
            contacts: s
                .contacts
                .iter()
                .map(|(mailbox, c)| {
                    let contact = Contact {
                        user: c.user.clone(),
                        mailbox: *mailbox,
                        identity: c.identity,
                    };
                    (*mailbox, contact)
                })
                .collect(),
            profiles: s.profiles.iter().map(|(m, p)| (*m, *p)).collect(),
            connections: s
                .connections
                .iter()
                .map(|(m, c)| (*m, connection(c)))
                .collect(),
            sessions: sessions.into_iter().collect(),
            peer_devices: super::tracked::TrackedMap::default(),
            conversations: conversations.into_iter().collect(),
            direct: s.direct.iter().map(|(m, c)| (*m, *c)).collect(),
            groups: s.groups.iter().copied().collect(),
            opened: s.opened.iter().copied().collect(),
            access: s.access.clone(),
            fanout: FanOut::from_bytes(&s.fanout)?,
            granted: s.granted.iter().copied().collect(),
            seen: s.seen.iter().copied().collect(),
            pending: s.pending.iter().cloned().collect(),
            retries: s.retries.clone(),
            outbox: super::tracked::Queue::default(),
            labels: indexes.labels,
            names: indexes.names,
            rosters: indexes.rosters,
            seals: indexes.seals,
            saved: super::at_rest::Saved::upgrading(
                older_owner_form(&s.prekeys)
                    || s.sessions
                        .values()
                        .flatten()
                        .any(|b| older_session_form(&b.0)),
            ),
            devices: None,
            links: super::devices::Links::default(),
        })
    }
}

pub(super) fn connection_state(c: &Connection) -> Option<ConnectionState> {
    match c {
        Connection::None => None,
        Connection::Invited => Some(ConnectionState::Invited),
        Connection::InvitedUs(note) => Some(ConnectionState::InvitedUs(note.clone())),
        Connection::Connected => Some(ConnectionState::Connected),
    }
}

/// The four indexes of a state loaded whole, built from it (as stored already: nothing to
/// write, unless the state is saved whole, when everything is).
struct Indexes {
    labels: Index<ConversationId>,
    names: Index<MailboxId>,
    rosters: Index<ConversationId>,
    seals: Index<MailboxId>,
}

impl Indexes {
    fn build(
        s: &ClientState,
        me: &MailboxId,
        conversations: &BTreeMap<ConversationId, Conversation>,
        sessions: &BTreeMap<MailboxId, PeerSessions>,
    ) -> Result<Self, DecodeError> {
        // A complete index reads no bucket from anywhere.
        let none = &mut |_| Ok(None);
        let mut indexes = Self {
            labels: Index::default(),
            names: Index::default(),
            rosters: Index::default(),
            seals: Index::default(),
        };
        for (id, c) in conversations {
            let labels = c.indexed_labels();
            indexes.labels.set(*id, labels, none).map_err(|_| INVALID)?;
            let roster = roster_keys(me, s.groups.contains(id), c);
            let none = &mut |_| Ok(None);
            indexes
                .rosters
                .set(*id, roster, none)
                .map_err(|_| INVALID)?;
        }
        for (m, c) in &s.contacts {
            let none = &mut |_| Ok(None);
            let name = vec![name_key(&c.user)];
            indexes.names.set(*m, name, none).map_err(|_| INVALID)?;
        }
        for (m, peer) in sessions {
            let none = &mut |_| Ok(None);
            let keys = seal_keys(peer);
            indexes.seals.set(*m, keys, none).map_err(|_| INVALID)?;
        }
        indexes.labels.take_touched();
        indexes.names.take_touched();
        indexes.rosters.take_touched();
        indexes.seals.take_touched();
        Ok(indexes)
    }
}

/// One peer's sessions as saved: 1 to [`MAX_PER_PEER`], the one we send with first.
pub(super) fn restore_sessions(saved: &[StoredSecret]) -> Result<PeerSessions, DecodeError> {
    if saved.is_empty() || saved.len() > MAX_PER_PEER {
        return Err(INVALID);
    }
    let mut peer = PeerSessions::default();
    for bytes in saved {
        peer.push_back(Session::from_bytes(&bytes.0)?);
    }
    Ok(peer)
}

/// A conversation as saved, which must be the one filed under `id`.
pub(super) fn restore_conversation(
    id: &ConversationId,
    saved: &StoredSecret,
) -> Result<Conversation, DecodeError> {
    let c = Conversation::from_bytes(&saved.0)?;
    if c.id() != *id {
        return Err(INVALID);
    }
    Ok(c)
}

pub(super) fn connection(c: &ConnectionState) -> Connection {
    match c {
        ConnectionState::Invited => Connection::Invited,
        ConnectionState::InvitedUs(note) => Connection::InvitedUs(note.clone()),
        ConnectionState::Connected => Connection::Connected,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::error::DecodeError;
    use crate::relay_api::PrekeyResponse;

    /// A client with sessions to `n` contacts.
    fn with_contacts(n: usize) -> Client {
        let mut rng = rand::rng();
        let mut me = Client::new(&mut rng, b"me");
        for i in 0..n {
            let mut peer = Client::new(&mut rng, format!("peer{i}").as_bytes());
            let published = crate::client::unsaved::saved(peer.publish(&mut rng, 1));
            let response = PrekeyResponse {
                mailbox: *peer.mailbox_id(),
                bundle: published.bundle,
                one_time: published.one_time.into_iter().next(),
            };
            me.add_contact(&mut rng, peer.user(), &response).unwrap();
        }
        me
    }

    /// The encoding of one entry of the contacts map.
    fn entry(client: &Client, mailbox: &MailboxId) -> Vec<u8> {
        let c = client.contact(mailbox).unwrap().unwrap();
        let state = ContactState {
            user: c.user.clone(),
            identity: c.identity,
        };
        let mut out = mailbox.0.to_vec();
        crate::wire::encode_into(&state, &mut out);
        out
    }

    fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
        let at = haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        [&haystack[..at], with, &haystack[at + needle.len()..]].concat()
    }

    #[test]
    fn contacts_out_of_order_or_repeated_are_refused() {
        let client = with_contacts(2);
        let bytes = client.to_bytes().unwrap();
        let ids: Vec<MailboxId> = client.contacts.keys().copied().collect();
        let (a, b) = (entry(&client, &ids[0]), entry(&client, &ids[1]));
        let sorted = [a.clone(), b.clone()].concat();
        let swapped = replace(&bytes, &sorted, &[b, a.clone()].concat());
        let repeated = replace(&bytes, &sorted, &[a.clone(), a].concat());
        let non_canonical = Err(DecodeError::NonCanonical {
            what: "client state",
        });
        assert_eq!(Client::from_bytes(&swapped).map(|_| ()), non_canonical);
        assert_eq!(Client::from_bytes(&repeated).map(|_| ()), non_canonical);
        assert!(Client::from_bytes(&bytes).is_ok());
    }

    /// The state's fields without the outbox; `to_wire` gives them back as version 3, which
    /// loads through the same checks.
    fn core_of(client: &Client) -> ClientState {
        let saved: SavedState =
            crate::wire::decode_body(&client.to_bytes().unwrap()[1..], "test").unwrap();
        saved.core
    }

    #[test]
    fn a_peer_without_sessions_or_with_too_many_is_refused() {
        let client = with_contacts(1);
        let mut state = core_of(&client);
        let (mailbox, sessions) = state.sessions.pop_first().unwrap();
        let session = sessions[0].0.clone();
        state.sessions.insert(mailbox, Vec::new());
        assert_eq!(Client::from_bytes(&state.to_wire()).err(), Some(INVALID));
        let five = (0..=MAX_PER_PEER).map(|_| StoredSecret(session.clone()));
        state.sessions.insert(mailbox, five.collect());
        assert_eq!(Client::from_bytes(&state.to_wire()).err(), Some(INVALID));
        let four = (0..MAX_PER_PEER).map(|_| StoredSecret(session.clone()));
        state.sessions.insert(mailbox, four.collect());
        assert!(Client::from_bytes(&state.to_wire()).is_ok());
        state.sessions.insert(mailbox, vec![StoredSecret(session)]);
        assert!(Client::from_bytes(&state.to_wire()).is_ok());
    }

    #[test]
    fn at_most_the_kept_number_of_resends_loads() {
        let client = with_contacts(0);
        let mut state = core_of(&client);
        state.retries = (0..MAX_RETRIES)
            .map(|i| Retry::sample(u8::try_from(i).unwrap()))
            .collect();
        let loaded = Client::from_bytes(&state.to_wire()).unwrap();
        assert_eq!(loaded.pending_resends(), MAX_RETRIES);
        state.retries.push(Retry::sample(u8::MAX));
        assert_eq!(Client::from_bytes(&state.to_wire()).err(), Some(INVALID));
    }

    /// A sync that is not all zero: 37 bytes, the clock first.
    const SYNC_SET: [u8; 37] = {
        let mut sync = [0u8; 37];
        sync[0] = 1;
        sync
    };

    /// `state` written as `version`, followed by `tail`.
    fn as_version(state: &[u8], version: u8, tail: &[u8]) -> Vec<u8> {
        [&[version][..], &state[1..], tail].concat()
    }

    #[test]
    fn a_version_written_without_what_it_adds_is_refused() {
        let non_canonical = Some(DecodeError::NonCanonical {
            what: "client state",
        });
        let load = |bytes: &[u8]| Client::from_bytes(bytes).err();
        // A single device that knows of none: version 4; as version 5 or 6 with no account
        // record and no list, it is another encoding of the same state.
        let alone = with_contacts(0).to_bytes().unwrap();
        assert_eq!(alone[0], 4);
        assert_eq!(load(&as_version(&alone, 5, &[0, 0])), non_canonical);
        let synced = [&[0, 0][..], &SYNC_SET].concat();
        assert_eq!(load(&as_version(&alone, 6, &synced)), non_canonical);
        // A device of an account with two: version 5 until it shares, version 6 after; a
        // version 6 whose sync is all zero is version 5 written otherwise.
        let rng = &mut rand::rng();
        let (mut phone, mut laptop) = (Client::new(rng, b"ana"), Client::new(rng, b"ana"));
        let code = phone.link_code(rng, 0).unwrap();
        let answer = crate::client::unsaved::saved(laptop.answer_link(rng, &code, 0));
        for d in crate::envelope::split(&answer.envelope).unwrap() {
            phone.receive(&d.to_bytes(), 0).unwrap();
        }
        crate::client::unsaved::saved(phone.link_device(rng, 0));
        let linked = phone.to_bytes().unwrap();
        assert_eq!(linked[0], 5);
        assert!(Client::from_bytes(&linked).is_ok());
        assert_eq!(load(&as_version(&linked, 6, &[0; 37])), non_canonical);
        let shared = Client::from_bytes(&as_version(&linked, 6, &SYNC_SET)).unwrap();
        assert_eq!(
            *shared.to_bytes().unwrap(),
            as_version(&linked, 6, &SYNC_SET)
        );
    }

    #[test]
    fn contacts_device_lists_load_only_in_increasing_member_order() {
        let rng = &mut rand::rng();
        let client = with_contacts(0);
        let mut list = |m: u8| {
            let id = Identity::generate(rng);
            let signed = crate::device::DeviceList::first(MailboxId([m; 16]), *id.public());
            let bytes = signed.sign(&id).to_bytes();
            (MailboxId([m; 16]), serde_bytes::ByteBuf::from(bytes))
        };
        let (a, b) = (list(1), list(2));
        let saved = |lists| {
            let core = core_of(&client);
            let outbox = Vec::new();
            SavedDevice {
                core,
                outbox,
                account: None,
                lists,
            }
            .to_wire()
        };
        let loaded = Client::from_bytes(&saved(vec![a.clone(), b.clone()])).unwrap();
        assert_eq!(loaded.peer_devices.resident().count(), 2);
        let non_canonical = Some(DecodeError::NonCanonical {
            what: "client state",
        });
        let load = |lists| Client::from_bytes(&saved(lists)).err();
        assert_eq!(load(vec![b, a.clone()]), non_canonical);
        assert_eq!(load(vec![a.clone(), a]), non_canonical);
    }

    #[test]
    fn a_conversation_filed_under_another_id_is_refused() {
        let mut rng = rand::rng();
        let mut client = Client::new(&mut rng, b"me");
        let fan = client.fanout.grant(&mut rng, MailboxId([9; 16])).unwrap();
        drop(fan);
        let (conversation, _) = client
            .fanout
            .send_first(&mut rng, &[MailboxId([9; 16])], b"hi", 0)
            .unwrap();
        client.conversations.insert(conversation.id(), conversation);
        let mut state = core_of(&client);
        assert!(Client::from_bytes(&state.to_wire()).is_ok());
        let (_, saved) = state.conversations.pop_first().unwrap();
        state.conversations.insert(ConversationId([0; 16]), saved);
        assert_eq!(Client::from_bytes(&state.to_wire()).err(), Some(INVALID));
    }
}
