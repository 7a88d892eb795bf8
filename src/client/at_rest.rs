//! Which record holds what (PROTOCOL.md §9.6), and saving only the records a step changed.
//!
//! | record | holds |
//! |---|---|
//! | `Core` | the version-3 state with every per-member and per-conversation field empty |
//! | `FanOut` | the fan-out state |
//! | `Peer(m)` | what we know of member `m`: contact, profile, connection, direct conversation, grant, their contact key, whether they hold ours |
//! | `Sessions(m)` | our sessions with `m` |
//! | `Conversation(c)` | conversation `c`'s state, whether it is a group, opened, its access |
//! | `Seen(i)` | chunk `i` of the seen envelope ids |
//! | `Pending(n)`, `Outbox(n)` | one waiting delivery, one queued submission |
//! | `Labels(b)`, `Names(b)`, `Rosters(b)`, `Seals(b)` | bucket `b` of the labels, names, rosters and seals indexes |
//! | `Catalog` | the groups, the conversations with group access, the waiting and queued numbers |
//!
//! A client loaded from a store that hands out a reader holds at start only what every step
//! needs (`Core`, `FanOut`, `Catalog`, `Seen`, `Pending`, `Outbox`), and loads a member's,
//! a conversation's or an index bucket's record when a step first needs it, keeping at most
//! [`CACHE`] of each kind that are as stored.

use std::collections::{BTreeMap, BTreeSet};

use rand::CryptoRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::session::older_session_form;

use super::access::GroupAccess;
use super::account_sync::AccountSync;
use super::devices::AccountRecord;
use super::index::{Bucket, Index, Key, bucket_of, member_key, name_key, roster_keys, seal_keys};
use super::outbox::Queued;
use super::records::{Directory, Record, decode, encode};
use super::seen::{CHUNKS, Seen};
use super::state::{
    ClientState, ConnectionState, ContactState, StoredSecret, connection, connection_state,
    contact_state, restore_conversation, restore_sessions, stored_sessions,
};
use super::store::{ClientStore, RecordReader, StoreError};
use super::tracked::{Queue, TrackedMap, TrackedSet};
use super::{Client, Contact};
use crate::access::AccessKey;
use crate::conversation::{Conversation, ConversationId};
use crate::device::SignedDeviceList;
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::error::Error;
use crate::platform::Profile;
use crate::wire::Wire;

/// Records of each kind (members, sessions, conversations, each index's buckets) a lazily loaded
/// client keeps in memory as stored; beyond it, they are dropped after a save.
pub(super) const CACHE: usize = 1024;

/// What the store holds, as this client last saved or loaded it.
#[derive(Default)]
pub(super) struct Saved {
    directory: Option<Directory>,
    /// Reads the records not in memory: `None` when all are.
    source: Option<Box<dyn RecordReader>>,
    /// The conversations with group access as last saved: known without loading them.
    access_ids: BTreeSet<ConversationId>,
    /// Digests of the records written whole at every save when they change.
    digests: BTreeMap<Record, [u8; 32]>,
    /// The waiting deliveries and outbox entries stored.
    queued: BTreeSet<Record>,
    /// A save failed part way: write everything next time.
    resync: bool,
    /// Bytes the last save wrote.
    last_written: usize,
    /// Records of a kind kept in memory as stored ([`CACHE`] unless set).
    cache: Option<usize>,
}

impl Saved {
    /// Nothing saved yet; with `upgrade`, the state holds records of an older form, so the
    /// first save writes it whole.
    pub(super) fn upgrading(upgrade: bool) -> Self {
        Self {
            resync: upgrade,
            ..Self::default()
        }
    }

    /// `record` as stored, through the reader; `Conflict` when another writer overtook this
    /// client, so that what failed to read is not mistaken for tampering.
    fn read(&mut self, record: &Record) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let (Some(directory), Some(source)) = (&mut self.directory, &self.source) else {
            return Err(StoreError::Missing);
        };
        directory.read(&**source, record).map_err(|e| {
            if directory.overtaken(&**source) {
                StoreError::Conflict
            } else {
                e
            }
        })
    }

    /// As [`Saved::read`], keeping nothing.
    fn peek(&self, record: &Record) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let (Some(directory), Some(source)) = (&self.directory, &self.source) else {
            return Err(StoreError::Missing);
        };
        directory.peek(&**source, record).map_err(|e| {
            if directory.overtaken(&**source) {
                StoreError::Conflict
            } else {
                e
            }
        })
    }

    /// Bucket `b` of an index as stored (`record` names it), checked to hold only keys of its
    /// own, sorted, each entry once.
    pub(super) fn bucket<O: DeserializeOwned + Serialize + Ord + Copy>(
        &mut self,
        record: Record,
        b: u16,
    ) -> Result<Option<Bucket<O>>, StoreError> {
        self.read(&record)?
            .map(|bytes| checked_bucket(&bytes, b))
            .transpose()
    }

    /// As [`Saved::bucket`], keeping nothing.
    fn peek_bucket<O: DeserializeOwned + Serialize + Ord + Copy>(
        &self,
        record: Record,
        b: u16,
    ) -> Result<Option<Bucket<O>>, StoreError> {
        self.peek(&record)?
            .map(|bytes| checked_bucket(&bytes, b))
            .transpose()
    }
}

fn checked_bucket<O: DeserializeOwned + Serialize + Ord + Copy>(
    bytes: &[u8],
    b: u16,
) -> Result<Bucket<O>, StoreError> {
    let entries: Vec<(Key, O)> =
        crate::wire::decode_body(bytes, "index bucket").map_err(StoreError::Corrupt)?;
    let sorted = entries.windows(2).all(|w| w[0] < w[1]);
    let own = entries.iter().all(|(k, _)| bucket_of(k) == b);
    if entries.is_empty() || !sorted || !own {
        return Err(corrupt("index bucket"));
    }
    Ok(entries.into_iter().collect())
}

