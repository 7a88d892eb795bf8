//! A client's state as records in its store (PROTOCOL.md §9.6.1): `client/records.json`.
//!
//! The inputs are the app's key `K` and a store's rows as a client left them after a few
//! saves; the outputs are `KS` and `KR`, every record the directory lists (its name, row, leaf,
//! version and plaintext), and what the client loaded from the rows holds. Then the same rows
//! edited as an attacker with the disk (or a wrong key) would: each edit is refused with its
//! error, but one (a deleted record put back, listed by no leaf) that changes nothing. Reading
//! needs no nonce of ours, so a second implementation's store is checked here as ours is there.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::client_state::{NOW, STORAGE_KEY, Three, World, holdings};
use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::client::records::{Listed, listing, misfiled_leaf};
use crate::client::{Client, MemoryStore, RowKey, StorageKey, StoreError};
use crate::conversation::Role;
use crate::crypto::kdf;
use crate::error::{DecodeError, Error};

const DESCRIPTION: &str = "A client's state as records in its store (PROTOCOL.md 9.6.1): the \
    app's key and the store's rows after six saves; KS, KR and every record the directory \
    lists; what the client loaded from them holds; then the rows edited as someone with the \
    disk would, each edit refused with its error but a deleted record put back, which no leaf \
    lists.";

/// A plaintext longer than this is given by its SHA-256 and length.
const SHORT: usize = 4096;

type Rows = Vec<(RowKey, Vec<u8>)>;

fn rows_json(rows: &Rows) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|(row, stored)| json!({"row": hex(row), "stored": hex(stored)}))
        .collect();
    Value::Array(rows)
}

fn read_rows(place: &Place<'_>, key: &str) -> Result<Rows, Failure> {
    place
        .list(key)?
        .iter()
        .map(|r| Ok((r.array::<16>("row")?, r.hex("stored")?)))
        .collect()
}

fn store_of(key: &[u8; 32], rows: Rows) -> MemoryStore {
    let mut store = MemoryStore::new(StorageKey::new(key));
    store.rows_mut().extend(rows);
    store
}

/// A store error as a vector file names it; a corrupt record also says which.
fn store_error_name(e: StoreError) -> String {
    match e {
        StoreError::Corrupt(DecodeError::Invalid { what }) => {
            format!("StoreError::Corrupt: {what}")
        }
        other => error_name(&Error::Store(other)),
    }
}

/// The client the rows hold, every record read and authenticated, and what it gives.
fn load(store: &MemoryStore) -> Value {
    let loaded = Client::load_from(store).and_then(|c| match c {
        Some(c) => c.check_store().map(|()| Some(c)),
        None => Ok(None),
    });
    match loaded {
        Err(e) => json!({"loaded": store_error_name(e)}),
        Ok(None) => json!({"loaded": "no state"}),
        Ok(Some(client)) => {
            let holds = holdings(&client).unwrap_or_else(|e| json!({"error": error_name(&e)}));
            let state = client
                .to_bytes()
                .map(|b| super::stored::saved(&b))
                .unwrap_or_else(|e| json!({"error": store_error_name(e)}));
            json!({"loaded": "ok", "generation": client.generation(), "holds": holds,
                   "state": state})
        }
    }
}

fn plaintext(bytes: &[u8]) -> Value {
    if bytes.len() <= SHORT {
        hex(bytes)
    } else {
        use sha2::{Digest, Sha256};
        json!({"sha256": hex(Sha256::digest(bytes)), "length": bytes.len()})
    }
}

fn is_directory(record: &str) -> bool {
    ["Head", "Node(", "Leaf("]
        .iter()
        .any(|p| record.starts_with(p))
}

fn listed_json(listed: &Listed) -> Value {
    let directory = is_directory(&listed.record);
    let mut out = json!({"record": listed.record, "name": hex(&listed.name),
                         "row": hex(listed.row), "version": listed.version,
                         "plaintext": plaintext(&listed.plaintext)});
    if !directory {
        out["leaf"] = json!(usize::from(u16::from_be_bytes([listed.row[0], listed.row[1]])) % 4096);
    }
    out
}

pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let inputs = Place::root(file).field("inputs")?;
    let key = inputs.array::<32>("key")?;
    let rows = read_rows(&inputs, "rows")?;
    let prk = kdf::extract(b"missive/v1/storage", &key);
    let ks = kdf::expand_array::<32>(&prk, &[b"seal"]);
    let kr = kdf::expand_array::<32>(&prk, &[b"rows"]);
    let store = store_of(&key, rows.clone());
    let (state_id, generation, records) = match listing(&store) {
        Ok(Some((id, generation, listed))) => (
            hex(id),
            json!(generation),
            listed.iter().map(listed_json).collect(),
        ),
        Ok(None) => (Value::Null, Value::Null, Vec::new()),
        Err(e) => (json!(store_error_name(e)), Value::Null, Vec::new()),
    };
    let mut cases = Vec::new();
    for case in inputs.list("cases")? {
        let key = match case.optional("key") {
            Some(_) => case.array::<32>("key")?,
            None => key,
        };
        let mut edited = rows.clone();
        for put in case.list("put")? {
            let (row, stored) = (put.array::<16>("row")?, put.hex("stored")?);
            edited.retain(|(r, _)| *r != row);
            edited.push((row, stored));
        }
        for gone in case.list("delete")? {
            let row: [u8; 16] = gone
                .bytes()?
                .try_into()
                .map_err(|_| Failure::input(gone.path(), "16 bytes"))?;
            edited.retain(|(r, _)| *r != row);
        }
        cases.push(load(&store_of(&key, edited)));
    }
    Ok(with_outputs(
        file,
        json!({"ks": hex(*ks), "kr": hex(*kr), "state_id": state_id, "generation": generation,
               "records": records, "cases": cases}),
    ))
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    let inputs = our_inputs().unwrap_or_else(|e| json!({"error": error_name(&e)}));
    skeleton("records", DESCRIPTION, inputs)
}

