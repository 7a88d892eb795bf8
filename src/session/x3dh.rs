//! Asynchronous session setup in the PQXDH family: X3DH's four agreements and an ML-KEM-768
//! encapsulation to the prekey's post-quantum partner. PROTOCOL.md §5.3–5.4.
//!
//! ```text
//! DH1 = X25519(IK_A, SPK_B)   DH2 = X25519(EK_A, IK_B)
//! DH3 = X25519(EK_A, SPK_B)   DH4 = X25519(EK_A, OPK_B)   (OPK_B: one-time or last-resort)
//! (CT, SS) = ML-KEM-768.Encaps(PQPK_B)                     (PQPK_B: OPK_B's ML-KEM partner)
//! AD  = wire(IK_A) || wire(IK_B)                           (65 + 65 bytes)
//! PRK = HKDF-Extract(0^32, DH1 || DH2 || DH3 || DH4 || SS)
//! SK  = HKDF-Expand(PRK, PQXDH_LABEL || AD, 32)
//! SEAL = HKDF-Expand(PRK, SEAL_LABEL || AD, 32)             (the sealed layer's, seal.rs)
//! ```
//!
//! SK is safe while either X25519 or ML-KEM-768 is: the classical agreements are all still
//! there, and SS is secret from whoever cannot break ML-KEM.

use crate::crypto::kdf;
use crate::crypto::mlkem;
use crate::crypto::x25519::{PublicKey, SecretKey, SharedSecret};
use crate::error::CryptoError;
use crate::identity::{Identity, PublicIdentity};
use crate::wire::Wire;

use super::chain::RootKey;
use super::seal::{SEAL_LABEL, SealSecret};

/// Domain-separation label of the setup's key derivation.
pub(crate) const PQXDH_LABEL: &[u8] = b"missive/session/v2/pqxdh";
/// Length of the associated data: two public identities in wire form.
pub(crate) const AD_LEN: usize = 130;

/// `AD = wire(IK_A) || wire(IK_B)`: bound into SK and into every message's AEAD.
pub(crate) fn associated_data(initiator: &PublicIdentity, responder: &PublicIdentity) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_LEN);
    ad.extend_from_slice(&initiator.to_wire());
    ad.extend_from_slice(&responder.to_wire());
    ad
}

/// The initiator's SK from its identity, its base (ephemeral) key and a verified bundle's keys.
pub(crate) fn initiator_secret(
    identity: &Identity,
    base: &SecretKey,
    responder: &PublicIdentity,
    signed_prekey: &PublicKey,
    prekey: &PublicKey,
    kem_shared: &mlkem::SharedSecret,
    ad: &[u8],
) -> Result<(RootKey, SealSecret), CryptoError> {
    let dh1 = identity.dh_secret().diffie_hellman(signed_prekey)?;
    let dh2 = base.diffie_hellman(responder.dh_key())?;
    let dh3 = base.diffie_hellman(signed_prekey)?;
    let dh4 = base.diffie_hellman(prekey)?;
    Ok(derive([&dh1, &dh2, &dh3, &dh4], kem_shared, ad))
}

/// The responder's SK from its identity and prekey secrets and the initiator's public keys.
pub(crate) fn responder_secret(
    identity: &Identity,
    signed_prekey: &SecretKey,
    prekey: &SecretKey,
    initiator: &PublicIdentity,
    base: &PublicKey,
    kem_shared: &mlkem::SharedSecret,
    ad: &[u8],
) -> Result<(RootKey, SealSecret), CryptoError> {
    let dh1 = signed_prekey.diffie_hellman(initiator.dh_key())?;
    let dh2 = identity.diffie_hellman(base)?;
    let dh3 = signed_prekey.diffie_hellman(base)?;
    let dh4 = prekey.diffie_hellman(base)?;
    Ok(derive([&dh1, &dh2, &dh3, &dh4], kem_shared, ad))
}

fn derive(
    dh: [&SharedSecret; 4],
    kem_shared: &mlkem::SharedSecret,
    ad: &[u8],
) -> (RootKey, SealSecret) {
    let [dh1, dh2, dh3, dh4] = dh.map(|d| d.as_bytes().as_slice());
    let prk = kdf::extract_multi(&[], &[dh1, dh2, dh3, dh4, kem_shared.as_slice()]);
    let sk = RootKey(*kdf::expand_array::<32>(&prk, &[PQXDH_LABEL, ad]));
    let seal = SealSecret(*kdf::expand_array::<32>(&prk, &[SEAL_LABEL, ad]));
    (sk, seal)
}
