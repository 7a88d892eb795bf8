//! Linking a new device to an account through the relay. PROTOCOL.md §12.2.
//!
//! The existing device shows a link code (what a QR code carries): a fresh HPKE key, a
//! one-time secret, the mailbox it listens on for the answer, and an expiry. The new device
//! answers with its mailbox and identity, sealed to that key in HPKE's PSK mode with the
//! secret as the PSK and signed with its identity key; the existing device hands the account
//! over sealed the same way to the new device's identity key. The code travels out of band,
//! so the relay that carries both messages knows neither the key it could swap nor the
//! secret: it can drop them, and learn nothing else.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::list::{Device, SignedDeviceList};
use crate::access::AccessKey;
use crate::crypto::kdf;
use crate::crypto::sign::Signature;
use crate::crypto::x25519::PublicKey;
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError, DeviceError, Error, UsageError};
use crate::hpke::{self, Enc, KeyPair, Psk, ReceiverMode, SenderMode};
use crate::identity::{Identity, PublicIdentity};
use crate::wire::{Wire, decode_body, encode_into};

/// How long a link code can be answered, in seconds.
pub const LINK_LIFETIME: u64 = 600;

const PSK_ID: &[u8] = b"missive/link/v1";
const REQUEST_INFO: &[u8] = b"missive/link/v1/request";
const HANDOVER_INFO: &[u8] = b"missive/link/v1/handover";
const PROOF_LABEL: &[u8] = b"missive/link/v1/device-proof";
const ACCESS_LABEL: &[u8] = b"missive/link/v1/access";

/// What an existing device shows a new one, out of band.
///
/// Wire form (86 bytes while expiries are below 2^35): `0x01 || postcard(key [32], secret [32],
/// mailbox [16], expires varint)`.
// No `PartialEq`: the secret is compared nowhere, so never in variable time.
#[derive(Clone, Serialize, Deserialize)]
pub struct LinkCode {
    key: PublicKey,
    pub(super) secret: [u8; 32],
    mailbox: MailboxId,
    expires: u64,
}

impl Wire for LinkCode {
    const WHAT: &'static str = "link code";
    const VERSION: u8 = 1;
}

impl Drop for LinkCode {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl core::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkCode")
            .field("mailbox", &self.mailbox)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl LinkCode {
    /// Decodes a code as shown.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(bytes)
    }

    /// The bytes to show (as a QR code, say). They hold the link secret: show them only to
    /// the new device.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.to_wire())
    }

    /// The mailbox the answer goes to.
    pub fn mailbox(&self) -> &MailboxId {
        &self.mailbox
    }

    /// When the code stops being answerable (Unix seconds).
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The relay access key both devices register while they link, so each may deliver to
    /// the other's mailbox: `HKDF-Expand(secret, "missive/link/v1/access", 16)`. Only holders
    /// of the code can compute it.
    pub fn access_key(&self) -> AccessKey {
        let mut key = [0u8; 16];
        // 16 bytes is far below HKDF's limit, so the expansion cannot fail.
        let _ = kdf::expand_multi(&self.secret, &[ACCESS_LABEL], &mut key);
        AccessKey::from_bytes(key)
    }

    fn psk(&self) -> Psk<'_> {
        // The secret is 32 bytes and the id is not empty: the PSK is always valid.
        #[allow(clippy::expect_used)]
        Psk::new(&self.secret, PSK_ID).expect("a 32-byte PSK")
    }

    /// `key || mailbox || u64be(expires)`: what both messages bind of the code, the secret
    /// aside (it is the PSK).
    fn context(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(56);
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.mailbox.0);
        out.extend_from_slice(&self.expires.to_be_bytes());
        out
    }
}

/// Either message of a link: an HPKE encapsulation and ciphertext.
///
/// Wire form: `0x01 || postcard(enc [32], sealed bytes)`.
#[derive(Serialize, Deserialize)]
struct Sealed {
    enc: [u8; 32],
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
}

impl Wire for Sealed {
    const WHAT: &'static str = "link message";
    const VERSION: u8 = 1;
}

/// What a new device says of itself: postcard(mailbox, identity, signature).
#[derive(Serialize, Deserialize)]
struct RequestBody {
    mailbox: MailboxId,
    identity: PublicIdentity,
    signature: Signature,
}

