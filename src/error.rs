//! Errors, split by who is at fault.
//!
//! * [`DecodeError`]: the bytes we were handed are malformed (a peer, the relay or the disk).
//! * [`CryptoError`]: the bytes are well formed but do not authenticate.
//! * [`UsageError`]: the caller asked for something the API does not allow.
//!
//! No variant carries a `String`, key material or plaintext, so an error can be logged or
//! forwarded as it is.

use core::fmt;

/// Malformed input: wrong length, unknown version, trailing bytes, non-canonical encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before `what` was complete.
    Truncated {
        /// The structure being decoded.
        what: &'static str,
    },
    /// Bytes were left over after `what`.
    TrailingBytes {
        /// The structure being decoded.
        what: &'static str,
    },
    /// `what` carries a version this build does not speak.
    UnknownVersion {
        /// The structure being decoded.
        what: &'static str,
        /// The version byte found.
        got: u8,
    },
    /// `what` is not a valid encoding (bad tag, bad length, out-of-range value).
    Invalid {
        /// The structure being decoded.
        what: &'static str,
    },
    /// `what` decoded, but is not in the one canonical form we accept.
    NonCanonical {
        /// The structure being decoded.
        what: &'static str,
    },
}

/// Authentication failed: the input is well formed but does not verify or decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// An AEAD tag did not verify. Deliberately carries no detail.
    DecryptionFailed,
    /// A signature did not verify.
    BadSignature,
    /// An X25519 agreement gave the all-zero output (a low-order public key).
    NonContributory,
    /// A key commitment did not match the key used to decrypt.
    CommitmentMismatch,
    /// A message or key was already used; accepting it again would be a replay.
    Replay,
    /// A proof or credential is outside its validity window.
    Expired,
    /// A known contact's identity key changed: compare safety numbers before trusting it.
    IdentityChanged,
    /// A session message skips more message keys than the session's bounds allow.
    TooManySkipped,
    /// A prekey message names a prekey this account does not hold (expired or never issued).
    UnknownPrekey,
    /// There is no session with this peer, and the message cannot start one.
    NoSession,
    /// No key we hold matches this message's label: it is not for us, or its keys are gone.
    NoMatchingKey,
    /// A peer's view of the conversation (its roster hash) differs from ours.
    RosterMismatch,
    /// A payload names a sender other than the one that delivered it, or one without the
    /// right to send it.
    WrongSender,
    /// A zero-knowledge proof did not verify: for tokens, the issuer did not evaluate under
    /// the key it published.
    BadProof,
}

/// The API was used in a way it does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// A sequence counter reached its limit; the context refuses every further call.
    MessageLimitReached,
    /// A requested output length exceeds what the KDF can produce.
    OutputTooLong,
    /// A PSK and its identifier must be given together, and the PSK must be non-empty.
    InconsistentPsk,
    /// An export-only HPKE context cannot seal or open.
    ExportOnly,
    /// The KEM has no such HPKE mode: X-Wing has no `AuthEncap`, so no auth modes.
    ModeNotSupported,
    /// The prekey owner predates post-quantum prekeys: rotate it before publishing a bundle.
    RotationNeeded,
    /// An input is larger than this operation accepts.
    TooLarge {
        /// The input that was too large.
        what: &'static str,
    },
    /// An identity other than the one the state belongs to was passed in.
    WrongIdentity,
    /// More recipients than one message or envelope carries.
    TooManyRecipients {
        /// The most allowed.
        max: usize,
    },
    /// There is no key for this recipient yet (no fan-out key was accepted from or granted to it).
    UnknownRecipient,
    /// The delivery is for another mailbox than this client's.
    WrongMailbox,
    /// The local member may not do this (not an admin, removed, or not in the roster).
    NotPermitted,
    /// The local sender chain is missing (call `start_chain`) or already exists for this epoch.
    SenderChain,
    /// The roster or recipient list is invalid (empty, duplicated, too large, or missing a party).
    InvalidRoster,
    /// The payload belongs to another conversation.
    WrongConversation,
    /// A batch must hold at least one item and at most `max`.
    BatchSize {
        /// The most allowed.
        max: usize,
    },
    /// This client's own account was given as a contact (inviting or messaging yourself).
    OwnAccount,
    /// The outbox holds `max` envelopes the relay has not taken: submit them (and report
    /// them with `Client::accepted`) before sending more.
    OutboxFull {
        /// The most the outbox holds.
        max: usize,
    },
}

