//! The client's state at rest as records (PROTOCOL.md §9.6): each sealed on its own under the
//! storage key, with its name and version bound in, and filed under an opaque row key. A
//! three-level directory of versions (head → 64 nodes → 4,096 leaves → records) says which
//! records exist and which version of each is current, so a save writes the records it changed
//! plus one leaf, one node and the head for each, and a record dropped, swapped or replayed
//! from an older save is refused when read.

use std::collections::BTreeMap;

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::store::{ClientStore, RecordReader, RowKey, StoreError};
use crate::conversation::ConversationId;
use crate::crypto::aead::{AeadKey, NONCE_LEN};
use crate::crypto::kdf::{self, Prk};
use crate::envelope::MailboxId;
use crate::error::DecodeError;

/// Nodes under the head, and leaves under each node.
const FANOUT: usize = 64;
const LEAVES: usize = FANOUT * FANOUT;
const AAD_DOMAIN: &[u8] = b"missive/v1/record";
const HEAD_ROW: RowKey = [0; 16];
/// Loads tried while other writers keep replacing the head.
const MAX_LOADS: u32 = 16;

/// A record's name. Its postcard encoding is what row keys and seals bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(super) enum Record {
    /// The state id, the generation and the nodes' versions.
    Head,
    /// Node `n`: the versions of leaves `64n .. 64n + 64`.
    Node(u8),
    /// Leaf `l`: the names and versions of the records filed under it.
    Leaf(u16),
    /// Identity, mailbox, prekeys, profile, settings, credentials and tokens.
    Core,
    FanOut,
    Seen(u8),
    Pending(u64),
    Outbox(u64),
    /// What we know of one member: contact, profile, connection, access keys.
    Peer(MailboxId),
    Sessions(MailboxId),
    Conversation(ConversationId),
    Labels(u16),
    Catalog,
    Names(u16),
    Rosters(u16),
    /// The account this client is a device of: its keys and device list.
    Account,
    /// Link codes shown or answered and not done with.
    Links,
    Seals(u16),
}

impl Record {
    fn name(&self) -> Vec<u8> {
        let mut out = Vec::new();
        crate::wire::encode_into(self, &mut out);
        out
    }
}

/// Where records are read from: the store itself, or a reader of it.
pub(super) trait Source {
    fn key(&self) -> &StorageKey;
    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError>;
}

impl Source for dyn ClientStore + '_ {
    fn key(&self) -> &StorageKey {
        ClientStore::key(self)
    }
    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        ClientStore::get(self, row)
    }
}

impl Source for dyn RecordReader {
    fn key(&self) -> &StorageKey {
        RecordReader::key(self)
    }
    fn get(&self, row: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        RecordReader::get(self, row)
    }
}

/// The key a client's records are sealed under, from the 32 bytes an app keeps in its
/// platform's keystore.
#[derive(Clone)]
pub struct StorageKey {
    seal: AeadKey,
    rows: Prk,
    /// The app's key itself, for states saved whole before records (sealed under it).
    #[cfg(feature = "sqlite-store")]
    legacy: AeadKey,
}

impl StorageKey {
    /// The storage key from the app's 32 bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        let prk = kdf::extract(b"missive/v1/storage", key);
        let seal = kdf::expand_array::<32>(&prk, &[b"seal"]);
        Self {
            seal: AeadKey::new(&seal),
            rows: kdf::expand_array::<32>(&prk, &[b"rows"]),
            #[cfg(feature = "sqlite-store")]
            legacy: AeadKey::new(key),
        }
    }

    /// A random key (for a state that lives in memory only).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self::new(&key)
    }

    /// The row a record is filed under: a PRF of its name, so a store learns nothing from
    /// row keys but how many records there are. The head's row is fixed (all zero), so a
    /// wrong key finds a head it cannot open rather than no state at all.
    pub(super) fn row(&self, record: &Record) -> RowKey {
        if *record == Record::Head {
            return HEAD_ROW;
        }
        *kdf::expand_array::<16>(&self.rows, &[b"row", &record.name()])
    }

    #[cfg(feature = "sqlite-store")]
    pub(super) fn legacy(&self) -> &AeadKey {
        &self.legacy
    }

    fn aad(record: &Record, version: u64) -> Vec<u8> {
        [AAD_DOMAIN, &record.name(), &version.to_be_bytes()].concat()
    }

    fn seal<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        record: &Record,
        version: u64,
        plain: &[u8],
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = self.seal.seal(&nonce, &Self::aad(record, version), plain);
        [&nonce[..], &sealed].concat()
    }

    fn open(
        &self,
        record: &Record,
        version: u64,
        stored: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let (nonce, sealed) = stored
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(StoreError::Tampered)?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        self.seal
            .open_in_place(nonce, &Self::aad(record, version), &mut buf)
            .map_err(|_| StoreError::Tampered)?;
        Ok(buf)
    }
}

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
struct HeadState {
    state: [u8; 16],
    generation: u64,
    nodes: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct LeafState {
    records: Vec<(Record, u64)>,
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(DecodeError::Invalid { what })
}

/// A record's plaintext as decoded strictly; what does not decode is corrupt.
pub(super) fn decode<T: Serialize + serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, StoreError> {
    crate::wire::decode_body(bytes, what).map_err(StoreError::Corrupt)
}

/// A record's plaintext, wiped on drop.
pub(super) fn encode<T: Serialize>(value: &T) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    crate::wire::encode_into(value, &mut out);
    out
}

