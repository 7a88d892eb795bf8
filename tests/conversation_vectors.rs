//! Deterministic vectors in `vectors/conversation/`: every file is replayed from its explicit
//! inputs and must reproduce its outputs byte for byte (PROTOCOL.md §6–§7). The `#[ignore]`d
//! `generate` test writes them: `cargo test --test conversation_vectors -- --ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use missive::Identity;
use missive::conversation::hazmat;
use missive::conversation::{Conversation, ConversationId, FanOut, Member, Role};
use missive::envelope::{Envelope, MailboxId, split};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/conversation");

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}
fn unh(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}
fn unh32(v: &Value) -> [u8; 32] {
    unh(v).try_into().expect("32 bytes")
}
fn mb(v: &Value) -> MailboxId {
    MailboxId(unh(v).try_into().expect("16 bytes"))
}
fn secret(tag: &str) -> [u8; 32] {
    Sha256::digest(tag.as_bytes()).into()
}
fn id16(tag: &str) -> [u8; 16] {
    secret(tag)[..16].try_into().unwrap()
}

fn member_of(v: &Value) -> Member {
    let identity = Identity::from_secret_bytes(&unh(&v["identity_secret"])).unwrap();
    let role = if v["role"] == "admin" {
        Role::Admin
    } else {
        Role::Member
    };
    Member::new(mb(&v["id"]), role, *identity.public())
}

/// Intermediates of message `index` of `sender`'s chain starting at `chain_key`.
fn trace(chain_key: &[u8; 32], roster_hash: &[u8; 32], sender: &MailboxId, index: u32) -> Value {
    let binding = [&roster_hash[..], &sender.0].concat();
    let mut key = *chain_key;
    for i in 0..index {
        key = *hazmat::chain_step(&key, hazmat::CHAIN_DOMAIN, &binding, i).0;
    }
    let (next, secret, label) = hazmat::chain_step(&key, hazmat::CHAIN_DOMAIN, &binding, index);
    let keys = hazmat::message_keys(&secret, roster_hash);
    json!({"chain_key": h(&key), "next_chain_key": h(&*next), "step_secret": h(&*secret),
        "label": h(&label), "aead_key": h(&keys[..32]), "commitment": h(&keys[32..64]),
        "signature_mask": h(&keys[64..])})
}

struct Group {
    convs: Vec<Conversation>,
    chain_keys: Vec<[u8; 32]>,
    distributions: Vec<Value>,
}

impl Group {
    fn index(&self, id: MailboxId) -> usize {
        self.convs
            .iter()
            .position(|c| c.me() == id)
            .expect("member")
    }

    fn deliver(
        &mut self,
        from: MailboxId,
        handoffs: Vec<(MailboxId, missive::conversation::KeyDistribution)>,
    ) {
        for (to, d) in handoffs {
            let bytes = d.to_bytes();
            self.distributions
                .push(json!({"from": h(&from.0), "to": h(&to.0), "bytes": h(&bytes)}));
            match self.convs.iter().position(|c| c.me() == to) {
                Some(i) => {
                    self.convs[i].accept_distribution(from, &bytes).unwrap();
                }
                None => self
                    .convs
                    .push(Conversation::join(to, from, &bytes).unwrap()),
            }
        }
    }

    /// Each listed message is encrypted by its sender and opened by every other member.
    fn messages(&mut self, list: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        for m in list.as_array().unwrap() {
            let sender = mb(&m["sender"]);
            let s = self.index(sender);
            let body = unh(&m["body"]);
            let message = self.convs[s].encrypt(&body).unwrap();
            let mut index = 0;
            for r in (0..self.convs.len()).filter(|r| *r != s) {
                let got = self.convs[r].decrypt(&message).unwrap();
                assert_eq!(got.body, body);
                index = got.index;
            }
            let hash = *self.convs[s].roster_hash();
            let mut t = trace(&self.chain_keys[s], &hash, &sender, index);
            t["index"] = json!(index);
            t["message"] = h(&message);
            out.push(t);
        }
        out
    }
}

