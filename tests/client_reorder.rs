//! Deliveries out of order around a group change: a change, the access secret it hands out, the
//! chains every member starts after it, and the posts that follow, in every order. Every member
//! who stays reads every post, the removed member reads none, and a delivery that fails changes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::saved::Saved;
use common::users::{NOW, connect, deliver, deliveries_for, member, sessions_between_all, texts};
use missive::access::{AccessKey, Credential};
use missive::client::{Client, Content, Event, Outgoing, Waiting};
use missive::conversation::{ConversationId, Role};
use missive::envelope::{self, Envelope, MailboxId};
use missive::platform::{Platform, Profile};
use proptest::prelude::*;

/// A group of `n` members, member 0 (Dan) its admin and the others managers (so each may
/// post), every chain handed out.
fn group(n: usize) -> (Vec<Client>, ConversationId) {
    let mut rng = rand::rng();
    let mut p = Platform::new(&mut rng);
    let mut users: Vec<Client> = (0..n)
        .map(|i| member(&mut p, &format!("m{i}"), Profile::FREE))
        .collect();
    // Members hand each other their chains in pairwise sessions.
    sessions_between_all(&mut users[1..]);
    let (dan, others) = users.split_first_mut().unwrap();
    let ids: Vec<MailboxId> = others.iter_mut().map(|o| connect(dan, o)).collect();
    let roles: Vec<(MailboxId, Role)> = ids.iter().map(|m| (*m, Role::Manager)).collect();
    let (id, out) = dan.create_group(&mut rng, &roles, NOW).saved().unwrap();
    for o in others.iter_mut() {
        deliver(o, &out);
    }
    // Everyone posts once, so every chain of epoch 0 is out.
    for i in 0..n {
        let out = users[i]
            .post_to_group(&mut rng, &id, &Content::text("epoch 0"), NOW)
            .saved()
            .unwrap();
        for (j, u) in users.iter_mut().enumerate() {
            if j != i {
                assert_eq!(texts(&deliver(u, &out)), ["epoch 0"]);
            }
        }
    }
    (users, id)
}

/// What a change of a group makes: Dan removes member `removed`; then, each having received
/// only Dan's change, every member who stays and Dan himself post once. Returns every
/// delivery that results (to anyone) and each post's text.
struct Scenario {
    /// Each member's state before the change.
    before: Vec<Vec<u8>>,
    /// The access keys Dan delivers his post after the change with: each member who stays
    /// has its own, derived from the group's secret, of the new epoch and of the last.
    new_keys: Vec<AccessKey>,
    ids: Vec<MailboxId>,
    removed: usize,
    outgoing: Vec<Outgoing>,
    posts: Vec<String>,
}

fn scenario(n: usize, removed: usize) -> Scenario {
    let mut rng = rand::rng();
    let (mut users, group) = group(n);
    for u in users.iter_mut() {
        registration(u);
    }
    let before = users
        .iter()
        .map(|u| u.to_bytes().unwrap().to_vec())
        .collect();
    let ids: Vec<MailboxId> = users.iter().map(|u| *u.mailbox_id()).collect();
    let change = users[0]
        .change_group(&mut rng, &group, &[], &[ids[removed]], NOW)
        .saved()
        .unwrap();
    let mut outgoing = change.clone();
    let mut posts = Vec::new();
    let mut new_keys = Vec::new();
    for (i, user) in users.iter_mut().enumerate() {
        if i == removed {
            continue;
        }
        if i != 0 {
            deliver(user, &change);
        }
        let text = format!("after the change, from m{i}");
        let out = user
            .post_to_group(&mut rng, &group, &Content::text(text.clone()), NOW)
            .saved()
            .unwrap();
        if i == 0 {
            // For each other member who stays, its key of the new epoch and of the last.
            for o in &out {
                if let Credential::Keys(lists) = &o.credential {
                    assert_eq!(lists.len(), n - 2);
                    new_keys.extend(lists.iter().flatten().cloned());
                }
            }
            assert!(!new_keys.is_empty());
        }
        outgoing.extend(out);
        posts.push(text);
    }
    Scenario {
        before,
        new_keys,
        ids,
        removed,
        outgoing,
        posts,
    }
}