/// What the public accessors read of a member's record not in memory.
pub(super) struct StoredPeer {
    pub(super) contact: Option<Contact>,
    pub(super) connection: super::Connection,
    pub(super) direct: Option<ConversationId>,
}

/// A peer record: its fields, then the member's device list when we hold one (a record
/// without one is written as before lists existed, and read either way).
fn decode_peer(bytes: &[u8]) -> Result<(PeerRecord, Option<SignedDeviceList>), StoreError> {
    if let Ok((p, list)) = decode::<(PeerRecord, serde_bytes::ByteBuf)>(bytes, "peer record") {
        let list = SignedDeviceList::from_bytes(&list).map_err(StoreError::Corrupt)?;
        return Ok((p, Some(list)));
    }
    Ok((decode(bytes, "peer record")?, None))
}

/// The account record, in its longer form (with where the switches stand) or its shorter one.
fn decode_account(bytes: &[u8]) -> Result<(AccountRecord, AccountSync), StoreError> {
    if let Ok(both) = decode::<(AccountRecord, AccountSync)>(bytes, "account record") {
        return Ok(both);
    }
    Ok((decode(bytes, "account record")?, AccountSync::default()))
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(DecodeError::Invalid { what })
}

/// What a lazily loaded client needs to know of the records it has not read.
#[derive(Serialize, Deserialize, Default, PartialEq, Eq)]
struct CatalogRecord {
    groups: Vec<ConversationId>,
    access: Vec<ConversationId>,
    pending: Vec<u64>,
    outbox: Vec<u64>,
}

#[derive(Serialize, Deserialize, Default)]
struct PeerRecord {
    contact: Option<ContactState>,
    profile: Option<Profile>,
    connection: Option<ConnectionState>,
    direct: Option<ConversationId>,
    granted: bool,
    key: Option<AccessKey>,
    holder: bool,
}

#[derive(Serialize, Deserialize, Default)]
struct ConversationRecord {
    state: Option<StoredSecret>,
    group: bool,
    opened: bool,
    access: Option<GroupAccess>,
}

#[derive(Serialize, Deserialize)]
struct SeenRecord {
    base: u64,
    ids: Vec<EnvelopeId>,
}

type Change = (Record, Option<Zeroizing<Vec<u8>>>);

impl Client {
    /// Saves what changed since the last save to `store` (everything, the first time, or to
    /// a store that holds no state), in one atomic commit. Call it after every operation that
    /// sent or received, and before handing what was sent to the relay.
    ///
    /// # Errors
    /// The store's error, nothing written; [`StoreError::Conflict`] when the store holds
    /// another state, or a later save of this one, than this client last saved or loaded
    /// there.
    pub fn save_to<R: CryptoRng>(
        &mut self,
        rng: &mut R,
        store: &mut dyn ClientStore,
    ) -> Result<(), StoreError> {
        self.refresh_indexes()?;
        // A client that never saved writes a new state; the commit refuses it if the store
        // holds one already.
        let matches = match &self.saved.directory {
            Some(d) => d.head_matches(&*store)?,
            None => None,
        };
        let whole = match matches {
            None => true,
            Some(true) => self.saved.resync,
            Some(false) => return Err(StoreError::Conflict),
        };
        if whole {
            self.load_everything()?;
        }
        if matches.is_none() {
            let generation = self.generation();
            self.saved = Saved {
                directory: Some(Directory::new(rng, generation)),
                cache: self.saved.cache,
                ..Saved::default()
            };
        }
        let (changes, digests, access_ids) = self.changes(whole)?;
        let queued = self.queued_records();
        let directory = self
            .saved
            .directory
            .get_or_insert_with(|| Directory::new(rng, 0));
        match directory.commit(rng, store, changes) {
            Ok(written) => {
                self.saved.digests = digests;
                self.saved.queued = queued;
                self.saved.access_ids = access_ids;
                self.saved.resync = false;
                self.saved.last_written = written;
                if whole {
                    self.saved.source = store.reader();
                    if self.saved.source.is_some() {
                        self.relax();
                    }
                }
                self.evict();
                Ok(())
            }
            Err(e) => {
                self.saved.resync = true;
                Err(e)
            }
        }
    }

    /// Restores a client from `store`, or `None` if it holds no state. A state an earlier
    /// version saved whole is read, and written as records by the next save. From a store
    /// that hands out a reader ([`ClientStore::reader`]), only what every step needs is read
    /// now, and each member's and conversation's records when first used.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] or [`StoreError::Missing`] for a record that does not
    /// authenticate at the version the state lists, or is gone; [`StoreError::Corrupt`] for
    /// one that does not decode or breaks an invariant.
    pub fn load_from(store: &dyn ClientStore) -> Result<Option<Self>, StoreError> {
        if let Some(reader) = store.reader() {
            let loaded = Directory::load(store, |directory, store| {
                let Some(bytes) = directory.read(store, &Record::Catalog)? else {
                    return Ok(None);
                };
                let catalog: CatalogRecord = decode(&bytes, "catalog record")?;
                let mut wanted = vec![Record::Core, Record::FanOut, Record::Account, Record::Links];
                wanted.extend((0..CHUNKS).map(|c| Record::Seen(c as u8)));
                wanted.extend(catalog.pending.iter().map(|n| Record::Pending(*n)));
                wanted.extend(catalog.outbox.iter().map(|n| Record::Outbox(*n)));
                let mut records = BTreeMap::new();
                for record in wanted {
                    if let Some(bytes) = directory.read(store, &record)? {
                        records.insert(record, bytes);
                    }
                }
                Ok(Some((catalog, records)))
            })?;
            match loaded {
                None => return Self::load_legacy(store),
                Some((directory, Some((catalog, records)))) => {
                    let mut client = from_records(records)?;
                    client.make_lazy(&catalog);
                    client.saved.directory = Some(directory);
                    client.saved.source = Some(reader);
                    client.saved.access_ids = catalog.access.into_iter().collect();
                    client.saved.queued = client.queued_records();
                    return Ok(Some(client));
                }
                // Saved before the label index was stored: read whole, once.
                Some((_, None)) => {}
            }
        }
        let Some((directory, records)) = Directory::load_all(store)? else {
            return Self::load_legacy(store);
        };
        let indexed = records.contains_key(&Record::Catalog);
        let mut client = from_records(records)?;
        if !indexed {
            client.labels.touch_all();
            client.names.touch_all();
            client.rosters.touch_all();
            client.seals.touch_all();
        }
        client.saved.directory = Some(directory);
        client.saved.access_ids = client.access.groups.keys().copied().collect();
        // The digests are taken again by the first save, which then writes those records
        // once more: cheaper than encoding them all now.
        client.saved.queued = client.queued_records();
        Ok(Some(client))
    }

