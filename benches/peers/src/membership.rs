//! Item 5: adding and removing one member in groups of 50 and 1000, for the member who does it
//! and for one other member (vs OpenMLS commit and process); item 6's state per member.
//!
//! Missive's figures are whole: the engine call, every distribution sealed in its pairwise
//! session, and the re-keying every member does after a change (start a new chain and send it
//! to the n - 1 others; open and install the n - 1 chains the others send). One session pair
//! stands in for all n - 1 (each message costs the same on any established session).

use std::hint::black_box;
use std::time::Duration;

use missive::conversation::Conversation;
use missive::session::{Session, SessionMessage};

use crate::floors::Floors;
use crate::missive_setup::{self, mailbox, members};
use crate::mls;
use crate::pairwise::missive_pair;
use crate::table::{Figure, Figure::Time, Line, Row};
use crate::timer::{middle, rounds, time};

/// Medians for one operation (add or remove).
#[derive(Default)]
struct Samples {
    committer: Vec<Duration>,
    engine_commit: Vec<Duration>,
    member: Vec<Duration>,
    engine_accept: Vec<Duration>,
}

struct Missive {
    add: Samples,
    remove: Samples,
    /// Opening and installing one other member's new chain.
    per_chain: Vec<Duration>,
    state_per_member: f64,
    /// Saving member 1's state right after it installed n - 1 chains, and once more.
    first_save: Duration,
    save: Duration,
}

fn seal(s: &mut Session, bytes: &[u8]) -> Vec<u8> {
    s.encrypt(&mut rand::rng(), bytes).unwrap().to_bytes()
}

fn open(s: &mut Session, bytes: &[u8]) -> Vec<u8> {
    s.decrypt(&SessionMessage::from_bytes(bytes).unwrap())
        .unwrap()
}

/// Re-keys `member` after it accepted a change, sealing each distribution (the one for member
/// 1 in the session member 1 reads, so that it sees no gap); returns that one.
fn rekey(member: &mut Conversation, out: &mut Session, to_m1: &mut Session) -> Vec<u8> {
    let handoffs = member.start_chain(&mut rand::rng()).unwrap();
    let mut mine = Vec::new();
    for (to, d) in &handoffs {
        if *to == mailbox(1) {
            mine = seal(to_m1, &d.to_bytes());
        } else {
            black_box(seal(out, &d.to_bytes()));
        }
    }
    mine
}

fn missive(n: usize) -> Missive {
    let (mut admin, mut m1, mut others) = missive_setup::group(n, 3);
    let extra = members(n + 1).pop().unwrap();
    let (mut admin_out, _) = missive_pair();
    let (mut to_m1, mut m1_in) = missive_pair();
    let (mut m1_out, _) = missive_pair();
    let (mut peers_out, mut m1_from_peers) = missive_pair();
    let (mut others_out, _) = missive_pair();
    // Member 1 has just installed every other member's chain (lazily): its first save derives
    // the deferred receive windows, a later one only encodes.
    let (state, first_save) = time(|| m1.to_bytes());
    let (_, save) = time(|| m1.to_bytes());
    let mut r = Missive {
        add: Samples::default(),
        remove: Samples::default(),
        per_chain: Vec::new(),
        state_per_member: state.len() as f64 / n as f64,
        first_save,
        save,
    };
    let mut present = false;
    rounds(|| {
        present = !present;
        let (add, remove) = if present {
            (vec![extra], vec![])
        } else {
            (vec![], vec![extra.id])
        };
        let s = if present { &mut r.add } else { &mut r.remove };
        let ((handoffs, engine), t) = time(|| {
            let (h, e) = time(|| admin.change(&mut rand::rng(), &add, &remove).unwrap());
            for (_, d) in &h {
                black_box(seal(&mut admin_out, &d.to_bytes()));
            }
            (h, e)
        });
        s.committer.push(t);
        s.engine_commit.push(engine);
        let for_m1 = |to| {
            let (_, d) = handoffs.iter().find(|(t, _)| *t == to).unwrap();
            d.to_bytes()
        };
        let sealed = seal(&mut to_m1, &for_m1(mailbox(1)));
        let (engine, t) = time(|| {
            let bytes = open(&mut m1_in, &sealed);
            let (_, e) = time(|| m1.accept_distribution(mailbox(0), &bytes).unwrap());
            black_box(rekey(&mut m1, &mut m1_out, &mut others_out));
            e
        });
        s.member.push(t);
        s.engine_accept.push(engine);
        // Other members re-key too; member 1 opens and installs their chains.
        for o in &mut others {
            o.accept_distribution(mailbox(0), &for_m1(o.me())).unwrap();
            let sealed = rekey(o, &mut others_out, &mut peers_out);
            let from = o.me();
            let (_, t) = time(|| {
                let bytes = open(&mut m1_from_peers, &sealed);
                m1.accept_distribution(from, &bytes).unwrap()
            });
            r.per_chain.push(t);
        }
    });
    r
}

