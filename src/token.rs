//! Unlinkable one-time delivery tokens: RFC 9497 VOPRF, ristretto255-SHA512.
//!
//! The relay has to ration some deliveries (invitations, InMail credits, premium and sponsored
//! messages) without learning who sends them. The platform knows who is entitled to what, so
//! tokens are issued to an authenticated member and spent anonymously:
//!
//! 1. The client draws random inputs and blinds them ([`request_tokens`]); the relay, which
//!    knows who is asking, evaluates the blinded batch under the key for `(kind, period)` and
//!    proves with one DLEQ proof that it used that key ([`Issuer::issue`]).
//! 2. The client checks the proof against the published key and unblinds ([`PendingTokens::finish`]).
//! 3. Later, over an unauthenticated request, the client hands over one [`Token`]. The relay
//!    recomputes the PRF ([`Issuer::verify`]) and records [`Token::id`] as spent.
//!
//! Blinding is perfect, so nothing the relay saw at issuance links to the token it sees at
//! spending. What could link them is a key chosen per member; the proof rules that out only if
//! every client checks it against the same key, so clients must obtain [`IssuerPublicKey`]
//! through a channel where everyone sees one key (pinned in the app, or signed by the
//! platform), never from the relay's answer alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use voprf::{
    BlindedElement, EvaluationElement, Group, Proof, Ristretto255, VoprfClient, VoprfServer,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::kdf;
use crate::envelope::MailboxId;
use crate::error::{CryptoError, DecodeError, Error, UsageError};
use crate::wire::Wire;

/// The most tokens one request asks for (and one response carries).
pub const MAX_BATCH: usize = 100;

/// Length of a token's VOPRF input.
pub const INPUT_LEN: usize = 32;

/// Length of a token's VOPRF output (the SHA-512 output of RFC 9497's Finalize).
pub const OUTPUT_LEN: usize = 64;

/// Domain separation for [`Token::id`].
const ID_LABEL: &[u8] = b"missive/v1/token-id";

/// Domain separation for the per-`(kind, period)` key (see [`Issuer`]).
const KEY_LABEL: &[u8] = b"missive/v1/token-key";

/// How many derived keys an [`Issuer`] keeps. A relay uses a handful (four kinds, the current
/// and previous period); the bound only stops requests naming arbitrary periods from growing
/// the cache without limit.
const KEY_CACHE_LIMIT: usize = 64;

/// What a token pays for. Each kind has its own key, so a token of one kind never passes as
/// another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenKind {
    /// Sending one connection invitation.
    Invite,
    /// Opening one InMail conversation paid with a credit.
    Credit,
    /// One delivery a premium membership allows.
    Premium,
    /// One sponsored message from a registered advertiser.
    Sponsored,
}

impl TokenKind {
    /// Every kind, in the order of their bytes (`Invite` 0 … `Sponsored` 3).
    pub const ALL: [Self; 4] = [Self::Invite, Self::Credit, Self::Premium, Self::Sponsored];

    /// A short lowercase name, for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Credit => "credit",
            Self::Premium => "premium",
            Self::Sponsored => "sponsored",
        }
    }

    /// The byte that stands for the kind in key derivation and token ids: the same value as
    /// its wire encoding, so a second implementation has one table to follow.
    fn byte(self) -> u8 {
        match self {
            Self::Invite => 0,
            Self::Credit => 1,
            Self::Premium => 2,
            Self::Sponsored => 3,
        }
    }
}

/// `label || kind byte || period (u32 big-endian)`: the info string of both the key
/// derivation and the token id.
fn context(label: &[u8], kind: TokenKind, period: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + 5);
    out.extend_from_slice(label);
    out.push(kind.byte());
    out.extend_from_slice(&period.to_be_bytes());
    out
}

/// What a [`Credential::Member`](crate::access::Credential::Member) spend is recorded against
/// (PROTOCOL.md §11.3): `SHA-256("missive/v1/spend-account" || user)[0..16]`, the account,
/// whichever of its devices each envelope reaches.
pub fn spend_account(user: &[u8]) -> [u8; 16] {
    let hash = Sha256::new_with_prefix(b"missive/v1/spend-account").chain_update(user);
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.finalize()[..16]);
    out
}

/// What a token's spend is recorded against (PROTOCOL.md §11.3): `SHA-256(
/// "missive/v1/spend-recipients" || recipient mailboxes)[0..16]`, so the same token may come
/// back only for the same recipients.
pub fn spend_recipients(mailboxes: &[MailboxId]) -> [u8; 16] {
    let mut hash = Sha256::new_with_prefix(b"missive/v1/spend-recipients");
    for m in mailboxes {
        hash.update(m.0);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash.finalize()[..16]);
    out
}

