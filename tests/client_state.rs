//! A client's saved state always loads, and saving a loaded state gives back the same bytes:
//! with many contacts, connections, groups, access keys, tokens and waiting deliveries, after
//! any sequence of the product's operations, and for states saved by version 2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{
    NOW, connect, contact, deliver, deliveries_for, invitations, member, sessions_between_all,
    texts,
};
use missive::client::{Client, Connection, Content, Event, Outgoing, Waiting};
use missive::conversation::{ConversationId, Role};
use missive::envelope::MailboxId;
use missive::platform::{Platform, Profile, Tier};
use missive::token::TokenKind;
use proptest::prelude::*;

/// Saves, loads and saves again: the two saves must be the same bytes. Returns the loaded
/// client, so callers carry on with what a restarted app would have.
fn reload(c: &Client) -> Client {
    let saved = c.to_bytes().unwrap();
    let loaded = Client::from_bytes(&saved).expect("a saved state loads");
    assert!(
        *loaded.to_bytes().unwrap() == *saved,
        "save → load → save changed bytes"
    );
    loaded
}

fn users(platform: &mut Platform, n: usize) -> Vec<Client> {
    (0..n)
        .map(|i| member(platform, &format!("user{i}"), Profile::FREE))
        .collect()
}

/// Ana with everything a busy user has: six connections, two invitations out, one in, two
/// groups, a multi-recipient conversation, access keys from everyone, tokens, an unanswered
/// token request and a message from Ben waiting for its keys (returned, undelivered).
fn busy_ana() -> (Client, Vec<Client>, Vec<Outgoing>) {
    let mut rng = rand::rng();
    let mut p = Platform::new(&mut rng);
    let mut ana = member(&mut p, "ana", CAREER);
    let mut others = users(&mut p, 9);
    for other in others.iter_mut().take(6) {
        connect(&mut ana, other);
    }
    for other in others.iter_mut().skip(6).take(2) {
        invitations(&mut ana);
        let id = contact(&mut ana, other);
        let out = ana
            .invite(&mut rng, &id, Some("hello"), NOW)
            .saved()
            .unwrap();
        deliver(other, &out);
    }
    let ana_id = *ana.mailbox_id();
    contact(&mut others[8], &mut ana);
    invitations(&mut others[8]);
    let out = others[8]
        .invite(&mut rng, &ana_id, None, NOW)
        .saved()
        .unwrap();
    deliver(&mut ana, &out);
    let ids: Vec<MailboxId> = others.iter().map(|o| *o.mailbox_id()).collect();
    for group in [&ids[..4], &ids[2..6]] {
        let members: Vec<(MailboxId, Role)> = group.iter().map(|m| (*m, Role::Member)).collect();
        let (_, out) = ana.create_group(&mut rng, &members, NOW).saved().unwrap();
        for o in others.iter_mut() {
            deliver(o, &out);
        }
    }
    let (_, out) = ana
        .send_multi(&mut rng, &ids[..5], &Content::text("to five"), NOW)
        .saved()
        .unwrap();
    for o in others.iter_mut() {
        deliver(o, &out);
    }
    // Ben's first direct message: its chain is held back, so the message waits.
    let mut first = others[0]
        .send(&mut rng, &ana_id, &Content::text("one"), NOW)
        .saved()
        .unwrap();
    let message = first.pop().unwrap();
    assert_eq!(
        deliver(&mut ana, &[message]),
        [Event::Waiting(Waiting::Unrecognised)],
        "its keys are late"
    );
    ana.request_tokens(&mut rng, TokenKind::Invite, 3, NOW)
        .saved()
        .unwrap();
    (ana, others, first)
}

#[test]
fn a_busy_state_saves_the_same_bytes_200_times() {
    let (mut ana, _, _) = busy_ana();
    let first = ana.to_bytes().unwrap();
    for _ in 0..200 {
        ana = reload(&ana);
    }
    assert!(*ana.to_bytes().unwrap() == *first);
}