/// Every record's plaintext, by name.
pub(super) type Plaintexts = BTreeMap<Record, Zeroizing<Vec<u8>>>;

/// Which records exist and at which version. The head and nodes are read at start; a leaf
/// when a record it lists is first read (every leaf, for a client loaded whole).
pub(super) struct Directory {
    /// The head as stored when this directory last read or wrote it (`None`: not yet): the
    /// store commits only while its head is still this one.
    head: Option<Vec<u8>>,
    state: [u8; 16],
    generation: u64,
    /// Each node's version (0: all its leaves empty, never stored).
    nodes: Vec<u64>,
    /// Each leaf's version (0: empty, never stored).
    leaves: Vec<u64>,
    /// Each leaf's records (`None`: not read yet).
    entries: Vec<Option<BTreeMap<Record, u64>>>,
}

fn leaf_of(row: &RowKey) -> usize {
    usize::from(u16::from_be_bytes([row[0], row[1]])) % LEAVES
}

impl Directory {
    /// An empty directory for a new state, its generations counted on from `generation` (a
    /// client's generation only grows, whatever store it saves to).
    pub(super) fn new<R: CryptoRng + ?Sized>(rng: &mut R, generation: u64) -> Self {
        let mut state = [0u8; 16];
        rng.fill_bytes(&mut state);
        Self {
            head: None,
            state,
            generation,
            nodes: vec![0; FANOUT],
            leaves: vec![0; LEAVES],
            entries: vec![Some(BTreeMap::new()); LEAVES],
        }
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Every record the state lists, reading the leaves not read yet.
    pub(super) fn records<S: Source + ?Sized>(
        &mut self,
        src: &S,
    ) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        for leaf in 0..LEAVES {
            records.extend(self.leaf(src, leaf)?.keys().copied());
        }
        Ok(records)
    }