/// A spendable token: the VOPRF input and its output under the `(kind, period)` key.
///
/// A bearer secret: whoever holds it can spend it, so it is zeroized on drop and `Debug` shows
/// only its kind and period. Equality is constant time.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Token {
    /// What the token pays for.
    #[zeroize(skip)]
    pub kind: TokenKind,
    /// The issuance period (for example [`crate::platform::month_of`]); the relay decides which
    /// periods it still accepts.
    pub period: u32,
    input: [u8; INPUT_LEN],
    #[serde(with = "serde_bytes")]
    output: [u8; OUTPUT_LEN],
}

impl Token {
    /// A token from its fields, for vectors.
    #[cfg(feature = "vectors")]
    pub(crate) fn from_parts(
        kind: TokenKind,
        period: u32,
        input: [u8; INPUT_LEN],
        output: [u8; OUTPUT_LEN],
    ) -> Self {
        Self {
            kind,
            period,
            input,
            output,
        }
    }

    /// `SHA-256("missive/v1/token-id" || kind byte || period u32 BE || input)`: what the relay
    /// records as spent. It names the input, not the output, so the spent list never holds
    /// anything that would let a reader spend a token.
    pub fn id(&self) -> [u8; 32] {
        let digest = Sha256::new()
            .chain_update(context(ID_LABEL, self.kind, self.period))
            .chain_update(self.input)
            .finalize();
        let mut id = [0u8; 32];
        id.copy_from_slice(&digest);
        id
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        let secret = self.input.ct_eq(&other.input) & self.output.ct_eq(&other.output);
        bool::from(secret) && self.kind == other.kind && self.period == other.period
    }
}
impl Eq for Token {}

impl core::fmt::Debug for Token {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Token")
            .field("kind", &self.kind)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

/// A client's request for tokens: blinded elements, which reveal nothing about the inputs.
/// Wire: `0x01 || postcard(kind, period, blinded)`, with 1 to [`MAX_BATCH`] elements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The kind asked for.
    pub kind: TokenKind,
    /// The period asked for.
    pub period: u32,
    /// One blinded ristretto255 element per token.
    pub blinded: Vec<[u8; 32]>,
}

/// The relay's answer: the evaluated elements, in request order, and one batch DLEQ proof that
/// all of them used the published key. Wire: `0x01 || postcard(evaluated, proof)`, with 1 to
/// [`MAX_BATCH`] elements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// One evaluated ristretto255 element per blinded element.
    pub evaluated: Vec<[u8; 32]>,
    /// The DLEQ proof, `c || s` (two ristretto255 scalars).
    #[serde(with = "serde_bytes")]
    pub proof: [u8; 64],
}

/// The issuer's public key for one `(kind, period)`: a ristretto255 element.
/// Wire: `0x01 || key`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IssuerPublicKey(pub [u8; 32]);

impl core::fmt::Debug for IssuerPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "IssuerPublicKey(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl Wire for TokenRequest {
    const WHAT: &'static str = "token request";
    const VERSION: u8 = 1;
}

impl Wire for TokenResponse {
    const WHAT: &'static str = "token response";
    const VERSION: u8 = 1;
}

impl Wire for IssuerPublicKey {
    const WHAT: &'static str = "issuer public key";
    const VERSION: u8 = 1;
}

/// Refuses an empty or oversized batch in a decoded `what`.
fn check_batch(len: usize, what: &'static str) -> Result<(), DecodeError> {
    if (1..=MAX_BATCH).contains(&len) {
        Ok(())
    } else {
        Err(DecodeError::Invalid { what })
    }
}

impl TokenRequest {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes the wire form strictly, including the batch bound. The elements are checked
    /// where they are used ([`Issuer::issue`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let request = Self::from_wire(bytes)?;
        check_batch(request.blinded.len(), Self::WHAT)?;
        Ok(request)
    }
}

impl TokenResponse {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes the wire form strictly, including the batch bound. The elements and the proof
    /// are checked where they are used ([`PendingTokens::finish`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let response = Self::from_wire(bytes)?;
        check_batch(response.evaluated.len(), Self::WHAT)?;
        Ok(response)
    }
}

