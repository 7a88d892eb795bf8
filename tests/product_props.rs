//! Property: whatever the sequence of invitations, answers, removals, sends, group changes and
//! posts, nobody outside a message's recipients reads it — even when a malicious relay hands
//! every envelope to everyone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use std::collections::{HashMap, HashSet};

use common::users::{NOW, member, sessions_between_all};
use missive::client::{Client, Content, Event, Outgoing};
use missive::conversation::{ConversationId, Role};
use missive::envelope::{self, Envelope, MailboxId};
use missive::platform::{Platform, Profile};
use proptest::prelude::*;

const USERS: usize = 4;

#[derive(Clone, Debug)]
enum Action {
    Invite(usize, usize),
    Accept(usize, usize),
    Remove(usize, usize),
    Send(usize, usize),
    Multi(usize, Vec<usize>),
    CreateGroup(usize, Vec<usize>),
    RemoveFromGroup(usize),
    Post,
}

fn action() -> impl Strategy<Value = Action> {
    let u = 0..USERS;
    let set = proptest::collection::vec(0..USERS, 1..USERS);
    prop_oneof![
        (u.clone(), u.clone()).prop_map(|(a, b)| Action::Invite(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Action::Accept(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Action::Remove(a, b)),
        (u.clone(), u.clone()).prop_map(|(a, b)| Action::Send(a, b)),
        (u.clone(), set.clone()).prop_map(|(a, s)| Action::Multi(a, s)),
        (u.clone(), set).prop_map(|(a, s)| Action::CreateGroup(a, s)),
        u.prop_map(Action::RemoveFromGroup),
        Just(Action::Post),
    ]
}

struct World {
    users: Vec<Client>,
    ids: Vec<MailboxId>,
    group: Option<(usize, ConversationId)>,
    /// For each message text, the mailboxes its envelopes were addressed to.
    intended: HashMap<String, HashSet<MailboxId>>,
    counter: usize,
}

impl World {
    fn new() -> Self {
        let mut p = Platform::new(&mut rand::rng());
        let mut users: Vec<Client> = (0..USERS)
            .map(|i| member(&mut p, &format!("u{i}"), Profile::FREE))
            .collect();
        sessions_between_all(&mut users);
        let ids = users.iter().map(|u| *u.mailbox_id()).collect();
        Self {
            users,
            ids,
            group: None,
            intended: HashMap::new(),
            counter: 0,
        }
    }

    fn text(&mut self) -> String {
        self.counter += 1;
        format!("message {}", self.counter)
    }

    /// Delivers `out` to its addressees, and a re-addressed copy to everyone else; checks that
    /// every message event is for one of its intended recipients.
    fn deliver(&mut self, out: &[Outgoing], text: Option<&str>) {
        let mut addressed = HashSet::new();
        for o in out {
            let env = Envelope::from_bytes(&o.envelope).unwrap();
            addressed.extend(env.mailboxes());
        }
        if let Some(t) = text {
            self.intended.insert(t.to_string(), addressed.clone());
        }
        for o in out {
            let env = Envelope::from_bytes(&o.envelope).unwrap();
            for d in envelope::split(&o.envelope).unwrap() {
                let i = self.ids.iter().position(|m| *m == d.mailbox()).unwrap();
                let events = self.users[i]
                    .receive(&d.to_bytes(), NOW)
                    .unwrap_or_default();
                self.check(i, &events);
            }
            if env.is_keyed() {
                continue; // key parts cannot be re-addressed: each names its own mailbox
            }
            for (i, id) in self.ids.clone().iter().enumerate() {
                if addressed.contains(id) {
                    continue;
                }
                let copy = Envelope::to_mailboxes(NOW + 60, &[*id], env.body()).unwrap();
                for d in envelope::split(&copy[0].to_bytes()).unwrap() {
                    let events = self.users[i]
                        .receive(&d.to_bytes(), NOW)
                        .unwrap_or_default();
                    self.check(i, &events);
                }
            }
        }
    }

    fn check(&self, reader: usize, events: &[Event]) {
        for e in events {
            if let Event::Message { content, .. } = e {
                let text = content.as_text().unwrap();
                let intended = &self.intended[text];
                assert!(
                    intended.contains(&self.ids[reader]),
                    "u{reader} read {text:?}, meant for {intended:?}"
                );
            }
        }
    }

    fn apply(&mut self, a: Action) {
        let mut rng = rand::rng();
        match a {
            Action::Invite(x, y)
            | Action::Accept(x, y)
            | Action::Remove(x, y)
            | Action::Send(x, y)
                if x == y => {}
            Action::Invite(x, y) => {
                let to = self.ids[y];
                if let Ok(out) = self.users[x].invite(&mut rng, &to, None, NOW).saved() {
                    self.deliver(&out, None);
                }
            }
            Action::Accept(x, y) => {
                let from = self.ids[y];
                if let Ok(out) = self.users[x].accept(&mut rng, &from, NOW).saved() {
                    self.deliver(&out, None);
                }
            }
            Action::Remove(x, y) => {
                let peer = self.ids[y];
                if let Ok(out) = self.users[x]
                    .remove_connection(&mut rng, &peer, NOW)
                    .saved()
                {
                    self.deliver(&out, None);
                }
            }
            Action::Send(x, y) => {
                let (to, text) = (self.ids[y], self.text());
                if let Ok(out) = self.users[x]
                    .send(&mut rng, &to, &Content::text(text.clone()), NOW)
                    .saved()
                {
                    self.deliver(&out, Some(&text));
                }
            }
            Action::Multi(x, set) => {
                let mut to: Vec<MailboxId> = set
                    .iter()
                    .filter(|&&i| i != x)
                    .map(|&i| self.ids[i])
                    .collect();
                to.sort();
                to.dedup();
                let text = self.text();
                if let Ok((_, out)) = self.users[x]
                    .send_multi(&mut rng, &to, &Content::text(text.clone()), NOW)
                    .saved()
                {
                    self.deliver(&out, Some(&text));
                }
            }
            Action::CreateGroup(x, set) => {
                let mut members: Vec<(MailboxId, Role)> = set
                    .iter()
                    .filter(|&&i| i != x)
                    .map(|&i| (self.ids[i], Role::Member))
                    .collect();
                members.sort_by_key(|m| m.0);
                members.dedup_by_key(|m| m.0);
                if let Ok((id, out)) = self.users[x].create_group(&mut rng, &members, NOW).saved() {
                    self.group = Some((x, id));
                    self.deliver(&out, None);
                }
            }
            Action::RemoveFromGroup(y) => {
                let Some((admin, id)) = self.group else {
                    return;
                };
                let who = self.ids[y];
                if let Ok(out) = self.users[admin]
                    .change_group(&mut rng, &id, &[], &[who], NOW)
                    .saved()
                {
                    self.deliver(&out, None);
                }
            }
            Action::Post => {
                let Some((admin, id)) = self.group else {
                    return;
                };
                let text = self.text();
                if let Ok(out) = self.users[admin]
                    .post_to_group(&mut rng, &id, &Content::text(text.clone()), NOW)
                    .saved()
                {
                    self.deliver(&out, Some(&text));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn nobody_outside_the_recipients_reads_a_message(actions in proptest::collection::vec(action(), 1..24)) {
        let mut world = World::new();
        for a in actions {
            world.apply(a);
        }
    }
}