/// What an existing device hands over: postcard(account secret bytes, signed list bytes,
/// device id, state bytes).
#[derive(Serialize, Deserialize)]
struct HandoverBody {
    #[serde(with = "serde_bytes")]
    account: Vec<u8>,
    #[serde(with = "serde_bytes")]
    list: Vec<u8>,
    device: u32,
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
}

impl Drop for HandoverBody {
    fn drop(&mut self) {
        self.account.zeroize();
        self.state.zeroize();
    }
}

/// `PROOF_LABEL || context || mailbox || wire(identity)`: what the new device signs.
fn proof_message(code: &LinkCode, mailbox: &MailboxId, identity: &PublicIdentity) -> Vec<u8> {
    let mut out = PROOF_LABEL.to_vec();
    out.extend_from_slice(&code.context());
    out.extend_from_slice(&mailbox.0);
    out.extend_from_slice(&identity.to_wire());
    out
}

/// `HANDOVER_INFO || context || mailbox || wire(identity)`.
fn handover_info(code: &LinkCode, device: &NewDevice) -> Vec<u8> {
    let mut out = HANDOVER_INFO.to_vec();
    out.extend_from_slice(&code.context());
    out.extend_from_slice(&device.mailbox.0);
    out.extend_from_slice(&device.identity.to_wire());
    out
}

fn request_info(code: &LinkCode) -> Vec<u8> {
    let mut out = REQUEST_INFO.to_vec();
    out.extend_from_slice(&code.context());
    out
}

fn seal(
    ephemeral: &KeyPair,
    psk: Psk<'_>,
    recipient: &PublicKey,
    info: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let (enc, mut ctx) = hpke::setup_sender_from(ephemeral, SenderMode::Psk(psk), recipient, info)?;
    let sealed = ctx.seal(&[], plaintext)?;
    Ok(Sealed {
        enc: enc.to_bytes(),
        sealed,
    }
    .to_wire())
}

/// Opens a link message; any failure to authenticate is `refused`.
fn open(
    bytes: &[u8],
    psk: Psk<'_>,
    recipient: &KeyPair,
    info: &[u8],
    refused: DeviceError,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let message = Sealed::from_wire(bytes)?;
    let enc = Enc::from_bytes(&message.enc)?;
    let opened = hpke::open(
        &enc,
        ReceiverMode::Psk(psk),
        recipient,
        info,
        &[],
        &message.sealed,
    )
    .map_err(|e| match e {
        Error::Crypto(_) => refused.into(),
        other => other,
    })?;
    Ok(Zeroizing::new(opened))
}

/// A new device as its answer presents it: proven to know the link secret and to hold the
/// signing key of the identity it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDevice {
    /// Where the device receives.
    pub mailbox: MailboxId,
    /// The device's identity keys.
    pub identity: PublicIdentity,
}

/// The existing device's side: the code it shows, until answered once or expired.
pub struct PendingLink {
    key: KeyPair,
    code: LinkCode,
    pub(super) answered: Option<NewDevice>,
}

impl core::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingLink")
            .field("code", &self.code)
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

/// A shown code at rest, so a restart within its ten minutes keeps it: the HPKE secret key,
/// the code, and the device that answered, if one did.
#[derive(Serialize, Deserialize)]
struct SavedLink {
    key: [u8; 32],
    code: LinkCode,
    answered: Option<NewDevice>,
}

impl Drop for SavedLink {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl PendingLink {
    /// The link as the client's state keeps it.
    pub(crate) fn to_saved(&self) -> Zeroizing<Vec<u8>> {
        let saved = SavedLink {
            key: *self.key.to_secret_bytes(),
            code: self.code.clone(),
            answered: self.answered,
        };
        let mut out = Zeroizing::new(Vec::new());
        encode_into(&saved, &mut out);
        out
    }

    /// A link kept by [`PendingLink::to_saved`].
    pub(crate) fn from_saved(bytes: &[u8]) -> Result<Self, DecodeError> {
        let saved: SavedLink = decode_body(bytes, "saved link")?;
        if *KeyPair::from_secret_bytes(&saved.key).public_key() != saved.code.key {
            return Err(DecodeError::Invalid { what: "saved link" });
        }
        Ok(Self {
            key: KeyPair::from_secret_bytes(&saved.key),
            code: saved.code.clone(),
            answered: saved.answered,
        })
    }