impl IssuerPublicKey {
    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_wire()
    }

    /// Decodes the wire form strictly; the key must be a valid, non-identity ristretto255
    /// element.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let key = Self::from_wire(bytes)?;
        key.element()?;
        Ok(key)
    }

    fn element(&self) -> Result<<Ristretto255 as Group>::Elem, DecodeError> {
        Ristretto255::deserialize_elem(&self.0)
            .map_err(|_| DecodeError::Invalid { what: Self::WHAT })
    }
}

/// Maps a voprf error. A failed proof is the one that can happen to a correct caller; the
/// others cannot arise with the fixed lengths used here, and would mean `what` was unusable.
fn voprf_error(e: voprf::Error, what: &'static str) -> Error {
    match e {
        voprf::Error::ProofVerification => CryptoError::BadProof.into(),
        _ => DecodeError::Invalid { what }.into(),
    }
}

/// Copies a 32-byte serialized element out of voprf's array type.
fn to_array32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// Lets voprf, which takes `rand_core` 0.6 generators, draw from ours.
struct Rng06<'a, R: ?Sized>(&'a mut R);

impl<R: CryptoRng + ?Sized> rand_core::RngCore for Rng06<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl<R: CryptoRng + ?Sized> rand_core::CryptoRng for Rng06<'_, R> {}

/// A client's state between [`request_tokens`] and [`PendingTokens::finish`]: the inputs and
/// their blinds. Secret; zeroized on drop.
pub struct PendingTokens {
    kind: TokenKind,
    period: u32,
    inputs: Vec<Zeroizing<[u8; INPUT_LEN]>>,
    /// voprf's client state (blind and blinded element) wipes itself on drop.
    clients: Vec<VoprfClient<Ristretto255>>,
}

/// [`PendingTokens`] at rest: per token its input, then its blind and blinded element.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct PendingState {
    #[zeroize(skip)]
    kind: TokenKind,
    period: u32,
    entries: Vec<([u8; INPUT_LEN], [u8; 32], [u8; 32])>,
}

impl Wire for PendingState {
    const WHAT: &'static str = "pending tokens";
    const VERSION: u8 = 1;
}

impl core::fmt::Debug for PendingTokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingTokens")
            .field("kind", &self.kind)
            .field("period", &self.period)
            .field("count", &self.inputs.len())
            .finish_non_exhaustive()
    }
}

/// Starts asking for `count` tokens of `kind` for `period`: send the request (authenticated:
/// the relay decides whether this member is entitled) and keep the pending state for the
/// answer.
pub fn request_tokens<R: CryptoRng + ?Sized>(
    rng: &mut R,
    kind: TokenKind,
    period: u32,
    count: usize,
) -> Result<(PendingTokens, TokenRequest), Error> {
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(UsageError::BatchSize { max: MAX_BATCH }.into());
    }
    let mut rng = Rng06(rng);
    let mut inputs = Vec::with_capacity(count);
    let mut clients = Vec::with_capacity(count);
    let mut blinded = Vec::with_capacity(count);
    for _ in 0..count {
        let mut input = Zeroizing::new([0u8; INPUT_LEN]);
        rand_core::RngCore::fill_bytes(&mut rng, input.as_mut());
        let blind = VoprfClient::<Ristretto255>::blind(input.as_ref(), &mut rng)
            .map_err(|e| voprf_error(e, "token input"))?;
        blinded.push(to_array32(&blind.message.serialize()));
        clients.push(blind.state);
        inputs.push(input);
    }
    let pending = PendingTokens {
        kind,
        period,
        inputs,
        clients,
    };
    let request = TokenRequest {
        kind,
        period,
        blinded,
    };
    Ok((pending, request))
}