    fn load_legacy(store: &dyn ClientStore) -> Result<Option<Self>, StoreError> {
        match store.legacy()? {
            Some(bytes) => Self::from_bytes(&bytes)
                .map(Some)
                .map_err(StoreError::Corrupt),
            None => Ok(None),
        }
    }

    /// After a whole save to a store that reads back: what is kept per member and per
    /// conversation stays in memory as stored, under the cache's bound like a lazy load's.
    fn relax(&mut self) {
        let mut members: BTreeSet<MailboxId> = self.contacts.keys().copied().collect();
        members.extend(self.profiles.keys());
        members.extend(self.connections.keys());
        members.extend(self.direct.keys());
        members.extend(self.granted.iter());
        members.extend(self.access.peers.keys());
        members.extend(self.access.holders.iter());
        members.extend(self.peer_devices.keys());
        self.contacts.relax(&members);
        self.profiles.relax(&members);
        self.connections.relax(&members);
        self.direct.relax(&members);
        self.granted.relax(&members);
        self.access.peers.relax(&members);
        self.access.holders.relax(&members);
        self.peer_devices.relax(&members);
        let sessions = self.sessions.keys().copied().collect();
        self.sessions.relax(&sessions);
        let mut conversations: BTreeSet<ConversationId> =
            self.conversations.keys().copied().collect();
        conversations.extend(self.opened.iter());
        conversations.extend(self.access.groups.keys());
        self.conversations.relax(&conversations);
        self.opened.relax(&conversations);
        self.access.groups.relax(&conversations);
        self.labels.relax();
        self.names.relax();
        self.rosters.relax();
        self.seals.relax();
    }

    /// Empties what is kept per member and per conversation, to be loaded when first used.
    fn make_lazy(&mut self, catalog: &CatalogRecord) {
        self.contacts = TrackedMap::lazy();
        self.profiles = TrackedMap::lazy();
        self.connections = TrackedMap::lazy();
        self.direct = TrackedMap::lazy();
        self.granted = TrackedSet::lazy();
        self.access.peers = TrackedMap::lazy();
        self.access.holders = TrackedSet::lazy();
        self.sessions = TrackedMap::lazy();
        self.peer_devices = TrackedMap::lazy();
        self.conversations = TrackedMap::lazy();
        self.opened = TrackedSet::lazy();
        self.access.groups = TrackedMap::lazy();
        self.groups = catalog.groups.iter().copied().collect();
        self.labels = Index::lazy();
        self.names = Index::lazy();
        self.rosters = Index::lazy();
        self.seals = Index::lazy();
    }

    /// Reads and authenticates every record of the state in the store, keeping none: what a
    /// lazily loaded client does record by record as it needs them, done at once (say, when
    /// the app is idle, or before a backup). A client loaded whole checked them at load.
    ///
    /// # Errors
    /// As [`Client::load_from`], for the first record that fails.
    pub fn check_store(&self) -> Result<(), StoreError> {
        let (Some(directory), Some(source)) = (&self.saved.directory, &self.saved.source) else {
            return Ok(());
        };
        for record in directory.peek_records(&**source)? {
            self.saved.peek(&record)?;
        }
        Ok(())
    }

    /// Whether the state as loaded holds sessions or prekeys saved in an earlier version
    /// (PROTOCOL.md §5.7), which the next save writes in their current form: for the fuzz
    /// target that holds a current state to saving back byte for byte.
    #[cfg(feature = "hazmat")]
    #[doc(hidden)]
    pub fn holds_older_forms(&self) -> bool {
        self.saved.resync
    }

    /// Bytes the last save wrote (records, directory and row keys).
    pub fn last_save_bytes(&self) -> usize {
        self.saved.last_written
    }

    /// Saves since this state began (the store's generation), for an app that keeps it in a
    /// monotonic counter to detect the whole store rolled back.
    pub fn generation(&self) -> u64 {
        self.saved
            .directory
            .as_ref()
            .map_or(0, Directory::generation)
    }

    /// Member `m`'s record as stored, read and not kept.
    pub(super) fn stored_peer(&self, m: &MailboxId) -> Result<StoredPeer, StoreError> {
        let (p, _) = match self.saved.peek(&Record::Peer(*m))? {
            Some(bytes) => decode_peer(&bytes)?,
            None => (PeerRecord::default(), None),
        };
        Ok(StoredPeer {
            contact: p.contact.map(|c| Contact {
                user: c.user,
                mailbox: *m,
                identity: c.identity,
            }),
            connection: p.connection.as_ref().map(connection).unwrap_or_default(),
            direct: p.direct,
        })
    }

    /// Conversation `id` as stored, read and not kept.
    pub(super) fn stored_conversation(
        &self,
        id: &ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        let Some(bytes) = self.saved.peek(&Record::Conversation(*id))? else {
            return Ok(None);
        };
        let record: ConversationRecord = decode(&bytes, "conversation record")?;
        let state = record.state.as_ref();
        let restored = state.map(|s| restore_conversation(id, s).map_err(StoreError::Corrupt));
        restored.transpose()
    }

