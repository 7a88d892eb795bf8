//! Several devices per member (PROTOCOL.md §12.6), each against the same work done as
//! separate single-device members: a direct message from a member on 2 devices to one on 3
//! (sender's time and bytes) against a group post from a single-device member to 4 others; a
//! post to a 50-member group whose members have 2 devices each against one to a group of 100
//! single-device members; and adding a device to a member of a 50-member group (that member's
//! side: the link, taking the new device's bundle and handing it every conversation; another
//! member's side: taking the new list). Sends are measured once the sender's chain is out (the
//! steady state); sizes are printed.
//!
//! `cargo bench --bench devices`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use missive::client::{Client, Content, Event, MemoryStore, Outgoing, Unsaved};
use missive::conversation::{ConversationId, Role};
use missive::envelope::{self, MailboxId};
use missive::platform::{Platform, Profile};
use missive::relay_api::{DeviceDirectory, PrekeyResponse, TokenIssued};
use missive::token::{Issuer, MAX_BATCH, TokenKind};

const NOW: u64 = 1_800_000_000;

/// The in-memory world: the platform that certifies accounts and the relay's token issuer.
struct World {
    platform: Platform,
    issuer: Issuer,
}

impl World {
    fn new() -> Self {
        let rng = &mut rand::rng();
        Self {
            platform: Platform::new(rng),
            issuer: Issuer::generate(rng),
        }
    }

    /// `name`'s account on `devices` devices (the first device first), each holding a session
    /// with every other.
    fn account(&mut self, name: &str, devices: usize) -> Vec<Client> {
        let rng = &mut rand::rng();
        let mut first = Client::new(rng, name.as_bytes());
        let id = *first.mailbox_id();
        self.platform.register(id, Profile::FREE);
        first.set_account(
            (self.platform)
                .certify_account(&id, false, NOW + 86_400)
                .unwrap(),
        );
        let mut all = vec![first];
        for _ in 1..devices {
            let mut new = Client::new(rng, name.as_bytes());
            link(&mut all[0], &mut new);
            all.push(new);
        }
        if devices > 1 {
            let member = *all[0].member_id();
            let list = all[0].device_list().unwrap().to_bytes();
            for i in 0..all.len() {
                let others: Vec<PrekeyResponse> = (0..all.len())
                    .filter(|j| *j != i)
                    .map(|j| directory(&mut all[j]))
                    .collect();
                let found = DeviceDirectory {
                    list: list.clone(),
                    devices: others,
                };
                sent(all[i].add_contact_devices(rng, &member, &found).unwrap());
            }
        }
        all
    }

    /// Invitation tokens for `c`, at least `n`.
    fn fund(&self, c: &mut Client, n: usize) {
        let rng = &mut rand::rng();
        while c.tokens(TokenKind::Invite) < n {
            let issue = sent(
                c.request_tokens(rng, TokenKind::Invite, MAX_BATCH, NOW)
                    .unwrap(),
            );
            let issued = TokenIssued {
                key: (self.issuer)
                    .public_key(TokenKind::Invite, issue.request.period)
                    .unwrap(),
                response: self.issuer.issue(rng, &issue.request).unwrap(),
            };
            c.add_tokens(&issued).unwrap();
        }
    }
}

/// Saves to a throwaway store, and takes what was sent out of the outbox (the relay took it).
fn sent<T>(unsaved: Unsaved<'_, T>) -> T {
    unsaved
        .save(&mut rand::rng(), &mut MemoryStore::default())
        .unwrap()
}

/// [`sent`] for envelopes.
fn out(c: &mut Client, unsaved: impl FnOnce(&mut Client) -> Vec<Outgoing>) -> Vec<Outgoing> {
    let out = unsaved(c);
    for o in &out {
        c.accepted(o);
    }
    out
}

fn directory(c: &mut Client) -> PrekeyResponse {
    let published = sent(c.publish(&mut rand::rng(), 1).unwrap());
    PrekeyResponse {
        mailbox: *c.mailbox_id(),
        bundle: published.bundle,
        one_time: published.one_time.into_iter().next(),
    }
}

