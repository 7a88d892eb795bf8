//! What every device of an account must agree on (PROTOCOL.md §12.6): its switches and its
//! contact key. A device that changes either hands it to its other devices at its next access
//! sync, stamped by a hybrid logical clock and its mailbox; every device keeps the one with the
//! highest stamp, so two devices that change the same thing at once end up agreeing.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use super::payload::Pairwise;
use super::state::SettingsState;
use super::{Client, Event, Outgoing, Settings};
use crate::access::AccessKey;
use crate::envelope::MailboxId;
use crate::error::Error;

/// Which device changed a shared value (the switches, the contact key), and when: ordered by
/// time, then by device mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The device's clock when it shared the value (seconds, or one past a later stamp seen).
    pub(crate) time: u64,
    /// The device that changed it.
    pub(crate) device: MailboxId,
}

impl Default for Stamp {
    fn default() -> Self {
        Self {
            time: 0,
            device: MailboxId([0; 16]),
        }
    }
}

/// Where this device stands among its account's devices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AccountSync {
    /// The highest time this device has used or seen in a stamp.
    pub(super) clock: u64,
    /// The stamp of the switches it holds.
    pub(super) settings: Stamp,
    /// Its switches changed since it last shared them.
    pub(super) share: bool,
    /// The stamp of the contact key it holds.
    pub(super) key: Stamp,
    /// It handed those who hold our key one that another device's, taken since, replaced
    /// without knowing it: they are handed the one taken at the next sync.
    pub(super) renotify: bool,
}

impl AccountSync {
    /// A stamp for `device` after every one seen, at `now` if the clock is not ahead.
    fn next(&mut self, now: u64, device: MailboxId) -> Stamp {
        self.clock = now.max(self.clock.saturating_add(1));
        Stamp {
            time: self.clock,
            device,
        }
    }

    fn seen(&mut self, stamp: Stamp) {
        self.clock = self.clock.max(stamp.time);
    }
}

impl SettingsState {
    pub(super) fn of(s: &Settings) -> Self {
        Self {
            read_receipts: s.read_receipts,
            typing_indicators: s.typing_indicators,
            sponsored_messages: s.sponsored_messages,
        }
    }

    pub(super) fn settings(&self) -> Settings {
        Settings {
            read_receipts: self.read_receipts,
            typing_indicators: self.typing_indicators,
            sponsored_messages: self.sponsored_messages,
        }
    }
}

impl Client {
    /// Changes our switches; our other devices take them at our next
    /// [`Client::access_sync`].
    pub fn set_settings(&mut self, settings: Settings) {
        if settings != self.settings {
            self.settings = settings;
            self.account_sync.share = true;
        }
    }

    /// Our switches for our other devices, if they changed since we last handed them out.
    pub(super) fn share_settings<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        if !self.account_sync.share {
            return Ok(Vec::new());
        }
        // Alone, there is no one to agree with: nothing is stamped or kept.
        if self.devices.is_none() {
            self.account_sync.share = false;
            return Ok(Vec::new());
        }
        let before = self.account_sync;
        let stamp = self.account_sync.next(now, *self.mailbox_id());
        let payload = Pairwise::Settings {
            settings: SettingsState::of(&self.settings),
            stamp,
        };
        let own = *self.member_id();
        match self.pairwise(rng, &own, &payload, now) {
            Ok(out) => {
                self.account_sync.settings = stamp;
                self.account_sync.share = false;
                Ok(out)
            }
            Err(e) => {
                self.account_sync = before;
                Err(e)
            }
        }
    }

    /// Another device of ours shared its switches: taken if they are newer than ours, unless
    /// ours changed since we last shared them (ours then go out later, stamped later still).
    pub(super) fn sibling_settings(
        &mut self,
        settings: &SettingsState,
        stamp: Stamp,
    ) -> Vec<Event> {
        let sync = &mut self.account_sync;
        sync.seen(stamp);
        if sync.share || stamp <= sync.settings {
            return Vec::new();
        }
        sync.settings = stamp;
        let settings = settings.settings();
        if settings == self.settings {
            return Vec::new();
        }
        self.settings = settings;
        vec![Event::SettingsChanged(settings)]
    }

    /// A stamp for a contact key this device draws now, and the stamp of the one it replaces.
    pub(super) fn stamp_new_key(&mut self, now: u64) -> (Stamp, Stamp) {
        let replaces = self.account_sync.key;
        if self.devices.is_none() {
            return (replaces, replaces);
        }
        let stamp = self.account_sync.next(now, *self.mailbox_id());
        self.account_sync.key = stamp;
        self.account_sync.renotify = false;
        (stamp, replaces)
    }

    /// Another device of ours replaced the account's contact key with `key`, replacing the one
    /// stamped `replaces`: taken if newer than ours. If ours was one this device drew and that
    /// device did not know, those we handed it to are handed `key` at our next sync.
    pub(super) fn sibling_key(&mut self, key: &AccessKey, stamp: Stamp, replaces: Stamp) {
        let me = *self.mailbox_id();
        let sync = &mut self.account_sync;
        sync.seen(stamp);
        if stamp <= sync.key {
            return;
        }
        if replaces != sync.key && sync.key.device == me {
            sync.renotify = true;
        }
        sync.key = stamp;
        self.access.contact = key.clone();
    }

    /// Whether another device that took a step when the key it held was stamped `seen` left
    /// us holding a newer one, which it will not replace with its own for certain.
    pub(super) fn holds_newer_key_than(&self, seen: Stamp) -> bool {
        self.account_sync.key > seen
    }
}
