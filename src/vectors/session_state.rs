//! Sessions and prekey owners at rest (PROTOCOL.md §5.7): `session/state.json`.
//!
//! Each case is a stored state (its bytes are the input, so a second implementation imports
//! ours and we import its own) and the steps run on it once loaded: `respond` (an owner takes
//! a session's first message), `decrypt` and `encrypt` (a session; keys a DH ratchet step
//! draws are listed in the case, in the order drawn). The outputs are each step's result and
//! the state saved again after the last step: its bytes when short, else their SHA-256 and
//! length. The refusals that need a state are here: a replay, a gap past `MAX_SKIP` (1000),
//! the key evicted at `MAX_SKIPPED_KEYS` (2000), a small-order ratchet or base key, and state
//! bytes that must not load.

use std::collections::VecDeque;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::json::{Place, hex};
use super::sealed::{identity_secret, tagged};
use super::{Failure, error_name};
use crate::crypto::x25519::{PublicKey, SecretKey};
use crate::crypto::{mlkem, xwing};
use crate::error::Error;
use crate::identity::Identity;
use crate::session::{KeySource, MAX_SKIP, PrekeyOwner, Sealing, Session, SessionMessage};

const DESCRIPTION: &str = "Sessions and prekey owners at rest (PROTOCOL.md 5.7): each case \
    loads stored state bytes, runs steps on them (respond, decrypt, encrypt with the listed \
    keys) and saves the state again; then state bytes that must not load.";

/// The keys a case lists, handed out in order; a tag instead draws fresh ones (the generator),
/// recording them so the case can list them.
struct Listed {
    tag: Option<String>,
    keys: VecDeque<[u8; 32]>,
    kem_seeds: VecDeque<[u8; 64]>,
    kem_coins: VecDeque<[u8; 32]>,
    drawn: (Vec<Value>, Vec<Value>, Vec<Value>),
    short: bool,
}

impl Listed {
    fn stream(tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            keys: VecDeque::new(),
            kem_seeds: VecDeque::new(),
            kem_coins: VecDeque::new(),
            drawn: (Vec::new(), Vec::new(), Vec::new()),
            short: false,
        }
    }

    fn fresh(&self, what: &str, n: usize) -> [u8; 32] {
        let tag = self.tag.as_deref().unwrap_or("missing");
        tagged(&format!("{tag} {what} {n}"))
    }

    /// The listed keys, in the case's own fields.
    fn lists(&self) -> Value {
        json!({"keys": self.drawn.0, "kem_seeds": self.drawn.1, "kem_coins": self.drawn.2})
    }
}

impl KeySource for Listed {
    fn next_key(&mut self) -> SecretKey {
        let key = match self.keys.pop_front() {
            Some(k) => k,
            None => {
                self.short |= self.tag.is_none();
                self.fresh("key", self.drawn.0.len())
            }
        };
        self.drawn.0.push(hex(key));
        SecretKey::from_bytes(&key)
    }

    fn next_kem_key(&mut self) -> mlkem::SecretKey {
        let seed = match self.kem_seeds.pop_front() {
            Some(s) => s,
            None => {
                self.short |= self.tag.is_none();
                let n = self.drawn.1.len();
                let (d, z) = (self.fresh("kem d", n), self.fresh("kem z", n));
                let mut seed = [0u8; 64];
                seed[..32].copy_from_slice(&d);
                seed[32..].copy_from_slice(&z);
                seed
            }
        };
        self.drawn.1.push(hex(seed));
        mlkem::SecretKey::from_seed(&seed)
    }

    fn next_kem_coins(&mut self) -> Zeroizing<[u8; 32]> {
        let coins = match self.kem_coins.pop_front() {
            Some(c) => c,
            None => {
                self.short |= self.tag.is_none();
                self.fresh("kem coins", self.drawn.2.len())
            }
        };
        self.drawn.2.push(hex(coins));
        Zeroizing::new(coins)
    }

    fn next_sealing_key(&mut self) -> xwing::SecretKey {
        // Sessions never draw one; an owner's generation does (the generator's stream only).
        self.short |= self.tag.is_none();
        xwing::SecretKey::from_seed(&self.fresh("sealing", 0))
    }
}

/// One step of a case, as its inputs give it.
enum Step {
    Respond(Vec<u8>),
    Decrypt(Vec<u8>),
    Encrypt(Vec<u8>),
}

