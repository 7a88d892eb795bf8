//! Group conversations and first messages (PROTOCOL.md §6–§7): `conversation/three_member_group.json`
//! and `conversation/membership_change.json` (format `group`), `conversation/first_message_50.json`
//! and `conversation/envelope_split.json` (format `first_message`).
//!
//! Inputs: members (id, role, identity secret), each sending chain's key and signing seed, the
//! messages sent and, for a change, who is added and removed and the chains of the new epoch;
//! for a first message, the sender, the recipients' fan-out keys, the conversation seed and
//! the bodies. Outputs: every byte on the wire (distributions, messages, grants, envelopes,
//! deliveries) and the intermediates of §6.6 (chain keys, step secrets, labels, AEAD keys,
//! commitments, signature masks). Recomputing also opens every message as each recipient, and
//! checks that a removed member reads nothing of the new epoch.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::Identity;
use crate::conversation::{
    Conversation, ConversationId, FanOut, KeyDistribution, Member, Role, hazmat,
};
use crate::envelope::{Envelope, MailboxId, split};
use crate::error::Error;

/// An engine call that failed where the file expects it to succeed.
fn failed(at: &str) -> impl Fn(Error) -> Failure + '_ {
    move |e| Failure::mismatch(at, "a result".into(), error_name(&e))
}

fn mailbox(p: &Place<'_>) -> Result<MailboxId, Failure> {
    p.bytes()?
        .try_into()
        .map(MailboxId)
        .map_err(|_| Failure::input(p.path(), "a 16-byte mailbox id"))
}

fn member_of(p: &Place<'_>) -> Result<Member, Failure> {
    let at = p.field("identity_secret")?;
    let identity = Identity::from_secret_bytes(&at.bytes()?)
        .map_err(|_| Failure::input(at.path(), "an identity secret"))?;
    let role = match p.str("role")? {
        "admin" => Role::Admin,
        "member" => Role::Member,
        _ => return Err(Failure::input(p.path(), "admin or member")),
    };
    Ok(Member::new(
        mailbox(&p.field("id")?)?,
        role,
        *identity.public(),
    ))
}

fn chain_secrets(p: &Place<'_>) -> Result<([u8; 32], [u8; 32]), Failure> {
    Ok((p.array("chain_key")?, p.array("signing_seed")?))
}

/// Intermediates of message `index` of `sender`'s chain starting at `chain_key` (§6.6).
fn trace(chain_key: &[u8; 32], roster_hash: &[u8; 32], sender: &MailboxId, index: u32) -> Value {
    let binding = [&roster_hash[..], &sender.0].concat();
    let mut key = *chain_key;
    for i in 0..index {
        key = *hazmat::chain_step(&key, hazmat::CHAIN_DOMAIN, &binding, i).0;
    }
    let (next, secret, label) = hazmat::chain_step(&key, hazmat::CHAIN_DOMAIN, &binding, index);
    let keys = hazmat::message_keys(&secret, roster_hash);
    json!({"chain_key": hex(key), "next_chain_key": hex(*next), "step_secret": hex(*secret),
        "label": hex(label), "aead_key": hex(&keys[..32]), "commitment": hex(&keys[32..64]),
        "signature_mask": hex(&keys[64..])})
}

/// Every member's view of one group, as the file's members and chains build it.
struct Group {
    convs: Vec<Conversation>,
    chain_keys: Vec<[u8; 32]>,
    distributions: Vec<Value>,
}

impl Group {
    fn index(&self, id: MailboxId, at: &str) -> Result<usize, Failure> {
        self.convs
            .iter()
            .position(|c| c.me() == id)
            .ok_or_else(|| Failure::input(at, "a member of the group"))
    }

    fn deliver(
        &mut self,
        from: MailboxId,
        handoffs: Vec<(MailboxId, KeyDistribution)>,
        at: &str,
    ) -> Result<(), Failure> {
        for (to, d) in handoffs {
            let bytes = d.to_bytes();
            self.distributions
                .push(json!({"from": hex(from.0), "to": hex(to.0), "bytes": hex(&bytes)}));
            match self.convs.iter().position(|c| c.me() == to) {
                Some(i) => {
                    self.convs[i]
                        .accept_distribution(from, &bytes)
                        .map_err(failed(at))?;
                }
                None => self
                    .convs
                    .push(Conversation::join(to, from, &bytes).map_err(failed(at))?),
            }
        }
        Ok(())
    }