#[test]
fn a_reloaded_busy_state_carries_on() {
    let mut rng = rand::rng();
    let (ana, mut others, held) = busy_ana();
    let mut ana = reload(&ana);
    let ids: Vec<MailboxId> = others.iter().map(|o| *o.mailbox_id()).collect();
    let mut expected = vec![Connection::Connected; 6];
    expected.extend([Connection::Invited, Connection::Invited]);
    expected.push(Connection::InvitedUs(None));
    let states: Vec<Connection> = ids.iter().map(|id| ana.connection(id).unwrap()).collect();
    assert_eq!(states, expected);
    // The waiting message opens once its keys arrive.
    assert_eq!(texts(&deliver(&mut ana, &held)), ["one"]);
    let out = ana
        .send(&mut rng, &ids[1], &Content::text("still here"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut others[1], &out)), ["still here"]);
    assert_eq!(ana.groups().len(), 2);
    for group in ana.groups() {
        let out = ana
            .post_to_group(&mut rng, &group, &Content::text("post"), NOW)
            .saved()
            .unwrap();
        let info = ana.conversation(&group).unwrap().unwrap();
        let members: Vec<MailboxId> = (info.members.iter().map(|m| m.id))
            .filter(|m| m != ana.mailbox_id())
            .collect();
        for (id, other) in ids.iter().zip(others.iter_mut()) {
            let read = texts(&deliver(other, &out));
            assert_eq!(read.len(), usize::from(members.contains(id)));
        }
    }
    assert!(ana.tokens(TokenKind::Invite) > 0);
}

/// The states in `tests/fixtures/client_state_v2.json`: six users saved by version 2 (hash
/// order). Ana is connected to the five others, created a group of all six, sent a
/// multi-recipient message to three and a direct message to Ben, and has a token request out.
/// Version 2's own strict decoder refused Ana's state.
fn version_2_states() -> Vec<(String, MailboxId, Vec<u8>)> {
    let text = include_str!("fixtures/client_state_v2.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let mailbox: [u8; 16] = hex::decode(u["mailbox"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let state = hex::decode(u["state"].as_str().unwrap()).unwrap();
            (
                u["name"].as_str().unwrap().to_string(),
                MailboxId(mailbox),
                state,
            )
        })
        .collect()
}

#[test]
fn states_saved_by_version_2_load_once_and_save_canonically() {
    let mut rng = rand::rng();
    let mut clients = Vec::new();
    for (name, mailbox, bytes) in version_2_states() {
        assert_eq!(bytes[0], 2, "{name}: a version 2 state");
        let client = Client::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(client.mailbox_id(), &mailbox);
        let saved = client.to_bytes().unwrap();
        assert_eq!(saved[0], 4, "{name}: saved in the current form");
        clients.push(reload(&client));
    }
    let (ana, others) = clients.split_first_mut().unwrap();
    let ids: Vec<MailboxId> = others.iter().map(|o| *o.mailbox_id()).collect();
    for id in &ids {
        assert_eq!(ana.connection(id).unwrap(), Connection::Connected);
    }
    // Every connection still talks both ways, and the group still reads Ana's posts.
    for (id, other) in ids.iter().zip(others.iter_mut()) {
        let out = ana
            .send(&mut rng, id, &Content::text("after the upgrade"), NOW)
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(other, &out)), ["after the upgrade"]);
        let ana_id = *ana.mailbox_id();
        let back = other
            .send(&mut rng, &ana_id, &Content::text("back"), NOW)
            .saved()
            .unwrap();
        assert_eq!(texts(&deliver(ana, &back)), ["back"]);
    }
    let group = group_of(ana);
    let out = ana
        .post_to_group(&mut rng, &group, &Content::text("to the group"), NOW)
        .saved()
        .unwrap();
    for other in others.iter_mut() {
        assert_eq!(texts(&deliver(other, &out)), ["to the group"]);
    }
}