    /// Every record the state lists, keeping none of the leaves read.
    pub(super) fn peek_records<S: Source + ?Sized>(
        &self,
        src: &S,
    ) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::new();
        for (leaf, entries) in self.entries.iter().enumerate() {
            match entries {
                Some(e) => records.extend(e.keys().copied()),
                None => records.extend(read_leaf(src, leaf, self.leaves[leaf])?.into_keys()),
            }
        }
        Ok(records)
    }

    /// Every record the leaves in memory list.
    pub(super) fn listed(&self) -> Vec<Record> {
        let leaves = self.entries.iter().flatten();
        leaves.flat_map(|e| e.keys().copied()).collect()
    }

    /// Whether `store`'s head is the one this directory last read or wrote (`None`: the
    /// store holds no state).
    pub(super) fn head_matches<S: Source + ?Sized>(
        &self,
        store: &S,
    ) -> Result<Option<bool>, StoreError> {
        let stored = store.get(&HEAD_ROW)?;
        Ok(stored.map(|stored| self.head.as_deref() == Some(&stored[..])))
    }

    fn leaf<S: Source + ?Sized>(
        &mut self,
        src: &S,
        leaf: usize,
    ) -> Result<&BTreeMap<Record, u64>, StoreError> {
        let version = *self.leaves.get(leaf).ok_or(corrupt("state leaf"))?;
        let slot = self.entries.get_mut(leaf).ok_or(corrupt("state leaf"))?;
        if slot.is_none() {
            *slot = Some(read_leaf(src, leaf, version)?);
        }
        Ok(slot.get_or_insert_with(BTreeMap::new))
    }

    /// Record `record` as the state lists it, or `None` if it lists none.
    pub(super) fn read<S: Source + ?Sized>(
        &mut self,
        src: &S,
        record: &Record,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let leaf = leaf_of(&src.key().row(record));
        let Some(&version) = self.leaf(src, leaf)?.get(record) else {
            return Ok(None);
        };
        read(src, record, version).map(Some)
    }

    /// As [`Directory::read`], keeping nothing it read.
    pub(super) fn peek<S: Source + ?Sized>(
        &self,
        src: &S,
        record: &Record,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let leaf = leaf_of(&src.key().row(record));
        let version = match self.entries.get(leaf) {
            Some(Some(entries)) => entries.get(record).copied(),
            _ => {
                let version = *self.leaves.get(leaf).ok_or(corrupt("state leaf"))?;
                read_leaf(src, leaf, version)?.get(record).copied()
            }
        };
        version.map(|v| read(src, record, v)).transpose()
    }

    /// Writes `changes` (`None` deletes) as generation + 1, with the leaves and nodes above
    /// them and a new head, in one commit that takes effect only while the store's head is
    /// still the one this directory knows. Returns the bytes written.
    pub(super) fn commit<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        store: &mut dyn ClientStore,
        changes: Vec<(Record, Option<Zeroizing<Vec<u8>>>)>,
    ) -> Result<usize, StoreError> {
        let key = ClientStore::key(store).clone();
        let generation = self.generation + 1;
        let mut rows: Vec<(RowKey, Option<Vec<u8>>)> = Vec::with_capacity(changes.len() + 3);
        let mut touched: BTreeMap<usize, BTreeMap<Record, u64>> = BTreeMap::new();
        for (record, value) in changes {
            let row = key.row(&record);
            let leaf = leaf_of(&row);
            let entries = match touched.entry(leaf) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(self.leaf(&*store, leaf)?.clone())
                }
            };
            match value {
                Some(plain) => {
                    entries.insert(record, generation);
                    rows.push((row, Some(key.seal(rng, &record, generation, &plain))));
                }
                None => {
                    if entries.remove(&record).is_some() {
                        rows.push((row, None));
                    }
                }
            }
        }
        // Only the nodes above a touched leaf are copied and changed: staging all 4,096
        // leaf versions would cost 32 KB per save.
        let mut staged: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for (leaf, entries) in &touched {
            let record = Record::Leaf(*leaf as u16);
            let row = key.row(&record);
            let node = leaf / FANOUT;
            let versions = staged
                .entry(node)
                .or_insert_with(|| self.leaves[node * FANOUT..(node + 1) * FANOUT].to_vec());
            if entries.is_empty() {
                versions[leaf % FANOUT] = 0;
                rows.push((row, None));
            } else {
                versions[leaf % FANOUT] = generation;
                let state = LeafState {
                    records: entries.iter().map(|(r, v)| (*r, *v)).collect(),
                };
                let sealed = key.seal(rng, &record, generation, &encode(&state));
                rows.push((row, Some(sealed)));
            }
        }
        let mut nodes = self.nodes.clone();
        for (node, versions) in &staged {
            let record = Record::Node(*node as u8);
            let row = key.row(&record);
            if versions.iter().all(|&v| v == 0) {
                nodes[*node] = 0;
                rows.push((row, None));
            } else {
                nodes[*node] = generation;
                let sealed = key.seal(rng, &record, generation, &encode(versions));
                rows.push((row, Some(sealed)));
            }
        }
        let head = HeadState {
            state: self.state,
            generation,
            nodes: nodes.clone(),
        };
        let head = key.seal(rng, &Record::Head, 0, &encode(&head));
        rows.push((HEAD_ROW, Some(head.clone())));
        let written = rows
            .iter()
            .map(|(_, v)| 16 + v.as_ref().map_or(0, Vec::len))
            .sum();
        store.commit(&HEAD_ROW, self.head.as_deref(), &rows)?;
        self.head = Some(head);
        for (leaf, entries) in touched {
            self.entries[leaf] = Some(entries);
        }
        for (node, versions) in staged {
            self.leaves[node * FANOUT..(node + 1) * FANOUT].copy_from_slice(&versions);
        }
        self.nodes = nodes;
        self.generation = generation;
        Ok(written)
    }

    /// Reads the state's head and nodes, then whatever `read` reads through the directory,
    /// all from one snapshot of the store; `None` if it holds no state. A read that a save
    /// from elsewhere overtook (the head changed meanwhile) is done again, up to 16 times,
    /// then [`StoreError::Conflict`].
    pub(super) fn load<T>(
        store: &dyn ClientStore,
        mut then: impl FnMut(&mut Self, &dyn ClientStore) -> Result<T, StoreError>,
    ) -> Result<Option<(Self, T)>, StoreError> {
        for _ in 0..MAX_LOADS {
            let mut attempt = None;
            store.consistent(&mut || {
                let before = ClientStore::get(store, &HEAD_ROW)?;
                let loaded = Self::load_once(store, &mut then);
                attempt = (ClientStore::get(store, &HEAD_ROW)? == before).then_some(loaded);
                Ok(())
            })?;
            if let Some(loaded) = attempt {
                return loaded;
            }
        }
        Err(StoreError::Conflict)
    }

    /// Every record the state lists, read with [`Directory::load`].
    pub(super) fn load_all(
        store: &dyn ClientStore,
    ) -> Result<Option<(Self, Plaintexts)>, StoreError> {
        Self::load(store, |directory, store| {
            let mut records = BTreeMap::new();
            for record in directory.records(store)? {
                if let Some(bytes) = directory.read(store, &record)? {
                    records.insert(record, bytes);
                }
            }
            Ok(records)
        })
    }

    fn load_once<T>(
        store: &dyn ClientStore,
        then: &mut impl FnMut(&mut Self, &dyn ClientStore) -> Result<T, StoreError>,
    ) -> Result<Option<(Self, T)>, StoreError> {
        let Some((stored, head)) = read_head(store)? else {
            return Ok(None);
        };
        if head.nodes.len() != FANOUT {
            return Err(corrupt("state head"));
        }
        let mut directory = Self {
            head: Some(stored),
            state: head.state,
            generation: head.generation,
            nodes: head.nodes.clone(),
            leaves: vec![0; LEAVES],
            entries: vec![Some(BTreeMap::new()); LEAVES],
        };
        for (node, &version) in head.nodes.iter().enumerate() {
            if version == 0 {
                continue;
            }
            let record = Record::Node(node as u8);
            let versions: Vec<u64> = decode(&read(store, &record, version)?, "state node")?;
            let within = versions.iter().all(|&v| v <= version);
            if versions.len() != FANOUT || !within || versions.iter().all(|&v| v == 0) {
                return Err(corrupt("state node"));
            }
            for (i, &leaf_version) in versions.iter().enumerate() {
                let leaf = node * FANOUT + i;
                directory.leaves[leaf] = leaf_version;
                if leaf_version != 0 {
                    directory.entries[leaf] = None;
                }
            }
        }
        let value = then(&mut directory, store)?;
        Ok(Some((directory, value)))
    }

    /// The state's head changed since this directory read or wrote it: what failed to read
    /// was overtaken by another writer, not tampered with.
    pub(super) fn overtaken<S: Source + ?Sized>(&self, src: &S) -> bool {
        self.head_matches(src).is_ok_and(|m| m != Some(true))
    }
}