    /// Each listed message is encrypted by its sender and opened by every other member.
    fn messages(&mut self, list: &[Place<'_>]) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        for m in list {
            let sender = mailbox(&m.field("sender")?)?;
            let s = self.index(sender, m.path())?;
            let body = m.hex("body")?;
            let message = self.convs[s].encrypt(&body).map_err(failed(m.path()))?;
            let mut index = 0;
            for r in (0..self.convs.len()).filter(|r| *r != s) {
                let got = self.convs[r].decrypt(&message).map_err(failed(m.path()))?;
                if got.body != body {
                    return Err(Failure::mismatch(
                        m.path(),
                        hex(&body).to_string(),
                        hex(&got.body).to_string(),
                    ));
                }
                index = got.index;
            }
            let hash = *self.convs[s].roster_hash();
            let mut t = trace(&self.chain_keys[s], &hash, &sender, index);
            t["index"] = json!(index);
            t["message"] = hex(&message);
            out.push(t);
        }
        Ok(out)
    }
}

fn run_group(inputs: &Place<'_>) -> Result<Value, Failure> {
    let members = inputs
        .list("members")?
        .iter()
        .map(member_of)
        .collect::<Result<Vec<_>, _>>()?;
    let chains = inputs.list("chains")?;
    if members.len() < 2 || chains.len() != members.len() {
        return Err(Failure::input(
            inputs.path(),
            "members, the first an admin, and a chain each",
        ));
    }
    let (ck, seed) = chain_secrets(&chains[0])?;
    let id = ConversationId(inputs.array("conversation_id")?);
    let at = inputs.path();
    let (admin, handoffs) =
        Conversation::create_with(id, members[0], members[1..].to_vec(), &ck, &seed)
            .map_err(failed(at))?;
    let mut g = Group {
        convs: vec![admin],
        chain_keys: vec![ck],
        distributions: Vec::new(),
    };
    g.deliver(members[0].id, handoffs, at)?;
    for (member, c) in members.iter().zip(&chains).skip(1) {
        let (ck, seed) = chain_secrets(c)?;
        let i = g.index(member.id, c.path())?;
        let handoffs = g.convs[i]
            .start_chain_with(&ck, &seed)
            .map_err(failed(c.path()))?;
        g.chain_keys.resize(g.convs.len(), [0; 32]);
        g.chain_keys[i] = ck;
        g.deliver(member.id, handoffs, c.path())?;
    }
    let roster_hash = *g.convs[0].roster_hash();
    let messages = g.messages(&inputs.list("messages")?)?;
    let mut out = json!({"roster_hash": hex(roster_hash), "distributions": g.distributions,
        "messages": messages});
    if let Some(change) = inputs.optional("change") {
        out["change"] = run_change(&mut g, &change)?;
    }
    Ok(out)
}

fn run_change(g: &mut Group, change: &Place<'_>) -> Result<Value, Failure> {
    g.distributions.clear();
    let at = change.path();
    let added = change
        .list("added")?
        .iter()
        .map(member_of)
        .collect::<Result<Vec<_>, _>>()?;
    let removed = change
        .list("removed")?
        .iter()
        .map(mailbox)
        .collect::<Result<Vec<_>, _>>()?;
    let (ck, seed) = chain_secrets(&change.field("admin_chain")?)?;
    let admin = g.convs[0].me();
    let mut removed_at = removed
        .iter()
        .map(|r| g.index(*r, at))
        .collect::<Result<Vec<_>, _>>()?;
    let handoffs = g.convs[0]
        .change_with(&added, &removed, &ck, &seed)
        .map_err(failed(at))?;
    removed_at.sort_unstable();
    let mut gone = Vec::new();
    for &i in removed_at.iter().rev() {
        gone.push(g.convs.remove(i));
        g.chain_keys.remove(i);
    }
    g.chain_keys[0] = ck;
    g.deliver(admin, handoffs, at)?;
    g.chain_keys.resize(g.convs.len(), [0; 32]);
    for c in change.list("chains")? {
        let i = g.index(mailbox(&c.field("member")?)?, c.path())?;
        let (ck, seed) = chain_secrets(&c)?;
        let handoffs = g.convs[i]
            .start_chain_with(&ck, &seed)
            .map_err(failed(c.path()))?;
        g.chain_keys[i] = ck;
        let me = g.convs[i].me();
        g.deliver(me, handoffs, c.path())?;
    }
    let messages = g.messages(&change.list("messages")?)?;
    for removed in &mut gone {
        for m in &messages {
            let wire = hex::decode(m["message"].as_str().unwrap_or_default()).unwrap_or_default();
            if removed.decrypt(&wire).is_ok() {
                return Err(Failure::mismatch(
                    at,
                    "nothing a removed member reads".into(),
                    "a message it read".into(),
                ));
            }
        }
    }
    Ok(
        json!({"epoch": g.convs[0].epoch(), "roster_hash": hex(g.convs[0].roster_hash()),
        "distributions": g.distributions, "messages": messages}),
    )
}