/// The one group `c` is in.
fn group_of(c: &Client) -> ConversationId {
    *c.groups().first().expect("a group")
}

const USERS: usize = 5;

const CAREER: Profile = Profile {
    tier: Tier::PremiumCareer,
    open_profile: true,
};

#[derive(Clone, Debug)]
enum Action {
    Invite(usize, usize),
    Accept(usize, usize),
    Decline(usize, usize),
    Remove(usize, usize),
    Send(usize, usize),
    Multi(usize, Vec<usize>),
    CreateGroup(usize, Vec<usize>),
    ChangeGroup(usize, Vec<usize>, Vec<usize>),
    Post(usize),
    Tokens(usize),
    /// Holds back the next delivery to a user, so it waits for keys or arrives late.
    Hold(usize),
    Sync(usize),
}

fn action() -> impl Strategy<Value = Action> {
    let u = || 0..USERS;
    let set = || proptest::collection::vec(0..USERS, 1..USERS);
    prop_oneof![
        (u(), u()).prop_map(|(a, b)| Action::Invite(a, b)),
        (u(), u()).prop_map(|(a, b)| Action::Accept(a, b)),
        (u(), u()).prop_map(|(a, b)| Action::Decline(a, b)),
        (u(), u()).prop_map(|(a, b)| Action::Remove(a, b)),
        (u(), u()).prop_map(|(a, b)| Action::Send(a, b)),
        (u(), set()).prop_map(|(a, s)| Action::Multi(a, s)),
        (u(), set()).prop_map(|(a, s)| Action::CreateGroup(a, s)),
        (u(), set(), set()).prop_map(|(a, x, y)| Action::ChangeGroup(a, x, y)),
        u().prop_map(Action::Post),
        u().prop_map(Action::Tokens),
        u().prop_map(Action::Hold),
        u().prop_map(Action::Sync),
    ]
}

struct World {
    users: Vec<Client>,
    ids: Vec<MailboxId>,
    held: Vec<Vec<Vec<u8>>>,
    hold: Vec<bool>,
}

impl World {
    fn new() -> Self {
        let mut p = Platform::new(&mut rand::rng());
        let mut users = users(&mut p, USERS);
        sessions_between_all(&mut users);
        let ids = users.iter().map(|u| *u.mailbox_id()).collect();
        Self {
            users,
            ids,
            held: vec![Vec::new(); USERS],
            hold: vec![false; USERS],
        }
    }

    fn deliver(&mut self, out: &[Outgoing]) {
        for (i, id) in self.ids.clone().iter().enumerate() {
            for d in deliveries_for(out, id) {
                if core::mem::take(&mut self.hold[i]) {
                    self.held[i].push(d);
                    continue;
                }
                let _ = self.users[i].receive(&d, NOW);
                for late in core::mem::take(&mut self.held[i]) {
                    let _ = self.users[i].receive(&late, NOW);
                }
            }
        }
    }