    /// A fresh code, answerable for [`LINK_LIFETIME`] seconds from `now` at `mailbox` (a
    /// mailbox of its own, so the relay cannot tie the answer to the device's mailbox).
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, mailbox: MailboxId, now: u64) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let expires = now.saturating_add(LINK_LIFETIME);
        let link = Self::from_parts(KeyPair::generate(rng), secret, mailbox, expires);
        secret.zeroize();
        link
    }

    /// A code from explicit parts, for vectors.
    #[cfg(feature = "hazmat")]
    pub fn with_parts(key: KeyPair, secret: [u8; 32], mailbox: MailboxId, expires: u64) -> Self {
        Self::from_parts(key, secret, mailbox, expires)
    }

    fn from_parts(key: KeyPair, secret: [u8; 32], mailbox: MailboxId, expires: u64) -> Self {
        let code = LinkCode {
            key: *key.public_key(),
            secret,
            mailbox,
            expires,
        };
        Self {
            key,
            code,
            answered: None,
        }
    }

    /// The code to show.
    pub fn code(&self) -> &LinkCode {
        &self.code
    }

    /// The device whose answer was accepted, if one was.
    pub fn answered(&self) -> Option<&NewDevice> {
        self.answered.as_ref()
    }

    /// The new device that answered `request`, once: the code is used up by the first
    /// answer that authenticates.
    ///
    /// # Errors
    /// [`DeviceError::LinkExpired`] after the code's expiry; [`DeviceError::LinkUsed`] once
    /// answered; [`DeviceError::LinkRefused`] for an answer not made with this code's secret;
    /// [`CryptoError::BadSignature`] if the device's proof does not verify; a
    /// [`DecodeError`] for malformed bytes.
    pub fn accept(&mut self, request: &[u8], now: u64) -> Result<NewDevice, Error> {
        if now > self.code.expires {
            return Err(DeviceError::LinkExpired.into());
        }
        if self.answered.is_some() {
            return Err(DeviceError::LinkUsed.into());
        }
        let info = request_info(&self.code);
        let body = open(
            request,
            self.code.psk(),
            &self.key,
            &info,
            DeviceError::LinkRefused,
        )?;
        let body: RequestBody = decode_body(&body, "link request")?;
        body.identity
            .verify(
                &proof_message(&self.code, &body.mailbox, &body.identity),
                &body.signature,
            )
            .map_err(|_| CryptoError::BadSignature)?;
        let device = NewDevice {
            mailbox: body.mailbox,
            identity: body.identity,
        };
        self.answered = Some(device);
        Ok(device)
    }

    /// The handover to the device that answered: the account's identity, the signed list
    /// that names the device, and the account's `state` (opaque here), sealed to the device.
    ///
    /// # Errors
    /// [`UsageError::NotPermitted`] before an answer was accepted; [`UsageError::InvalidRoster`]
    /// if `list` is not `account`'s or does not name the device as it answered.
    pub fn hand_over<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        account: &Identity,
        list: &SignedDeviceList,
        state: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.hand_over_from(&KeyPair::generate(rng), account, list, state)
    }

    /// [`PendingLink::hand_over`] with an explicit HPKE `ikm_e`, for vectors.
    #[cfg(feature = "hazmat")]
    pub fn hand_over_with_ikm(
        &self,
        ikm_e: &[u8; 32],
        account: &Identity,
        list: &SignedDeviceList,
        state: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.hand_over_from(&KeyPair::derive(ikm_e), account, list, state)
    }

    fn hand_over_from(
        &self,
        ephemeral: &KeyPair,
        account: &Identity,
        list: &SignedDeviceList,
        state: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let device = self.answered.ok_or(UsageError::NotPermitted)?;
        let listed = list
            .verify(account.public(), None)
            .map_err(|_| UsageError::InvalidRoster)?
            .by_mailbox(&device.mailbox)
            .filter(|d| d.identity == device.identity)
            .ok_or(UsageError::InvalidRoster)?;
        let body = HandoverBody {
            account: account.to_secret_bytes().to_vec(),
            list: list.to_bytes(),
            device: listed.id,
            state: state.to_vec(),
        };
        let mut plaintext = Zeroizing::new(Vec::new());
        encode_into(&body, &mut plaintext);
        seal(
            ephemeral,
            self.code.psk(),
            device.identity.dh_key(),
            &handover_info(&self.code, &device),
            &plaintext,
        )
    }
}