    /// Every member with a record, in mailbox order: those in memory, and those stored.
    pub(super) fn stored_members(&self) -> Result<Vec<MailboxId>, StoreError> {
        let (Some(directory), Some(source)) = (&self.saved.directory, &self.saved.source) else {
            return Ok(self.contacts.resident_keys().into_iter().collect());
        };
        let mut members: BTreeSet<MailboxId> = directory
            .peek_records(&**source)?
            .into_iter()
            .filter_map(|r| match r {
                Record::Peer(m) => Some(m),
                _ => None,
            })
            .collect();
        members.extend(self.contacts.resident_keys());
        Ok(members.into_iter().collect())
    }

    /// Member `m`'s record, unless it is in memory already.
    pub(super) fn load_peer(&mut self, m: &MailboxId) -> Result<(), StoreError> {
        if self.contacts.is_resident(m) {
            return Ok(());
        }
        let (record, list) = match self.saved.read(&Record::Peer(*m))? {
            Some(bytes) => decode_peer(&bytes)?,
            None => (PeerRecord::default(), None),
        };
        self.fill_peer(*m, record);
        self.peer_devices.load(*m, list);
        Ok(())
    }

    fn fill_peer(&mut self, m: MailboxId, p: PeerRecord) {
        let contact = p.contact.map(|c| Contact {
            user: c.user,
            mailbox: m,
            identity: c.identity,
        });
        let name = contact.as_ref().map(|c| name_key(&c.user));
        self.names.loaded(m, name.into_iter().collect());
        self.contacts.load(m, contact);
        self.profiles.load(m, p.profile);
        self.connections
            .load(m, p.connection.as_ref().map(connection));
        self.direct.load(m, p.direct);
        self.granted.load(m, p.granted);
        self.access.peers.load(m, p.key);
        self.access.holders.load(m, p.holder);
    }

    /// Our sessions with `m`, unless they are in memory already.
    pub(super) fn load_sessions(&mut self, m: &MailboxId) -> Result<(), StoreError> {
        if self.sessions.is_resident(m) {
            return Ok(());
        }
        let sessions = match self.saved.read(&Record::Sessions(*m))? {
            Some(bytes) => {
                let saved: Vec<StoredSecret> = decode(&bytes, "sessions record")?;
                if saved.iter().any(|s| older_session_form(&s.0)) {
                    self.saved.resync = true;
                }
                Some(restore_sessions(&saved).map_err(StoreError::Corrupt)?)
            }
            None => None,
        };
        self.seals
            .loaded(*m, sessions.as_ref().map(seal_keys).unwrap_or_default());
        self.sessions.load(*m, sessions);
        Ok(())
    }

    /// Member `m`'s record and our sessions with them.
    pub(super) fn load_member(&mut self, m: &MailboxId) -> Result<(), StoreError> {
        self.load_peer(m)?;
        self.load_sessions(m)
    }

    /// Conversation `id`'s record, unless it is in memory already.
    pub(super) fn load_conversation(&mut self, id: &ConversationId) -> Result<(), StoreError> {
        if self.conversations.is_resident(id) {
            return Ok(());
        }
        let record: ConversationRecord = match self.saved.read(&Record::Conversation(*id))? {
            Some(bytes) => decode(&bytes, "conversation record")?,
            None => ConversationRecord::default(),
        };
        let conversation = match &record.state {
            Some(s) => Some(restore_conversation(id, s).map_err(StoreError::Corrupt)?),
            None => None,
        };
        if let Some(c) = &conversation {
            self.labels.loaded(*id, c.indexed_labels());
            let group = self.groups.contains(id);
            let me = *self.member_id();
            self.rosters.loaded(*id, roster_keys(&me, group, c));
        }
        self.conversations.load(*id, conversation);
        self.opened.load(*id, record.opened);
        self.access.groups.load(*id, record.access);
        Ok(())
    }

    /// Every record the directory lists (none for a client loaded whole: all are in memory).
    fn stored_records(&mut self) -> Result<Vec<Record>, StoreError> {
        let Saved {
            directory, source, ..
        } = &mut self.saved;
        match (directory, source) {
            (Some(d), Some(s)) => d.records(&**s),
            _ => Ok(Vec::new()),
        }
    }

    /// Every record not in memory yet: for a save that writes everything.
    pub(super) fn load_everything(&mut self) -> Result<(), StoreError> {
        if self.saved.source.is_none() {
            return Ok(());
        }
        for record in self.stored_records()? {
            match record {
                Record::Peer(m) => self.load_peer(&m)?,
                Record::Sessions(m) => self.load_sessions(&m)?,
                Record::Conversation(id) => self.load_conversation(&id)?,
                _ => {}
            }
        }
        let saved = &mut self.saved;
        self.labels
            .load_all(&mut |b| saved.bucket(Record::Labels(b), b))?;
        self.names
            .load_all(&mut |b| saved.bucket(Record::Names(b), b))?;
        self.rosters
            .load_all(&mut |b| saved.bucket(Record::Rosters(b), b))?;
        self.seals
            .load_all(&mut |b| saved.bucket(Record::Seals(b), b))?;
        // What no record lists is absent: the maps are complete.
        self.contacts.load_all([]);
        self.profiles.load_all([]);
        self.connections.load_all([]);
        self.direct.load_all([]);
        self.granted.load_all([]);
        self.access.peers.load_all([]);
        self.access.holders.load_all([]);
        self.peer_devices.load_all([]);
        self.sessions.load_all([]);
        self.conversations.load_all([]);
        self.opened.load_all([]);
        self.access.groups.load_all([]);
        self.saved.source = None;
        Ok(())
    }