fn is_directory(record: &Record) -> bool {
    matches!(record, Record::Head | Record::Node(_) | Record::Leaf(_))
}

fn read_head(store: &dyn ClientStore) -> Result<Option<(Vec<u8>, HeadState)>, StoreError> {
    let Some(stored) = ClientStore::get(store, &HEAD_ROW)? else {
        return Ok(None);
    };
    let plain = ClientStore::key(store).open(&Record::Head, 0, stored.clone())?;
    Ok(Some((stored, decode(&plain, "state head")?)))
}

/// Leaf `leaf`'s records, checked to be filed there, sorted and within its version.
fn read_leaf<S: Source + ?Sized>(
    src: &S,
    leaf: usize,
    version: u64,
) -> Result<BTreeMap<Record, u64>, StoreError> {
    if version == 0 {
        return Ok(BTreeMap::new());
    }
    let record = Record::Leaf(leaf as u16);
    let state: LeafState = decode(&read(src, &record, version)?, "state leaf")?;
    let key = src.key();
    let sorted = state.records.windows(2).all(|w| w[0].0 < w[1].0);
    let filed = state
        .records
        .iter()
        .all(|(r, v)| leaf_of(&key.row(r)) == leaf && *v <= version && !is_directory(r));
    if state.records.is_empty() || !sorted || !filed {
        return Err(corrupt("state leaf"));
    }
    Ok(state.records.into_iter().collect())
}

fn read<S: Source + ?Sized>(
    src: &S,
    record: &Record,
    version: u64,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let key = src.key();
    let stored = src.get(&key.row(record))?.ok_or(StoreError::Missing)?;
    key.open(record, version, stored)
}

