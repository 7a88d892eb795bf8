//! RFC 9180 §5: the four modes, typed so that each carries exactly the inputs it needs.
//!
//! `VerifyPSKInputs` is enforced by construction: a [`Psk`] can only be built with a non-empty
//! identifier and a key of at least [`Psk::MIN_LEN`] bytes, and only the PSK modes hold one,
//! so no mode can be given a PSK it would ignore or miss one it needs.

use super::kem::KeyPair;
use crate::crypto::x25519::PublicKey;
use crate::error::UsageError;

/// A pre-shared key and its identifier, validated when built.
#[derive(Clone, Copy)]
pub struct Psk<'a> {
    psk: &'a [u8],
    id: &'a [u8],
}

impl<'a> Psk<'a> {
    /// The shortest PSK accepted. RFC 9180 §5.1.2 requires 32 bytes of entropy; a shorter
    /// PSK cannot have them, so it is refused (a longer one is the caller's responsibility).
    pub const MIN_LEN: usize = 32;

    /// A PSK (`psk`) and its identifier (`psk_id`).
    ///
    /// # Errors
    /// [`UsageError::InconsistentPsk`] if `psk_id` is empty or `psk` is shorter than
    /// [`Psk::MIN_LEN`] bytes.
    pub fn new(psk: &'a [u8], psk_id: &'a [u8]) -> Result<Self, UsageError> {
        if psk.len() < Self::MIN_LEN || psk_id.is_empty() {
            return Err(UsageError::InconsistentPsk);
        }
        Ok(Self { psk, id: psk_id })
    }

    pub(crate) fn key(&self) -> &'a [u8] {
        self.psk
    }

    pub(crate) fn id(&self) -> &'a [u8] {
        self.id
    }
}

impl core::fmt::Debug for Psk<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Psk")
            .field("id_len", &self.id.len())
            .finish_non_exhaustive()
    }
}

/// How the sender sets up: which secrets, besides the recipient's public key, go in.
#[derive(Clone, Copy, Debug)]
pub enum SenderMode<'a> {
    /// `mode_base` (0x00): anyone can have sent it.
    Base,
    /// `mode_psk` (0x01): only a holder of the PSK can have sent it.
    Psk(Psk<'a>),
    /// `mode_auth` (0x02): the message is authenticated as coming from `sender`.
    Auth {
        /// The sender's static key pair.
        sender: &'a KeyPair,
    },
    /// `mode_auth_psk` (0x03): both of the above.
    AuthPsk {
        /// The sender's static key pair.
        sender: &'a KeyPair,
        /// The pre-shared key.
        psk: Psk<'a>,
    },
}

/// How the recipient sets up: the counterpart of the sender's [`SenderMode`]. It must be the
/// same mode, with the same PSK and the sender's public key, or opening fails.
#[derive(Clone, Copy, Debug)]
pub enum ReceiverMode<'a> {
    /// `mode_base` (0x00).
    Base,
    /// `mode_psk` (0x01).
    Psk(Psk<'a>),
    /// `mode_auth` (0x02): accept only messages from the holder of `sender`'s secret.
    Auth {
        /// The sender's public key, obtained and verified out of band.
        sender: &'a PublicKey,
    },
    /// `mode_auth_psk` (0x03).
    AuthPsk {
        /// The sender's public key.
        sender: &'a PublicKey,
        /// The pre-shared key.
        psk: Psk<'a>,
    },
}

/// The mode byte and the PSK, as the key schedule sees them.
pub(crate) struct ScheduleInputs<'a> {
    pub(crate) mode: u8,
    pub(crate) psk: Option<Psk<'a>>,
}

impl<'a> SenderMode<'a> {
    pub(crate) fn schedule(&self) -> ScheduleInputs<'a> {
        match *self {
            Self::Base => ScheduleInputs { mode: 0, psk: None },
            Self::Psk(psk) => ScheduleInputs {
                mode: 1,
                psk: Some(psk),
            },
            Self::Auth { .. } => ScheduleInputs { mode: 2, psk: None },
            Self::AuthPsk { psk, .. } => ScheduleInputs {
                mode: 3,
                psk: Some(psk),
            },
        }
    }

    pub(crate) fn sender(&self) -> Option<&'a KeyPair> {
        match *self {
            Self::Auth { sender } | Self::AuthPsk { sender, .. } => Some(sender),
            Self::Base | Self::Psk(_) => None,
        }
    }
}

impl<'a> ReceiverMode<'a> {
    pub(crate) fn schedule(&self) -> ScheduleInputs<'a> {
        match *self {
            Self::Base => ScheduleInputs { mode: 0, psk: None },
            Self::Psk(psk) => ScheduleInputs {
                mode: 1,
                psk: Some(psk),
            },
            Self::Auth { .. } => ScheduleInputs { mode: 2, psk: None },
            Self::AuthPsk { psk, .. } => ScheduleInputs {
                mode: 3,
                psk: Some(psk),
            },
        }
    }

    pub(crate) fn sender(&self) -> Option<&'a PublicKey> {
        match *self {
            Self::Auth { sender } | Self::AuthPsk { sender, .. } => Some(sender),
            Self::Base | Self::Psk(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_inputs_are_verified_at_construction() {
        let key = [9u8; 32];
        assert!(Psk::new(&key, b"id").is_ok());
        assert_eq!(Psk::new(&key, b"").err(), Some(UsageError::InconsistentPsk));
        assert_eq!(
            Psk::new(b"", b"id").err(),
            Some(UsageError::InconsistentPsk)
        );
        assert_eq!(
            Psk::new(&key[..31], b"id").err(),
            Some(UsageError::InconsistentPsk)
        );
    }

    #[test]
    fn psk_debug_shows_no_key() {
        let key = [0xabu8; 32];
        let debug = format!("{:?}", Psk::new(&key, b"id").unwrap());
        assert!(!debug.contains("ab") && !debug.contains("171"), "{debug}");
    }

    #[test]
    fn mode_bytes_are_the_rfc_ones() {
        let kp = KeyPair::derive(&[1; 32]);
        let key = [9u8; 32];
        let psk = Psk::new(&key, b"id").unwrap();
        let modes = [
            SenderMode::Base,
            SenderMode::Psk(psk),
            SenderMode::Auth { sender: &kp },
            SenderMode::AuthPsk { sender: &kp, psk },
        ];
        let got: Vec<u8> = modes.iter().map(|m| m.schedule().mode).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        let pk = kp.public_key();
        let modes = [
            ReceiverMode::Base,
            ReceiverMode::Psk(psk),
            ReceiverMode::Auth { sender: pk },
            ReceiverMode::AuthPsk { sender: pk, psk },
        ];
        let got: Vec<u8> = modes.iter().map(|m| m.schedule().mode).collect();
        assert_eq!(got, [0, 1, 2, 3]);
    }
}