/// The new device's side: the code it was shown and the identity it answered with.
pub struct Linking {
    code: LinkCode,
    device: Identity,
    mailbox: MailboxId,
}

impl core::fmt::Debug for Linking {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Linking")
            .field("code", &self.code)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl Linking {
    /// A link answered before, as device `device` at `mailbox` (after a restart).
    pub(crate) fn resume(code: LinkCode, device: Identity, mailbox: MailboxId) -> Self {
        Self {
            code,
            device,
            mailbox,
        }
    }

    /// The code answered.
    pub fn code(&self) -> &LinkCode {
        &self.code
    }

    /// Answers the code shown (`code`, as [`LinkCode::to_bytes`] gave it) as the device with
    /// identity `device` receiving at `mailbox`; returns the request to send to the code's
    /// mailbox.
    ///
    /// # Errors
    /// [`DeviceError::LinkExpired`] after the code's expiry; a [`DecodeError`] for a code that
    /// does not decode.
    pub fn answer<R: CryptoRng + ?Sized>(
        rng: &mut R,
        code: &[u8],
        device: Identity,
        mailbox: MailboxId,
        now: u64,
    ) -> Result<(Self, Vec<u8>), Error> {
        Self::answer_from(&KeyPair::generate(rng), code, device, mailbox, now)
    }

    /// [`Linking::answer`] with an explicit HPKE `ikm_e`, for vectors.
    #[cfg(feature = "hazmat")]
    pub fn answer_with_ikm(
        ikm_e: &[u8; 32],
        code: &[u8],
        device: Identity,
        mailbox: MailboxId,
        now: u64,
    ) -> Result<(Self, Vec<u8>), Error> {
        Self::answer_from(&KeyPair::derive(ikm_e), code, device, mailbox, now)
    }

    fn answer_from(
        ephemeral: &KeyPair,
        code: &[u8],
        device: Identity,
        mailbox: MailboxId,
        now: u64,
    ) -> Result<(Self, Vec<u8>), Error> {
        let code = LinkCode::from_bytes(code)?;
        if now > code.expires {
            return Err(DeviceError::LinkExpired.into());
        }
        let body = RequestBody {
            mailbox,
            identity: *device.public(),
            signature: device.sign(&proof_message(&code, &mailbox, device.public())),
        };
        let mut plaintext = Vec::new();
        encode_into(&body, &mut plaintext);
        let request = seal(
            ephemeral,
            code.psk(),
            &code.key,
            &request_info(&code),
            &plaintext,
        )?;
        let linking = Self {
            code,
            device,
            mailbox,
        };
        Ok((linking, request))
    }

    /// The account, as the existing device handed it over.
    ///
    /// # Errors
    /// [`DeviceError::LinkRefused`] for a handover not sealed with this link's secret to this
    /// device; [`DeviceError::NotListed`] if the list it carries does not name this device;
    /// the list's own errors if it is not signed by the identity handed over.
    pub fn finish(&self, handover: &[u8]) -> Result<Handover, Error> {
        let me = NewDevice {
            mailbox: self.mailbox,
            identity: *self.device.public(),
        };
        let body = open(
            handover,
            self.code.psk(),
            &self.device.hpke_key(),
            &handover_info(&self.code, &me),
            DeviceError::LinkRefused,
        )?;
        let body: HandoverBody = decode_body(&body, "link handover")?;
        let account = Identity::from_secret_bytes(&body.account)?;
        let list = SignedDeviceList::from_bytes(&body.list)?;
        let device = *list
            .verify(account.public(), None)?
            .devices()
            .iter()
            .find(|d| d.id == body.device)
            .filter(|d| d.mailbox == me.mailbox && d.identity == me.identity)
            .ok_or(DeviceError::NotListed)?;
        Ok(Handover {
            account,
            list,
            device,
            state: Zeroizing::new(body.state.clone()),
        })
    }
}

/// What a new device received: the account it now speaks for, the list that names it, its
/// place in that list, and the account's state (decoded by the client).
pub struct Handover {
    /// The account's identity keys.
    pub account: Identity,
    /// The signed list naming this device.
    pub list: SignedDeviceList,
    /// This device as listed.
    pub device: Device,
    /// The account's state, as the existing device sent it.
    pub state: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Handover {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Handover")
            .field("account", self.account.public())
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What the tests build past the checks of the public API.
#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// A handover body naming device `id` of `list`.
    pub(in crate::device) fn handover_body(
        account: &Identity,
        list: &SignedDeviceList,
        id: u32,
    ) -> Vec<u8> {
        let body = HandoverBody {
            account: account.to_secret_bytes().to_vec(),
            list: list.to_bytes(),
            device: id,
            state: Vec::new(),
        };
        let mut out = Vec::new();
        encode_into(&body, &mut out);
        out
    }

    /// `body` sealed as `link`'s handover to `device`.
    pub(in crate::device) fn seal_handover(
        link: &PendingLink,
        device: &NewDevice,
        body: &[u8],
    ) -> Vec<u8> {
        let ephemeral = KeyPair::generate(&mut rand::rng());
        seal(
            &ephemeral,
            link.code.psk(),
            device.identity.dh_key(),
            &handover_info(&link.code, device),
            body,
        )
        .unwrap()
    }

    /// An answer to `link` made with its secret whose proof is signed by another key.
    pub(in crate::device) fn request_with_wrong_proof(
        link: &PendingLink,
        device: &Identity,
    ) -> Vec<u8> {
        let mailbox = MailboxId([2; 16]);
        let other = Identity::generate(&mut rand::rng());
        let body = RequestBody {
            mailbox,
            identity: *device.public(),
            signature: other.sign(&proof_message(&link.code, &mailbox, device.public())),
        };
        let mut plaintext = Vec::new();
        encode_into(&body, &mut plaintext);
        let ephemeral = KeyPair::generate(&mut rand::rng());
        seal(
            &ephemeral,
            link.code.psk(),
            &link.code.key,
            &request_info(&link.code),
            &plaintext,
        )
        .unwrap()
    }
}

/// Messages no honest device makes, for the client's tests of how it refuses them.
#[cfg(test)]
pub(crate) mod forged {
    use super::*;

