//! A client's whole state at rest (PROTOCOL.md §9.6): `client/state.json`.
//!
//! Each case is a client's exported state (`Client::to_bytes`): loaded, what it holds as the
//! API gives it (account, contacts and their connections, groups, tokens, the outbox), and
//! the state saved again, which must be the same bytes (one encoding per state). Then states
//! that must not load: maps out of order or with a key twice (`DecodeError::NonCanonical`),
//! an unknown version, trailing bytes, truncation.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name};
use crate::client::{Client, Content, MemoryStore, Outgoing, Settings, StorageKey, Unsaved};
use crate::conversation::Role;
use crate::envelope::{self, MailboxId};
use crate::error::{Error, UsageError};
use crate::platform::{Platform, Profile, Tier};
use crate::relay_api::{PrekeyResponse, TokenIssued};
use crate::token::{Issuer, TokenKind};

const DESCRIPTION: &str = "A client's whole state at rest (PROTOCOL.md 9.6): each case loads \
    an exported state, gives what it holds through the API, and saves it again (the same \
    bytes); then states that must not load.";

pub(super) const NOW: u64 = 1_800_000_000;

fn run_case(case: &Place<'_>) -> Result<Value, Failure> {
    let client = match Client::from_bytes(&case.hex("state")?) {
        Ok(c) => c,
        Err(e) => return Ok(json!({"loaded": error_name(&e.into())})),
    };
    let holds = holdings(&client).unwrap_or_else(|e| json!({"error": error_name(&e)}));
    let saved = client
        .to_bytes()
        .map(|b| super::stored::saved(&b))
        .unwrap_or_else(|e| json!({"error": format!("{e:?}")}));
    Ok(json!({"loaded": "ok", "holds": holds, "saved": saved}))
}

/// What a loaded client holds, as its API gives it.
pub(super) fn holdings(client: &Client) -> Result<Value, Error> {
    let mut contacts = Vec::new();
    for c in client.contacts()? {
        let connection = format!("{:?}", client.connection(&c.mailbox)?);
        contacts.push(json!({"mailbox": hex(c.mailbox.0), "user": hex(&c.user),
                             "identity": hex(c.identity.to_bytes()), "connection": connection}));
    }
    let groups: Vec<Value> = client.groups().iter().map(|g| hex(g.0)).collect();
    let tokens =
        TokenKind::ALL.map(|k| json!({"kind": format!("{k:?}"), "count": client.tokens(k)}));
    Ok(json!({
        "user": hex(client.user()),
        "mailbox": hex(client.mailbox_id().0),
        "identity": hex(client.identity().to_bytes()),
        "contacts": contacts,
        "groups": groups,
        "tokens": tokens,
        "outbox": client.outbox().len(),
    }))
}

pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    super::stored::recompute(file, run_case)
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    super::stored::inputs("client_state", DESCRIPTION, our_cases())
}

/// The app key every client of the world seals its records under (`client/records.json`).
pub(super) const STORAGE_KEY: [u8; 32] = [0x4b; 32];

/// A small world: the platform, the token issuer, a seeded RNG.
pub(super) struct World {
    pub(super) rng: StdRng,
    platform: Platform,
    issuer: Issuer,
    /// Draws the records' nonces and state ids, so the stores are the same on every run.
    seal: StdRng,
    /// Each client's store: a client saves what changed since its last save, to one store.
    pub(super) stores: BTreeMap<MailboxId, MemoryStore>,
}