/// A product rule forbids the message (who may message whom, credits, roles, settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// Direct messages need an accepted connection (or Open Profile, InMail, a shared group).
    NotConnected,
    /// Already connected, or an invitation is already pending.
    AlreadyConnected,
    /// There is no pending invitation to answer or withdraw.
    NoInvitation,
    /// The recipient has no Open Profile.
    NotOpenProfile,
    /// No platform key is configured, so receipts and certificates cannot be checked.
    NoPlatformKey,
    /// The sender is not a registered advertiser (no valid certificate for it).
    NotAdvertiser,
    /// The recipient has switched sponsored messages off.
    SponsoredOff,
    /// The sender or a named member is not in the group.
    NotGroupMember,
    /// Only admins and managers post to a group.
    NotGroupPoster,
    /// A group post mentions more than 20 members.
    TooManyMentions,
    /// Multi-recipient messages go to connections only.
    NotAllConnections,
    /// We hold no credential the relay would accept for a recipient (no key from them, no
    /// token for this kind of send, no Open Profile).
    NoCredential,
    /// No token of the kind this send needs is left: request more.
    NoToken,
    /// No account certificate is set, so no tokens can be requested.
    NoAccount,
}

/// A device list or a device link was refused (PROTOCOL.md §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// The device list claims another account's identity than the one known for it.
    WrongAccount,
    /// The device list is not newer than one already accepted for the account.
    RolledBack {
        /// The newest version accepted before.
        seen: u64,
        /// The version offered.
        got: u64,
    },
    /// No device of the list has that id.
    UnknownDevice,
    /// The list handed over does not name this device as it answered.
    NotListed,
    /// The link code has expired.
    LinkExpired,
    /// The link code was answered already.
    LinkUsed,
    /// A link message was not made with the link code's secret (or for another device).
    LinkRefused,
}

/// Any Missive error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Malformed input.
    Decode(DecodeError),
    /// Failed authentication.
    Crypto(CryptoError),
    /// API misuse.
    Usage(UsageError),
    /// A product rule forbids it.
    Policy(PolicyError),
    /// The client's store failed while loading a record this step needed.
    Store(StoreError),
    /// A device list or link was refused.
    Device(DeviceError),
}

