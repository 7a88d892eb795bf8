//! Connections: invite (with a note), accept, decline, withdraw, remove. Each step is a
//! pairwise payload, so only the two members see it.

use rand::CryptoRng;

use super::account_sync::Stamp;
use super::payload::{Pairwise, Step};
use super::{Client, Connection, Event, Outgoing, Unsaved};
use crate::access::AccessKey;
use crate::envelope::MailboxId;
use crate::error::{Error, PolicyError};
use crate::token::TokenKind;

/// Longest invitation note, in bytes.
pub const MAX_NOTE: usize = 300;

impl Client {
    /// Invites a contact to connect.
    pub fn invite<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        note: Option<&str>,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.load_member(to)?;
        match self.standing(to) {
            Connection::None => {}
            // They invited us already: inviting back is accepting.
            Connection::InvitedUs(_) => return self.accept(rng, to, now),
            Connection::Invited | Connection::Connected => {
                return Err(PolicyError::AlreadyConnected.into());
            }
        }
        if note.is_some_and(|n| n.len() > MAX_NOTE) {
            return Err(crate::UsageError::TooLarge {
                what: "invitation note",
            }
            .into());
        }
        // An invitation spends an invitation token and carries our contact key, so the answer
        // (and, once accepted, everything after) reaches us.
        let invite = Pairwise::Invite {
            note: note.map(str::to_string),
        };
        let mut out = self.opening_to(to, |c| {
            c.with_tokens(TokenKind::Invite, |c| c.pairwise(rng, to, &invite, now))
        })?;
        self.connections.insert(*to, Connection::Invited);
        out.extend(self.tell_siblings(rng, to, Step::Invite, now)?);
        Ok(Unsaved::sent(self, out))
    }

    /// Accepts a pending invitation: from now on the two may exchange direct messages.
    pub fn accept<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        from: &MailboxId,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        let mut out = self.answer(rng, from, Pairwise::Accept, Connection::Connected, now)?;
        out.extend(self.tell_siblings(rng, from, Step::Accept, now)?);
        Ok(Unsaved::sent(self, out))
    }

    /// Declines a pending invitation.
    pub fn decline<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        from: &MailboxId,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        let mut out = self.answer(rng, from, Pairwise::Decline, Connection::None, now)?;
        out.extend(self.tell_siblings(rng, from, Step::Decline, now)?);
        Ok(Unsaved::sent(self, out))
    }

    fn answer<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        from: &MailboxId,
        payload: Pairwise,
        next: Connection,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        self.load_member(from)?;
        if !matches!(self.standing(from), Connection::InvitedUs(_)) {
            return Err(PolicyError::NoInvitation.into());
        }
        // Accepting gives them our contact key; declining gives nothing.
        let out = if next == Connection::Connected {
            self.opening_to(from, |c| c.pairwise(rng, from, &payload, now))?
        } else {
            self.pairwise(rng, from, &payload, now)?
        };
        self.connections.insert(*from, next);
        Ok(out)
    }

    /// Withdraws our pending invitation.
    pub fn withdraw<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &MailboxId,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.load_member(to)?;
        if self.standing(to) != Connection::Invited {
            return Err(PolicyError::NoInvitation.into());
        }
        // They gave us no key: reaching them again takes an invitation token.
        let mut out = self.with_tokens(TokenKind::Invite, |c| {
            c.pairwise(rng, to, &Pairwise::Withdraw, now)
        })?;
        self.connections.remove(to);
        self.close_to(to);
        out.extend(self.tell_siblings(rng, to, Step::Withdraw, now)?);
        Ok(Unsaved::sent(self, out))
    }

    /// Removes a connection: direct messages between the two stop being allowed.
    pub fn remove_connection<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        peer: &MailboxId,
        now: u64,
    ) -> Result<Unsaved<'_, Vec<Outgoing>>, Error> {
        self.outbox_room()?;
        self.load_member(peer)?;
        if !self.is_connected(peer) {
            return Err(PolicyError::NotConnected.into());
        }
        let mut out = self.pairwise(rng, peer, &Pairwise::Remove, now)?;
        self.connections.remove(peer);
        self.disconnect(peer);
        out.extend(self.tell_siblings(rng, peer, Step::Remove, now)?);
        Ok(Unsaved::sent(self, out))
    }

    /// Neither side may write to the other any more: forget their key, replace ours.
    fn disconnect(&mut self, peer: &MailboxId) {
        self.access.peers.remove(peer);
        self.close_to(peer);
    }

    /// Tells our other devices (if any) the step we took with `with`.
    fn tell_siblings<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        with: &MailboxId,
        step: Step,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        let key = self.access.peers.get(with).cloned();
        let (own, did) = (
            *self.member_id(),
            Pairwise::Did {
                with: *with,
                step,
                key,
                seen: self.account_sync.key,
            },
        );
        self.pairwise(rng, &own, &did, now)
    }

    /// Applies a step another device of our account took with `with`: we stand with them as
    /// that device does, whatever we knew (a paid invitation reached only one of our devices).
    /// Only an invitation leaves a connection, or one that crossed theirs, as it is.
    pub(super) fn sibling_did(
        &mut self,
        with: &MailboxId,
        step: Step,
        key: Option<&AccessKey>,
        seen: Stamp,
    ) -> Result<Vec<Event>, Error> {
        self.load_member(with)?;
        if let Some(key) = key {
            self.peer_key(with, key.clone());
        }
        let standing = self.standing(with);
        let next = match step {
            Step::Invite => match standing {
                Connection::None => Connection::Invited,
                Connection::InvitedUs(_) => Connection::Connected,
                Connection::Invited | Connection::Connected => return Ok(Vec::new()),
            },
            Step::Accept => Connection::Connected,
            Step::Decline | Step::Withdraw | Step::Remove => Connection::None,
        };
        if next == standing {
            return Ok(Vec::new());
        }
        // Our contact key went with an invitation or an acceptance; the device that withdrew
        // or removed replaces it and hands us the new one.
        match step {
            Step::Invite | Step::Accept => self.open_to(with),
            Step::Decline => {}
            Step::Withdraw | Step::Remove => {
                // That device replaces the key it held; one we drew since, which `with` may
                // hold, is ours to replace.
                if self.holds_newer_key_than(seen) {
                    self.close_to(with);
                } else {
                    self.access.holders.remove(with);
                }
                if step == Step::Remove {
                    self.access.peers.remove(with);
                }
            }
        }
        if next == Connection::None {
            self.connections.remove(with);
        } else {
            self.connections.insert(*with, next.clone());
        }
        Ok(vec![Event::ConnectionChanged {
            with: *with,
            standing: next,
        }])
    }

    /// An answer to an invitation from `from`, with whom we stand nowhere: on an account with
    /// several devices, another of ours may have invited them, and the `Did` that says so is
    /// still on its way (PROTOCOL.md §12.6). The answer then waits for it.
    pub(super) fn answer_before_our_step(&self, from: &MailboxId) -> bool {
        self.standing(from) == Connection::None
            && (self.device_list()).is_some_and(|l| l.unverified().devices().len() > 1)
    }

    /// Applies a connection payload from `from`; steps that do not fit the state are ignored.
    pub(super) fn connection_in(&mut self, from: &MailboxId, payload: &Pairwise) -> Vec<Event> {
        let state = self.standing(from);
        let (next, event) = match (payload, state) {
            (Pairwise::Invite { .. }, Connection::Connected) => return Vec::new(),
            // Both invited each other: connected.
            (Pairwise::Invite { .. }, Connection::Invited) => {
                (Connection::Connected, Event::Connected(*from))
            }
            (Pairwise::Invite { note }, _) => (
                Connection::InvitedUs(note.clone()),
                Event::Invitation {
                    from: *from,
                    note: note.clone(),
                },
            ),
            (Pairwise::Accept, Connection::Invited) => {
                (Connection::Connected, Event::Connected(*from))
            }
            (Pairwise::Decline, Connection::Invited) => (Connection::None, Event::Declined(*from)),
            (Pairwise::Withdraw, Connection::InvitedUs(_)) => {
                (Connection::None, Event::Withdrawn(*from))
            }
            (Pairwise::Remove, Connection::Connected) => {
                (Connection::None, Event::Disconnected(*from))
            }
            _ => return Vec::new(),
        };
        if next == Connection::None {
            self.connections.remove(from);
            // A declined invitation or a removed connection: they keep no key of ours.
            if matches!(event, Event::Declined(_) | Event::Disconnected(_)) {
                self.disconnect(from);
            }
        } else {
            self.connections.insert(*from, next);
        }
        vec![event]
    }
}