impl Scenario {
    /// Every delivery for member `i`; for the removed member, also a copy of every post's
    /// envelope re-addressed to it (a relay that ignores the change).
    fn deliveries(&self, i: usize) -> Vec<Vec<u8>> {
        let mut all = deliveries_for(&self.outgoing, &self.ids[i]);
        if i == self.removed {
            for o in &self.outgoing {
                let env = Envelope::from_bytes(&o.envelope).unwrap();
                let copy = Envelope::to_mailboxes(NOW + 60, &[self.ids[i]], env.body()).unwrap();
                all.extend(
                    envelope::split(&copy[0].to_bytes())
                        .unwrap()
                        .into_iter()
                        .map(|d| d.to_bytes()),
                );
            }
        }
        all
    }

    /// Member `i`, from its state before the change, receives its deliveries in `order`
    /// (indices, repeats allowed: a relay delivers at least once), restarting from its saved
    /// state when `restart` says so. Returns the texts it read after the change.
    fn replay(&self, i: usize, order: &[usize], restart: &[bool]) -> Vec<String> {
        let deliveries = self.deliveries(i);
        let mut client = Client::from_bytes(&self.before[i]).unwrap();
        let mut read = Vec::new();
        for (step, &k) in order.iter().enumerate() {
            let before = client.to_bytes().unwrap();
            match client.receive(&deliveries[k % deliveries.len()], NOW) {
                Ok(events) => read.extend(texts(&events)),
                Err(e) => assert!(
                    *client.to_bytes().unwrap() == *before,
                    "a failed delivery ({e}) changed state"
                ),
            }
            if restart.get(step).copied().unwrap_or(false) {
                client = Client::from_bytes(&client.to_bytes().unwrap()).unwrap();
            }
        }
        // Whoever stays holds the group's new access key, whatever the order; registering it
        // lets the others deliver to them.
        let added = registration(&mut client);
        if added.iter().any(|k| self.new_keys.contains(k)) {
            read.push(HOLDS_NEW_KEY.into());
        }
        read.sort();
        read
    }

    /// What member `i` should read: every post but its own, none if removed.
    fn expected(&self, i: usize) -> Vec<String> {
        if i == self.removed {
            return Vec::new();
        }
        let own = format!("after the change, from m{i}");
        let mut posts: Vec<String> = self.posts.iter().filter(|p| **p != own).cloned().collect();
        posts.push(HOLDS_NEW_KEY.into());
        posts.sort();
        posts
    }
}

const HOLDS_NEW_KEY: &str = "(holds the group's new access key)";