struct OpenMls {
    add: (Vec<Duration>, Vec<Duration>),
    remove: (Vec<Duration>, Vec<Duration>),
    state_per_member: f64,
}

fn openmls(n: usize) -> OpenMls {
    let (mut c, mut m) = mls::group(n);
    let mut r = OpenMls {
        add: (Vec::new(), Vec::new()),
        remove: (Vec::new(), Vec::new()),
        state_per_member: m.state_bytes() as f64 / n as f64,
    };
    rounds(|| {
        let kp = mls::Client::new("extra").key_package();
        let (commit, t) = time(|| c.add(kp));
        r.add.0.push(t);
        r.add.1.push(time(|| m.process(&commit)).1);
        let leaf = c
            .group()
            .members()
            .find(|x| x.credential.serialized_content() == b"extra")
            .unwrap()
            .index;
        let (commit, t) = time(|| c.remove(leaf));
        r.remove.0.push(t);
        r.remove.1.push(time(|| m.process(&commit)).1);
    });
    r
}

pub fn run(f: &Floors, out: &mut Vec<Line>, notes: &mut Vec<String>) -> Vec<(usize, f64, f64)> {
    out.push(Line::Section(
        "5. Add or remove one member (vs OpenMLS commit + merge, and process + merge); Missive \
         figures include sealing every distribution pairwise and the group's re-keying",
    ));
    let mut state = Vec::new();
    for n in [50usize, 1000] {
        let m = missive(n);
        let o = openmls(n);
        let per_chain = middle(m.per_chain.clone());
        let others = n as u32 - 1;
        // Floors of this design, per member: seal n - 1 small distributions (AEAD + KDF_CK)
        // and open n - 1 (the same, plus parsing the chain's Ed25519 key and deriving its next
        // label); the committer also hashes the new roster (82 B a member) and makes an
        // Ed25519 key (so does every member, for its new chain).
        let send = (f.seal_256 + f.hkdf * 2) * others;
        let recv = (f.seal_256 + f.hkdf * 2 + f.key_parse + f.chain_step) * others;
        let roster = f.sha256_kib * (n as u32 * 82 / 1024);
        let committer_floor = f.keygen + roster + send + recv;
        let member_floor = committer_floor;
        for (what, s, (oc, om)) in [("add", &m.add, &o.add), ("remove", &m.remove, &o.remove)] {
            let committer = middle(s.committer.clone()) + per_chain * others;
            let member = middle(s.member.clone()) + per_chain * (others - 1);
            let goal = if n == 50 { 0.5 } else { 1.0 };
            notes.push(format!(
                "{what} at {n} members, Missive's parts: `change` alone {}, `accept_distribution` \
                 of the commit alone {}; committer's change with every distribution sealed {}; \
                 member's open + accept + `start_chain` + sealing its n − 1 distributions {}; \
                 opening and installing one other member's new chain {} (× n − 1 for the \
                 committer, × n − 2 for the member)",
                Time(middle(s.engine_commit.clone())),
                Time(middle(s.engine_accept.clone())),
                Time(middle(s.committer.clone())),
                Time(middle(s.member.clone())),
                Time(per_chain),
            ));
            out.push(Line::Row(
                Row::new(
                    format!("{what} a member, {n} members: the committer"),
                    Time(committer),
                )
                .peer("OpenMLS", Time(middle(oc.clone())))
                .floor(
                    committer_floor,
                    "keygen + roster hash + (n−1)·(seal 256 B + 2 HKDF) + (n−1)·(open 256 B + 2 HKDF + key parse + 1 chain step)",
                )
                .goal(goal),
            ));
            out.push(Line::Row(
                Row::new(
                    format!("{what} a member, {n} members: another member"),
                    Time(member),
                )
                .peer("OpenMLS", Time(middle(om.clone())))
                .floor(
                    member_floor,
                    "keygen + roster hash + (n−1)·(seal 256 B + 2 HKDF) + (n−1)·(open 256 B + 2 HKDF + key parse + 1 chain step)",
                )
                .goal(goal),
            ));
        }
        out.push(Line::Row(
            Row::new(
                format!("saving a member's state after a change, {n} members: first save"),
                Time(m.first_save),
            )
            .floor(
                f.chain_step * (31 * others),
                "(n−1)·31 chain steps (the deferred windows)",
            ),
        ));
        notes.push(format!(
            "{n} members: the first save after installing n − 1 new chains {} (it derives \
             their deferred receive windows); saving again {}. An application that saves after \
             every change pays the first figure on top of the member's line above",
            Time(m.first_save),
            Time(m.save),
        ));
        state.push((n, m.state_per_member, o.state_per_member));
    }
    state
}

pub fn state_rows(state: &[(usize, f64, f64)], out: &mut Vec<Line>) {
    for &(n, m, o) in state {
        if n == 1000 {
            out.push(Line::Row(
                Row::new(
                    format!("state per member held by one client, {n}-member group"),
                    Figure::Bytes(m),
                )
                .peer("OpenMLS", Figure::Bytes(o)),
            ));
        }
    }
}