impl PendingTokens {
    /// The state at rest, so a client that crashes between the request and the answer can
    /// still finish (the relay counted the tokens already). Secret: store it encrypted.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let state = PendingState {
            kind: self.kind,
            period: self.period,
            entries: self
                .inputs
                .iter()
                .zip(&self.clients)
                .map(|(input, client)| {
                    let mut both = client.serialize();
                    let (blind, blinded) = both.split_at(32);
                    let entry = (**input, to_array32(blind), to_array32(blinded));
                    both.as_mut_slice().zeroize();
                    entry
                })
                .collect(),
        };
        Zeroizing::new(state.to_wire())
    }

    /// Restores [`PendingTokens::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: DecodeError = DecodeError::Invalid {
            what: "pending tokens",
        };
        let state = PendingState::from_wire(bytes)?;
        if !(1..=MAX_BATCH).contains(&state.entries.len()) {
            return Err(WHAT);
        }
        let mut pending = Self {
            kind: state.kind,
            period: state.period,
            inputs: Vec::with_capacity(state.entries.len()),
            clients: Vec::with_capacity(state.entries.len()),
        };
        for (input, blind, blinded) in &state.entries {
            let mut both = Zeroizing::new([0u8; 64]);
            both[..32].copy_from_slice(blind);
            both[32..].copy_from_slice(blinded);
            let client =
                VoprfClient::<Ristretto255>::deserialize(both.as_ref()).map_err(|_| WHAT)?;
            pending.inputs.push(Zeroizing::new(*input));
            pending.clients.push(client);
        }
        Ok(pending)
    }

    /// How many tokens it waits for.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Never: a request asks for at least one token.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Checks the relay's answer and unblinds it. `key` must be the published key for this
    /// kind and period, obtained independently of the relay's answer: the batch proof then
    /// shows every element was evaluated under that key, so a relay that used any other (say,
    /// one per member, to recognise them later) is refused with [`CryptoError::BadProof`].
    pub fn finish(
        self,
        response: &TokenResponse,
        key: &IssuerPublicKey,
    ) -> Result<Vec<Token>, Error> {
        const WHAT: &str = "token response";
        if response.evaluated.len() != self.clients.len() {
            return Err(DecodeError::Invalid { what: WHAT }.into());
        }
        let public = key.element()?;
        let evaluated = response
            .evaluated
            .iter()
            .map(|element| EvaluationElement::<Ristretto255>::deserialize(element))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| voprf_error(e, WHAT))?;
        let proof = Proof::<Ristretto255>::deserialize(&response.proof)
            .map_err(|e| voprf_error(e, WHAT))?;
        let outputs =
            VoprfClient::batch_finalize(&self.inputs, &self.clients, &evaluated, &proof, public)
                .map_err(|e| voprf_error(e, WHAT))?;

        let mut tokens = Vec::with_capacity(self.inputs.len());
        for (input, output) in self.inputs.iter().zip(outputs) {
            let mut output = output.map_err(|e| voprf_error(e, WHAT))?;
            let mut token = Token {
                kind: self.kind,
                period: self.period,
                input: **input,
                output: [0u8; OUTPUT_LEN],
            };
            token.output.copy_from_slice(&output);
            output.as_mut_slice().zeroize();
            tokens.push(token);
        }
        Ok(tokens)
    }
}

/// The derived keys an [`Issuer`] holds, by kind and period.
type KeyCache = HashMap<(TokenKind, u32), Arc<VoprfServer<Ristretto255>>>;

/// The relay's side: one 32-byte master secret, from which the key for every `(kind, period)`
/// is derived, so rotating a period needs no new secret and nothing but the master is stored.
///
/// The key for `(kind, period)`, with `kind` as its byte (`Invite` 0, `Credit` 1, `Premium` 2,
/// `Sponsored` 3) and `period` as 4 big-endian bytes:
///
/// ```text
/// info = "missive/v1/token-key" || kind || period           (25 bytes)
/// prk  = HKDF-Extract-SHA256(salt = "" (32 zero bytes), ikm = master)
/// seed = HKDF-Expand-SHA256(prk, info, 32)
/// (skS, pkS) = DeriveKeyPair(seed, info)    RFC 9497 §3.2.1, modeVOPRF, ristretto255-SHA512
/// ```
///
/// that is, `VoprfServer::<Ristretto255>::new_from_seed(seed, info)`. The public key is
/// `SerializeElement(pkS)`. Derived keys are cached (up to 64; the cache is emptied when full),
/// since deriving one costs a scalar multiplication.
pub struct Issuer {
    master: Zeroizing<[u8; 32]>,
    prk: kdf::Prk,
    /// Shared so that an evaluation never copies the secret scalar; an evicted key is wiped
    /// when its last user drops it.
    keys: Mutex<KeyCache>,
}

