//! Connections: invite (with a note), accept, decline, withdraw, remove. Each step is a
//! pairwise payload, so only the two members see it.

use rand::CryptoRng;

use super::payload::Pairwise;
use super::{Client, Connection, Event, Outgoing, Unsaved};
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
        let out = self.opening_to(to, |c| {
            c.with_tokens(TokenKind::Invite, |c| c.pairwise(rng, to, &invite, now))
        })?;
        self.connections.insert(*to, Connection::Invited);
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
        let out = self.answer(rng, from, Pairwise::Accept, Connection::Connected, now)?;
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
        let out = self.answer(rng, from, Pairwise::Decline, Connection::None, now)?;
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
        let out = self.with_tokens(TokenKind::Invite, |c| {
            c.pairwise(rng, to, &Pairwise::Withdraw, now)
        })?;
        self.connections.remove(to);
        self.close_to(to);
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
        let out = self.pairwise(rng, peer, &Pairwise::Remove, now)?;
        self.connections.remove(peer);
        self.disconnect(peer);
        Ok(Unsaved::sent(self, out))
    }

    /// Neither side may write to the other any more: forget their key, replace ours.
    fn disconnect(&mut self, peer: &MailboxId) {
        self.access.peers.remove(peer);
        self.close_to(peer);
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