    /// An answer to `code` whose proof `signer` made instead of `device`.
    pub(crate) fn answer_signed_by(
        code: &[u8],
        device: Identity,
        mailbox: MailboxId,
        signer: &Identity,
    ) -> (Linking, Vec<u8>) {
        let code = LinkCode::from_bytes(code).unwrap_or_else(|_| unreachable!());
        let body = RequestBody {
            mailbox,
            identity: *device.public(),
            signature: signer.sign(&proof_message(&code, &mailbox, device.public())),
        };
        let mut plaintext = Vec::new();
        encode_into(&body, &mut plaintext);
        let ephemeral = KeyPair::generate(&mut rand::rng());
        let request = seal(
            &ephemeral,
            code.psk(),
            &code.key,
            &request_info(&code),
            &plaintext,
        )
        .unwrap_or_else(|_| unreachable!());
        let linking = Linking {
            code,
            device,
            mailbox,
        };
        (linking, request)
    }

    /// A handover of `list` naming the answering device as `device`, whether or not the list
    /// names it so.
    pub(crate) fn hand_over_unchecked(
        link: &PendingLink,
        account: &Identity,
        list: &SignedDeviceList,
        device: u32,
    ) -> Vec<u8> {
        let new = link.answered.unwrap_or_else(|| unreachable!());
        let body = HandoverBody {
            account: account.to_secret_bytes().to_vec(),
            list: list.to_bytes(),
            device,
            state: Vec::new(),
        };
        let mut plaintext = Zeroizing::new(Vec::new());
        encode_into(&body, &mut plaintext);
        let ephemeral = KeyPair::generate(&mut rand::rng());
        seal(
            &ephemeral,
            link.code.psk(),
            new.identity.dh_key(),
            &handover_info(&link.code, &new),
            &plaintext,
        )
        .unwrap_or_else(|_| unreachable!())
    }
}