impl Step {
    fn to_json(&self) -> Value {
        match self {
            Self::Respond(m) => json!({"respond": hex(m)}),
            Self::Decrypt(m) => json!({"decrypt": hex(m)}),
            Self::Encrypt(p) => json!({"encrypt": hex(p)}),
        }
    }

    fn read(place: &Place<'_>) -> Result<Self, Failure> {
        if let Some(m) = place.optional("respond") {
            return Ok(Self::Respond(m.bytes()?));
        }
        if let Some(m) = place.optional("decrypt") {
            return Ok(Self::Decrypt(m.bytes()?));
        }
        match place.optional("encrypt") {
            Some(p) => Ok(Self::Encrypt(p.bytes()?)),
            None => Err(Failure::input(
                place.path(),
                "one of respond, decrypt or encrypt",
            )),
        }
    }
}

/// A loaded state: an owner (with the identity it answers for) or a session.
enum Loaded {
    Owner(Box<(PrekeyOwner, Identity)>),
    Session(Box<Session>),
}

impl Loaded {
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Owner(pair) => pair.0.to_bytes(),
            Self::Session(session) => session.to_bytes(),
        }
    }

    fn skipped(&self) -> Option<usize> {
        match self {
            Self::Owner(_) => None,
            Self::Session(s) => Some(s.0.ratchet.skipped.len()),
        }
    }

    /// Runs one step; what it gives, or the refusal's name.
    fn run(&mut self, step: &Step, keys: &mut Listed) -> Value {
        let result = match (&mut *self, step) {
            (Self::Owner(pair), Step::Respond(m)) => SessionMessage::from_bytes(m)
                .map_err(Error::from)
                .and_then(|m| {
                    let (owner, identity) = &mut **pair;
                    Session::respond(identity, owner, &m)
                })
                .map(|(session, plaintext)| {
                    json!({"plaintext": hex(plaintext), "session": hex(&*session.to_bytes())})
                }),
            (Self::Session(session), Step::Decrypt(m)) => SessionMessage::from_bytes(m)
                .map_err(Error::from)
                .and_then(|m| session.decrypt(&m))
                .map(|plaintext| json!({"plaintext": hex(plaintext)})),
            (Self::Session(session), Step::Encrypt(p)) => {
                session.encrypt_with_keys(keys, p).map(|m| {
                    let mut out = sealing(session);
                    if let Some(obj) = out.as_object_mut() {
                        obj.insert("message".into(), hex(m.to_bytes()));
                    }
                    out
                })
            }
            _ => return json!({"error": "not a step for this state"}),
        };
        let mut out = result.unwrap_or_else(|e| json!({"error": error_name(&e)}));
        if let (Some(n), Some(obj)) = (self.skipped(), out.as_object_mut()) {
            obj.insert("skipped".into(), json!(n));
        }
        out
    }
}

/// How the message just encrypted is sealed (PROTOCOL.md §9.2): to the sealing key it holds
/// (given by the SHA-256 of its encoding), or under its direction's label, or classically.
fn sealing(session: &Session) -> Value {
    match session.sealing() {
        Sealing::Opening(key) => {
            let encoded = postcard::to_allocvec(key).unwrap_or_default();
            json!({"sealed": "opening", "sealing_key_sha256": hex(Sha256::digest(encoded))})
        }
        Sealing::Session(keys) => json!({"sealed": "session", "label": hex(keys.label())}),
        Sealing::Classical => json!({"sealed": "classical"}),
    }
}

fn load(case: &Place<'_>) -> Result<Result<Loaded, Error>, Failure> {
    let state = case.hex("state")?;
    Ok(match case.str("load")? {
        // The identity an owner answers for is read only for an owner that loads.
        "owner" => match PrekeyOwner::from_bytes(&state) {
            Err(e) => Err(e.into()),
            Ok(owner) => {
                let secret = case.hex("identity_secret")?;
                let identity = Identity::from_secret_bytes(&secret).map_err(|_| {
                    Failure::input(case.path(), "an identity secret (PROTOCOL.md 4.2)")
                })?;
                Ok(Loaded::Owner(Box::new((owner, identity))))
            }
        },
        "session" => Session::from_bytes(&state)
            .map(|s| Loaded::Session(Box::new(s)))
            .map_err(Error::from),
        _ => return Err(Failure::input(case.path(), "load: owner or session")),
    })
}

