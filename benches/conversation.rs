//! Conversation costs against the raw floor, in one run:
//! `cargo bench --bench conversation -- --warm-up-time 1 --measurement-time 3`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use missive::Identity;
use missive::conversation::{Conversation, FanOut, Handoffs, Member, Role};
use missive::crypto::aead::AeadKey;
use missive::crypto::sign::SigningKey;
use missive::envelope::{Delivery, MailboxId};

const BODY: [u8; 1024] = [0x42; 1024];

fn mailbox(i: usize) -> MailboxId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    MailboxId(id)
}

fn members(n: usize) -> Vec<Member> {
    let identity = *Identity::generate(&mut rand::rng()).public();
    (0..n)
        .map(|i| {
            Member::new(
                mailbox(i),
                if i == 0 { Role::Admin } else { Role::Member },
                identity,
            )
        })
        .collect()
}

/// Sender 0 and reader 1 of a group of `n`, the sender's chain handed to the reader.
fn pair(n: usize) -> (Conversation, Conversation) {
    let mut all = members(n);
    let me = all.remove(0);
    let (sender, handoffs) = Conversation::create(&mut rand::rng(), me, all).unwrap();
    let to_1 = handoffs.iter().find(|(to, _)| *to == mailbox(1)).unwrap();
    let reader = Conversation::join(mailbox(1), mailbox(0), &to_1.1.to_bytes()).unwrap();
    (sender, reader)
}

/// Sender 0 and reader 1 of a group of `n` in which the reader holds every other member's chain
/// (so its label lookup is as large as in real use).
fn full_reader(n: usize) -> (Conversation, Conversation) {
    let mut all = members(n);
    let me = all.remove(0);
    let (sender, handoffs) = Conversation::create(&mut rand::rng(), me, all).unwrap();
    let mut reader = None;
    let mut chains = Vec::new();
    for (to, welcome) in &handoffs {
        let mut member = Conversation::join(*to, mailbox(0), &welcome.to_bytes()).unwrap();
        if *to == mailbox(1) {
            reader = Some(member);
            continue;
        }
        let out = member.start_chain(&mut rand::rng()).unwrap();
        let for_reader = out.into_iter().find(|(t, _)| *t == mailbox(1)).unwrap();
        chains.push((*to, for_reader.1.to_bytes()));
    }
    let mut reader = reader.unwrap();
    for (from, bytes) in chains {
        reader.accept_distribution(from, &bytes).unwrap();
    }
    (sender, reader)
}

fn floor(c: &mut Criterion) {
    let key = AeadKey::new(&[7; 32]);
    let signing = SigningKey::from_seed(&[9; 32]);
    let sig = signing.sign(&BODY);
    c.bench_function("floor/aead_seal_1KiB", |b| {
        b.iter(|| key.seal(&[0; 12], b"ad", &BODY))
    });
    c.bench_function("floor/ed25519_sign_1KiB", |b| {
        b.iter(|| signing.sign(&BODY))
    });
    c.bench_function("floor/ed25519_verify_1KiB", |b| {
        b.iter(|| signing.verifying_key().verify(&BODY, &sig).unwrap())
    });
}