fn deliver(to: &mut Client, outgoing: &[Outgoing]) -> Vec<Event> {
    let me = *to.mailbox_id();
    let deliveries: Vec<Vec<u8>> = (outgoing.iter())
        .flat_map(|o| envelope::split(&o.envelope).unwrap())
        .filter(|d| d.mailbox() == me)
        .map(|d| d.to_bytes())
        .collect();
    (deliveries.iter())
        .flat_map(|d| to.receive(d, NOW).unwrap())
        .collect()
}

/// Links `new` to `existing`'s account.
fn link(existing: &mut Client, new: &mut Client) {
    let rng = &mut rand::rng();
    let code = existing.link_code(rng, NOW).unwrap();
    let answer = sent(new.answer_link(rng, &code, NOW).unwrap());
    deliver(existing, &[answer]);
    let linked = out(existing, |c| {
        vec![sent(c.link_device(rng, NOW).unwrap()).handover]
    });
    deliver(new, &linked);
}

/// Every device of `reader` takes `account` as a contact: its list and a session with each
/// of its devices.
fn meet(readers: &mut [Client], account: &mut [Client]) {
    let rng = &mut rand::rng();
    let member = *account[0].member_id();
    for reader in readers.iter_mut() {
        if reader.contact(&member).unwrap().is_none() {
            let first = directory(&mut account[0]);
            reader.add_contact(rng, account[0].user(), &first).unwrap();
        }
        if let Some(list) = account[0].device_list().map(|l| l.to_bytes()) {
            let devices = account.iter_mut().map(directory).collect();
            let found = DeviceDirectory { list, devices };
            sent(reader.add_contact_devices(rng, &member, &found).unwrap());
        }
    }
}

/// Connects `a` and `b` (every device of each holding a session with every device of the
/// other): `a`'s first device invites, the device of `b` it reached accepts.
fn connect(world: &World, a: &mut [Client], b: &mut [Client]) {
    let rng = &mut rand::rng();
    meet(a, b);
    meet(b, a);
    world.fund(&mut a[0], 1);
    let b_id = *b[0].member_id();
    let a_id = *a[0].member_id();
    let invite = out(&mut a[0], |c| {
        sent(c.invite(rng, &b_id, None, NOW).unwrap())
    });
    deliver_all(&mut a[1..], &invite);
    let reached = (b.iter_mut())
        .position(|d| !deliver(d, &invite).is_empty())
        .unwrap();
    let accept = out(&mut b[reached], |c| {
        sent(c.accept(rng, &a_id, NOW).unwrap())
    });
    deliver_all(a, &accept);
    deliver_all(b, &accept);
}

fn deliver_all(to: &mut [Client], outgoing: &[Outgoing]) {
    for c in to {
        deliver(c, outgoing);
    }
}

fn bytes(outgoing: &[Outgoing]) -> usize {
    outgoing.iter().map(|o| o.envelope.len()).sum()
}

/// The median time of `send` over criterion's iterations, leaving out the save after it.
fn timed_sends(
    b: &mut criterion::Bencher<'_>,
    c: &mut Client,
    mut send: impl FnMut(&mut Client) -> Unsaved<'_, Vec<Outgoing>>,
) {
    b.iter_custom(|iters| {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            let started = Instant::now();
            let unsaved = send(c);
            spent += started.elapsed();
            let outgoing = sent(unsaved);
            for o in &outgoing {
                c.accepted(o);
            }
            black_box(outgoing);
        }
        spent
    })
}

/// Alice on 2 devices, Bob on 3, connected, with a direct conversation whose chains are out.
fn direct_2_to_3(world: &mut World) -> (Vec<Client>, MailboxId) {
    let mut alice = world.account("alice", 2);
    let mut bob = world.account("bob", 3);
    connect(world, &mut alice, &mut bob);
    let bob_id = *bob[0].member_id();
    let first = out(&mut alice[0], |c| {
        sent(
            c.send(&mut rand::rng(), &bob_id, &Content::text("hi"), NOW)
                .unwrap(),
        )
    });
    deliver_all(&mut bob, &first);
    (alice, bob_id)
}