/// One stored record as its directory lists it: what a vector file shows of a state at rest.
#[cfg(feature = "vectors")]
pub(crate) struct Listed {
    /// `Peer(<mailbox>)`, `Leaf(17)`: the record's name as the protocol's table writes it.
    pub(crate) record: String,
    /// The name's postcard bytes, which the row key and the seal bind.
    pub(crate) name: Vec<u8>,
    pub(crate) row: RowKey,
    pub(crate) version: u64,
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
}

#[cfg(feature = "vectors")]
fn label(record: &Record) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match record {
        Record::Peer(m) => format!("Peer({})", hex(&m.0)),
        Record::Sessions(m) => format!("Sessions({})", hex(&m.0)),
        Record::Conversation(c) => format!("Conversation({})", hex(&c.0)),
        other => format!("{other:?}"),
    }
}

/// A state as stored: its head's state id and generation, and every record.
#[cfg(feature = "vectors")]
pub(crate) type Listing = ([u8; 16], u64, Vec<Listed>);

/// Every record of the state in `store`, the head's state id and generation first: the head,
/// the nodes, the leaves, then the records, each group in the order of the enum (variant, then
/// field). `None`: the store holds no state.
#[cfg(feature = "vectors")]
pub(crate) fn listing(store: &dyn ClientStore) -> Result<Option<Listing>, StoreError> {
    let Some((mut directory, plaintexts)) = Directory::load_all(store)? else {
        return Ok(None);
    };
    let key = ClientStore::key(store).clone();
    let mut versions: BTreeMap<Record, u64> = BTreeMap::new();
    versions.insert(Record::Head, 0);
    for (node, &v) in directory.nodes.iter().enumerate().filter(|(_, v)| **v != 0) {
        versions.insert(Record::Node(node as u8), v);
    }
    for (leaf, &v) in directory
        .leaves
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
    {
        versions.insert(Record::Leaf(leaf as u16), v);
    }
    for leaf in 0..LEAVES {
        versions.extend(directory.leaf(store, leaf)?.iter().map(|(r, v)| (*r, *v)));
    }
    let mut listed = Vec::with_capacity(versions.len());
    for (record, version) in versions {
        let plaintext = match plaintexts.get(&record) {
            Some(p) => p.clone(),
            None => read(store, &record, version)?,
        };
        listed.push(Listed {
            record: label(&record),
            name: record.name(),
            row: key.row(&record),
            version,
            plaintext,
        });
    }
    Ok(Some((directory.state, directory.generation, listed)))
}