fn list<const N: usize>(case: &Place<'_>, key: &str) -> Result<VecDeque<[u8; N]>, Failure> {
    let Some(items) = case.optional(key) else {
        return Ok(VecDeque::new());
    };
    items
        .items()?
        .iter()
        .map(|i| {
            i.bytes()?
                .try_into()
                .map_err(|_| Failure::input(i.path(), "a key of the right length"))
        })
        .collect()
}

fn run_case(case: &Place<'_>) -> Result<Value, Failure> {
    let mut keys = Listed {
        tag: None,
        keys: list(case, "keys")?,
        kem_seeds: list(case, "kem_seeds")?,
        kem_coins: list(case, "kem_coins")?,
        drawn: (Vec::new(), Vec::new(), Vec::new()),
        short: false,
    };
    let mut loaded = match load(case)? {
        Ok(loaded) => loaded,
        Err(e) => return Ok(json!({"loaded": error_name(&e)})),
    };
    let mut steps = Vec::new();
    for step in case.list("steps")? {
        steps.push(loaded.run(&Step::read(&step)?, &mut keys));
    }
    if keys.short {
        return Err(Failure::input(
            case.path(),
            "a case listing every key its steps draw",
        ));
    }
    let unused = keys.keys.len() + keys.kem_seeds.len() + keys.kem_coins.len();
    if unused > 0 {
        return Err(Failure::input(
            case.path(),
            "a case listing only the keys its steps draw",
        ));
    }
    Ok(json!({"loaded": "ok", "steps": steps, "saved": super::stored::saved(&loaded.to_bytes())}))
}

pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    super::stored::recompute(file, run_case)
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    super::stored::inputs("session_state", DESCRIPTION, our_cases())
}

fn case(
    description: &str,
    load: &str,
    state: &[u8],
    steps: &[Step],
    keys: Option<&Listed>,
) -> Value {
    let mut case = json!({
        "description": description,
        "load": load,
        "state": hex(state),
        "steps": steps.iter().map(Step::to_json).collect::<Vec<_>>(),
    });
    let lists = keys.map(Listed::lists);
    if let (Some(obj), Some(Value::Object(lists))) = (case.as_object_mut(), lists) {
        obj.extend(lists);
    }
    case
}

/// `message` with its ratchet key, or its prekey header's base key, replaced by a point of
/// small order (the identity, u = 0).
fn small_order(message: &[u8], base_key: bool) -> Result<Vec<u8>, Error> {
    let mut m = SessionMessage::from_bytes(message)?;
    let zero = PublicKey::from_bytes([0; 32]);
    match (&mut m.prekey, base_key) {
        (Some(header), true) => header.base_key = zero,
        _ => m.header.ratchet_key = zero,
    }
    Ok(m.to_bytes())
}

/// Messages `from..to` of `session`'s sending chain, each `label n`.
fn burst(
    session: &mut Session,
    keys: &mut Listed,
    label: &str,
    (from, to): (u32, u32),
) -> Result<Vec<Vec<u8>>, Error> {
    (from..to)
        .map(|n| {
            let m = session.encrypt_with_keys(keys, format!("{label} {n}").as_bytes())?;
            Ok(m.to_bytes())
        })
        .collect()
}

