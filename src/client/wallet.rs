//! The token wallet (PROTOCOL.md §11.3): this month's tokens, requests waiting for the relay's
//! answer (kept in the state, so a crash loses none the relay has counted), and which token
//! each envelope of a send spends.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Client, Unsaved};
use crate::envelope::MailboxId;
use crate::error::{DecodeError, Error, PolicyError};
use crate::platform::{AccountCertificate, CreditPurchase, month_of};
use crate::relay_api::{TokenIssue, TokenIssued};
use crate::token::{self, PendingTokens, Token, TokenKind};

/// Tokens taken from the wallet by one send: envelopes to the same recipients share one.
#[derive(Clone, Default)]
pub(super) struct Batch {
    kind: Option<TokenKind>,
    /// A paid send (InMail, sponsored): every envelope spends, even to someone who gave us a
    /// key, so the recipient's "paid" is true.
    paid: bool,
    /// Each token spent: for whom, and where in the wallet it was (to put it back there).
    used: Vec<(Vec<MailboxId>, Token, usize)>,
}

/// A [`PendingTokens`] at rest (secret: the inputs and blinds).
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
pub(super) struct SavedRequest(#[serde(with = "serde_bytes")] Vec<u8>);

/// Unanswered token requests kept; an older one is dropped for a newer.
const MAX_PENDING_REQUESTS: usize = 8;

impl Client {
    /// The platform's certificate of our account, which the relay asks for before it issues
    /// tokens or honours Open Profile.
    pub fn set_account(&mut self, account: AccountCertificate) {
        self.access.account = Some(account);
    }

    /// Our account certificate, if set.
    pub fn account(&self) -> Option<&AccountCertificate> {
        self.access.account.as_ref()
    }

    /// A request for `count` (1 to 100) tokens of `kind` for this month: `POST` it to
    /// `/v1/tokens`, authenticated by our mailbox, and hand the answer to
    /// [`Client::add_tokens`]. What is needed to finish is kept in the client's state (save it
    /// before sending), so a crash in between loses nothing.
    pub fn request_tokens<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        kind: TokenKind,
        count: usize,
        now: u64,
    ) -> Result<Unsaved<'_, TokenIssue>, Error> {
        let issue = self.token_request(rng, kind, count, None, now)?;
        Ok(Unsaved::new(self, issue))
    }

    /// A request for the credit tokens of InMail credits bought from the platform (`purchase`,
    /// up to 100 a request): `POST` it to `/v1/tokens` like [`Client::request_tokens`]. The
    /// relay redeems each purchase once, on top of the monthly credits, and issues the tokens
    /// blind, so spending them is as unlinkable to the purchase as any token is to its month.
    ///
    /// # Errors
    /// [`PolicyError::NoAccount`] without an account certificate; [`crate::UsageError::BatchSize`]
    /// for a purchase of more than 100 credits (redeem it in several requests).
    pub fn redeem_credits<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        purchase: &CreditPurchase,
        now: u64,
    ) -> Result<Unsaved<'_, TokenIssue>, Error> {
        let count = usize::try_from(purchase.credits).unwrap_or(usize::MAX);
        let issue = self.token_request(rng, TokenKind::Credit, count, Some(purchase), now)?;
        Ok(Unsaved::new(self, issue))
    }

    fn token_request<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        kind: TokenKind,
        count: usize,
        purchase: Option<&CreditPurchase>,
        now: u64,
    ) -> Result<TokenIssue, Error> {
        let account = self.access.account.clone().ok_or(PolicyError::NoAccount)?;
        let (pending, request) = token::request_tokens(rng, kind, month_of(now), count)?;
        if self.access.pending.len() >= MAX_PENDING_REQUESTS {
            self.access.pending.remove(0);
        }
        self.access
            .pending
            .push(SavedRequest(pending.to_bytes().to_vec()));
        Ok(TokenIssue {
            account,
            request,
            purchase: purchase.cloned(),
        })
    }

    /// Adds the tokens the relay issued for one of our requests, after checking its proof
    /// under the key it names; returns how many.
    ///
    /// # Errors
    /// [`crate::CryptoError::BadProof`] (or a decoding error) when the answer fits none of
    /// our open requests; nothing changes.
    pub fn add_tokens(&mut self, issued: &TokenIssued) -> Result<usize, Error> {
        let mut last = Error::Decode(DecodeError::Invalid {
            what: "token answer (no open request of its size)",
        });
        for at in (0..self.access.pending.len()).rev() {
            let pending = PendingTokens::from_bytes(&self.access.pending[at].0)?;
            if pending.len() != issued.response.evaluated.len() {
                continue;
            }
            match pending.finish(&issued.response, &issued.key) {
                Ok(tokens) => {
                    self.access.pending.remove(at);
                    let n = tokens.len();
                    self.access.tokens.extend(tokens);
                    return Ok(n);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Unspent tokens of `kind` (of any month; the relay takes this month's and last month's).
    pub fn tokens(&self, kind: TokenKind) -> usize {
        self.access.tokens.iter().filter(|t| t.kind == kind).count()
    }

    /// Runs one send whose envelopes may need tokens of `kind` (to those who gave us no key);
    /// tokens taken by a send that fails go back to the wallet.
    pub(super) fn with_tokens<T>(
        &mut self,
        kind: TokenKind,
        send: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.batch(kind, false, send)
    }

    /// Runs one paid send: every envelope spends a token of `kind`.
    pub(super) fn paying<T>(
        &mut self,
        kind: TokenKind,
        send: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.batch(kind, true, send)
    }

    fn batch<T>(
        &mut self,
        kind: TokenKind,
        paid: bool,
        send: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.access.batch = Batch {
            kind: Some(kind),
            paid,
            used: Vec::new(),
        };
        let result = send(self);
        let batch = core::mem::take(&mut self.access.batch);
        if result.is_err() {
            // Back where each was, last taken first: the wallet is as before, order included.
            for (_, token, at) in batch.used.into_iter().rev() {
                let at = at.min(self.access.tokens.len());
                self.access.tokens.insert(at, token);
            }
        }
        result
    }

    /// Whether the current send is paid: every envelope spends a token.
    pub(super) fn paid_send(&self) -> bool {
        self.access.batch.paid
    }

    /// The account name under which the current send pays once for every device of
    /// `member` (PROTOCOL.md §11.2, `Member`): a contact whose device list we hold (never
    /// our own account's), in a send paying for one account at a time (not a sponsored one).
    pub(super) fn paid_as_account(&mut self, member: &MailboxId) -> Result<Option<Vec<u8>>, Error> {
        if matches!(self.access.batch.kind, None | Some(TokenKind::Sponsored)) {
            return Ok(None);
        }
        self.load_peer(member)?;
        if self.peer_devices.get(member).is_none() {
            return Ok(None);
        }
        Ok(self.contacts.get(member).map(|c| c.user.clone()))
    }

    /// The token for an envelope to `to` in the current send: the one already taken for the
    /// same recipients, else a fresh one of the send's kind; `None` outside a send.
    pub(super) fn batch_token(&mut self, to: &[MailboxId]) -> Result<Option<Token>, Error> {
        let Some(kind) = self.access.batch.kind else {
            return Ok(None);
        };
        if let Some((_, token, _)) = self.access.batch.used.iter().find(|(r, _, _)| r == to) {
            return Ok(Some(token.clone()));
        }
        let at = self
            .access
            .tokens
            .iter()
            .position(|t| t.kind == kind)
            .ok_or(PolicyError::NoToken)?;
        let token = self.access.tokens.remove(at);
        self.access
            .batch
            .used
            .push((to.to_vec(), token.clone(), at));
        Ok(Some(token))
    }
}
