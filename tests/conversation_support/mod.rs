//! Helpers shared by the conversation tests: a small in-memory "network" of members whose
//! pairwise sessions are modelled as direct, authenticated hand-offs.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use missive::Identity;
use missive::conversation::{Accepted, Conversation, Handoffs, KeyDistribution, Member, Role};
use missive::envelope::MailboxId;

pub fn mailbox(i: usize) -> MailboxId {
    match u8::try_from(i + 1) {
        Ok(b) => MailboxId([b; 16]),
        // Past 254, still one mailbox per index: the index in the last bytes.
        Err(_) => {
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&(i as u64).to_be_bytes());
            MailboxId(id)
        }
    }
}

pub fn member(i: usize, role: Role) -> Member {
    let identity = Identity::generate(&mut rand::rng());
    Member::new(mailbox(i), role, *identity.public())
}

/// Members indexed by `i`, mailbox `mailbox(i)`; `None` until they join.
pub struct Net {
    pub convs: Vec<Option<Conversation>>,
    /// Distributions for a future epoch, kept for a retry: (from, to, bytes).
    pub queued: Vec<(MailboxId, MailboxId, Vec<u8>)>,
}

pub fn index(id: MailboxId) -> usize {
    id.0[0] as usize - 1
}

impl Net {
    /// A group of `n` members (member 0 the admin), every chain handed out.
    pub fn group(n: usize) -> Self {
        let mut rng = rand::rng();
        let others = (1..n).map(|i| member(i, Role::Member)).collect();
        let (admin, handoffs) =
            Conversation::create(&mut rng, member(0, Role::Admin), others).unwrap();
        let mut net = Net {
            convs: (0..n).map(|_| None).collect(),
            queued: Vec::new(),
        };
        net.convs[0] = Some(admin);
        net.pump(mailbox(0), handoffs);
        net
    }

    pub fn conv(&mut self, i: usize) -> &mut Conversation {
        self.convs[i].as_mut().unwrap()
    }

    /// Delivers hand-offs; members who join or enter a new epoch start and hand out their chains.
    pub fn pump(&mut self, from: MailboxId, handoffs: Handoffs) {
        let mut work: Vec<(MailboxId, MailboxId, Vec<u8>)> = handoffs
            .into_iter()
            .map(|(to, d)| (from, to, d.to_bytes().to_vec()))
            .collect();
        while let Some((from, to, bytes)) = work.pop() {
            let i = index(to);
            if i >= self.convs.len() {
                self.convs.resize_with(i + 1, || None);
            }
            let welcome = KeyDistribution::from_bytes(&bytes).unwrap().is_welcome();
            let started = match self.convs[i].as_mut() {
                None if !welcome => {
                    self.queued.push((from, to, bytes));
                    false
                }
                None => {
                    self.convs[i] = Some(Conversation::join(to, from, &bytes).unwrap());
                    true
                }
                Some(conv) => match conv.accept_distribution(from, &bytes) {
                    Ok(Accepted::NewEpoch(_)) => true,
                    Ok(_) => false,
                    Err(e) => panic!("unexpected {e:?}"),
                },
            };
            if started {
                let conv = self.convs[i].as_mut().unwrap();
                let more = conv.start_chain(&mut rand::rng()).unwrap();
                work.extend(
                    more.into_iter()
                        .map(|(t, d)| (to, t, d.to_bytes().to_vec())),
                );
                work.extend(std::mem::take(&mut self.queued));
            }
        }
    }

    /// Member `admin` adds and removes; everything is handed out.
    pub fn change(&mut self, admin: usize, added: &[Member], removed: &[usize]) {
        let removed: Vec<_> = removed.iter().map(|&i| mailbox(i)).collect();
        let handoffs = self
            .conv(admin)
            .change(&mut rand::rng(), added, &removed)
            .unwrap();
        self.pump(mailbox(admin), handoffs);
    }
}