/// Why a store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage itself failed (I/O, disk full, locked).
    Backend,
    /// A stored record did not decrypt under the key given at the version the state lists for
    /// it: wrong key, tampered, swapped with another record, or replayed from an older save.
    Tampered,
    /// A record the state lists is not in the store (deleted, or a write was lost).
    Missing,
    /// The store holds another state, or a later save of this one, than the one this client
    /// last saved there: load it again from the store.
    Conflict,
    /// The stored state decrypted but does not decode.
    Corrupt(DecodeError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend => f.write_str("client store backend failed"),
            Self::Tampered => f.write_str(
                "a stored client record does not authenticate under this key at its version",
            ),
            Self::Missing => f.write_str("a client record the state lists is missing"),
            Self::Conflict => {
                f.write_str("the store holds another or a later state than this client saved")
            }
            Self::Corrupt(e) => write!(f, "stored client state is corrupt: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what } => write!(f, "{what} is truncated"),
            Self::TrailingBytes { what } => write!(f, "trailing bytes after {what}"),
            Self::UnknownVersion { what, got } => write!(f, "{what} has unknown version {got}"),
            Self::Invalid { what } => write!(f, "{what} is not a valid encoding"),
            Self::NonCanonical { what } => write!(f, "{what} is not canonically encoded"),
        }
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DecryptionFailed => "decryption failed",
            Self::BadSignature => "signature verification failed",
            Self::NonContributory => "key agreement produced a non-contributory (all-zero) result",
            Self::CommitmentMismatch => "key commitment does not match",
            Self::Replay => "message or key was already used",
            Self::Expired => "proof is outside its validity window",
            Self::IdentityChanged => "the contact's identity key changed",
            Self::TooManySkipped => "message skips too many message keys",
            Self::UnknownPrekey => "message names an unknown or expired prekey",
            Self::NoSession => "no session with this peer",
            Self::NoMatchingKey => "no key matches this message",
            Self::RosterMismatch => "roster does not match",
            Self::WrongSender => "payload sender is not the party that delivered it",
            Self::BadProof => "proof verification failed",
        })
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MessageLimitReached => f.write_str("sequence number limit reached"),
            Self::OutputTooLong => f.write_str("requested output length is too long"),
            Self::InconsistentPsk => f.write_str("psk and psk_id must both be set or both empty"),
            Self::ExportOnly => f.write_str("export-only context cannot seal or open"),
            Self::ModeNotSupported => f.write_str("this KEM has no such HPKE mode"),
            Self::RotationNeeded => f.write_str("rotate the prekeys: they predate ML-KEM"),
            Self::TooLarge { what } => write!(f, "{what} is too large"),
            Self::WrongIdentity => f.write_str("identity does not match this state"),
            Self::TooManyRecipients { max } => write!(f, "more than {max} recipients"),
            Self::UnknownRecipient => f.write_str("no key for this recipient"),
            Self::WrongMailbox => f.write_str("delivery is for another mailbox"),
            Self::NotPermitted => f.write_str("the local member may not do this"),
            Self::SenderChain => f.write_str("sender chain missing or already started"),
            Self::InvalidRoster => f.write_str("invalid roster or recipient list"),
            Self::WrongConversation => f.write_str("payload belongs to another conversation"),
            Self::BatchSize { max } => write!(f, "a batch holds 1 to {max} items"),
            Self::OwnAccount => f.write_str("that is this client's own account"),
            Self::OutboxFull { max } => write!(
                f,
                "the outbox holds {max} envelopes the relay has not taken; submit them first"
            ),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotConnected => "not connected: direct messages need an accepted connection",
            Self::AlreadyConnected => "already connected or invited",
            Self::NoInvitation => "no pending invitation",
            Self::NotOpenProfile => "the recipient has no Open Profile",
            Self::NoPlatformKey => "no platform key configured",
            Self::NotAdvertiser => "sender is not a registered advertiser",
            Self::SponsoredOff => "the recipient has switched sponsored messages off",
            Self::NotGroupMember => "not a member of the group",
            Self::NotGroupPoster => "only admins and managers post to a group",
            Self::TooManyMentions => "a group post mentions at most 20 members",
            Self::NotAllConnections => "multi-recipient messages go to connections only",
            Self::NoCredential => "no delivery credential for a recipient",
            Self::NoToken => "no token of the needed kind left",
            Self::NoAccount => "no account certificate set",
        })
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongAccount => f.write_str("the device list is signed for another account"),
            Self::RolledBack { seen, got } => write!(
                f,
                "device list version {got} is not newer than version {seen}, accepted before"
            ),
            Self::UnknownDevice => f.write_str("no such device in the list"),
            Self::NotListed => f.write_str("the device list handed over does not name this device"),
            Self::LinkExpired => f.write_str("the link code has expired"),
            Self::LinkUsed => f.write_str("the link code was used already"),
            Self::LinkRefused => f.write_str("the link message was not made with this link code"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => e.fmt(f),
            Self::Crypto(e) => e.fmt(f),
            Self::Usage(e) => e.fmt(f),
            Self::Policy(e) => e.fmt(f),
            Self::Store(e) => e.fmt(f),
            Self::Device(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DecodeError {}
impl std::error::Error for CryptoError {}
impl std::error::Error for UsageError {}
impl std::error::Error for PolicyError {}
impl std::error::Error for DeviceError {}
impl std::error::Error for Error {}

impl From<DeviceError> for Error {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Self::Policy(e)
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}