/// A group of `n` single-device members, created by the first, whose chain is out.
fn flat_group(world: &mut World, n: usize) -> (Client, ConversationId) {
    let mut admin = world.account("admin", 1);
    let mut members: Vec<(MailboxId, Role)> = Vec::new();
    for i in 1..n {
        let mut member = world.account(&format!("m{i}"), 1);
        connect(world, &mut admin, &mut member);
        members.push((*member[0].member_id(), Role::Member));
    }
    let mut admin = admin.remove(0);
    let (group, _) = sent(admin.create_group(&mut rand::rng(), &members, NOW).unwrap());
    (admin, group)
}

/// A group of `n` members on `devices` devices each, created by the first; the admin's
/// devices, the group, and one other member's devices.
fn device_group(
    world: &mut World,
    n: usize,
    devices: usize,
) -> (Vec<Client>, ConversationId, Vec<Client>) {
    let mut admin = world.account("admin", devices);
    let mut members: Vec<(MailboxId, Role)> = Vec::new();
    let mut kept = None;
    for i in 1..n {
        let mut member = world.account(&format!("m{i}"), devices);
        connect(world, &mut admin, &mut member);
        members.push((*member[0].member_id(), Role::Member));
        if kept.is_none() {
            kept = Some(member);
        }
    }
    let (group, welcome) = sent(
        admin[0]
            .create_group(&mut rand::rng(), &members, NOW)
            .unwrap(),
    );
    for o in &welcome {
        admin[0].accepted(o);
    }
    let mut other = kept.unwrap();
    deliver_all(&mut admin[1..], &welcome);
    deliver_all(&mut other, &welcome);
    (admin, group, other)
}

/// A sender on `devices` devices connected to `n` members on `devices` devices each: the
/// sender's devices and the members' ids.
fn connections(world: &mut World, n: usize, devices: usize) -> (Vec<Client>, Vec<MailboxId>) {
    let mut sender = world.account("sender", devices);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut member = world.account(&format!("r{i}"), devices);
        connect(world, &mut sender, &mut member);
        ids.push(*member[0].member_id());
    }
    (sender, ids)
}

