#![no_main]
//! The relay's request and response decoders (PROTOCOL.md §8, §11): never panic, and whatever
//! decodes re-encodes to exactly the input. A decoded proof is also checked against a request,
//! which must fail or succeed without panicking.

use libfuzzer_sys::fuzz_target;
use missive::access::{AccessUpdate, Submission};
use missive::mailbox::AuthProof;
use missive::relay_api::{
    Ack, DeliveredEnvelope, DeliveryPage, PassedDelivery, PrekeyResponse, PublishPrekeys,
    TokenIssue, TokenIssued, Undelivered,
};
use missive::token::{IssuerPublicKey, TokenRequest, TokenResponse};

macro_rules! round_trip {
    ($data:expr, $($ty:ty),*) => {$(
        if let Ok(value) = <$ty>::from_bytes($data) {
            assert_eq!(value.to_bytes(), $data, stringify!($ty));
        }
    )*};
}

fuzz_target!(|data: &[u8]| {
    round_trip!(
        data,
        PublishPrekeys,
        Ack,
        AuthProof,
        DeliveredEnvelope,
        DeliveryPage,
        PrekeyResponse,
        Submission,
        AccessUpdate,
        TokenIssue,
        TokenIssued,
        Undelivered,
        PassedDelivery,
        TokenRequest,
        TokenResponse,
        IssuerPublicKey
    );
    if let Ok(proof) = AuthProof::from_bytes(data) {
        let _ = proof.verify("GET", "/v1/mailbox", b"", 1_800_000_000);
    }
});