fn rows_of(store: &MemoryStore) -> Rows {
    let mut copy = store.clone();
    let rows = copy.rows_mut();
    rows.iter().map(|(r, s)| (*r, s.clone())).collect()
}

fn our_inputs() -> Result<Value, Error> {
    let mut world = World::new(0x5eed_0961);
    let Three {
        mut ana,
        ben,
        mut cara,
        hello,
    } = world.three()?;
    let (ben_id, cara_id, ana_id) = (*ben.mailbox_id(), *cara.mailbox_id(), *ana.mailbox_id());
    let store = world.stores.get(&ana_id).ok_or(StoreError::Missing)?;
    let older = rows_of(store);
    let members = [(ben_id, Role::Member), (cara_id, Role::Member)];
    let created = ana.create_group(&mut world.rng, &members, NOW)?;
    let (_, created) = world.save(ana_id, created)?;
    world.deliver(&mut cara, &created)?;
    // The relay took the message to Ben: its outbox entry is deleted by the last save.
    for sent in &hello {
        ana.accepted(sent);
    }
    let mut store = world.stores.remove(&ana_id).ok_or(StoreError::Missing)?;
    ana.save_to(&mut StdRng::seed_from_u64(0x5ea1_0961), &mut store)?;
    let rows = rows_of(&store);
    let cases = edits(&store, &older, &rows, &ben_id.0, &cara_id.0)?;
    Ok(json!({"key": hex(STORAGE_KEY), "rows": rows_json(&rows), "cases": cases}))
}

/// The rows as saved, then each edit.
fn edits(
    store: &MemoryStore,
    older: &Rows,
    rows: &Rows,
    ben: &[u8; 16],
    cara: &[u8; 16],
) -> Result<Vec<Value>, Error> {
    let Some((_, _, listed)) = listing(store)? else {
        return Ok(Vec::new());
    };
    let row_of = |record: &str| listed.iter().find(|l| l.record == record).map(|l| l.row);
    let stored_at = |rows: &Rows, row: Option<RowKey>| {
        rows.iter()
            .find(|(r, _)| Some(*r) == row)
            .map(|(r, s)| json!({"row": hex(r), "stored": hex(s)}))
    };
    let hexed = |b: &[u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (peer_ben, peer_cara) = (
        row_of(&format!("Peer({})", hexed(ben))),
        row_of(&format!("Peer({})", hexed(cara))),
    );
    let sessions_ben = row_of(&format!("Sessions({})", hexed(ben)));
    let changed = |row: &RowKey| {
        let now = rows.iter().find(|(r, _)| r == row);
        now.is_some_and(|(_, s)| older.iter().any(|(r, o)| r == row && o != s))
    };
    let replayed = listed
        .iter()
        .find(|l| !is_directory(&l.record) && changed(&l.row));
    let replayed_name = replayed.map_or("no", |l| &l.record);
    let replayed = replayed.and_then(|l| stored_at(older, Some(l.row)));
    let head = stored_at(older, Some([0; 16]));
    let gone = older
        .iter()
        .find(|(r, _)| !rows.iter().any(|(n, _)| n == r));
    let moved = stored_at(rows, peer_ben).map(|mut v| {
        v["row"] = peer_cara.map(hex).unwrap_or(Value::Null);
        v
    });
    let misfiled = misfiled_leaf(&mut StdRng::seed_from_u64(0x1eaf), store)?
        .map(|(row, stored)| json!({"row": hex(row), "stored": hex(stored)}));
    let case = |d: &str, put: Vec<Option<Value>>, delete: Vec<Option<RowKey>>| {
        json!({"description": d, "put": put.into_iter().flatten().collect::<Vec<_>>(),
               "delete": delete.into_iter().flatten().map(hex).collect::<Vec<_>>()})
    };
    let mut wrong_key = case(
        "the rows as saved, read with another app key",
        vec![],
        vec![],
    );
    wrong_key["key"] = hex([0x4c; 32]);
    Ok(vec![
        case("the rows as saved", vec![], vec![]),
        wrong_key,
        case(
            &format!("the {replayed_name} record of an earlier save put back (a replay)"),
            vec![replayed],
            vec![],
        ),
        case(
            "the head of an earlier save put back alone",
            vec![head],
            vec![],
        ),
        case(
            "Ben's Peer record copied over Cara's row",
            vec![moved],
            vec![],
        ),
        case("Ben's Sessions record deleted", vec![], vec![sessions_ben]),
        case(
            "a leaf that also lists a record filed under another leaf, sealed under the key at \
             the leaf's version",
            vec![misfiled],
            vec![],
        ),
        case(
            "the outbox entry the last save deleted put back: no leaf lists it, so nothing \
             changes",
            vec![gone.map(|(r, s)| json!({"row": hex(r), "stored": hex(s)}))],
            vec![],
        ),
    ])
}
