//! The account's switches on every device (PROTOCOL.md §12.6): a device whose switches changed
//! hands them to its other devices at its next access sync, stamped by a hybrid logical clock
//! and its mailbox. Every device keeps the switches with the highest stamp, so two devices
//! that change them at once end up with the same ones: those synced last.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use super::payload::Pairwise;
use super::state::SettingsState;
use super::{Client, Event, Outgoing, Settings};
use crate::envelope::MailboxId;
use crate::error::Error;

/// Whose switches, from when: ordered by time, then by device mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The clock when the device shared them (seconds, or one past a later stamp seen).
    pub(crate) time: u64,
    /// The device that changed them.
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

/// Where this device stands: the stamp of the switches it holds, the highest time seen, and
/// whether it changed them since it last shared them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SettingsSync {
    pub(super) stamp: Stamp,
    pub(super) clock: u64,
    pub(super) share: bool,
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
            self.settings_sync.share = true;
        }
    }

    /// Our switches for our other devices, if they changed since we last handed them out.
    pub(super) fn share_settings<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> Result<Vec<Outgoing>, Error> {
        let sync = self.settings_sync;
        if !sync.share {
            return Ok(Vec::new());
        }
        let time = now.max(sync.clock.saturating_add(1));
        let stamp = Stamp {
            time,
            device: *self.mailbox_id(),
        };
        let payload = Pairwise::Settings {
            settings: SettingsState::of(&self.settings),
            stamp,
        };
        let own = *self.member_id();
        let out = self.pairwise(rng, &own, &payload, now)?;
        self.settings_sync = SettingsSync {
            stamp,
            clock: time,
            share: false,
        };
        Ok(out)
    }

    /// Another device of ours shared its switches: taken if they are newer than ours, unless
    /// ours changed since we last shared them (ours then go out later, stamped later still).
    pub(super) fn sibling_settings(
        &mut self,
        settings: &SettingsState,
        stamp: Stamp,
    ) -> Vec<Event> {
        let sync = &mut self.settings_sync;
        sync.clock = sync.clock.max(stamp.time);
        if sync.share || stamp <= sync.stamp {
            return Vec::new();
        }
        sync.stamp = stamp;
        let settings = settings.settings();
        if settings == self.settings {
            return Vec::new();
        }
        self.settings = settings;
        vec![Event::SettingsChanged(settings)]
    }
}