    /// Every member's record, for a step that goes through all of them: they are then all in
    /// memory (until the next save drops those beyond the cache's bound).
    pub(super) fn load_all_peers(&mut self) -> Result<(), StoreError> {
        for record in self.stored_records()? {
            if let Record::Peer(m) = record {
                self.load_peer(&m)?;
            }
        }
        Ok(())
    }

    /// The conversations expecting `label` next, by the index.
    pub(super) fn indexed(&mut self, label: &Key) -> Result<Vec<ConversationId>, Error> {
        self.refresh_indexes()?;
        let saved = &mut self.saved;
        let found = self
            .labels
            .get(label, &mut |b| saved.bucket(Record::Labels(b), b))?;
        Ok(found)
    }

    /// A chain of `id` moved on: it is indexed by `after` instead of `before`.
    pub(super) fn index_moved(
        &mut self,
        id: ConversationId,
        before: &[Key],
        after: &[Key],
    ) -> Result<(), StoreError> {
        let saved = &mut self.saved;
        self.labels.moved(id, before, after, &mut |b| {
            saved.bucket(Record::Labels(b), b)
        })
    }

    /// The peer devices one of whose sessions seals with `label`, by the index.
    pub(super) fn sealed_by(&mut self, label: &Key) -> Result<Vec<MailboxId>, Error> {
        self.refresh_indexes()?;
        let saved = &mut self.saved;
        let found = self
            .seals
            .get(label, &mut |b| saved.bucket(Record::Seals(b), b))?;
        Ok(found)
    }

    /// The contacts listed under `user`'s name, and those in memory of that name (the index
    /// catches up with them at the next lookup that may change it, or save), in mailbox order.
    pub(super) fn named(&self, user: &[u8]) -> Result<Vec<MailboxId>, StoreError> {
        let saved = &self.saved;
        let listed = if self.contacts.is_complete() {
            Vec::new()
        } else {
            self.names.peek(&name_key(user), &mut |b| {
                saved.peek_bucket(Record::Names(b), b)
            })?
        };
        let mut found: BTreeSet<MailboxId> = listed.into_iter().collect();
        let resident = self.contacts.resident().filter(|(_, c)| c.user == user);
        found.extend(resident.map(|(m, _)| *m));
        Ok(found.into_iter().collect())
    }

    /// A group both we and `member` are in (the first by id), by the rosters index.
    pub(super) fn shared_group(
        &mut self,
        member: &MailboxId,
    ) -> Result<Option<ConversationId>, Error> {
        Ok(self.groups_with(member, 1)?.first().copied())
    }

    /// Up to `most` groups both we and `member` are in, by id, by the rosters index.
    pub(super) fn groups_with(
        &mut self,
        member: &MailboxId,
        most: usize,
    ) -> Result<Vec<ConversationId>, Error> {
        self.refresh_indexes()?;
        let saved = &mut self.saved;
        let groups = self.rosters.get(&member_key(member), &mut |b| {
            saved.bucket(Record::Rosters(b), b)
        })?;
        let mut found = Vec::new();
        for g in groups {
            if found.len() >= most {
                break;
            }
            self.load_conversation(&g)?;
            let shared = self.groups.contains(&g)
                && self.conversations.get(&g).is_some_and(|c| {
                    !c.is_removed() && c.members().iter().any(|m| m.id == *member)
                });
            if shared {
                found.push(g);
            }
        }
        Ok(found)
    }