/// The first leaf of the state in `store`, listing also the first record filed under another
/// leaf, sealed at the leaf's version: what a writer holding the key but filing wrongly would
/// store. `None`: the state has fewer than two leaves.
#[cfg(feature = "vectors")]
pub(crate) fn misfiled_leaf<R: CryptoRng + ?Sized>(
    rng: &mut R,
    store: &dyn ClientStore,
) -> Result<Option<(RowKey, Vec<u8>)>, StoreError> {
    let Some((mut directory, _)) = Directory::load_all(store)? else {
        return Ok(None);
    };
    let mut leaves = Vec::new();
    for leaf in 0..LEAVES {
        let entries = directory.leaf(store, leaf)?;
        if !entries.is_empty() {
            leaves.push((leaf, entries.clone()));
        }
    }
    let [(leaf, entries), (_, other), ..] = leaves.as_slice() else {
        return Ok(None);
    };
    let mut entries = entries.clone();
    entries.extend(other.first_key_value().map(|(r, v)| (*r, *v)));
    let key = ClientStore::key(store);
    let record = Record::Leaf(*leaf as u16);
    let state = LeafState {
        records: entries.into_iter().collect(),
    };
    let sealed = key.seal(rng, &record, directory.leaves[*leaf], &encode(&state));
    Ok(Some((key.row(&record), sealed)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A record files under the leaf its row's first two bytes name, modulo 4,096 (§9.6.1).
    #[test]
    fn leaves_are_the_first_two_bytes_of_the_row_modulo_4096() {
        let row = |a: u8, b: u8| {
            let mut r = [0u8; 16];
            (r[0], r[1]) = (a, b);
            r
        };
        assert_eq!(leaf_of(&row(0x0f, 0xff)), 4095);
        assert_eq!(leaf_of(&row(0x10, 0x00)), 0);
        assert_eq!(leaf_of(&row(0xff, 0xfe)), 4094);
        assert_eq!((FANOUT, LEAVES), (64, 4096));
    }

    /// A store holding only a directory written by hand: a head listing one node, the node
    /// listing one leaf at index `leaf`, and that leaf holding `records`, all at version 1.
    fn directory_of(
        key: &StorageKey,
        leaf: usize,
        node: Vec<u64>,
        records: Vec<(Record, u64)>,
    ) -> crate::client::MemoryStore {
        let mut store = crate::client::MemoryStore::new(key.clone());
        let mut nodes = vec![0; FANOUT];
        nodes[leaf / FANOUT] = 1;
        let head = HeadState {
            state: [0; 16],
            generation: 1,
            nodes,
        };
        let rng = &mut rand::rng();
        let mut rows = store.rows_mut();
        let node_record = Record::Node((leaf / FANOUT) as u8);
        let leaf_record = Record::Leaf(leaf as u16);
        rows.insert(HEAD_ROW, key.seal(rng, &Record::Head, 0, &encode(&head)));
        let sealed = key.seal(rng, &node_record, 1, &encode(&node));
        rows.insert(key.row(&node_record), sealed);
        let sealed = key.seal(rng, &leaf_record, 1, &encode(&LeafState { records }));
        rows.insert(key.row(&leaf_record), sealed);
        drop(rows);
        store
    }

    /// Two peers' records that file under the same leaf, and that leaf.
    fn two_in_one_leaf(key: &StorageKey) -> (Record, Record, usize) {
        let peer = |i: u32| {
            let mut m = [0u8; 16];
            m[..4].copy_from_slice(&i.to_be_bytes());
            Record::Peer(MailboxId(m))
        };
        let first = peer(0);
        let leaf = leaf_of(&key.row(&first));
        let second = (1..)
            .map(peer)
            .find(|r| leaf_of(&key.row(r)) == leaf)
            .unwrap_or(first);
        (first.min(second), first.max(second), leaf)
    }

    fn refusal(store: &crate::client::MemoryStore) -> Option<StoreError> {
        Directory::load_all(store).err()
    }

    /// What only a writer holding the key could store, but a wrong implementation might: a
    /// directory that is not in its one shape is corrupt, whatever its seals say.
    #[test]
    fn a_directory_out_of_shape_is_refused() {
        let key = StorageKey::new(&[1; 32]);
        let (a, b, leaf) = two_in_one_leaf(&key);
        assert_ne!(a, b);
        let mut node = vec![0; FANOUT];
        node[leaf % FANOUT] = 1;
        let leaf_error = Some(corrupt("state leaf"));
        let node_error = Some(corrupt("state node"));
        // In shape, the records it lists are read (and missing here).
        let good = directory_of(&key, leaf, node.clone(), vec![(a, 1), (b, 1)]);
        assert_eq!(refusal(&good), Some(StoreError::Missing));
        for records in [
            vec![],
            vec![(b, 1), (a, 1)],
            vec![(a, 1), (a, 1)],
            vec![(a, 2)],
        ] {
            let store = directory_of(&key, leaf, node.clone(), records);
            assert_eq!(refusal(&store), leaf_error);
        }
        // An entry filed under another leaf, and a directory record listed as a record.
        let elsewhere = (0..=u8::MAX)
            .map(Record::Seen)
            .find(|r| leaf_of(&key.row(r)) != leaf)
            .unwrap();
        let store = directory_of(&key, leaf, node.clone(), vec![(elsewhere, 1)]);
        assert_eq!(refusal(&store), leaf_error);
        let directory_record = (0..=u16::MAX)
            .map(Record::Leaf)
            .chain((0u8..=255).map(Record::Node))
            .find(|r| leaf_of(&key.row(r)) == leaf);
        let store = directory_of(
            &key,
            leaf,
            node.clone(),
            vec![(directory_record.unwrap(), 1)],
        );
        assert_eq!(refusal(&store), leaf_error);
        // A node of the wrong length, listing a version above its own, or listing nothing.
        let mut later = node.clone();
        later[(leaf + 1) % FANOUT] = 2;
        for bad in [node[..FANOUT - 1].to_vec(), later, vec![0; FANOUT]] {
            let store = directory_of(&key, leaf, bad, vec![(a, 1)]);
            assert_eq!(refusal(&store), node_error);
        }
    }

    #[test]
    fn a_storage_key_shows_nothing_of_itself() {
        let key = StorageKey::new(&[0xab; 32]);
        assert_eq!(format!("{key:?}"), "StorageKey(..)");
    }
}
