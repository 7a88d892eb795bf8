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

use std::collections::{BTreeMap, BTreeSet};

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Client;
use super::access::GroupAccess;
use super::outbox::Queued;
use super::records::{Directory, Record, decode, encode};
use super::seen::{CHUNKS, Seen};
use super::state::{
    ClientState, ConnectionState, ContactState, StoredSecret, connection_state, contact_state,
    stored_sessions,
};
use super::store::{ClientStore, StoreError};
use super::tracked::Queue;
use crate::access::AccessKey;
use crate::conversation::ConversationId;
use crate::envelope::{EnvelopeId, MailboxId};
use crate::error::DecodeError;
use crate::platform::Profile;
use crate::wire::Wire;

/// What the store holds, as this client last saved or loaded it.
#[derive(Default)]
pub(super) struct Saved {
    directory: Option<Directory>,
    /// Digests of the records written whole at every save when they change.
    digests: BTreeMap<Record, [u8; 32]>,
    /// The waiting deliveries and outbox entries stored.
    queued: BTreeSet<Record>,
    /// A save failed part way: write everything next time.
    resync: bool,
    /// Bytes the last save wrote.
    last_written: usize,
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
        // A client that never saved writes a new state; the commit refuses it if the store
        // holds one already.
        let matches = match &self.saved.directory {
            Some(d) => d.head_matches(store)?,
            None => None,
        };
        let whole = match matches {
            None => {
                let generation = self.generation();
                self.saved = Saved {
                    directory: Some(Directory::new(rng, generation)),
                    ..Saved::default()
                };
                true
            }
            Some(true) => self.saved.resync,
            Some(false) => return Err(StoreError::Conflict),
        };
        let (changes, digests) = self.changes(whole);
        let queued = self.queued_records();
        let directory = self
            .saved
            .directory
            .get_or_insert_with(|| Directory::new(rng, 0));
        match directory.commit(rng, store, changes) {
            Ok(written) => {
                self.saved.digests = digests;
                self.saved.queued = queued;
                self.saved.resync = false;
                self.saved.last_written = written;
                Ok(())
            }
            Err(e) => {
                self.saved.resync = true;
                Err(e)
            }
        }
    }

    /// Restores a client from `store`, or `None` if it holds no state. A state an earlier
    /// version saved whole is read, and written as records by the next save.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] or [`StoreError::Missing`] for a record that does not
    /// authenticate at the version the state lists, or is gone; [`StoreError::Corrupt`] for
    /// one that does not decode or breaks an invariant.
    pub fn load_from(store: &dyn ClientStore) -> Result<Option<Self>, StoreError> {
        let Some((directory, records)) = Directory::load(store)? else {
            return match store.legacy()? {
                Some(bytes) => Self::from_bytes(&bytes)
                    .map(Some)
                    .map_err(StoreError::Corrupt),
                None => Ok(None),
            };
        };
        let mut client = from_records(records)?;
        client.saved.directory = Some(directory);
        // The digests are taken again by the first save, which then writes those records
        // once more: cheaper than encoding them all now.
        client.saved.queued = client.queued_records();
        Ok(Some(client))
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

    fn queued_records(&self) -> BTreeSet<Record> {
        let pending = self.pending.numbered().map(|(n, _)| Record::Pending(n));
        let outbox = self.outbox.numbered().map(|(n, _)| Record::Outbox(n));
        pending.chain(outbox).collect()
    }

    /// The records to write: those changed since the last save, or all of them.
    fn changes(&mut self, whole: bool) -> (Vec<Change>, BTreeMap<Record, [u8; 32]>) {
        if whole {
            self.touch_all();
        }
        let mut changes = Vec::new();
        let mut digests = BTreeMap::new();
        let core = Zeroizing::new(self.state(false).to_wire());
        let fanout = self.fanout.to_bytes();
        for (record, bytes) in [(Record::Core, &core[..]), (Record::FanOut, &fanout[..])] {
            let digest: [u8; 32] = Sha256::digest(bytes).into();
            if whole || self.saved.digests.get(&record) != Some(&digest) {
                changes.push((record, Some(Zeroizing::new(bytes.to_vec()))));
            }
            digests.insert(record, digest);
        }
        let mut peers = self.contacts.take_touched();
        peers.extend(self.profiles.take_touched());
        peers.extend(self.connections.take_touched());
        peers.extend(self.direct.take_touched());
        peers.extend(self.granted.take_touched());
        peers.extend(self.access.peers.take_touched());
        peers.extend(self.access.holders.take_touched());
        for m in peers {
            changes.push((Record::Peer(m), self.peer_record(&m)));
        }
        for m in self.sessions.take_touched() {
            let value = self.sessions.get(&m).map(|s| encode(&stored_sessions(s)));
            changes.push((Record::Sessions(m), value));
        }
        let mut conversations = self.conversations.take_touched();
        conversations.extend(self.groups.take_touched());
        conversations.extend(self.opened.take_touched());
        conversations.extend(self.access.groups.take_touched());
        for id in conversations {
            changes.push((Record::Conversation(id), self.conversation_record(&id)));
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
            let stale: Vec<Record> = self.saved.directory.as_ref().map_or(Vec::new(), |d| {
                d.records().filter(|r| !written.contains(r)).collect()
            });
            changes.extend(stale.into_iter().map(|r| (r, None)));
        }
        (changes, digests)
    }

    fn touch_all(&mut self) {
        self.contacts.touch_all();
        self.profiles.touch_all();
        self.connections.touch_all();
        self.direct.touch_all();
        self.granted.touch_all();
        self.access.peers.touch_all();
        self.access.holders.touch_all();
        self.sessions.touch_all();
        self.conversations.touch_all();
        self.groups.touch_all();
        self.opened.touch_all();
        self.access.groups.touch_all();
        self.seen.touch_all();
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
        (!empty).then(|| encode(&record))
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
    for (record, bytes) in &records {
        match *record {
            Record::Core => {}
            Record::FanOut => state.fanout = bytes.to_vec(),
            Record::Peer(m) => {
                let p: PeerRecord = decode(bytes, "peer record")?;
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
            Record::Head | Record::Node(_) | Record::Leaf(_) => {
                return Err(StoreError::Corrupt(DecodeError::Invalid {
                    what: "client record",
                }));
            }
        }
    }
    let mut client = state.into_client().map_err(StoreError::Corrupt)?;
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