impl core::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer with this master secret (as [`Issuer::master`] returned it).
    pub fn new(master: [u8; 32]) -> Self {
        let master = Zeroizing::new(master);
        let prk = kdf::extract(b"", master.as_ref());
        Self {
            master,
            prk,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// An issuer with a fresh master secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut master = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(master.as_mut());
        Self::new(*master)
    }

    /// The master secret, to persist (encrypted) and restore with [`Issuer::new`].
    pub fn master(&self) -> &[u8; 32] {
        &self.master
    }

    /// The public key for `(kind, period)`, to publish where every client sees the same one.
    pub fn public_key(&self, kind: TokenKind, period: u32) -> Result<IssuerPublicKey, Error> {
        let server = self.server(kind, period)?;
        Ok(IssuerPublicKey(to_array32(&Ristretto255::serialize_elem(
            server.get_public_key(),
        ))))
    }

    /// Evaluates a request under its `(kind, period)` key, with one proof for the batch.
    /// Whether the requester may have these tokens is the caller's decision, made before.
    pub fn issue<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        request: &TokenRequest,
    ) -> Result<TokenResponse, Error> {
        const WHAT: &str = "token request";
        check_batch(request.blinded.len(), WHAT)?;
        let blinded = request
            .blinded
            .iter()
            .map(|element| BlindedElement::<Ristretto255>::deserialize(element))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| voprf_error(e, WHAT))?;
        let server = self.server(request.kind, request.period)?;
        let prepared: Vec<_> = server
            .batch_blind_evaluate_prepare(blinded.iter())
            .collect();
        let result = server
            .batch_blind_evaluate_finish(&mut Rng06(rng), blinded.iter(), &prepared)
            .map_err(|e| voprf_error(e, WHAT))?;
        let evaluated = result
            .messages
            .map(|element| to_array32(&element.serialize()))
            .collect();
        let mut proof = [0u8; 64];
        proof.copy_from_slice(&result.proof.serialize());
        Ok(TokenResponse { evaluated, proof })
    }

    /// Whether `token` is genuine: its output is the PRF of its input under the `(kind,
    /// period)` key, compared in constant time. Says nothing about whether it was spent: the
    /// caller checks and records [`Token::id`], and decides which periods it still accepts.
    pub fn verify(&self, token: &Token) -> bool {
        let Ok(server) = self.server(token.kind, token.period) else {
            return false;
        };
        let Ok(mut expected) = server.evaluate(&token.input) else {
            return false;
        };
        let genuine = expected.as_slice().ct_eq(&token.output).into();
        expected.as_mut_slice().zeroize();
        genuine
    }

    /// The key derivation's `info` and `seed` for `(kind, period)`, for vectors.
    #[cfg(feature = "vectors")]
    pub(crate) fn key_inputs(
        &self,
        kind: TokenKind,
        period: u32,
    ) -> (Vec<u8>, Zeroizing<[u8; 32]>) {
        let info = context(KEY_LABEL, kind, period);
        let seed = kdf::expand_array::<32>(&self.prk, &[&info]);
        (info, seed)
    }

    /// The token whose input is `input`, as the relay's key evaluates it, for vectors.
    #[cfg(feature = "vectors")]
    pub(crate) fn token_for(
        &self,
        kind: TokenKind,
        period: u32,
        input: [u8; INPUT_LEN],
    ) -> Result<Token, Error> {
        let server = self.server(kind, period)?;
        let evaluated = server
            .evaluate(&input)
            .map_err(|e| voprf_error(e, "token input"))?;
        let mut output = [0u8; OUTPUT_LEN];
        output.copy_from_slice(&evaluated);
        Ok(Token {
            kind,
            period,
            input,
            output,
        })
    }

    /// The VOPRF key for `(kind, period)`, derived on first use.
    fn server(
        &self,
        kind: TokenKind,
        period: u32,
    ) -> Result<Arc<VoprfServer<Ristretto255>>, Error> {
        if let Some(server) = self.keys().get(&(kind, period)) {
            return Ok(Arc::clone(server));
        }
        // Derived without holding the lock, so other keys stay usable meanwhile; two threads
        // deriving the same key at once get equal keys.
        let info = context(KEY_LABEL, kind, period);
        let seed = kdf::expand_array::<32>(&self.prk, &[&info]);
        let server = VoprfServer::<Ristretto255>::new_from_seed(seed.as_ref(), &info)
            .map_err(|e| voprf_error(e, "token key"))?;
        let server = Arc::new(server);
        let mut keys = self.keys();
        if keys.len() >= KEY_CACHE_LIMIT {
            keys.clear();
        }
        keys.insert((kind, period), Arc::clone(&server));
        Ok(server)
    }

    fn keys(&self) -> MutexGuard<'_, KeyCache> {
        // A panic elsewhere cannot leave the map half-updated (entries go in whole), so a
        // poisoned lock is still a good cache.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(
        issuer: &Issuer,
        kind: TokenKind,
        period: u32,
        count: usize,
    ) -> Result<Vec<Token>, Error> {
        let mut rng = rand::rng();
        let (pending, request) = request_tokens(&mut rng, kind, period, count)?;
        let response = issuer.issue(&mut rng, &request)?;
        pending.finish(&response, &issuer.public_key(kind, period)?)
    }

    #[test]
    fn pending_tokens_survive_being_saved_and_restored() -> Result<(), Error> {
        let mut rng = rand::rng();
        let issuer = Issuer::generate(&mut rng);
        let (pending, request) = request_tokens(&mut rng, TokenKind::Invite, 671, 3)?;
        let saved = pending.to_bytes();
        drop(pending);
        let response = issuer.issue(&mut rng, &request)?;
        let key = issuer.public_key(TokenKind::Invite, 671)?;
        let restored = PendingTokens::from_bytes(&saved)?;
        assert_eq!(restored.len(), 3);
        let tokens = restored.finish(&response, &key)?;
        assert!(tokens.iter().all(|t| issuer.verify(t)));
        // A changed blind unblinds to outputs the relay does not recognise (the proof covers
        // the blinded elements, not the blind); a truncated state does not decode.
        let mut bent = saved.to_vec();
        bent[40] ^= 1;
        if let Ok(p) = PendingTokens::from_bytes(&bent) {
            let tokens = p.finish(&response, &key).unwrap_or_default();
            assert!(!tokens.iter().all(|t| issuer.verify(t)));
        }
        assert!(PendingTokens::from_bytes(&saved[..saved.len() - 1]).is_err());
        Ok(())
    }

    #[test]
    fn round_trip() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let tokens = issue(&issuer, TokenKind::Credit, 671, 15)?;
        assert_eq!(tokens.len(), 15);
        for token in &tokens {
            assert_eq!((token.kind, token.period), (TokenKind::Credit, 671));
            assert!(issuer.verify(token));
        }
        // A restored issuer derives the same keys.
        let restored = Issuer::new(*issuer.master());
        assert!(restored.verify(&tokens[0]));
        assert_eq!(
            restored.public_key(TokenKind::Credit, 671)?,
            issuer.public_key(TokenKind::Credit, 671)?
        );
        Ok(())
    }

    #[test]
    fn other_period_kind_or_issuer_fails() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let tokens = issue(&issuer, TokenKind::Invite, 7, 1)?;
        let token = &tokens[0];
        assert!(issuer.verify(token));

        let mut moved = token.clone();
        moved.period = 8;
        assert!(!issuer.verify(&moved));
        for kind in [TokenKind::Credit, TokenKind::Premium, TokenKind::Sponsored] {
            let mut moved = token.clone();
            moved.kind = kind;
            assert!(!issuer.verify(&moved), "{kind:?}");
        }
        assert!(!Issuer::generate(&mut rand::rng()).verify(token));

        // Keys differ across every coordinate.
        let key = issuer.public_key(TokenKind::Invite, 7)?;
        assert_ne!(key, issuer.public_key(TokenKind::Invite, 8)?);
        assert_ne!(key, issuer.public_key(TokenKind::Credit, 7)?);
        Ok(())
    }

    #[test]
    fn flipped_output_or_input_fails() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let token = issue(&issuer, TokenKind::Premium, 1, 1)?.remove(0);
        for i in [0, 31, 63] {
            let mut bad = token.clone();
            bad.output[i] ^= 1;
            assert!(!issuer.verify(&bad));
            assert_ne!(bad, token);
        }
        let mut bad = token.clone();
        bad.input[0] ^= 1;
        assert!(!issuer.verify(&bad));
        Ok(())
    }

    #[test]
    fn response_under_another_key_is_refused() -> Result<(), Error> {
        let mut rng = rand::rng();
        let published = Issuer::generate(&mut rng);
        let tagging = Issuer::generate(&mut rng);
        let key = published.public_key(TokenKind::Sponsored, 3)?;

        let (pending, request) = request_tokens(&mut rng, TokenKind::Sponsored, 3, 5)?;
        let response = tagging.issue(&mut rng, &request)?;
        assert_eq!(
            pending.finish(&response, &key),
            Err(CryptoError::BadProof.into())
        );

        // The same issuer, another period's key: refused too.
        let (pending, request) = request_tokens(&mut rng, TokenKind::Sponsored, 4, 5)?;
        let response = published.issue(&mut rng, &request)?;
        assert_eq!(
            pending.finish(&response, &key),
            Err(CryptoError::BadProof.into())
        );

        // One element swapped for an honest evaluation of something else breaks the proof.
        let (pending, request) = request_tokens(&mut rng, TokenKind::Sponsored, 3, 2)?;
        let mut response = published.issue(&mut rng, &request)?;
        response.evaluated[1] = response.evaluated[0];
        assert_eq!(
            pending.finish(&response, &key),
            Err(CryptoError::BadProof.into())
        );
        Ok(())
    }

    #[test]
    fn malformed_responses_are_refused() -> Result<(), Error> {
        let mut rng = rand::rng();
        let issuer = Issuer::generate(&mut rng);
        let key = issuer.public_key(TokenKind::Invite, 0)?;
        let invalid = Err(Error::from(DecodeError::Invalid {
            what: "token response",
        }));

        let (pending, request) = request_tokens(&mut rng, TokenKind::Invite, 0, 3)?;
        let mut response = issuer.issue(&mut rng, &request)?;
        response.evaluated.pop();
        assert_eq!(pending.finish(&response, &key), invalid);

        let (pending, request) = request_tokens(&mut rng, TokenKind::Invite, 0, 3)?;
        let mut response = issuer.issue(&mut rng, &request)?;
        response.evaluated[2] = [0xff; 32];
        assert_eq!(pending.finish(&response, &key), invalid);

        let (pending, request) = request_tokens(&mut rng, TokenKind::Invite, 0, 3)?;
        let mut response = issuer.issue(&mut rng, &request)?;
        response.proof = [0xff; 64];
        assert_eq!(pending.finish(&response, &key), invalid);

        let (pending, request) = request_tokens(&mut rng, TokenKind::Invite, 0, 3)?;
        let response = issuer.issue(&mut rng, &request)?;
        assert_eq!(
            pending.finish(&response, &IssuerPublicKey([0; 32])),
            Err(DecodeError::Invalid {
                what: "issuer public key"
            }
            .into())
        );
        Ok(())
    }

    #[test]
    fn batch_bounds() -> Result<(), Error> {
        let mut rng = rand::rng();
        for count in [0, MAX_BATCH + 1] {
            assert_eq!(
                request_tokens(&mut rng, TokenKind::Invite, 0, count).map(|_| ()),
                Err(UsageError::BatchSize { max: MAX_BATCH }.into())
            );
        }
        let (_, mut request) = request_tokens(&mut rng, TokenKind::Invite, 0, MAX_BATCH)?;
        let issuer = Issuer::generate(&mut rng);
        assert_eq!(issuer.issue(&mut rng, &request)?.evaluated.len(), MAX_BATCH);

        let invalid = DecodeError::Invalid {
            what: "token request",
        };
        request.blinded.push(request.blinded[0]);
        assert_eq!(issuer.issue(&mut rng, &request), Err(invalid.into()));
        assert_eq!(TokenRequest::from_bytes(&request.to_bytes()), Err(invalid));
        request.blinded.clear();
        assert_eq!(issuer.issue(&mut rng, &request), Err(invalid.into()));
        assert_eq!(TokenRequest::from_bytes(&request.to_bytes()), Err(invalid));

        let empty = TokenResponse {
            evaluated: Vec::new(),
            proof: [1; 64],
        };
        assert_eq!(
            TokenResponse::from_bytes(&empty.to_bytes()),
            Err(DecodeError::Invalid {
                what: "token response"
            })
        );

        // Not a ristretto255 encoding.
        let (_, mut request) = request_tokens(&mut rng, TokenKind::Invite, 0, 2)?;
        request.blinded[1] = [0xff; 32];
        assert_eq!(issuer.issue(&mut rng, &request), Err(invalid.into()));
        Ok(())
    }

    #[test]
    fn wire_round_trip_and_strictness() -> Result<(), Error> {
        let mut rng = rand::rng();
        let issuer = Issuer::generate(&mut rng);
        let (_, request) = request_tokens(&mut rng, TokenKind::Premium, 12, 3)?;
        let response = issuer.issue(&mut rng, &request)?;
        let key = issuer.public_key(TokenKind::Premium, 12)?;

        let bytes = request.to_bytes();
        assert_eq!(TokenRequest::from_bytes(&bytes)?, request);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            TokenRequest::from_bytes(&long),
            Err(DecodeError::TrailingBytes {
                what: "token request"
            })
        );
        assert!(TokenRequest::from_bytes(&bytes[..bytes.len() - 1]).is_err());

        let bytes = response.to_bytes();
        assert_eq!(TokenResponse::from_bytes(&bytes)?, response);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            TokenResponse::from_bytes(&long),
            Err(DecodeError::TrailingBytes {
                what: "token response"
            })
        );

        let bytes = key.to_bytes();
        assert_eq!(bytes.len(), 33);
        assert_eq!(IssuerPublicKey::from_bytes(&bytes)?, key);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            IssuerPublicKey::from_bytes(&long),
            Err(DecodeError::TrailingBytes {
                what: "issuer public key"
            })
        );
        let mut identity = vec![1];
        identity.extend([0u8; 32]);
        assert_eq!(
            IssuerPublicKey::from_bytes(&identity),
            Err(DecodeError::Invalid {
                what: "issuer public key"
            })
        );

        // Unknown version, and bytes that are not even a prefix of anything.
        let mut other = request.to_bytes();
        other[0] = 2;
        assert!(TokenRequest::from_bytes(&other).is_err());
        for len in 0..40 {
            let junk = vec![0xffu8; len];
            assert!(TokenRequest::from_bytes(&junk).is_err());
            assert!(TokenResponse::from_bytes(&junk).is_err());
            assert!(IssuerPublicKey::from_bytes(&junk).is_err());
        }
        Ok(())
    }

    #[test]
    fn token_serde_round_trip() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let token = issue(&issuer, TokenKind::Credit, 9, 1)?.remove(0);
        let bytes = postcard::to_allocvec(&token)
            .map_err(|_| DecodeError::Invalid { what: "test token" })?;
        let back: Token = postcard::from_bytes(&bytes)
            .map_err(|_| DecodeError::Invalid { what: "test token" })?;
        assert_eq!(back, token);
        assert_eq!(back.id(), token.id());
        assert!(issuer.verify(&back));
        Ok(())
    }

    #[test]
    fn ids_differ_within_a_batch_and_bind_kind_and_period() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let tokens = issue(&issuer, TokenKind::Invite, 5, 2)?;
        assert_ne!(tokens[0].id(), tokens[1].id());
        assert_ne!(tokens[0], tokens[1]);

        let mut moved = tokens[0].clone();
        moved.period = 6;
        assert_ne!(moved.id(), tokens[0].id());
        moved.period = 5;
        moved.kind = TokenKind::Credit;
        assert_ne!(moved.id(), tokens[0].id());
        Ok(())
    }

    #[test]
    fn id_is_the_documented_hash() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let token = issue(&issuer, TokenKind::Sponsored, 0x0102_0304, 1)?.remove(0);
        let mut preimage = b"missive/v1/token-id".to_vec();
        preimage.extend([3, 1, 2, 3, 4]);
        preimage.extend(token.input);
        let expected: [u8; 32] = Sha256::digest(&preimage).into();
        assert_eq!(token.id(), expected);
        Ok(())
    }

    #[test]
    fn debug_shows_no_secrets() -> Result<(), Error> {
        let mut rng = rand::rng();
        let issuer = Issuer::generate(&mut rng);
        let token = issue(&issuer, TokenKind::Credit, 42, 1)?.remove(0);
        let shown = format!("{token:?} {token:#?}");
        assert!(shown.contains("Credit") && shown.contains("42"), "{shown}");
        for secret in [&token.input[..], &token.output[..]] {
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let decimal = format!("{:?}", &secret[..4]);
            let bytes = format!("{}, {}", secret[0], secret[1]);
            assert!(!shown.contains(&hex[..8]), "{shown}");
            assert!(!shown.contains(&decimal[1..decimal.len() - 1]), "{shown}");
            assert!(!shown.contains(&bytes), "{shown}");
        }

        let (pending, _) = request_tokens(&mut rng, TokenKind::Credit, 42, 2)?;
        let shown = format!("{pending:?}");
        let input: String = pending.inputs[0]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            !shown.contains(&input[..8]) && !shown.contains("blind"),
            "{shown}"
        );

        let shown = format!("{issuer:?}");
        let master: String = issuer.master().iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !shown.contains(&master[..8]) && !shown.contains("master"),
            "{shown}"
        );
        Ok(())
    }

    #[test]
    fn key_cache_stays_bounded() -> Result<(), Error> {
        let issuer = Issuer::generate(&mut rand::rng());
        let first = issuer.public_key(TokenKind::Invite, 0)?;
        for period in 0..(KEY_CACHE_LIMIT as u32 + 10) {
            issuer.public_key(TokenKind::Credit, period)?;
        }
        assert!(issuer.keys().len() <= KEY_CACHE_LIMIT);
        // An evicted key is derived again, identically.
        assert_eq!(issuer.public_key(TokenKind::Invite, 0)?, first);
        Ok(())
    }

    #[test]
    fn kind_byte_is_its_wire_encoding() {
        for (byte, kind) in TokenKind::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(kind.byte()), byte);
            assert_eq!(postcard::to_allocvec(&kind).ok(), Some(vec![kind.byte()]));
            assert!(!kind.label().is_empty());
        }
    }
}