fn run_first(inputs: &Place<'_>) -> Result<Value, Failure> {
    let at = inputs.path();
    let sender_id = mailbox(&inputs.field("sender")?)?;
    let mut sender = FanOut::with_seed(sender_id, &inputs.array("sender_signing_seed")?);
    let listed = inputs.list("recipients")?;
    let recipients = listed
        .iter()
        .map(|r| mailbox(&r.field("id")?))
        .collect::<Result<Vec<_>, _>>()?;
    let mut grants = Vec::new();
    let mut receivers = Vec::new();
    for (r, id) in listed.iter().zip(&recipients) {
        let fanout_key = r.array("fanout_key")?;
        let grant = sender
            .grant_with(*id, &fanout_key)
            .map_err(failed(r.path()))?
            .to_bytes();
        let mut fan = FanOut::with_seed(*id, &secret("unused"));
        fan.accept_grant(sender_id, &grant)
            .map_err(failed(r.path()))?;
        receivers.push(fan);
        let binding = [sender_id.0, id.0].concat();
        let (_, step_secret, label) =
            hazmat::chain_step(&fanout_key, hazmat::FANOUT_DOMAIN, &binding, 0);
        grants.push(json!({"to": hex(id.0), "grant": hex(&grant), "step_secret": hex(*step_secret), "label": hex(label)}));
    }
    let seed = inputs.array("seed")?;
    let id = ConversationId(inputs.array("conversation_id")?);
    let (body, later_body) = (inputs.hex("body")?, inputs.hex("later_body")?);
    let expiry = inputs.u64("expiry")?;
    let (mut conv, envelope) = sender
        .send_first_with(&seed, id, &recipients, &body, expiry)
        .map_err(failed(at))?;
    let later = conv.encrypt(&later_body).map_err(failed(at))?;
    let deliveries = split(&envelope.to_bytes()).map_err(|e| failed(at)(e.into()))?;
    for (fan, d) in receivers.iter_mut().zip(&deliveries) {
        let (mut c, got) = fan.open_first(d).map_err(failed(at))?;
        let again = c.decrypt(&later).map_err(failed(at))?;
        if got.body != body || again.body != later_body {
            return Err(Failure::mismatch(
                at,
                "the bodies sent".into(),
                "other bodies".into(),
            ));
        }
    }
    let roster_hash = *conv.roster_hash();
    let mut chain_key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(hazmat::ADHOC_SALT), &seed)
        .expand_multi_info(
            &[hazmat::ADHOC_CHAIN, &roster_hash, &sender_id.0],
            &mut chain_key,
        )
        .map_err(|_| Failure::input(at, "a chain key HKDF can give"))?;
    let mut out = json!({"grants": grants, "roster_hash": hex(roster_hash),
        "first_message": trace(&chain_key, &roster_hash, &sender_id, 0),
        "envelope": hex(envelope.to_bytes()), "envelope_id": hex(envelope.id().0),
        "later_message": hex(&later)});
    if inputs.bool("include_split")? {
        let keyed: Vec<Value> = deliveries.iter().map(|d| hex(d.to_bytes())).collect();
        let plain = Envelope::to_mailboxes(expiry, &recipients, &later)
            .map_err(failed(at))?
            .into_iter()
            .next()
            .ok_or_else(|| Failure::input(at, "recipients"))?;
        let plain_split: Vec<Value> = plain.split().iter().map(|d| hex(d.to_bytes())).collect();
        out["deliveries"] = json!(keyed);
        out["plain_envelope"] = hex(plain.to_bytes());
        out["plain_envelope_id"] = hex(plain.id().0);
        out["plain_deliveries"] = json!(plain_split);
    }
    Ok(out)
}

/// A group file recomputed.
pub(super) fn group_recompute(file: &Value) -> Result<Value, Failure> {
    let outputs = run_group(&Place::root(file).field("inputs")?)?;
    Ok(with_outputs(file, outputs))
}