fn our_cases() -> Result<Vec<Value>, Error> {
    let alice = Identity::from_secret_bytes(&identity_secret("state alice"))?;
    let bob_secret = identity_secret("state bob");
    let bob = Identity::from_secret_bytes(&bob_secret)?;
    let mut owner = PrekeyOwner::new_with_keys(&mut Listed::stream("state bob owner"), &bob);
    let one_time = owner
        .generate_one_time_with_keys(&mut Listed::stream("state bob one-time"), 1, &bob)?
        .remove(0);
    let bundle = owner.bundle(Some(&one_time))?.verify()?;
    let owner_before = owner.to_bytes();

    let mut alice_keys = Listed::stream("state alice");
    let mut a = Session::initiate_with_keys(&mut alice_keys, &alice, &bundle)?;
    let first = burst(&mut a, &mut alice_keys, "a1", (0, 3))?;
    let alice_after_three = a.to_bytes();
    let (mut b, _) = Session::respond(&bob, &mut owner, &SessionMessage::from_bytes(&first[0])?)?;
    let bob_after_first = b.to_bytes();
    let mut owner_case = case(
        "Bob's prekey owner with one one-time prekey: a first message whose base key is of \
         small order is refused and changes nothing; the real one sets up a session and uses \
         up the one-time prekey, so it is refused when it comes again",
        "owner",
        &owner_before,
        &[
            Step::Respond(small_order(&first[0], true)?),
            Step::Respond(first[0].clone()),
            Step::Respond(first[0].clone()),
        ],
        None,
    );
    if let Some(obj) = owner_case.as_object_mut() {
        obj.insert("identity_secret".into(), hex(&bob_secret));
    }
    let mut cases = vec![owner_case];

    // Bob reads out of order, refuses replays, and replies (a DH ratchet step).
    let mut bob_keys = Listed::stream("state bob out of order");
    b.decrypt(&SessionMessage::from_bytes(&first[2])?)?;
    b.decrypt(&SessionMessage::from_bytes(&first[1])?)?;
    let reply = b.encrypt_with_keys(&mut bob_keys, b"a reply")?.to_bytes();
    cases.push(case(
        "Bob's session after Alice's first message: her third, then her second from its \
         skipped key, both again (replays), a reply that draws his first ratchet key, and a \
         message whose ratchet key is of small order",
        "session",
        &bob_after_first,
        &[
            Step::Decrypt(first[2].clone()),
            Step::Decrypt(first[1].clone()),
            Step::Decrypt(first[1].clone()),
            Step::Decrypt(first[2].clone()),
            Step::Encrypt(b"a reply".to_vec()),
            Step::Decrypt(small_order(&first[2], false)?),
        ],
        Some(&bob_keys),
    ));

    // Alice, her prekey header still pending: a fourth message carries it; Bob's reply drops
    // it; her next message takes a DH ratchet step.
    let mut alice_next = Listed::stream("state alice next");
    let mut a2 = Session::from_bytes(&alice_after_three)?;
    a2.encrypt_with_keys(&mut alice_next, b"a fourth")?;
    a2.decrypt(&SessionMessage::from_bytes(&reply)?)?;
    a2.encrypt_with_keys(&mut alice_next, b"after the reply")?;
    cases.push(case(
        "Alice's session before any reply: a message with the prekey header, Bob's reply \
         (which ends the header), a message in a new sending chain",
        "session",
        &alice_after_three,
        &[
            Step::Encrypt(b"a fourth".to_vec()),
            Step::Decrypt(reply),
            Step::Encrypt(b"after the reply".to_vec()),
        ],
        Some(&alice_next),
    ));

    // The bounds: Alice's first chain runs to message 1002; Bob, at 1 in it, refuses a gap of
    // 1001 and takes one of 1000; after his reply, her next chain's message 1000 skips 1001
    // more keys (the rest of the first chain up to PN = 1003, and 1000 in the new one), so the
    // oldest is evicted at 2000.
    let mut a3 = Session::from_bytes(&alice_after_three)?;
    let mut more = burst(
        &mut a3,
        &mut Listed::stream("unused"),
        "a1",
        (3, MAX_SKIP + 3),
    )?;
    let (over, at_limit) = (
        more.pop().unwrap_or_default(),
        more.pop().unwrap_or_default(),
    );
    let mut bob_bound = Listed::stream("state bob bounds");
    let mut b3 = Session::from_bytes(&bob_after_first)?;
    b3.decrypt(&SessionMessage::from_bytes(&at_limit)?)?;
    let reply = b3.encrypt_with_keys(&mut bob_bound, b"a reply")?.to_bytes();
    let mut alice_bound = Listed::stream("state alice bounds");
    a3.decrypt(&SessionMessage::from_bytes(&reply)?)?;
    let second = burst(&mut a3, &mut alice_bound, "a2", (0, MAX_SKIP + 1))?;
    cases.push(case(
        "Bob's session after Alice's first message: a gap of 1001 is refused, one of 1000 is \
         taken; his reply; her next chain's message 1000 takes the skipped keys past 2000, so \
         the oldest (her message 1) is evicted and refused, while message 2 and 1002 still open",
        "session",
        &bob_after_first,
        &[
            Step::Decrypt(over.clone()),
            Step::Decrypt(at_limit),
            Step::Encrypt(b"a reply".to_vec()),
            Step::Decrypt(second.last().cloned().unwrap_or_default()),
            Step::Decrypt(first[1].clone()),
            Step::Decrypt(first[2].clone()),
            Step::Decrypt(over),
        ],
        Some(&bob_bound),
    ));

    cases.extend(post_quantum_cases(&alice_after_three, &bob_after_first)?);
    let sealing = postcard::to_allocvec(bundle.bundle().sealing_key()).unwrap_or_default();
    cases.extend(refused_states(&bob_after_first, &sealing, &owner_before));
    Ok(cases)
}

