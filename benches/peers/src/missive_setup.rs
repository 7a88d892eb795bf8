//! Missive set-up shared by the group lines: members, a sender and a reader holding every
//! member's chain, fan-out states with grants in place.

use missive::Identity;
use missive::conversation::{Conversation, FanOut, Member, Role};
use missive::envelope::MailboxId;

pub fn mailbox(i: usize) -> MailboxId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    MailboxId(id)
}

/// `n` members, member 0 the admin. (One identity for all: the engine never touches it here.)
pub fn members(n: usize) -> Vec<Member> {
    let identity = *Identity::generate(&mut rand::rng()).public();
    (0..n)
        .map(|i| {
            let role = if i == 0 { Role::Admin } else { Role::Member };
            Member::new(mailbox(i), role, identity)
        })
        .collect()
}

/// Member 0 (the creator and sender) and member 1 of a group of `n`, where member 1 holds
/// every member's chain (as a real reader does), and `extra` more members' states (2, 3, ...)
/// to re-key alongside member 1.
pub fn group(n: usize, extra: usize) -> (Conversation, Conversation, Vec<Conversation>) {
    let mut all = members(n);
    let me = all.remove(0);
    let (sender, handoffs) = Conversation::create(&mut rand::rng(), me, all).unwrap();
    let mut reader = None;
    let mut others = Vec::new();
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
        if others.len() < extra {
            others.push(member);
        }
    }
    let mut reader = reader.unwrap();
    for (from, bytes) in chains {
        reader.accept_distribution(from, &bytes).unwrap();
    }
    (sender, reader, others)
}

/// A fan-out sender with grants to recipients 1..=n, and recipient n's state.
pub fn fan_out(n: usize) -> (FanOut, FanOut) {
    let mut rng = rand::rng();
    let mut sender = FanOut::new(&mut rng, mailbox(0));
    let mut last = FanOut::new(&mut rng, mailbox(n));
    for to in (1..=n).map(mailbox) {
        let grant = sender.grant(&mut rng, to).unwrap();
        if to == mailbox(n) {
            last.accept_grant(mailbox(0), &grant.to_bytes()).unwrap();
        }
    }
    (sender, last)
}
