//! Conversations at rest (PROTOCOL.md §6.8): `conversation/state.json`.
//!
//! As for sessions, each case is a stored state (the input) and steps run on it once loaded:
//! `decrypt` and `encrypt` a group message, `accept` a key distribution from a member, and
//! `change` (an admin adds and removes members at once with the listed chain secrets,
//! §6.6). The outputs are each step's result and the state saved again. The refusals that
//! need a state are here: a message beyond the receive window (`LOOKAHEAD`, §6.3), one
//! already read, one sent after the reader was removed, and state bytes that must not load.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::sealed::{identity_secret, tagged};
use super::{Failure, error_name};
use crate::conversation::{Accepted, Conversation, ConversationId, Handoffs, Member, Role};
use crate::envelope::MailboxId;
use crate::error::Error;
use crate::identity::Identity;

const DESCRIPTION: &str = "Group conversations at rest (PROTOCOL.md 6.8): each case loads \
    stored state bytes, runs steps on them (decrypt, encrypt, accept a distribution, an admin's \
    change adding and removing several members at once) and saves the state again; then state \
    bytes that must not load.";

fn handoffs_json(handoffs: &Handoffs) -> Value {
    let list: Vec<Value> = handoffs
        .iter()
        .map(|(to, d)| json!({"to": hex(to.0), "distribution": hex(d.to_bytes())}))
        .collect();
    Value::Array(list)
}

fn mailbox(place: &Place<'_>, key: &str) -> Result<MailboxId, Failure> {
    Ok(MailboxId(place.array(key)?))
}

fn member(place: &Place<'_>) -> Result<Member, Failure> {
    let identity = Identity::from_secret_bytes(&place.hex("identity_secret")?)
        .map_err(|_| Failure::input(place.path(), "an identity secret (PROTOCOL.md 4.2)"))?;
    let role = match place.str("role")? {
        "admin" => Role::Admin,
        "member" => Role::Member,
        _ => return Err(Failure::input(place.path(), "role: admin or member")),
    };
    Ok(Member::new(mailbox(place, "id")?, role, *identity.public()))
}