/// States with a post-quantum step under way (§5.5): turn by turn until Bob's DH ratchet step
/// offers an ML-KEM key; Alice holding it (`Received`) encapsulates; Bob (`Offered`) takes the
/// ciphertext (`Ready`); Bob's next step is hybrid and enters epoch 1.
fn post_quantum_cases(alice: &[u8], bob: &[u8]) -> Result<Vec<Value>, Error> {
    let (mut a, mut b) = (Session::from_bytes(alice)?, Session::from_bytes(bob)?);
    let (mut ka, mut kb) = (Listed::stream("pq alice"), Listed::stream("pq bob"));
    let mut offer = None;
    for n in 0..60 {
        let m = b.encrypt_with_keys(&mut kb, format!("bob {n}").as_bytes())?;
        a.decrypt(&m)?;
        if m.header.offer.is_some() {
            offer = Some(m);
            break;
        }
        let m = a.encrypt_with_keys(&mut ka, format!("alice {n}").as_bytes())?;
        b.decrypt(&m)?;
    }
    if offer.is_none() {
        return Err(crate::error::CryptoError::NoSession.into());
    }
    let (alice_received, bob_offered) = (a.to_bytes(), b.to_bytes());
    let mut alice_keys = Listed::stream("pq alice encapsulates");
    let ciphertext = a
        .encrypt_with_keys(&mut alice_keys, b"alice encapsulates")?
        .to_bytes();
    b.decrypt(&SessionMessage::from_bytes(&ciphertext)?)?;
    let bob_ready = b.to_bytes();
    let mut bob_keys = Listed::stream("pq bob steps");
    b.encrypt_with_keys(&mut bob_keys, b"bob in epoch 1")?;
    Ok(vec![
        case(
            "Alice's session holding Bob's ML-KEM offer (stage Received): her next message \
             takes a DH ratchet step, encapsulates to it with the listed coins (Encapsulated)",
            "session",
            &alice_received,
            &[Step::Encrypt(b"alice encapsulates".to_vec())],
            Some(&alice_keys),
        ),
        case(
            "Bob's session with his offer out (stage Offered): Alice's ciphertext makes it Ready",
            "session",
            &bob_offered,
            &[Step::Decrypt(ciphertext)],
            None,
        ),
        case(
            "Bob's session Ready: his next DH ratchet step is hybrid and enters epoch 1 (Idle)",
            "session",
            &bob_ready,
            &[Step::Encrypt(b"bob in epoch 1".to_vec())],
            Some(&bob_keys),
        ),
    ])
}

/// `bytes` with its version byte set to `version`.
fn versioned(version: u8, bytes: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(bytes.get(1..).unwrap_or_default());
    b
}

/// State bytes that must not load.
fn refused_states(bob: &[u8], sealing: &[u8], owner: &[u8]) -> Vec<Value> {
    let changed = |bytes: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.to_vec();
        f(&mut b);
        b
    };
    // Bob's session ends with `option(sealing_key) = None`: make it `Some(the bundle's key)`.
    let stray_sealing = changed(bob, &|b| {
        b.pop();
        b.push(1);
        b.extend_from_slice(sealing);
    });
    let refusals = [
        ("session", "a session of version 5", versioned(5, bob)),
        (
            "session",
            "a session with a byte after its end",
            changed(bob, &|b| b.push(0)),
        ),
        (
            "session",
            "a session that ends early",
            changed(bob, &|b| {
                b.pop();
            }),
        ),
        (
            "session",
            "a responder's session holding a sealing key without a prekey header",
            stray_sealing,
        ),
        ("owner", "an owner of version 4", versioned(4, owner)),
        (
            "owner",
            "an owner with a byte after its end",
            changed(owner, &|b| b.push(0)),
        ),
    ];
    refusals
        .into_iter()
        .map(|(load, description, state)| case(description, load, &state, &[], None))
        .collect()
}