impl World {
    pub(super) fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (platform, issuer) = (Platform::new(&mut rng), Issuer::generate(&mut rng));
        Self {
            seal: StdRng::seed_from_u64(seed ^ 0x5ea1),
            rng,
            platform,
            issuer,
            stores: BTreeMap::new(),
        }
    }

    /// Saves `client`'s state to its store, then hands over what was sent.
    pub(super) fn save<T>(&mut self, id: MailboxId, unsaved: Unsaved<'_, T>) -> Result<T, Error> {
        let store = self
            .stores
            .entry(id)
            .or_insert_with(|| MemoryStore::new(StorageKey::new(&STORAGE_KEY)));
        Ok(unsaved.save(&mut self.seal, store)?)
    }

    pub(super) fn member(&mut self, name: &str) -> Result<Client, Error> {
        let profile = Profile {
            tier: Tier::PremiumCareer,
            open_profile: false,
        };
        let mut c = Client::new(&mut self.rng, name.as_bytes());
        c.set_profile(profile);
        c.set_platform_key(self.platform.public_key());
        self.platform.register(*c.mailbox_id(), profile);
        let account = self
            .platform
            .certify_account(c.mailbox_id(), false, NOW + 365 * 86_400)
            .map_err(|_| UsageError::NotPermitted)?;
        c.set_account(account);
        let id = *c.mailbox_id();
        let issue = c.request_tokens(&mut self.rng, TokenKind::Invite, 4, NOW)?;
        let issue = self.save(id, issue)?;
        let issued = TokenIssued {
            key: self
                .issuer
                .public_key(TokenKind::Invite, issue.request.period)?,
            response: self.issuer.issue(&mut self.rng, &issue.request)?,
        };
        c.add_tokens(&issued)?;
        Ok(c)
    }

    /// What `to` makes of what was sent.
    pub(super) fn deliver(&mut self, to: &mut Client, sent: &[Outgoing]) -> Result<(), Error> {
        for o in sent {
            for d in envelope::split(&o.envelope)? {
                if d.mailbox() == *to.mailbox_id() {
                    to.receive(&d.to_bytes(), NOW)?;
                }
            }
        }
        Ok(())
    }

    /// `new` joins `existing`'s account: the code, the answer, the handover (§12.3).
    fn link(&mut self, existing: &mut Client, new: &mut Client) -> Result<(), Error> {
        let (existing_id, new_id) = (*existing.mailbox_id(), *new.mailbox_id());
        let code = existing.link_code(&mut self.rng, NOW)?;
        let answer = new.answer_link(&mut self.rng, &code, NOW)?;
        let answer = self.save(new_id, answer)?;
        self.deliver(existing, &[answer])?;
        let linked = existing.link_device(&mut self.rng, NOW)?;
        let linked = self.save(existing_id, linked)?;
        self.deliver(new, &[linked.handover])
    }

    /// `a` looks `b` up, invites, and `b` accepts.
    pub(super) fn connect(&mut self, a: &mut Client, b: &mut Client) -> Result<MailboxId, Error> {
        let (a_id, b_id) = (*a.mailbox_id(), *b.mailbox_id());
        let published = b.publish(&mut self.rng, 1)?;
        let published = self.save(b_id, published)?;
        let response = PrekeyResponse {
            mailbox: *b.mailbox_id(),
            bundle: published.bundle,
            one_time: published.one_time.into_iter().next(),
        };
        a.add_contact(&mut self.rng, b.user(), &response)?;
        let invite = a.invite(&mut self.rng, &b_id, Some("hello"), NOW)?;
        let invite = self.save(a_id, invite)?;
        self.deliver(b, &invite)?;
        let accept = b.accept(&mut self.rng, &a_id, NOW)?;
        let accept = self.save(b_id, accept)?;
        self.deliver(a, &accept)?;
        Ok(b_id)
    }
}

/// Ana, Ben and Cara, each with a store; Ana connected to both, and her first message to Ben
/// (saved, delivered, and returned).
pub(super) struct Three {
    pub(super) ana: Client,
    pub(super) ben: Client,
    pub(super) cara: Client,
    pub(super) hello: Vec<Outgoing>,
}

impl World {
    pub(super) fn three(&mut self) -> Result<Three, Error> {
        let (mut ana, mut ben, mut cara) = (
            self.member("ana")?,
            self.member("ben")?,
            self.member("cara")?,
        );
        let ben_id = self.connect(&mut ana, &mut ben)?;
        self.connect(&mut ana, &mut cara)?;
        let ana_id = *ana.mailbox_id();
        let hello = ana.send(&mut self.rng, &ben_id, &Content::text("hello Ben"), NOW)?;
        let hello = self.save(ana_id, hello)?;
        self.deliver(&mut ben, &hello)?;
        Ok(Three {
            ana,
            ben,
            cara,
            hello,
        })
    }
}

