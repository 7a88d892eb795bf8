//! `missive-peers profile WHAT`: runs one operation many times, each call inside
//! [`measured`], for `valgrind --tool=callgrind --toggle-collect='*measured*'` (instruction
//! counts are repeatable on a noisy machine; set-up is left out).

use std::hint::black_box;

use missive::envelope::{Delivery, MailboxId};
use missive::session::SessionMessage;

use crate::KIB;
use crate::missive_setup::{self, mailbox};
use crate::pairwise::missive_pair;

#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}

pub fn run(what: &str) {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    let mut rng = rand::rng();
    match what {
        "session" => {
            let (mut a, mut b) = missive_pair();
            for _ in 0..calls {
                let bytes = measured(|| a.encrypt(&mut rng, &KIB).unwrap().to_bytes());
                measured(|| {
                    b.decrypt(&SessionMessage::from_bytes(&bytes).unwrap())
                        .unwrap()
                });
            }
        }
        "group" => {
            let (mut s, mut r, _) = missive_setup::group(50, 0);
            for _ in 0..calls {
                let m = measured(|| s.encrypt(&KIB).unwrap());
                measured(|| r.decrypt(&m).unwrap());
            }
        }
        "fanout" => {
            let (mut s, mut last) = missive_setup::fan_out(50);
            let to: Vec<MailboxId> = (1..=50).map(mailbox).collect();
            for _ in 0..calls / 4 {
                let bytes = measured(|| s.send_first(&mut rng, &to, &KIB, 0).unwrap().1.to_bytes());
                let mine = missive::envelope::split(&bytes)
                    .unwrap()
                    .pop()
                    .unwrap()
                    .to_bytes();
                measured(|| {
                    last.open_first(&Delivery::from_bytes(&mine).unwrap())
                        .unwrap()
                });
            }
        }
        "fanout-send" => {
            let (mut s, _) = missive_setup::fan_out(50);
            let to: Vec<MailboxId> = (1..=50).map(mailbox).collect();
            for _ in 0..calls {
                measured(|| s.send_first(&mut rng, &to, &KIB, 0).unwrap().1.to_bytes());
            }
        }
        "ratchet" => {
            let (mut a, mut b) = missive_pair();
            for _ in 0..calls {
                let m = measured(|| a.encrypt(&mut rng, &KIB).unwrap().to_bytes());
                b.decrypt(&SessionMessage::from_bytes(&m).unwrap()).unwrap();
                let m = measured(|| b.encrypt(&mut rng, &KIB).unwrap().to_bytes());
                a.decrypt(&SessionMessage::from_bytes(&m).unwrap()).unwrap();
            }
        }
        "decode" => {
            // Medians of strict decoding: a 1 KiB session message, a delivery, and the state
            // of a member of a 1000-member group.
            let (mut a, _) = missive_pair();
            let m = a.encrypt(&mut rng, &KIB).unwrap().to_bytes();
            let t =
                crate::timer::median(|| drop(black_box(SessionMessage::from_bytes(&m).unwrap())));
            eprintln!("session message from_bytes: {t:?}");
            let (mut s, _) = missive_setup::fan_out(50);
            let to: Vec<MailboxId> = (1..=50).map(mailbox).collect();
            let env = s.send_first(&mut rng, &to, &KIB, 0).unwrap().1.to_bytes();
            let d = missive::envelope::split(&env)
                .unwrap()
                .pop()
                .unwrap()
                .to_bytes();
            let t = crate::timer::median(|| drop(black_box(Delivery::from_bytes(&d).unwrap())));
            eprintln!("delivery from_bytes: {t:?}");
            let t = crate::timer::median(|| {
                drop(black_box(
                    missive::envelope::Envelope::from_bytes(&env).unwrap(),
                ))
            });
            eprintln!("50-recipient envelope from_bytes: {t:?}");
            let (_, m1, _) = missive_setup::group(1000, 0);
            let state = m1.to_bytes();
            let t = crate::timer::median(|| {
                drop(black_box(
                    missive::conversation::Conversation::from_bytes(&state).unwrap(),
                ))
            });
            eprintln!(
                "1000-member conversation state ({} B) from_bytes: {t:?}",
                state.len()
            );
        }
        "rekey" => {
            // Member 1 of 1000 after each change: accept, re-key (encoding every distribution),
            // and install three other members' new chains.
            let (mut admin, mut m1, mut others) = missive_setup::group(1000, 3);
            let extra = missive_setup::members(1001).pop().unwrap();
            for i in 0..calls.min(40) {
                let (add, remove) = if i % 2 == 0 {
                    (vec![extra], vec![])
                } else {
                    (vec![], vec![extra.id])
                };
                let h = admin.change(&mut rng, &add, &remove).unwrap();
                let of = |to| h.iter().find(|(t, _)| *t == to).unwrap().1.to_bytes();
                measured(|| m1.accept_distribution(mailbox(0), &of(mailbox(1))).unwrap());
                measured(|| {
                    for (_, d) in m1.start_chain(&mut rng).unwrap() {
                        black_box(d.to_bytes());
                    }
                });
                for o in &mut others {
                    o.accept_distribution(mailbox(0), &of(o.me())).unwrap();
                    let out = o.start_chain(&mut rng).unwrap();
                    let mine = out
                        .iter()
                        .find(|(t, _)| *t == mailbox(1))
                        .unwrap()
                        .1
                        .to_bytes();
                    measured(|| m1.accept_distribution(o.me(), &mine).unwrap());
                }
            }
        }
        "save" => {
            // Saving the state of a member who has just installed 999 chains (lazily).
            let (_, m1, _) = missive_setup::group(1000, 0);
            let (first, t1) = crate::timer::time(|| m1.to_bytes());
            let (_, t2) = crate::timer::time(|| m1.to_bytes());
            eprintln!(
                "first to_bytes {t1:?} (derives the windows), again {t2:?}, {} B",
                first.len()
            );
        }
        "change" => {
            let (mut admin, mut m1, _) = missive_setup::group(1000, 0);
            let extra = missive_setup::members(1001).pop().unwrap();
            for i in 0..10 {
                let (add, remove) = if i % 2 == 0 {
                    (vec![extra], vec![])
                } else {
                    (vec![], vec![extra.id])
                };
                let h = measured(|| admin.change(&mut rng, &add, &remove).unwrap());
                let mine = h
                    .iter()
                    .find(|(t, _)| *t == mailbox(1))
                    .unwrap()
                    .1
                    .to_bytes();
                measured(|| m1.accept_distribution(mailbox(0), &mine).unwrap());
                measured(|| m1.start_chain(&mut rng).unwrap());
            }
        }
        _ => eprintln!("profile what? session | group | fanout | change"),
    }
}
