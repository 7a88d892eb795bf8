//! OpenMLS set-up: the X25519 / ChaCha20-Poly1305 / Ed25519 ciphersuite over the rust-crypto
//! provider, a group of `n` built by one commit, and member 1 joined from its welcome.

use openmls::prelude::tls_codec::Deserialize;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// One client: its provider (crypto and key store), signer and group.
pub struct Client {
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
    pub group: Option<MlsGroup>,
}

impl Client {
    pub fn new(name: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        };
        Client {
            provider,
            signer,
            credential,
            group: None,
        }
    }

    pub fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(CS, &self.provider, &self.signer, self.credential.clone())
            .unwrap()
            .key_package()
            .clone()
    }

    pub fn group(&mut self) -> &mut MlsGroup {
        self.group.as_mut().unwrap()
    }

    /// Joins from a welcome (the ratchet tree travels in it).
    pub fn join(&mut self, welcome: MlsMessageOut) {
        let bytes = welcome.to_bytes().unwrap();
        let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::tls_deserialize_exact(bytes)
            .unwrap()
            .extract()
        else {
            unreachable!("add_members returns a welcome")
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .build();
        let staged =
            StagedWelcome::new_from_welcome(&self.provider, &config, welcome, None).unwrap();
        self.group = Some(staged.into_group(&self.provider).unwrap());
    }

    /// Processes a handshake or application message given as bytes; merges a commit.
    pub fn process(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let processed = group
            .process_message(provider, msg.try_into_protocol_message().unwrap())
            .unwrap();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Some(m.into_bytes()),
            ProcessedMessageContent::StagedCommitMessage(c) => {
                group.merge_staged_commit(provider, *c).unwrap();
                None
            }
            _ => unreachable!("only application messages and commits are sent here"),
        }
    }

    /// Commits adding `kp`; returns the commit's bytes (the welcome goes to the new member).
    pub fn add(&mut self, kp: KeyPackage) -> Vec<u8> {
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let (commit, _welcome, _) = group.add_members(provider, &self.signer, &[kp]).unwrap();
        group.merge_pending_commit(provider).unwrap();
        commit.to_bytes().unwrap()
    }

    /// Commits removing the member at `leaf`.
    pub fn remove(&mut self, leaf: LeafNodeIndex) -> Vec<u8> {
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let (commit, _, _) = group
            .remove_members(provider, &self.signer, &[leaf])
            .unwrap();
        group.merge_pending_commit(provider).unwrap();
        commit.to_bytes().unwrap()
    }

    /// Bytes in this client's key store (its whole persisted state).
    pub fn state_bytes(&self) -> usize {
        let values = self.provider.storage().values.read().unwrap();
        values.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// A group of `n` created by client 0 with one commit adding the others; client 1 joined.
pub fn group(n: usize) -> (Client, Client) {
    let mut creator = Client::new("member 0");
    let mut member = Client::new("member 1");
    let group = MlsGroup::builder()
        .ciphersuite(CS)
        .use_ratchet_tree_extension(true)
        .build(
            &creator.provider,
            &creator.signer,
            creator.credential.clone(),
        )
        .unwrap();
    creator.group = Some(group);
    let mut kps = vec![member.key_package()];
    for i in 2..n {
        kps.push(Client::new(&format!("member {i}")).key_package());
    }
    let provider = &creator.provider;
    let g = creator.group.as_mut().unwrap();
    let (_, welcome, _) = g.add_members(provider, &creator.signer, &kps).unwrap();
    g.merge_pending_commit(provider).unwrap();
    member.join(welcome);
    (creator, member)
}