fn chain_secrets(v: &Value) -> ([u8; 32], [u8; 32]) {
    (unh32(&v["chain_key"]), unh32(&v["signing_seed"]))
}

fn run_group(inputs: &Value) -> Value {
    let members: Vec<Member> = inputs["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(member_of)
        .collect();
    let chains = inputs["chains"].as_array().unwrap();
    let (ck, seed) = chain_secrets(&chains[0]);
    let id = ConversationId(unh(&inputs["conversation_id"]).try_into().unwrap());
    let (admin, handoffs) =
        Conversation::create_with(id, members[0], members[1..].to_vec(), &ck, &seed).unwrap();
    let mut g = Group {
        convs: vec![admin],
        chain_keys: vec![ck],
        distributions: Vec::new(),
    };
    g.deliver(members[0].id, handoffs);
    for (i, c) in chains.iter().enumerate().skip(1) {
        let (ck, seed) = chain_secrets(c);
        let at = g.index(members[i].id);
        let handoffs = g.convs[at].start_chain_with(&ck, &seed).unwrap();
        g.chain_keys.resize(g.convs.len(), [0; 32]);
        g.chain_keys[at] = ck;
        g.deliver(members[i].id, handoffs);
    }
    let roster_hash = *g.convs[0].roster_hash();
    let messages = g.messages(&inputs["messages"]);
    let mut out = json!({"roster_hash": h(&roster_hash), "distributions": g.distributions,
        "messages": messages});
    if let Some(change) = inputs.get("change") {
        out["change"] = run_change(&mut g, change);
    }
    out
}

fn run_change(g: &mut Group, change: &Value) -> Value {
    g.distributions.clear();
    let added: Vec<Member> = change["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(member_of)
        .collect();
    let removed: Vec<MailboxId> = change["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(mb)
        .collect();
    let (ck, seed) = chain_secrets(&change["admin_chain"]);
    let admin = g.convs[0].me();
    let handoffs = g.convs[0]
        .change_with(&added, &removed, &ck, &seed)
        .unwrap();
    let removed_at: Vec<usize> = removed.iter().map(|r| g.index(*r)).collect();
    let gone: Vec<Conversation> = removed_at
        .iter()
        .rev()
        .map(|&i| g.convs.remove(i))
        .collect();
    for i in removed_at.iter().rev() {
        g.chain_keys.remove(*i);
    }
    g.chain_keys[0] = ck;
    g.deliver(admin, handoffs);
    g.chain_keys.resize(g.convs.len(), [0; 32]);
    for c in change["chains"].as_array().unwrap() {
        let at = g.index(mb(&c["member"]));
        let (ck, seed) = chain_secrets(c);
        let handoffs = g.convs[at].start_chain_with(&ck, &seed).unwrap();
        g.chain_keys[at] = ck;
        let me = g.convs[at].me();
        g.deliver(me, handoffs);
    }
    let messages = g.messages(&change["messages"]);
    for mut removed in gone {
        for m in &messages {
            assert!(
                removed.decrypt(&unh(&m["message"])).is_err(),
                "removed member reads nothing new"
            );
        }
    }
    json!({"epoch": g.convs[0].epoch(), "roster_hash": h(g.convs[0].roster_hash()),
        "distributions": g.distributions, "messages": messages})
}

fn run_first(inputs: &Value) -> Value {
    let sender_id = mb(&inputs["sender"]);
    let mut sender = FanOut::with_seed(sender_id, &unh32(&inputs["sender_signing_seed"]));
    let mut grants = Vec::new();
    let mut receivers = Vec::new();
    let recipients: Vec<MailboxId> = inputs["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| mb(&r["id"]))
        .collect();
    for r in inputs["recipients"].as_array().unwrap() {
        let grant = sender
            .grant_with(mb(&r["id"]), &unh32(&r["fanout_key"]))
            .unwrap()
            .to_bytes();
        let mut fan = FanOut::with_seed(mb(&r["id"]), &secret("unused"));
        fan.accept_grant(sender_id, &grant).unwrap();
        receivers.push(fan);
        let binding = [
            &sender_id.0[..],
            &r["id"].as_str().map(|_| mb(&r["id"]).0).unwrap(),
        ]
        .concat();
        let (_, step_secret, label) =
            hazmat::chain_step(&unh32(&r["fanout_key"]), hazmat::FANOUT_DOMAIN, &binding, 0);
        grants.push(json!({"to": r["id"], "grant": h(&grant), "step_secret": h(&*step_secret), "label": h(&label)}));
    }
    let seed = unh32(&inputs["seed"]);
    let id = ConversationId(unh(&inputs["conversation_id"]).try_into().unwrap());
    let body = unh(&inputs["body"]);
    let expiry = inputs["expiry"].as_u64().unwrap();
    let (mut conv, envelope) = sender
        .send_first_with(&seed, id, &recipients, &body, expiry)
        .unwrap();
    let later = conv.encrypt(&unh(&inputs["later_body"])).unwrap();
    let deliveries = split(&envelope.to_bytes()).unwrap();
    for (fan, d) in receivers.iter_mut().zip(&deliveries) {
        let (mut c, got) = fan.open_first(d).unwrap();
        assert_eq!(got.body, body);
        assert_eq!(c.decrypt(&later).unwrap().body, unh(&inputs["later_body"]));
    }
    let roster_hash = *conv.roster_hash();
    let prk = hkdf::Hkdf::<Sha256>::new(Some(hazmat::ADHOC_SALT), &seed);
    let mut chain_key = [0u8; 32];
    prk.expand_multi_info(
        &[hazmat::ADHOC_CHAIN, &roster_hash, &sender_id.0],
        &mut chain_key,
    )
    .unwrap();
    let mut out = json!({"grants": grants, "roster_hash": h(&roster_hash),
        "first_message": trace(&chain_key, &roster_hash, &sender_id, 0),
        "envelope": h(&envelope.to_bytes()), "envelope_id": h(&envelope.id().0),
        "later_message": h(&later)});
    if inputs["include_split"] == true {
        let keyed: Vec<Value> = deliveries.iter().map(|d| h(&d.to_bytes())).collect();
        let plain = &Envelope::to_mailboxes(expiry, &recipients, &later).unwrap()[0];
        let plain_split: Vec<Value> = plain.split().iter().map(|d| h(&d.to_bytes())).collect();
        out["deliveries"] = json!(keyed);
        out["plain_envelope"] = h(&plain.to_bytes());
        out["plain_envelope_id"] = h(&plain.id().0);
        out["plain_deliveries"] = json!(plain_split);
    }
    out
}

fn run(file: &Value) -> Value {
    match file["kind"].as_str().unwrap() {
        "group" => run_group(&file["inputs"]),
        "first_message" => run_first(&file["inputs"]),
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn replay_every_file() {
    let mut count = 0;
    for entry in std::fs::read_dir(DIR).expect("vectors/conversation exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            // Files in the command's formats (state.json) are replayed by tests/vectors_check.rs.
            if file.get("missive_format").is_some() {
                continue;
            }
            assert!(file["description"].as_str().is_some_and(|d| !d.is_empty()));
            assert_eq!(run(&file), file["outputs"], "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 4, "expected the four vector files, found {count}");
}

// ---- Generator ----

fn identity_secret(tag: &str) -> Value {
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&secret(&format!("{tag} x25519")));
    bytes.extend_from_slice(&secret(&format!("{tag} ed25519")));
    h(&bytes)
}

fn member_input(i: u8, role: &str) -> Value {
    json!({"id": h(&[i; 16]), "role": role, "identity_secret": identity_secret(&format!("member {i}"))})
}

fn chain_input(tag: &str) -> Value {
    json!({"chain_key": h(&secret(&format!("{tag} chain"))), "signing_seed": h(&secret(&format!("{tag} signing")))})
}

fn group_inputs() -> Value {
    json!({
        "conversation_id": h(&id16("group id")),
        "members": [member_input(1, "admin"), member_input(2, "member"), member_input(3, "member")],
        "chains": [chain_input("member 1"), chain_input("member 2"), chain_input("member 3")],
        "messages": [
            {"sender": h(&[1; 16]), "body": h(b"hello from the admin")},
            {"sender": h(&[2; 16]), "body": h(b"hello from member 2")},
            {"sender": h(&[1; 16]), "body": h(&[0x61; 300])},
        ],
    })
}

fn first_inputs(n: u8, body: &[u8], include_split: bool) -> Value {
    let recipients: Vec<Value> = (1..=n)
        .map(|i| json!({"id": h(&[i + 100; 16]), "fanout_key": h(&secret(&format!("fanout {i}")))}))
        .collect();
    json!({"sender": h(&[0x10; 16]), "sender_signing_seed": h(&secret("sender signing")),
        "recipients": recipients, "seed": h(&secret("conversation seed")),
        "conversation_id": h(&id16("ad-hoc id")), "body": h(body), "expiry": 1_900_000_000u64,
        "later_body": h(b"a later message: the body alone"), "include_split": include_split})
}

fn write(name: &str, kind: &str, description: &str, inputs: Value) {
    let mut file = json!({"description": description, "kind": kind, "inputs": inputs});
    file["outputs"] = run(&file);
    let text = serde_json::to_string_pretty(&file).unwrap();
    std::fs::create_dir_all(DIR).unwrap();
    std::fs::write(format!("{DIR}/{name}"), text + "\n").unwrap();
}

#[test]
#[ignore = "writes vectors/conversation/*.json"]
fn generate() {
    write(
        "three_member_group.json",
        "group",
        "A 3-member group: creation (welcomes carry the admin's chain), every member's chain \
         distribution, and three messages with every intermediate (chain keys, step secrets, labels, \
         AEAD keys, commitments, signature masks).",
        group_inputs(),
    );
    let mut change = group_inputs();
    change["change"] = json!({
        "added": [member_input(4, "member")],
        "removed": [h(&[3; 16])],
        "admin_chain": chain_input("member 1 epoch 1"),
        "chains": [
            json!({"member": h(&[2; 16])}).as_object().unwrap().clone().into_iter()
                .chain(chain_input("member 2 epoch 1").as_object().unwrap().clone()).collect::<serde_json::Map<_, _>>(),
            json!({"member": h(&[4; 16])}).as_object().unwrap().clone().into_iter()
                .chain(chain_input("member 4 epoch 1").as_object().unwrap().clone()).collect::<serde_json::Map<_, _>>(),
        ],
        "messages": [
            {"sender": h(&[4; 16]), "body": h(b"new member speaks")},
            {"sender": h(&[1; 16]), "body": h(b"admin in epoch 1")},
        ],
    });
    write(
        "membership_change.json",
        "group",
        "The 3-member group, then the admin adds member 4 and removes member 3 (epoch 1): commits to \
         those who stay, a welcome to the new member, new chains, and messages member 3 cannot read.",
        change,
    );
    write(
        "first_message_50.json",
        "first_message",
        "A first message of 1 KiB to 50 recipients over fan-out keys: grants, each recipient's label \
         and step secret, the keyed envelope (56 bytes per recipient) and a later message.",
        first_inputs(50, &[0x42; 1024], false),
    );
    write(
        "envelope_split.json",
        "first_message",
        "A keyed envelope to 3 recipients and its split into 3 deliveries, then a plain envelope of a \
         later message and its split.",
        first_inputs(3, b"three recipients", true),
    );
}