fn devices(c: &mut Criterion) {
    let mut world = World::new();
    let mut g = c.benchmark_group("devices");
    g.sample_size(20).measurement_time(Duration::from_secs(5));

    // 1. A direct message, 2 devices to 3, against a post to 4 separate members.
    let (mut alice, bob) = direct_2_to_3(&mut world);
    let text = Content::text("a 1:1 message between two busy people");
    let one = sent(alice[0].send(&mut rand::rng(), &bob, &text, NOW).unwrap());
    println!(
        "devices: direct message 2 → 3 devices: {} B for 4 recipient devices",
        bytes(&one)
    );
    g.bench_function("direct message, 2 devices to 3 (sender)", |b| {
        timed_sends(b, &mut alice[0], |c| {
            c.send(&mut rand::rng(), &bob, &text, NOW).unwrap()
        })
    });
    let (mut admin, group) = flat_group(&mut world, 5);
    let warm = sent(
        admin
            .post_to_group(&mut rand::rng(), &group, &text, NOW)
            .unwrap(),
    );
    for o in &warm {
        admin.accepted(o);
    }
    let one = sent(
        admin
            .post_to_group(&mut rand::rng(), &group, &text, NOW)
            .unwrap(),
    );
    println!(
        "devices: group post to 4 single-device members: {} B",
        bytes(&one)
    );
    g.bench_function("group post to 4 single-device members (sender)", |b| {
        timed_sends(b, &mut admin, |c| {
            c.post_to_group(&mut rand::rng(), &group, &text, NOW)
                .unwrap()
        })
    });

    // 2. A 50-member group on 2 devices each, against 100 single-device members.
    for (n, per) in [(50, 2), (100, 1)] {
        let (mut admins, group, _) = device_group(&mut world, n, per);
        let admin = &mut admins[0];
        let warm = sent(
            admin
                .post_to_group(&mut rand::rng(), &group, &text, NOW)
                .unwrap(),
        );
        for o in &warm {
            admin.accepted(o);
        }
        let one = sent(
            admin
                .post_to_group(&mut rand::rng(), &group, &text, NOW)
                .unwrap(),
        );
        let recipients = n * per - 1;
        println!(
            "devices: group post, {n} members × {per} devices: {} B, {:.1} B per recipient device",
            bytes(&one),
            bytes(&one) as f64 / recipients as f64
        );
        let name = format!("group post, {n} members × {per} devices (sender)");
        g.bench_function(name, |b| {
            timed_sends(b, admin, |c| {
                c.post_to_group(&mut rand::rng(), &group, &text, NOW)
                    .unwrap()
            })
        });
    }

    // 3. A multi-recipient first message to 50 members on 2 devices each (and the sender's
    //    other device), against 50 single-device members: 56 B per recipient device.
    for per in [2, 1] {
        let (mut sender, to) = connections(&mut world, 50, per);
        let sender = &mut sender[0];
        let granted = sent(
            sender
                .send_multi(&mut rand::rng(), &to, &text, NOW)
                .unwrap(),
        )
        .1;
        for o in &granted {
            sender.accepted(o);
        }
        let (_, one) = sent(
            sender
                .send_multi(&mut rand::rng(), &to, &text, NOW)
                .unwrap(),
        );
        let parts = 50 * per + per - 1;
        println!(
            "devices: first message, 50 members × {per} devices: {} B in {} envelope(s), \
             {:.1} B per recipient device",
            bytes(&one),
            one.len(),
            bytes(&one) as f64 / parts as f64
        );
        let name = format!("first message, 50 members × {per} devices (sender)");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let unsaved = sender.send_multi(&mut rand::rng(), &to, &text, NOW);
                    spent += started.elapsed();
                    let (_, outgoing) = sent(unsaved.unwrap());
                    for o in &outgoing {
                        sender.accepted(o);
                    }
                    black_box(outgoing);
                }
                spent
            })
        });
    }

    // 4. A member of a 50-member group (1 device each) adds a device.
    let (admins, _, mut other) = device_group(&mut world, 50, 1);
    let member = *other[0].member_id();
    let state = other[0].to_bytes().unwrap();
    g.bench_function(
        "add a device: its member links it and hands it the group",
        |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let rng = &mut rand::rng();
                    let mut phone = Client::from_bytes(&state).unwrap();
                    let mut laptop = Client::new(rng, phone.user());
                    let code = phone.link_code(rng, NOW).unwrap();
                    let answer = sent(laptop.answer_link(rng, &code, NOW).unwrap());
                    deliver(&mut phone, &[answer]);
                    let bundle = directory(&mut laptop);
                    // Each step timed up to its save (what an app then writes).
                    let started = Instant::now();
                    let unsaved = phone.link_device(rng, NOW).unwrap();
                    spent += started.elapsed();
                    let found = DeviceDirectory {
                        list: sent(unsaved).list,
                        devices: vec![bundle],
                    };
                    let started = Instant::now();
                    let unsaved = phone.add_contact_devices(rng, &member, &found).unwrap();
                    spent += started.elapsed();
                    sent(unsaved);
                    let started = Instant::now();
                    let unsaved = phone.hand_out_chains(rng, 100, NOW).unwrap();
                    spent += started.elapsed();
                    black_box(sent(unsaved));
                }
                spent
            })
        },
    );
    let mut laptop = Client::new(&mut rand::rng(), other[0].user());
    link(&mut other[0], &mut laptop);
    let list = other[0].device_list().unwrap().to_bytes();
    let admin_state = admins[0].to_bytes().unwrap();
    // The signed prekey alone (a one-time prekey is used once).
    let bundle = PrekeyResponse {
        one_time: None,
        ..directory(&mut laptop)
    };
    let found = DeviceDirectory {
        list,
        devices: vec![bundle],
    };
    g.bench_function("add a device: another member takes the new list", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let mut admin = Client::from_bytes(&admin_state).unwrap();
                let started = Instant::now();
                let unsaved =
                    (admin.add_contact_devices(&mut rand::rng(), &member, &found)).unwrap();
                spent += started.elapsed();
                black_box(sent(unsaved));
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, devices);
criterion_main!(benches);