    /// Brings the indexes up to date with the conversations and contacts changed since.
    pub(super) fn refresh_indexes(&mut self) -> Result<(), StoreError> {
        let changed = self.conversations.take_changed();
        let me = *self.member_id();
        let saved = &mut self.saved;
        for id in &changed {
            let c = self.conversations.get(id);
            let labels = c.map(Conversation::indexed_labels).unwrap_or_default();
            let group = self.groups.contains(id);
            let roster = c.map(|c| roster_keys(&me, group, c));
            let mut result = self
                .labels
                .set(*id, labels, &mut |b| saved.bucket(Record::Labels(b), b));
            if result.is_ok() {
                result = self.rosters.set(*id, roster.unwrap_or_default(), &mut |b| {
                    saved.bucket(Record::Rosters(b), b)
                });
            }
            if let Err(e) = result {
                // Tried again next time.
                self.conversations.mark_changed(changed);
                return Err(e);
            }
        }
        let changed = self.contacts.take_changed();
        for m in &changed {
            let name = self.contacts.get(m).map(|c| name_key(&c.user));
            let result = self.names.set(*m, name.into_iter().collect(), &mut |b| {
                saved.bucket(Record::Names(b), b)
            });
            if let Err(e) = result {
                self.contacts.mark_changed(changed);
                return Err(e);
            }
        }
        let changed = self.sessions.take_changed();
        for m in &changed {
            let keys = self.sessions.get(m).map(seal_keys).unwrap_or_default();
            let result = self
                .seals
                .set(*m, keys, &mut |b| saved.bucket(Record::Seals(b), b));
            if let Err(e) = result {
                self.sessions.mark_changed(changed);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The conversations with group access: as last saved, with the changes since.
    pub(super) fn access_ids(&self) -> Vec<ConversationId> {
        if self.access.groups.is_complete() {
            return self.access.groups.keys().copied().collect();
        }
        let mut ids: BTreeSet<ConversationId> = self
            .saved
            .access_ids
            .iter()
            .filter(|id| !self.access.groups.is_resident(id))
            .copied()
            .collect();
        ids.extend(self.access.groups.resident().map(|(id, _)| *id));
        ids.into_iter().collect()
    }

    /// How many records of each kind (members, sessions, conversations, label buckets) a
    /// lazily loaded client keeps in memory as stored between saves (1,024 unless set): more
    /// is faster for an app that moves among many conversations, less is less memory.
    pub fn set_cache(&mut self, records: usize) {
        self.saved.cache = Some(records);
    }

    /// Whether the stored indexes are exactly those built from scratch from every
    /// conversation and contact (loading everything).
    #[cfg(test)]
    pub(super) fn indexes_as_built(&mut self) -> bool {
        self.load_everything().unwrap();
        self.refresh_indexes().unwrap();
        let (mut labels, mut names, mut rosters, mut seals) = (
            Index::default(),
            Index::default(),
            Index::default(),
            Index::default(),
        );
        for (id, c) in self.conversations.resident() {
            let none = &mut |_| Ok(None);
            labels.set(*id, c.indexed_labels(), none).unwrap();
            let group = self.groups.contains(id);
            let none = &mut |_| Ok(None);
            let keys = roster_keys(self.member_id(), group, c);
            rosters.set(*id, keys, none).unwrap();
        }
        for (m, c) in self.contacts.resident() {
            let none = &mut |_| Ok(None);
            names.set(*m, vec![name_key(&c.user)], none).unwrap();
        }
        for (m, s) in self.sessions.resident() {
            let none = &mut |_| Ok(None);
            seals.set(*m, seal_keys(s), none).unwrap();
        }
        labels.entries() == self.labels.entries()
            && names.entries() == self.names.entries()
            && rosters.entries() == self.rosters.entries()
            && seals.entries() == self.seals.entries()
    }

    /// After a save: what is as stored beyond the cache's bound of a kind leaves memory.
    fn evict(&mut self) {
        if self.saved.source.is_none() {
            return;
        }
        let bound = self.saved.cache.unwrap_or(CACHE);
        if self.contacts.resident_len() > bound {
            let before = self.contacts.resident_keys();
            self.contacts.evict();
            for m in &before {
                if !self.contacts.is_resident(m) {
                    self.names.forget(m);
                }
            }
            self.profiles.evict();
            self.connections.evict();
            self.direct.evict();
            self.granted.evict();
            self.access.peers.evict();
            self.access.holders.evict();
            self.peer_devices.evict();
        }
        if self.sessions.resident_len() > bound {
            let before = self.sessions.resident_keys();
            self.sessions.evict();
            for m in &before {
                if !self.sessions.is_resident(m) {
                    self.seals.forget(m);
                }
            }
        }
        if self.conversations.resident_len() > bound {
            let before = self.conversations.resident_keys();
            self.conversations.evict();
            self.opened.evict();
            self.access.groups.evict();
            for id in &before {
                if !self.conversations.is_resident(id) {
                    self.labels.forget(id);
                    self.rosters.forget(id);
                }
            }
        }
        self.labels.evict(bound);
        self.names.evict(bound);
        self.rosters.evict(bound);
        self.seals.evict(bound);
    }

    fn queued_records(&self) -> BTreeSet<Record> {
        let pending = self.pending.numbered().map(|(n, _)| Record::Pending(n));
        let outbox = self.outbox.numbered().map(|(n, _)| Record::Outbox(n));
        pending.chain(outbox).collect()
    }

    fn catalog(&self, access: &BTreeSet<ConversationId>) -> CatalogRecord {
        CatalogRecord {
            groups: self.groups.iter().copied().collect(),
            access: access.iter().copied().collect(),
            pending: self.pending.numbered().map(|(n, _)| n).collect(),
            outbox: self.outbox.numbered().map(|(n, _)| n).collect(),
        }
    }

    /// The records to write: those changed since the last save, or all of them; with the
    /// digests and group-access ids they leave.
    #[allow(clippy::type_complexity)]
    fn changes(
        &mut self,
        whole: bool,
    ) -> Result<
        (
            Vec<Change>,
            BTreeMap<Record, [u8; 32]>,
            BTreeSet<ConversationId>,
        ),
        StoreError,
    > {
        if whole {
            self.touch_all();
        }
        let mut changes = Vec::new();
        let mut peers = self.contacts.take_touched();
        peers.extend(self.profiles.take_touched());
        peers.extend(self.connections.take_touched());
        peers.extend(self.direct.take_touched());
        peers.extend(self.granted.take_touched());
        peers.extend(self.access.peers.take_touched());
        peers.extend(self.access.holders.take_touched());
        peers.extend(self.peer_devices.take_touched());
        for m in peers {
            changes.push((Record::Peer(m), self.peer_record(&m)));
        }
        for m in self.sessions.take_touched() {
            let value = self.sessions.get(&m).map(|s| encode(&stored_sessions(s)));
            changes.push((Record::Sessions(m), value));
        }
        let access_touched = self.access.groups.take_touched();
        let access: BTreeSet<ConversationId> = if self.access.groups.is_complete() {
            self.access.groups.keys().copied().collect()
        } else {
            let mut access = self.saved.access_ids.clone();
            for id in &access_touched {
                if self.access.groups.contains_key(id) {
                    access.insert(*id);
                } else {
                    access.remove(id);
                }
            }
            access
        };
        let mut conversations = self.conversations.take_touched();
        conversations.extend(self.groups.take_touched());
        conversations.extend(self.opened.take_touched());
        conversations.extend(access_touched);
        for id in conversations {
            changes.push((Record::Conversation(id), self.conversation_record(&id)));
        }
        for (b, bucket) in self.labels.take_touched() {
            let value = bucket.map(|l| encode(&l.iter().collect::<Vec<_>>()));
            changes.push((Record::Labels(b), value));
        }
        for (b, bucket) in self.names.take_touched() {
            let value = bucket.map(|l| encode(&l.iter().collect::<Vec<_>>()));
            changes.push((Record::Names(b), value));
        }
        for (b, bucket) in self.rosters.take_touched() {
            let value = bucket.map(|l| encode(&l.iter().collect::<Vec<_>>()));
            changes.push((Record::Rosters(b), value));
        }
        for (b, bucket) in self.seals.take_touched() {
            let value = bucket.map(|l| encode(&l.iter().collect::<Vec<_>>()));
            changes.push((Record::Seals(b), value));
        }
        for c in self.seen.take_touched() {
            let value = self.seen.chunk(c).map(|(base, ids)| {
                encode(&SeenRecord {
                    base,
                    ids: ids.to_vec(),
                })
            });
            changes.push((Record::Seen(c), value));
        }
        let mut digests = BTreeMap::new();
        let core = Zeroizing::new(self.state(false).to_wire());
        let fanout = self.fanout.to_bytes();
        let catalog = encode(&self.catalog(&access));
        // The longer form only once the switches were shared, so older stores stay as they are.
        let sync = self.account_sync;
        let account = self.devices.as_ref().map(|d| {
            if sync == AccountSync::default() {
                encode(&d.to_record())
            } else {
                encode(&(d.to_record(), sync))
            }
        });
        let links = self.links.to_record().map(|l| encode(&l));
        if links.is_none() && self.saved.digests.contains_key(&Record::Links) {
            changes.push((Record::Links, None));
        }
        let mut fixed = vec![
            (Record::Core, &core[..]),
            (Record::FanOut, &fanout[..]),
            (Record::Catalog, &catalog[..]),
        ];
        // Only an account with several devices has one: others' stores stay as they were.
        if let Some(account) = &account {
            fixed.push((Record::Account, &account[..]));
        }
        if let Some(links) = &links {
            fixed.push((Record::Links, &links[..]));
        }
        for (record, bytes) in fixed {
            let digest: [u8; 32] = Sha256::digest(bytes).into();
            if whole || self.saved.digests.get(&record) != Some(&digest) {
                changes.push((record, Some(Zeroizing::new(bytes.to_vec()))));
            }
            digests.insert(record, digest);
        }
        let now = self.queued_records();
        let stored = if whole {
            BTreeSet::new()
        } else {
            self.saved.queued.clone()
        };
        for (n, bytes) in self.pending.numbered() {
            if !stored.contains(&Record::Pending(n)) {
                let value = encode(&serde_bytes::Bytes::new(bytes));
                changes.push((Record::Pending(n), Some(value)));
            }
        }
        for (n, o) in self.outbox.numbered() {
            if !stored.contains(&Record::Outbox(n)) {
                changes.push((Record::Outbox(n), Some(encode(&Queued::from_outgoing(o)))));
            }
        }
        for gone in stored.difference(&now) {
            changes.push((*gone, None));
        }
        if whole {
            // Whatever the store lists that this state no longer has goes.
            let written: BTreeSet<Record> = changes.iter().map(|(r, _)| *r).collect();
            // Every leaf is in memory: the state was loaded whole (or everything was loaded
            // for this save), or the directory is new.
            let listed = self.saved.directory.as_ref().map(Directory::listed);
            let stale = listed
                .into_iter()
                .flatten()
                .filter(|r| !written.contains(r));
            changes.extend(stale.map(|r| (r, None)));
        }
        Ok((changes, digests, access))
    }

    fn touch_all(&mut self) {
        self.contacts.touch_all();
        self.profiles.touch_all();
        self.connections.touch_all();
        self.direct.touch_all();
        self.granted.touch_all();
        self.access.peers.touch_all();
        self.access.holders.touch_all();
        self.peer_devices.touch_all();
        self.sessions.touch_all();
        self.conversations.touch_all();
        self.groups.touch_all();
        self.opened.touch_all();
        self.access.groups.touch_all();
        self.seen.touch_all();
        self.labels.touch_all();
        self.names.touch_all();
        self.rosters.touch_all();
        self.seals.touch_all();
    }

    fn peer_record(&self, m: &MailboxId) -> Option<Zeroizing<Vec<u8>>> {
        let record = PeerRecord {
            contact: self.contacts.get(m).map(contact_state),
            profile: self.profiles.get(m).copied(),
            connection: self.connections.get(m).and_then(connection_state),
            direct: self.direct.get(m).copied(),
            granted: self.granted.contains(m),
            key: self.access.peers.get(m).cloned(),
            holder: self.access.holders.contains(m),
        };
        let empty = record.contact.is_none()
            && record.profile.is_none()
            && record.connection.is_none()
            && record.direct.is_none()
            && !record.granted
            && record.key.is_none()
            && !record.holder;
        match self.peer_devices.get(m) {
            Some(list) => Some(encode(&(
                record,
                serde_bytes::ByteBuf::from(list.to_bytes()),
            ))),
            None => (!empty).then(|| encode(&record)),
        }
    }

    fn conversation_record(&self, id: &ConversationId) -> Option<Zeroizing<Vec<u8>>> {
        let record = ConversationRecord {
            state: self
                .conversations
                .get(id)
                .map(|c| StoredSecret(c.to_bytes().to_vec())),
            group: self.groups.contains(id),
            opened: self.opened.contains(id),
            access: self.access.groups.get(id).cloned(),
        };
        let empty =
            record.state.is_none() && !record.group && !record.opened && record.access.is_none();
        (!empty).then(|| encode(&record))
    }
}

/// A client from its records: the core state filled in with every other record, then
/// checked as a whole state is.
fn from_records(records: BTreeMap<Record, Zeroizing<Vec<u8>>>) -> Result<Client, StoreError> {
    let core = records.get(&Record::Core).ok_or(StoreError::Missing)?;
    let mut state = ClientState::from_wire(core).map_err(StoreError::Corrupt)?;
    let mut seen = Vec::new();
    let mut pending = Vec::new();
    let mut outbox = Vec::new();
    let mut lists = PeerLists::new();
    for (record, bytes) in &records {
        match *record {
            Record::Core | Record::Account | Record::Links => {}
            Record::FanOut => state.fanout = bytes.to_vec(),
            Record::Seen(c) => {
                let s: SeenRecord = decode(bytes, "seen record")?;
                seen.push((c, s.base, s.ids));
            }
            Record::Pending(n) => {
                let b: serde_bytes::ByteBuf = decode(bytes, "waiting delivery")?;
                pending.push((n, b.into_vec()));
            }
            Record::Outbox(n) => {
                let q: Queued = decode(bytes, "outbox entry")?;
                outbox.push((n, q.into_outgoing()));
            }
            // The index and the catalog are for a client loaded lazily; a whole load rebuilds
            // what they hold.
            Record::Labels(_)
            | Record::Names(_)
            | Record::Rosters(_)
            | Record::Seals(_)
            | Record::Catalog => {}
            Record::Head | Record::Node(_) | Record::Leaf(_) => {
                return Err(StoreError::Corrupt(DecodeError::Invalid {
                    what: "client record",
                }));
            }
            Record::Peer(_) | Record::Sessions(_) | Record::Conversation(_) => {
                merge(&mut state, &mut lists, record, bytes)?;
            }
        }
    }
    let mut client = state.into_client().map_err(StoreError::Corrupt)?;
    client.peer_devices = lists.into_iter().collect();
    if let Some(bytes) = records.get(&Record::Account) {
        let (record, sync) = decode_account(bytes)?;
        client
            .set_account_record(&record)
            .map_err(StoreError::Corrupt)?;
        client.account_sync = sync;
    }
    if let Some(bytes) = records.get(&Record::Links) {
        let record = decode(bytes, "links record")?;
        client
            .set_links_record(&record)
            .map_err(StoreError::Corrupt)?;
        // So the save after the links are done with deletes the record.
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        client.saved.digests.insert(Record::Links, digest);
    }
    let invalid = StoreError::Corrupt(DecodeError::Invalid {
        what: "seen record",
    });
    if seen.iter().any(|(c, _, _)| u64::from(*c) >= CHUNKS) {
        return Err(invalid);
    }
    client.seen = Seen::from_chunks(seen).ok_or(invalid)?;
    client.pending = Queue::from_numbered(pending);
    client.outbox = Queue::from_numbered(outbox);
    Ok(client)
}

/// Puts a member's or a conversation's record into a whole state.
/// Members' device lists, as a whole state keeps them beside [`ClientState`].
pub(super) type PeerLists = BTreeMap<MailboxId, SignedDeviceList>;

fn merge(
    state: &mut ClientState,
    lists: &mut PeerLists,
    record: &Record,
    bytes: &[u8],
) -> Result<(), StoreError> {
    match *record {
        Record::Peer(m) => {
            let (p, list) = decode_peer(bytes)?;
            if let Some(list) = list {
                lists.insert(m, list);
            }
            if let Some(c) = p.contact {
                state.contacts.insert(m, c);
            }
            if let Some(profile) = p.profile {
                state.profiles.insert(m, profile);
            }
            if let Some(c) = p.connection {
                state.connections.insert(m, c);
            }
            if let Some(c) = p.direct {
                state.direct.insert(m, c);
            }
            if p.granted {
                state.granted.insert(m);
            }
            if let Some(k) = p.key {
                state.access.peers.insert(m, k);
            }
            if p.holder {
                state.access.holders.insert(m);
            }
        }
        Record::Sessions(m) => {
            state.sessions.insert(m, decode(bytes, "sessions record")?);
        }
        Record::Conversation(id) => {
            let c: ConversationRecord = decode(bytes, "conversation record")?;
            if let Some(s) = c.state {
                state.conversations.insert(id, s);
            }
            if c.group {
                state.groups.insert(id);
            }
            if c.opened {
                state.opened.insert(id);
            }
            if let Some(a) = c.access {
                state.access.groups.insert(id, a);
            }
        }
        _ => {}
    }
    Ok(())
}

impl Client {
    /// Fills a whole state taken from memory with the records not in memory.
    pub(super) fn merge_stored(&self, state: &mut ClientState) -> Result<PeerLists, StoreError> {
        let mut lists = PeerLists::new();
        let (Some(directory), Some(source)) = (&self.saved.directory, &self.saved.source) else {
            return Ok(lists);
        };
        for record in directory.peek_records(&**source)? {
            let resident = match &record {
                Record::Peer(m) => self.contacts.is_resident(m),
                Record::Sessions(m) => self.sessions.is_resident(m),
                Record::Conversation(id) => self.conversations.is_resident(id),
                _ => true,
            };
            if !resident && let Some(bytes) = self.saved.peek(&record)? {
                merge(state, &mut lists, &record, &bytes)?;
            }
        }
        Ok(lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode_into;

    /// A bucket as stored must be what a save writes: entries of its own bucket, sorted, none
    /// twice, at least one. An authenticated record breaking that (only a bug or the storage
    /// key's holder could write one) is corrupt, not an index to trust.
    #[test]
    fn a_stored_bucket_is_refused_unless_canonical() {
        let encoded = |entries: &[(Key, u8)]| {
            let mut out = Vec::new();
            encode_into(entries, &mut out);
            out
        };
        let b = 0x0102;
        let (k1, k2) = ([1, 2, 0, 0, 0, 0, 0, 1], [1, 2, 0, 0, 0, 0, 0, 2]);
        let good = encoded(&[(k1, 1), (k1, 2), (k2, 1)]);
        let bucket: Bucket<u8> = checked_bucket(&good, b).unwrap();
        assert_eq!(bucket.len(), 3);
        let other_bucket = [1, 3, 0, 0, 0, 0, 0, 1];
        for (what, entries) in [
            ("empty", vec![]),
            ("unsorted", vec![(k2, 1), (k1, 1)]),
            ("twice", vec![(k1, 1), (k1, 1)]),
            ("another bucket's key", vec![(k1, 1), (other_bucket, 1)]),
            ("only another bucket's key", vec![(other_bucket, 1)]),
        ] {
            let refused = checked_bucket::<u8>(&encoded(&entries), b);
            assert_eq!(
                refused,
                Err(StoreError::Corrupt(DecodeError::Invalid {
                    what: "index bucket"
                })),
                "{what}"
            );
        }
    }
}
