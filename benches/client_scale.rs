//! A recruiter's client at 10, 1,000 and 10,000 conversations, plus 50 groups of up to 920
//! members she created (46,000 roster slots at the largest size): start-up to the first
//! receive, receiving one message, saving after it (time here; bytes printed), sending (alone,
//! and with the save after it), and the state's bytes per contact. Every conversation is a
//! real one: each contact wrote to her Open Profile. Building a state takes time linear in its size. After the start-up
//! measurement the client is the one loaded from the store, lazily, as an app has it.
//!
//! `cargo bench --bench client_scale` (all sizes, several minutes to build the largest);
//! `MISSIVE_SCALE=10,1000 cargo bench --bench client_scale` for fewer.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use missive::client::{Client, Content, MemoryStore, Outgoing};
use missive::conversation::Role;
use missive::envelope::{self, MailboxId};
use missive::platform::{Platform, Profile, Tier};
use missive::relay_api::{PrekeyResponse, TokenIssued};
use missive::token::{Issuer, TokenKind};

const NOW: u64 = 1_800_000_000;
const GROUPS: usize = 50;
const GROUP_SIZE: usize = 920;
const OPEN: Profile = Profile {
    tier: Tier::PremiumBusiness,
    open_profile: true,
};

struct Built {
    me: Client,
    store: MemoryStore,
    /// The contact whose messages are received (the first one).
    peer: Client,
}

fn deliveries(out: &[Outgoing], to: &MailboxId) -> Vec<Vec<u8>> {
    out.iter()
        .flat_map(|o| envelope::split(&o.envelope).unwrap())
        .filter(|d| d.mailbox() == *to)
        .map(|d| d.to_bytes())
        .collect()
}

fn saved<T>(unsaved: missive::client::Unsaved<'_, T>) -> T {
    unsaved
        .save(&mut rand::rng(), &mut MemoryStore::default())
        .unwrap()
}

/// `n` contacts, each of whom opened a conversation with one message, and 50 groups.
fn build(n: usize) -> Built {
    let rng = &mut rand::rng();
    let mut platform = Platform::new(rng);
    let issuer = Issuer::generate(rng);
    let mut me = Client::new(rng, b"recruiter");
    let me_id = *me.mailbox_id();
    me.set_profile(OPEN);
    platform.register(me_id, OPEN);
    me.set_account(
        platform
            .certify_account(&me_id, false, NOW + 86_400)
            .unwrap(),
    );
    let mut store = MemoryStore::default();
    let published = me.publish(rng, 1).unwrap().save(rng, &mut store).unwrap();
    let response = PrekeyResponse {
        mailbox: me_id,
        bundle: published.bundle,
        one_time: None,
    };
    let mut contacts = Vec::with_capacity(n);
    let mut first = None;
    for i in 0..n {
        let mut peer = Client::new(rng, format!("member{i}").as_bytes());
        peer.set_contact_profile(me_id, OPEN).unwrap();
        peer.add_contact(rng, b"recruiter", &response).unwrap();
        let text = Content::text("Hello, about the role");
        let out = saved(peer.send(rng, &me_id, &text, NOW).unwrap());
        for d in deliveries(&out, &me_id) {
            me.receive(&d, NOW).unwrap();
        }
        contacts.push(*peer.mailbox_id());
        if first.is_none() {
            first = Some(peer);
        }
    }
    for g in 0..GROUPS {
        let size = GROUP_SIZE.min(n);
        let members: Vec<(MailboxId, Role)> = (0..size)
            .map(|k| (contacts[(g * 97 + k) % n], Role::Member))
            .collect();
        while me.tokens(TokenKind::Invite) < size {
            let issue = me
                .request_tokens(rng, TokenKind::Invite, missive::token::MAX_BATCH, NOW)
                .unwrap()
                .save(rng, &mut store)
                .unwrap();
            let issued = TokenIssued {
                key: issuer
                    .public_key(TokenKind::Invite, issue.request.period)
                    .unwrap(),
                response: issuer.issue(rng, &issue.request).unwrap(),
            };
            me.add_tokens(&issued).unwrap();
        }
        let created = me.create_group(rng, &members, NOW).unwrap();
        let (_, out) = created.save(rng, &mut store).unwrap();
        for o in &out {
            me.accepted(o);
        }
    }
    for o in me.outbox() {
        me.accepted(&o);
    }
    me.save_to(rng, &mut store).unwrap();
    Built {
        me,
        store,
        peer: first.unwrap(),
    }
}