/// Runs one step; what it gives, or the refusal's name.
fn run(conversation: &mut Conversation, step: &Place<'_>) -> Result<Value, Failure> {
    let result = if let Some(m) = step.optional("decrypt") {
        conversation.decrypt(&m.bytes()?).map(|d| {
            json!({"sender": hex(d.sender.0), "device": hex(d.device.0), "epoch": d.epoch,
                   "index": d.index, "body": hex(d.body)})
        })
    } else if let Some(body) = step.optional("encrypt") {
        conversation
            .encrypt(&body.bytes()?)
            .map(|m| json!({"message": hex(m)}))
    } else if let Some(a) = step.optional("accept") {
        let (from, bytes) = (mailbox(&a, "from")?, a.hex("distribution")?);
        conversation
            .accept_distribution(from, &bytes)
            .map(|accepted| match accepted {
                Accepted::Chain => json!({"accepted": "chain"}),
                Accepted::NewEpoch(n) => json!({"accepted": "new_epoch", "epoch": n}),
                Accepted::Removed => json!({"accepted": "removed"}),
                _ => json!({"accepted": "kept"}),
            })
    } else if let Some(c) = step.optional("change") {
        let added = c
            .list("added")?
            .iter()
            .map(member)
            .collect::<Result<Vec<_>, _>>()?;
        let removed = c
            .list("removed")?
            .iter()
            .map(|r| {
                Ok(MailboxId(
                    r.bytes()?
                        .try_into()
                        .map_err(|_| Failure::input(r.path(), "16 bytes"))?,
                ))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let (chain_key, seed) = (c.array("chain_key")?, c.array("signing_seed")?);
        conversation
            .change_with(&added, &removed, &chain_key, &seed)
            .map(|handoffs| {
                json!({"epoch": conversation.epoch(),
                       "roster_hash": hex(conversation.roster_hash()),
                       "handoffs": handoffs_json(&handoffs)})
            })
    } else {
        return Err(Failure::input(
            step.path(),
            "one of decrypt, encrypt, accept or change",
        ));
    };
    Ok(result.unwrap_or_else(|e| json!({"error": error_name(&e)})))
}

fn run_case(case: &Place<'_>) -> Result<Value, Failure> {
    let mut conversation = match Conversation::from_bytes(&case.hex("state")?) {
        Ok(c) => c,
        Err(e) => return Ok(json!({"loaded": error_name(&e.into())})),
    };
    let mut steps = Vec::new();
    for step in case.list("steps")? {
        steps.push(run(&mut conversation, &step)?);
    }
    Ok(
        json!({"loaded": "ok", "steps": steps, "saved": super::stored::saved(&conversation.to_bytes())}),
    )
}

pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    super::stored::recompute(file, run_case)
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    super::stored::inputs("conversation_state", DESCRIPTION, our_cases())
}

struct Person {
    secret: Vec<u8>,
    member: Member,
}

fn person(n: u8, role: Role) -> Result<Person, Error> {
    let secret = identity_secret(&format!("conversation state member {n}"));
    let identity = Identity::from_secret_bytes(&secret)?;
    Ok(Person {
        member: Member::new(MailboxId([n; 16]), role, *identity.public()),
        secret,
    })
}

fn member_json(p: &Person) -> Value {
    let role = if p.member.role == Role::Admin {
        "admin"
    } else {
        "member"
    };
    json!({"id": hex(p.member.id.0), "identity_secret": hex(&p.secret), "role": role})
}

fn chain(tag: &str) -> ([u8; 32], [u8; 32]) {
    (
        tagged(&format!("conversation state chain {tag}")),
        tagged(&format!("conversation state signing {tag}")),
    )
}

/// Delivers handoffs from `from` to the members in `group` (joining the new ones).
fn deliver(
    group: &mut Vec<Conversation>,
    from: MailboxId,
    handoffs: &Handoffs,
) -> Result<(), Error> {
    for (to, d) in handoffs {
        let bytes = d.to_bytes();
        match group.iter_mut().find(|c| c.me() == *to) {
            Some(c) => {
                c.accept_distribution(from, &bytes)?;
            }
            None => group.push(Conversation::join(*to, from, &bytes)?),
        }
    }
    Ok(())
}

fn case(description: &str, state: &[u8], steps: Vec<Value>) -> Value {
    json!({"description": description, "state": hex(state), "steps": steps})
}

fn our_cases() -> Result<Vec<Value>, Error> {
    let people = (1..=6)
        .map(|n| person(n, if n == 1 { Role::Admin } else { Role::Member }))
        .collect::<Result<Vec<_>, _>>()?;
    let (admin, others) = (&people[0], &people[1..4]);
    let id = ConversationId(
        tagged("conversation state id")[..16]
            .try_into()
            .unwrap_or_default(),
    );
    let (ck, seed) = chain("admin 0");
    let (first, handoffs) = Conversation::create_with(
        id,
        admin.member,
        others.iter().map(|p| p.member).collect(),
        &ck,
        &seed,
    )?;
    let mut group = vec![first];
    deliver(&mut group, admin.member.id, &handoffs)?;
    for n in 1..group.len() {
        let (ck, seed) = chain(&format!("member {n} 0"));
        let me = group[n].me();
        let handoffs = group[n].start_chain_with(&ck, &seed)?;
        deliver(&mut group, me, &handoffs)?;
    }
    // Member 2 (index 1 here) speaks once; the admin once; both read by everyone.
    let hello = group[0].encrypt(b"from the admin, epoch 0")?;
    let reply = group[1].encrypt(b"from member 2, epoch 0")?;
    let [admin_at_0, two_at_0, three_at_0] = [0, 1, 2].map(|i| group[i].to_bytes().to_vec());

    // The admin's chain runs ahead: its message 33 lies beyond a reader at 1's window of 32.
    let mut ahead = Conversation::from_bytes(&admin_at_0)?;
    let mut far = Vec::new();
    for n in 1..=33 {
        far.push(ahead.encrypt(format!("admin, message {n}").as_bytes())?);
    }

    let added = [&people[4], &people[5]];
    let removed = [people[2].member.id, people[3].member.id];
    let (ck, seed) = chain("admin 1");
    let mut admin_state = Conversation::from_bytes(&admin_at_0)?;
    let handoffs = admin_state.change_with(&added.map(|p| p.member), &removed, &ck, &seed)?;
    let after = admin_state.encrypt(b"from the admin, epoch 1")?;
    let commit_to_two = handoffs
        .iter()
        .find(|(to, _)| *to == people[1].member.id)
        .map(|(_, d)| d.to_bytes())
        .unwrap_or_default();

    let change = json!({"change": {
        "added": added.map(member_json),
        "removed": removed.map(|r| hex(r.0)),
        "chain_key": hex(ck), "signing_seed": hex(seed)}});
    let mut cases = vec![
        case(
            "the admin, at epoch 0 with three members' chains: adds members 5 and 6 and removes \
             3 and 4 in one change (handoffs: a commit to member 2, welcomes to 5 and 6), then \
             writes in epoch 1",
            &admin_at_0,
            vec![change, json!({"encrypt": hex(b"from the admin, epoch 1")})],
        ),
        case(
            "member 2 at epoch 0: the admin's message, again (refused), one beyond the window \
             (refused), message 32 at the window's edge, the admin's commit, then the admin's \
             first message of epoch 1",
            &two_at_0,
            vec![
                json!({"decrypt": hex(&hello)}),
                json!({"decrypt": hex(&hello)}),
                json!({"decrypt": hex(far.last().cloned().unwrap_or_default())}),
                json!({"decrypt": hex(far.get(31).cloned().unwrap_or_default())}),
                json!({"accept": {"from": hex(admin.member.id.0), "distribution": hex(&commit_to_two)}}),
                json!({"decrypt": hex(&after)}),
            ],
        ),
        case(
            "member 3 at epoch 0, removed by the change it never receives: reads member 2's \
             epoch-0 message, not the admin's epoch-1 one",
            &three_at_0,
            vec![
                json!({"decrypt": hex(&reply)}),
                json!({"decrypt": hex(&after)}),
            ],
        ),
    ];
    let mut trailing = two_at_0.clone();
    trailing.push(0);
    let mut version = two_at_0.clone();
    if let Some(v) = version.first_mut() {
        *v = 4;
    }
    let mut short = two_at_0.clone();
    short.pop();
    for (description, state) in [
        ("a state of version 4", version),
        ("a state with a byte after its end", trailing),
        ("a state that ends early", short),
    ] {
        cases.push(case(description, &state, Vec::new()));
    }
    Ok(cases)
}
