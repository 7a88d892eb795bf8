//! The platform's side (the professional network's backend): it registers members' tiers and
//! signs the certificates the relay and clients check. For server tools, bots and tests; an
//! app never holds it.

use std::sync::{Arc, Mutex};

use missive::PublicIdentity;

use crate::client::guarded;
use crate::error::{MissiveError, argument};
use crate::types::{Tier, mailbox, profile};

/// A platform signing key and its ledger of members' tiers.
#[derive(uniffi::Object)]
pub struct Platform {
    inner: Mutex<missive::platform::Platform>,
}

#[uniffi::export]
impl Platform {
    /// The platform whose signing key comes from `seed` (32 bytes; a relay's `platform.key`).
    #[uniffi::constructor]
    pub fn from_seed(seed: Vec<u8>) -> Result<Arc<Self>, MissiveError> {
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| argument("a platform seed is 32 bytes"))?;
        Ok(Arc::new(Self {
            inner: Mutex::new(missive::platform::Platform::from_seed(&seed)),
        }))
    }

    /// The public key clients and relays check certificates against (32 bytes).
    pub fn public_key(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|p| Ok(p.public_key().to_bytes().to_vec()))
    }

    /// Records a member's tier and Open Profile switch.
    pub fn register(
        &self,
        member: Vec<u8>,
        tier: Tier,
        open_profile: bool,
    ) -> Result<(), MissiveError> {
        let member = mailbox(&member)?;
        self.with(|p| {
            p.register(member, profile(tier, open_profile));
            Ok(())
        })
    }

    /// A registered member's account certificate, valid until `expires` (Unix seconds).
    pub fn certify_account(
        &self,
        member: Vec<u8>,
        advertiser: bool,
        expires: u64,
    ) -> Result<Vec<u8>, MissiveError> {
        let member = mailbox(&member)?;
        self.with(|p| {
            let certificate = p
                .certify_account(&member, advertiser, expires)
                .map_err(unknown_member)?;
            Ok(certificate.to_bytes())
        })
    }

    /// An advertiser certificate for `mailbox` under the verified display `name`, binding
    /// its `identity` (65 bytes).
    pub fn certify_advertiser(
        &self,
        name: String,
        mailbox: Vec<u8>,
        identity: Vec<u8>,
    ) -> Result<Vec<u8>, MissiveError> {
        let mailbox = crate::types::mailbox(&mailbox)?;
        let identity = PublicIdentity::from_bytes(&identity)?;
        self.with(|p| Ok(p.certify_advertiser(&name, &mailbox, &identity).to_bytes()))
    }

    /// A receipt for `credits` InMail credits a registered member bought, redeemable once
    /// until `expires` (Unix seconds).
    pub fn sell_credits(
        &self,
        member: Vec<u8>,
        credits: u32,
        expires: u64,
    ) -> Result<Vec<u8>, MissiveError> {
        let member = mailbox(&member)?;
        self.with(|p| {
            let purchase = p
                .sell_credits(&mut rand::rng(), &member, credits, expires)
                .map_err(unknown_member)?;
            Ok(purchase.to_bytes())
        })
    }
}

fn unknown_member(e: missive::platform::LedgerError) -> MissiveError {
    MissiveError::Usage {
        kind: "UnknownMember".into(),
        detail: format!("{e:?}"),
    }
}

impl Platform {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut missive::platform::Platform) -> Result<T, MissiveError>,
    ) -> Result<T, MissiveError> {
        let mut inner = self.inner.lock().map_err(|_| MissiveError::Internal {
            detail: "the platform's lock is poisoned".into(),
        })?;
        guarded(|| f(&mut inner))
    }
}