/// The next message from `peer` to `me`, as delivered.
fn next_message(peer: &mut Client, me: &MailboxId) -> Vec<u8> {
    let out = saved(
        peer.send(&mut rand::rng(), me, &Content::text("Any news?"), NOW)
            .unwrap(),
    );
    for o in &out {
        peer.accepted(o);
    }
    deliveries(&out, me).pop().unwrap()
}

fn stored_bytes(store: &mut MemoryStore) -> usize {
    store.rows_mut().values().map(|v| 16 + v.len()).sum()
}

fn sizes() -> Vec<usize> {
    std::env::var("MISSIVE_SCALE")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 1_000, 10_000])
}

fn scale(c: &mut Criterion) {
    for n in sizes() {
        let started = std::time::Instant::now();
        let mut built = build(n);
        let me_id = *built.me.mailbox_id();
        let state = stored_bytes(&mut built.store);
        println!(
            "client_scale/{n}: built in {:.1} s; state {} bytes, {} per contact",
            started.elapsed().as_secs_f64(),
            state,
            state / n
        );
        let mut g = c.benchmark_group(format!("client_scale/{n}"));
        g.sample_size(20).measurement_time(Duration::from_secs(5));

        // Start-up: load from the store, then open the next message.
        let message = next_message(&mut built.peer, &me_id);
        g.bench_function("start-up to first receive", |b| {
            b.iter(|| {
                let mut me = Client::load_from(&built.store).unwrap().unwrap();
                black_box(me.receive(&message, NOW).unwrap());
            })
        });
        built.me.receive(&message, NOW).unwrap();
        built
            .me
            .save_to(&mut rand::rng(), &mut built.store)
            .unwrap();
        // From here on, the client an app has after a restart: loaded lazily.
        built.me = Client::load_from(&built.store).unwrap().unwrap();

        let Built { me, store, peer } = &mut built;
        g.bench_function("receive one message", |b| {
            b.iter_batched(
                || next_message(peer, &me_id),
                |d| black_box(me.receive(&d, NOW).unwrap()),
                BatchSize::SmallInput,
            )
        });
        me.save_to(&mut rand::rng(), store).unwrap();
        let mut written = Vec::new();
        g.bench_function("save after one message", |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let d = next_message(peer, &me_id);
                    me.receive(&d, NOW).unwrap();
                    let started = std::time::Instant::now();
                    me.save_to(&mut rand::rng(), store).unwrap();
                    spent += started.elapsed();
                    written.push(me.last_save_bytes());
                }
                spent
            })
        });
        written.sort_unstable();
        // Empty when a filter left that bench out.
        if let Some(median) = written.get(written.len() / 2) {
            println!(
                "client_scale/{n}: save after one message wrote {median} bytes (median of {})",
                written.len()
            );
        }
        let peer_id = *peer.mailbox_id();
        g.bench_function("send", |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let text = Content::text("Thanks!");
                    let started = std::time::Instant::now();
                    let unsaved = me.send(&mut rand::rng(), &peer_id, &text, NOW).unwrap();
                    spent += started.elapsed();
                    let out = unsaved.save(&mut rand::rng(), store).unwrap();
                    for o in &out {
                        me.accepted(o);
                    }
                }
                spent
            })
        });
        g.bench_function("send and save", |b| {
            b.iter(|| {
                let text = Content::text("Thanks!");
                let out = me
                    .send(&mut rand::rng(), &peer_id, &text, NOW)
                    .unwrap()
                    .save(&mut rand::rng(), store)
                    .unwrap();
                for o in &out {
                    me.accepted(o);
                }
                black_box(out)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
