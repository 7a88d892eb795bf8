#![no_main]
//! A seed and a list of actions drive a group of up to 7 members through sends, tampering,
//! additions and removals. Everything delivered to a current member opens to what was sent;
//! tampered messages never open; removed members read nothing sent after their removal; a
//! member restored from its stored state carries on.

use libfuzzer_sys::fuzz_target;
use missive::Identity;
use missive::conversation::{Accepted, Conversation, Handoffs, Member, Role};
use missive::crypto::kdf;
use missive::envelope::MailboxId;

const MAX: usize = 7;

struct World {
    seed: [u8; 32],
    counter: u64,
    members: Vec<Member>,
    convs: Vec<Option<Conversation>>,
    present: [bool; MAX],
}

impl World {
    fn secret(&mut self) -> [u8; 32] {
        self.counter += 1;
        let mut out = [0u8; 32];
        kdf::expand(&self.seed, &self.counter.to_be_bytes(), &mut out).expect("32 bytes");
        out
    }

    fn pump(&mut self, from: usize, handoffs: Handoffs) {
        let mut work: Vec<(usize, usize, Vec<u8>)> = handoffs
            .into_iter()
            .map(|(to, d)| (from, to.0[0] as usize, d.to_bytes().to_vec()))
            .collect();
        let mut parked = Vec::new();
        while let Some((from, to, bytes)) = work.pop() {
            let (f, t) = (self.members[from].id, self.members[to].id);
            let started = match self.convs[to].as_mut() {
                None => match Conversation::join(t, f, &bytes) {
                    Ok(c) => {
                        self.convs[to] = Some(c);
                        true
                    }
                    Err(_) => {
                        parked.push((from, to, bytes));
                        false
                    }
                },
                Some(c) => match c.accept_distribution(f, &bytes) {
                    Ok(Accepted::NewEpoch(_)) => true,
                    Ok(_) => false,
                    Err(e) => panic!("distribution refused: {e:?}"),
                },
            };
            if started {
                let (ck, seed) = (self.secret(), self.secret());
                let conv = self.convs[to].as_mut().expect("just joined");
                let more = conv.start_chain_with(&ck, &seed).expect("fresh epoch");
                work.extend(
                    more.into_iter()
                        .map(|(x, d)| (to, x.0[0] as usize, d.to_bytes().to_vec())),
                );
                work.append(&mut parked);
            }
        }
    }

    fn send(&mut self, s: usize, tamper: Option<u8>) {
        let body = self.counter.to_be_bytes();
        let message = self.convs[s]
            .as_mut()
            .expect("present")
            .encrypt(&body)
            .expect("chain");
        for r in 0..MAX {
            let Some(conv) = self.convs[r].as_mut().filter(|_| r != s) else {
                continue;
            };
            if let Some(t) = tamper {
                let mut bad = message.clone();
                let at = t as usize % bad.len();
                bad[at] ^= 1 << (t % 8);
                assert!(conv.decrypt(&bad).is_err(), "tampered message opened");
            }
            let got = conv.decrypt(&message);
            if self.present[r] {
                assert_eq!(got.expect("member reads").body, body);
            } else {
                assert!(got.is_err(), "removed member read a new message");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let (seed, actions) = data.split_at(32);
    let mut world = World {
        seed: seed.try_into().expect("32"),
        counter: 0,
        members: Vec::new(),
        convs: (0..MAX).map(|_| None).collect(),
        present: [false; MAX],
    };
    for i in 0..MAX {
        let mut secret = vec![1u8];
        secret.extend_from_slice(&world.secret());
        secret.extend_from_slice(&world.secret());
        let identity = Identity::from_secret_bytes(&secret).expect("65 bytes");
        let role = if i == 0 { Role::Admin } else { Role::Member };
        world.members.push(Member::new(
            MailboxId([i as u8; 16]),
            role,
            *identity.public(),
        ));
    }
    let (ck, sk) = (world.secret(), world.secret());
    let others = world.members[1..4].to_vec();
    let (admin, handoffs) = Conversation::create_with(
        missive::conversation::ConversationId([7; 16]),
        world.members[0],
        others,
        &ck,
        &sk,
    )
    .expect("valid group");
    world.convs[0] = Some(admin);
    world.present[..4].copy_from_slice(&[true; 4]);
    world.pump(0, handoffs);
    for &a in actions.iter().take(64) {
        let who = (a >> 2) as usize % MAX;
        // Now and then a member restarts from its stored state.
        if a & 0x80 != 0 {
            if let Some(conv) = world.convs[who].as_ref() {
                let restored = Conversation::from_bytes(&conv.to_bytes()).expect("own state");
                world.convs[who] = Some(restored);
            }
        }
        match a & 3 {
            0 if world.present[who] => world.send(who, None),
            1 if world.present[who] => world.send(who, Some(a)),
            2 if !world.present[who] && world.convs[who].is_none() => {
                let (ck, sk) = (world.secret(), world.secret());
                let member = world.members[who];
                let conv = world.convs[0].as_mut().expect("admin");
                let handoffs = conv.change_with(&[member], &[], &ck, &sk).expect("add");
                world.present[who] = true;
                world.pump(0, handoffs);
            }
            3 if who != 0
                && world.present[who]
                && world.present.iter().filter(|p| **p).count() > 2 =>
            {
                let (ck, sk) = (world.secret(), world.secret());
                let id = world.members[who].id;
                let conv = world.convs[0].as_mut().expect("admin");
                let handoffs = conv.change_with(&[], &[id], &ck, &sk).expect("remove");
                world.present[who] = false;
                world.pump(0, handoffs);
            }
            _ => {}
        }
    }
});