/// A first-message file recomputed.
pub(super) fn first_recompute(file: &Value) -> Result<Value, Failure> {
    let outputs = run_first(&Place::root(file).field("inputs")?)?;
    Ok(with_outputs(file, outputs))
}

// ---- Our inputs ----

fn secret(tag: &str) -> [u8; 32] {
    Sha256::digest(tag.as_bytes()).into()
}

fn id16(tag: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&secret(tag)[..16]);
    id
}

fn identity_secret(tag: &str) -> Value {
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&secret(&format!("{tag} x25519")));
    bytes.extend_from_slice(&secret(&format!("{tag} ed25519")));
    hex(&bytes)
}

fn member_input(i: u8, role: &str) -> Value {
    json!({"id": hex([i; 16]), "role": role, "identity_secret": identity_secret(&format!("member {i}"))})
}

fn chain_input(tag: &str) -> Value {
    json!({"chain_key": hex(secret(&format!("{tag} chain"))), "signing_seed": hex(secret(&format!("{tag} signing")))})
}

/// A chain of the new epoch, for `member`.
fn member_chain(member: u8, tag: &str) -> Value {
    let mut chain = chain_input(tag);
    chain["member"] = hex([member; 16]);
    chain
}

fn group_inputs() -> Value {
    json!({
        "conversation_id": hex(id16("group id")),
        "members": [member_input(1, "admin"), member_input(2, "member"), member_input(3, "member")],
        "chains": [chain_input("member 1"), chain_input("member 2"), chain_input("member 3")],
        "messages": [
            {"sender": hex([1; 16]), "body": hex(b"hello from the admin")},
            {"sender": hex([2; 16]), "body": hex(b"hello from member 2")},
            {"sender": hex([1; 16]), "body": hex([0x61; 300])},
        ],
    })
}

fn first_inputs(n: u8, body: &[u8], include_split: bool) -> Value {
    let recipients: Vec<Value> = (1..=n)
        .map(|i| json!({"id": hex([i + 100; 16]), "fanout_key": hex(secret(&format!("fanout {i}")))}))
        .collect();
    json!({"sender": hex([0x10; 16]), "sender_signing_seed": hex(secret("sender signing")),
        "recipients": recipients, "seed": hex(secret("conversation seed")),
        "conversation_id": hex(id16("ad-hoc id")), "body": hex(body), "expiry": 1_900_000_000u64,
        "later_body": hex(b"a later message: the body alone"), "include_split": include_split})
}

/// `three_member_group.json`.
pub(super) fn three_member_inputs() -> Value {
    skeleton(
        "group",
        "A 3-member group: creation (welcomes carry the admin's chain), every member's chain \
         distribution, and three messages with every intermediate (chain keys, step secrets, labels, \
         AEAD keys, commitments, signature masks).",
        group_inputs(),
    )
}

/// `membership_change.json`.
pub(super) fn change_inputs() -> Value {
    let mut inputs = group_inputs();
    inputs["change"] = json!({
        "added": [member_input(4, "member")],
        "removed": [hex([3; 16])],
        "admin_chain": chain_input("member 1 epoch 1"),
        "chains": [member_chain(2, "member 2 epoch 1"), member_chain(4, "member 4 epoch 1")],
        "messages": [
            {"sender": hex([4; 16]), "body": hex(b"new member speaks")},
            {"sender": hex([1; 16]), "body": hex(b"admin in epoch 1")},
        ],
    });
    skeleton(
        "group",
        "The 3-member group, then the admin adds member 4 and removes member 3 (epoch 1): commits to \
         those who stay, a welcome to the new member, new chains, and messages member 3 cannot read.",
        inputs,
    )
}

/// `first_message_50.json`.
pub(super) fn first_50_inputs() -> Value {
    skeleton(
        "first_message",
        "A first message of 1 KiB to 50 recipients over fan-out keys: grants, each recipient's label \
         and step secret, the keyed envelope (56 bytes per recipient) and a later message.",
        first_inputs(50, &[0x42; 1024], false),
    )
}

/// `envelope_split.json`.
pub(super) fn split_inputs() -> Value {
    skeleton(
        "first_message",
        "A keyed envelope to 3 recipients and its split into 3 deliveries, then a plain envelope of a \
         later message and its split.",
        first_inputs(3, b"three recipients", true),
    )
}