    fn others(&self, me: usize, set: &[usize]) -> Vec<MailboxId> {
        let mut ids: Vec<MailboxId> = set
            .iter()
            .filter(|&&i| i != me)
            .map(|&i| self.ids[i])
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn apply(&mut self, action: Action) {
        let mut rng = rand::rng();
        let out = match action {
            Action::Invite(a, b) => {
                invitations(&mut self.users[a]);
                self.users[a]
                    .invite(&mut rng, &self.ids[b], None, NOW)
                    .saved()
            }
            Action::Accept(a, b) => self.users[a].accept(&mut rng, &self.ids[b], NOW).saved(),
            Action::Decline(a, b) => self.users[a].decline(&mut rng, &self.ids[b], NOW).saved(),
            Action::Remove(a, b) => self.users[a]
                .remove_connection(&mut rng, &self.ids[b], NOW)
                .saved(),
            Action::Send(a, b) => self.users[a]
                .send(&mut rng, &self.ids[b], &Content::text("hi"), NOW)
                .saved(),
            Action::Multi(a, set) => {
                let to = self.others(a, &set);
                let content = Content::text("to several");
                self.users[a]
                    .send_multi(&mut rng, &to, &content, NOW)
                    .saved()
                    .map(|(_, out)| out)
            }
            Action::CreateGroup(a, set) => {
                let members: Vec<(MailboxId, Role)> = self
                    .others(a, &set)
                    .into_iter()
                    .map(|m| (m, Role::Admin))
                    .collect();
                invitations(&mut self.users[a]);
                self.users[a]
                    .create_group(&mut rng, &members, NOW)
                    .saved()
                    .map(|(_, out)| out)
            }
            Action::ChangeGroup(a, add, remove) => {
                let Some(&group) = self.users[a].groups().first() else {
                    return;
                };
                let members = self.users[a]
                    .conversation(&group)
                    .unwrap()
                    .unwrap()
                    .members
                    .to_vec();
                let added: Vec<(MailboxId, Role)> = self
                    .others(a, &add)
                    .into_iter()
                    .filter(|m| members.iter().all(|x| x.id != *m))
                    .map(|m| (m, Role::Member))
                    .collect();
                let removed: Vec<MailboxId> = self
                    .others(a, &remove)
                    .into_iter()
                    .filter(|m| members.iter().any(|x| x.id == *m))
                    .collect();
                invitations(&mut self.users[a]);
                self.users[a]
                    .change_group(&mut rng, &group, &added, &removed, NOW)
                    .saved()
            }
            Action::Post(a) => {
                let Some(&group) = self.users[a].groups().first() else {
                    return;
                };
                self.users[a]
                    .post_to_group(&mut rng, &group, &Content::text("post"), NOW)
                    .saved()
            }
            Action::Tokens(a) => {
                let _ = self.users[a]
                    .request_tokens(&mut rng, TokenKind::Invite, 2, NOW)
                    .saved();
                Ok(Vec::new())
            }
            Action::Hold(a) => {
                self.hold[a] = true;
                Ok(Vec::new())
            }
            Action::Sync(a) => self.users[a]
                .access_sync(&mut rng, NOW)
                .saved()
                .map(|sync| sync.notices),
        };
        if let Ok(out) = out {
            self.deliver(&out);
        }
        // Every user restarts from its saved state after every step.
        for user in &mut self.users {
            *user = reload(user);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// After any sequence of operations, with every user restarting from its saved state after
    /// every step, every state loads and saves back to the same bytes.
    #[test]
    fn every_saved_state_loads_and_saves_back_identically(
        actions in proptest::collection::vec(action(), 1..40)
    ) {
        let mut world = World::new();
        for a in actions {
            world.apply(a);
        }
    }
}

/// Version 3 is version 4 without the outbox: a state saved by version 3 (every state saved
/// before the outbox existed) is version 4's bytes with the version byte 3 and without the
/// final empty list.
#[test]
fn states_saved_by_version_3_load_and_save_with_an_empty_outbox() {
    for (name, _, bytes) in version_2_states() {
        let client = Client::from_bytes(&bytes).unwrap();
        let v4 = client.to_bytes().unwrap();
        assert_eq!((v4[0], v4[v4.len() - 1]), (4, 0), "{name}: no outbox");
        let mut v3 = v4[..v4.len() - 1].to_vec();
        v3[0] = 3;
        let loaded = Client::from_bytes(&v3).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.outbox().is_empty());
        assert!(
            loaded.to_bytes().unwrap() == v4,
            "{name}: saved as version 4"
        );
        // A version 3 state with anything after its fields is not canonical.
        let mut longer = v3.clone();
        longer.push(0);
        assert!(Client::from_bytes(&longer).is_err(), "{name}");
    }
}