fn group(c: &mut Criterion) {
    for n in [1usize, 10, 50, 999] {
        let (mut sender, _) = pair(n + 1);
        c.bench_function(&format!("group/encrypt_1KiB/{n}_recipients"), |b| {
            b.iter(|| sender.encrypt(&BODY).unwrap())
        });
        // A fresh pair: the reader's window follows the sender only if it reads everything.
        let (mut sender, mut reader) = full_reader(n + 1);
        c.bench_function(&format!("group/decrypt_1KiB/{n}_recipients"), |b| {
            b.iter_batched(
                || sender.encrypt(&BODY).unwrap(),
                |m| reader.decrypt(&m).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
}

/// A sender with fan-out keys to 50 recipients; the last recipient's fan-out state.
fn fan_out() -> (FanOut, FanOut) {
    let mut rng = rand::rng();
    let mut sender = FanOut::new(&mut rng, mailbox(0));
    let mut last = FanOut::new(&mut rng, mailbox(50));
    let recipients: Vec<_> = (1..=50).map(mailbox).collect();
    for &to in &recipients {
        let grant = sender.grant(&mut rng, to).unwrap();
        if to == mailbox(50) {
            last.accept_grant(mailbox(0), &grant.to_bytes()).unwrap();
        }
    }
    (sender, last)
}

fn first_message(c: &mut Criterion) {
    let mut rng = rand::rng();
    let recipients: Vec<_> = (1..=50).map(mailbox).collect();
    for n in [1usize, 10, 50] {
        let to = &recipients[50 - n..];
        let (mut sender, _) = fan_out();
        c.bench_function(&format!("first/encrypt_1KiB/{n}_recipients"), |b| {
            b.iter(|| sender.send_first(&mut rng, to, &BODY, 0).unwrap())
        });
        let mut rng2 = rand::rng();
        let (mut sender, mut last) = fan_out();
        c.bench_function(&format!("first/decrypt_1KiB/{n}_recipients"), |b| {
            b.iter_batched(
                || {
                    let (_, env) = sender.send_first(&mut rng2, to, &BODY, 0).unwrap();
                    env.split().pop().unwrap()
                },
                |d: Delivery| last.open_first(&d).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    let (mut sender, _) = fan_out();
    let (_, one) = sender
        .send_first(&mut rng, &recipients[..1], &BODY, 0)
        .unwrap();
    let (_, fifty) = sender.send_first(&mut rng, &recipients, &BODY, 0).unwrap();
    let per = (fifty.to_bytes().len() - one.to_bytes().len()) / 49;
    eprintln!("bytes per recipient of a first message: {per}");
}

/// Adds `extra`, then removes it, then adds it again...: one membership change per call.
fn toggler(extra: Member) -> impl FnMut(&mut Conversation) -> Handoffs {
    let mut present = false;
    let mut rng = rand::rng();
    move |admin| {
        present = !present;
        let (add, remove) = if present {
            (vec![extra], vec![])
        } else {
            (vec![], vec![extra.id])
        };
        admin.change(&mut rng, &add, &remove).unwrap()
    }
}

fn membership(c: &mut Criterion) {
    for n in [100usize, 1000] {
        let extra = members(n + 1).pop().unwrap();
        let (mut admin, _) = pair(n);
        let mut toggle = toggler(extra);
        c.bench_function(&format!("change/commit_add_or_remove/{n}_members"), |b| {
            b.iter(|| toggle(&mut admin))
        });
        let (mut admin, mut member) = pair(n);
        let mut toggle = toggler(extra);
        c.bench_function(&format!("change/process_commit/{n}_members"), |b| {
            b.iter_batched(
                || {
                    let handoffs = toggle(&mut admin);
                    let to_1 = handoffs
                        .into_iter()
                        .find(|(to, _)| *to == mailbox(1))
                        .unwrap();
                    to_1.1.to_bytes()
                },
                |bytes| member.accept_distribution(mailbox(0), &bytes).unwrap(),
                BatchSize::SmallInput,
            )
        });
        // Every member re-keys after a change: a new chain for each of the n - 1 others.
        let (mut admin, member) = pair(n);
        let member = std::cell::RefCell::new(member);
        let mut toggle = toggler(extra);
        c.bench_function(&format!("change/member_start_chain/{n}_members"), |b| {
            b.iter_batched(
                || {
                    let handoffs = toggle(&mut admin);
                    let to_1 = handoffs
                        .into_iter()
                        .find(|(to, _)| *to == mailbox(1))
                        .unwrap();
                    member
                        .borrow_mut()
                        .accept_distribution(mailbox(0), &to_1.1.to_bytes())
                        .unwrap();
                },
                |()| {
                    let out = member.borrow_mut().start_chain(&mut rand::rng()).unwrap();
                    out.iter().map(|(_, d)| d.to_bytes().len()).sum::<usize>()
                },
                BatchSize::PerIteration,
            )
        });
        eprintln!(
            "key state for one peer chain (incl. previous epoch): {} bytes",
            member.borrow().key_state_len()
        );
    }
}

criterion_group!(benches, floor, group, first_message, membership);
criterion_main!(benches);