/// The access keys `c` adds to its registration now.
fn registration(c: &mut Client) -> Vec<AccessKey> {
    let sync = c.access_sync(&mut rand::rng(), NOW).saved().unwrap();
    sync.update.map(|u| u.add.clone()).unwrap_or_default()
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// The case the review found: Ben's chain for the new epoch and his post reach Ana before Dan's
/// change. Ana keeps both, reads the post once the change arrives, and reads Ben's later posts
/// at once.
#[test]
fn a_chain_and_a_post_that_overtake_their_change_are_read_after_it() {
    let mut rng = rand::rng();
    let (mut users, group) = group(4);
    let ids: Vec<MailboxId> = users.iter().map(|u| *u.mailbox_id()).collect();
    let (dan, ana, ben, chloe) = (0, 1, 2, 3);
    let change = users[dan]
        .change_group(&mut rng, &group, &[], &[ids[chloe]], NOW)
        .saved()
        .unwrap();
    deliver(&mut users[ben], &change);
    let post = users[ben]
        .post_to_group(&mut rng, &group, &Content::text("first"), NOW)
        .saved()
        .unwrap();
    let for_ana = deliveries_for(&post, &ids[ana]);
    assert_eq!(for_ana.len(), 2, "Ben's chain (pairwise) and his post");
    // Ben's chain is kept by the conversation; his post waits for it.
    let waits = [Event::Waiting(Waiting::Unrecognised)];
    assert!(users[ana].receive(&for_ana[0], NOW).unwrap().is_empty());
    assert_eq!(users[ana].receive(&for_ana[1], NOW).unwrap(), waits);
    // Delivered again before the change: nothing new, and no error.
    assert!(users[ana].receive(&for_ana[0], NOW).unwrap().is_empty());
    assert_eq!(users[ana].receive(&for_ana[1], NOW).unwrap(), waits);
    assert_eq!(users[ana].waiting(), 1);
    // Dan's access secret for the new epoch comes before his change: ours, authentic, early.
    let from_dan = deliveries_for(&change, &ids[ana]);
    assert_eq!(
        from_dan.len(),
        2,
        "the change and the epoch's access secret"
    );
    assert_eq!(
        users[ana].receive(&from_dan[1], NOW).unwrap(),
        [Event::Waiting(Waiting::Early)]
    );
    assert_eq!(users[ana].waiting(), 2);
    assert_eq!(texts(&deliver(&mut users[ana], &change)), ["first"]);
    let again = users[ben]
        .post_to_group(&mut rng, &group, &Content::text("second"), NOW)
        .saved()
        .unwrap();
    assert_eq!(texts(&deliver(&mut users[ana], &again)), ["second"]);
    assert_eq!(users[ana].waiting(), 0);
    // Chloe, removed, reads neither.
    assert!(texts(&deliver(&mut users[chloe], &post)).is_empty());
}

/// Every order of what one member receives around a change in a group of four (Dan, two who
/// stay, one removed): Dan's change, his access secret and post, the other's chain and post.
#[test]
fn every_order_of_a_change_its_chains_and_posts_ends_with_every_post_read() {
    let s = scenario(4, 3);
    for i in 1..3 {
        let count = s.deliveries(i).len();
        assert_eq!(
            count, 5,
            "commit, access secret, Dan's post, a chain and a post"
        );
        for order in permutations(count) {
            assert_eq!(
                s.replay(i, &order, &[]),
                s.expected(i),
                "m{i}, order {order:?}"
            );
        }
    }
    // The removed member, handed every post by a relay that ignores the change, in every
    // rotation and both directions, reads none.
    let count = s.deliveries(s.removed).len();
    for start in 0..count {
        let forward: Vec<usize> = (0..count).map(|k| (start + k) % count).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        for order in [forward, backward] {
            assert!(s.replay(s.removed, &order, &[]).is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A larger group, random orders with deliveries repeated and restarts in between.
    #[test]
    fn random_orders_repeats_and_restarts_end_with_every_post_read(
        removed in 1usize..5,
        seed in proptest::collection::vec(any::<u32>(), 64),
        restarts in proptest::collection::vec(any::<bool>(), 64),
    ) {
        let s = scenario(5, removed);
        for i in 1..5 {
            let count = s.deliveries(i).len();
            // Every delivery at least once, in a random order, then some again.
            let mut keyed: Vec<(u32, usize)> = (0..count).map(|k| (seed[k % seed.len()], k)).collect();
            keyed.sort();
            let mut order: Vec<usize> = keyed.into_iter().map(|(_, k)| k).collect();
            order.extend(seed.iter().take(8).map(|&x| x as usize % count));
            prop_assert_eq!(s.replay(i, &order, &restarts), s.expected(i));
        }
    }
}

/// A group's access secret that arrives after a later change has replaced it is stale, not an
/// error: the member already holds the newer one.
#[test]
fn an_access_secret_overtaken_by_a_later_change_is_dropped_quietly() {
    let mut rng = rand::rng();
    let (mut users, group) = group(4);
    let ids: Vec<MailboxId> = users.iter().map(|u| *u.mailbox_id()).collect();
    let first = users[0]
        .change_group(&mut rng, &group, &[], &[ids[3]], NOW)
        .saved()
        .unwrap();
    let second = users[0]
        .change_group(&mut rng, &group, &[], &[ids[2]], NOW)
        .saved()
        .unwrap();
    let (first, second) = (
        deliveries_for(&first, &ids[1]),
        deliveries_for(&second, &ids[1]),
    );
    assert_eq!(first.len(), 2, "the change, then the group's access secret");
    let m1 = &mut users[1];
    assert!(m1.receive(&first[0], NOW).unwrap().is_empty());
    for d in &second {
        assert!(m1.receive(d, NOW).unwrap().is_empty());
    }
    assert_eq!(m1.conversation(&group).unwrap().unwrap().epoch, 2);
    assert_eq!(m1.receive(&first[1], NOW), Ok(Vec::new()));
    assert_eq!(m1.waiting(), 0);
}