fn our_cases() -> Result<Vec<Value>, Error> {
    let mut world = World::new(0x5eed_0018);
    let Three {
        mut ana,
        ben,
        mut cara,
        ..
    } = world.three()?;
    let (ben_id, cara_id, ana_id) = (*ben.mailbox_id(), *cara.mailbox_id(), *ana.mailbox_id());
    let members = [(ben_id, Role::Member), (cara_id, Role::Member)];
    let created = ana.create_group(&mut world.rng, &members, NOW)?;
    let (_, created) = world.save(ana_id, created)?;
    world.deliver(&mut cara, &created)?;
    let (ana_state, ben_state, cara_state) = (ana.to_bytes()?, ben.to_bytes()?, cara.to_bytes()?);
    // Ana links a laptop: both devices then know of devices (version 5); once she turns read
    // receipts off and syncs, her account's sync clock is set (version 6).
    let mut laptop = Client::new(&mut world.rng, b"ana");
    world.link(&mut ana, &mut laptop)?;
    let (phone_linked, laptop_linked) = (ana.to_bytes()?, laptop.to_bytes()?);
    ana.set_settings(Settings {
        read_receipts: false,
        ..*ana.settings()
    });
    let synced = ana.access_sync(&mut world.rng, NOW)?;
    world.save(ana_id, synced)?;
    let phone_synced = ana.to_bytes()?;

    let mut cases = vec![
        json!({"description": "Ana: two connections (Ben and Cara), a direct message sent, a \
                group of the three created; her outbox still holds what she sent",
               "state": hex(&*ana_state)}),
        json!({"description": "Ben: one connection, a message received",
               "state": hex(&*ben_state)}),
        json!({"description": "Cara: one connection, a member of Ana's group",
               "state": hex(&*cara_state)}),
        json!({"description": "Ana's phone once she linked a laptop: her account has two \
                devices (version 5)", "state": hex(&*phone_linked)}),
        json!({"description": "the laptop, as the handover made it (version 5)",
               "state": hex(&*laptop_linked)}),
        json!({"description": "Ana's phone after she turned read receipts off and synced \
                (version 6)", "state": hex(&*phone_synced)}),
    ];
    // Other encodings of states the writer gives one version: Ben's (version 4) as version 5
    // with no account record and no list, Ana's phone (version 5) as version 6 with its sync
    // all zero (37 bytes: a clock, two stamps, two flags).
    let needless_5 = [&[5u8][..], ben_state.get(1..).unwrap_or_default(), &[0, 0]].concat();
    let needless_6 = [
        &[6u8][..],
        phone_linked.get(1..).unwrap_or_default(),
        &[0; 37],
    ]
    .concat();
    cases.push(
        json!({"description": "Ben's state written as version 5, with no account \
        record and no device list", "state": hex(&needless_5)}),
    );
    cases.push(
        json!({"description": "Ana's phone written as version 6, its sync all zero",
        "state": hex(&needless_6)}),
    );
    cases.extend(refused(&ana_state, &ben, &cara));
    Ok(cases)
}

/// A contact's entry in the contacts map: `mailbox (16) || user: bytes || identity (64)`
/// (names shorter than 128 bytes: their length is one varint byte).
fn contact_entry(c: &Client) -> Vec<u8> {
    let mut entry = c.mailbox_id().0.to_vec();
    entry.push(u8::try_from(c.user().len()).unwrap_or(0));
    entry.extend_from_slice(c.user());
    entry.extend_from_slice(&c.identity().to_bytes()[1..]);
    entry
}

fn refused(state: &[u8], ben: &Client, cara: &Client) -> Vec<Value> {
    let (mut first, mut second) = (contact_entry(ben), contact_entry(cara));
    if ben.mailbox_id() > cara.mailbox_id() {
        core::mem::swap(&mut first, &mut second);
    }
    let both = [first.clone(), second.clone()].concat();
    let replace = |with: &[u8]| -> Vec<u8> {
        match state.windows(both.len()).position(|w| w == both.as_slice()) {
            Some(at) => [&state[..at], with, &state[at + both.len()..]].concat(),
            None => Vec::new(),
        }
    };
    let mut trailing = state.to_vec();
    trailing.push(0);
    let mut versioned = vec![9];
    versioned.extend_from_slice(state.get(1..).unwrap_or_default());
    let short = state
        .get(..state.len().saturating_sub(1))
        .unwrap_or_default();
    [
        (
            "Ana's contacts in decreasing mailbox order",
            replace(&[second.clone(), first.clone()].concat()),
        ),
        (
            "Ana's contacts with one of them twice",
            replace(&[first.clone(), first].concat()),
        ),
        ("a state of version 9", versioned),
        ("a state with a byte after its end", trailing),
        ("a state that ends early", short.to_vec()),
    ]
    .into_iter()
    .map(|(d, s)| json!({"description": d, "state": hex(s)}))
    .collect()
}
