//! Delivery tokens and access updates (PROTOCOL.md §11.3, §11.5): `access/tokens.json`.
//!
//! Inputs: the relay's master secret, `(kind, period)` pairs, token inputs, recipient lists
//! and account names, the issuance bodies' fields, the platform's seed (for the account
//! certificate an update or an issue request carries) and access updates. Outputs: each key's
//! `info`, `seed` and public key (RFC 9497 `DeriveKeyPair`), each token's output
//! (`Evaluate`) and id, each spend hash, each body's wire bytes, and each update's bytes or
//! the typed error that refuses it.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::access::{AccessKey, AccessUpdate, MailboxSettings};
use crate::crypto::sign::SigningKey;
use crate::envelope::MailboxId;
use crate::platform::{AccountCertificate, Tier};
use crate::relay_api::{TokenIssue, TokenIssued};
use crate::token::{
    Issuer, IssuerPublicKey, TokenKind, TokenRequest, TokenResponse, spend_account,
    spend_recipients,
};

const DESCRIPTION: &str = "Delivery tokens (PROTOCOL.md §11.3): the per-(kind, period) VOPRF \
    key from the relay's master secret, tokens' outputs and ids, spend hashes, the issuance \
    bodies; access updates with an account certificate (§11.5), and updates refused.";

/// Our inputs.
pub(super) fn inputs() -> Value {
    let update = |description: &str, add: &[u8], remove: &[u8], settings: Value| {
        json!({"description": description, "contact": hex([0x09; 16]),
               "add": add.iter().map(|b| hex([*b; 16])).collect::<Vec<_>>(),
               "remove": remove.iter().map(|b| hex([*b; 16])).collect::<Vec<_>>(),
               "settings": settings})
    };
    let certified = json!({"open_profile": true, "sponsored": false,
        "account": {"mailbox": hex([0xb0; 16]), "tier": "career", "advertiser": false,
                    "expires": 1_802_592_000u64}});
    let updates = vec![
        update(
            "a contact key, keys added and removed, and switches with a certificate",
            &[0x07, 0x0a],
            &[0x08],
            certified,
        ),
        update(
            "switches without a certificate",
            &[],
            &[],
            json!({"open_profile": false,
               "sponsored": true, "account": null}),
        ),
        update(
            "refused: keys added out of order",
            &[0x0a, 0x07],
            &[],
            Value::Null,
        ),
        update(
            "refused: a key added twice",
            &[0x07, 0x07],
            &[],
            Value::Null,
        ),
        update(
            "refused: keys removed out of order",
            &[],
            &[0x08, 0x01],
            Value::Null,
        ),
    ];
    skeleton(
        "tokens",
        DESCRIPTION,
        json!({
            "master": hex([0x3a; 32]),
            "keys": [{"kind": "invite", "period": 671}, {"kind": "credit", "period": 671},
                     {"kind": "premium", "period": 672}, {"kind": "sponsored", "period": 672}],
            "tokens": [{"kind": "credit", "period": 671, "input": hex([0x11; 32])},
                       {"kind": "sponsored", "period": 672, "input": hex([0x22; 32])}],
            "spend_recipients": [[hex([0xb1; 16])], [hex([0xb1; 16]), hex([0xb2; 16])]],
            "spend_accounts": ["alice", "zoë"],
            "token_request": {"kind": "credit", "period": 671,
                              "blinded": [hex([0x44; 32]), hex([0x45; 32])]},
            "token_issued": {"key": hex([0x46; 32]), "evaluated": [hex([0x47; 32]), hex([0x48; 32])],
                             "proof": hex([0x49; 64])},
            "platform_seed": hex([0x50; 32]),
            "token_issue": {"account": {"mailbox": hex([0xb0; 16]), "tier": "business",
                                        "advertiser": true, "expires": 1_805_184_000u64}},
            "access_updates": updates,
        }),
    )
}

fn kind(p: &Place<'_>) -> Result<TokenKind, Failure> {
    match p.str("kind")? {
        "invite" => Ok(TokenKind::Invite),
        "credit" => Ok(TokenKind::Credit),
        "premium" => Ok(TokenKind::Premium),
        "sponsored" => Ok(TokenKind::Sponsored),
        _ => Err(Failure::input(
            p.path(),
            "invite, credit, premium or sponsored",
        )),
    }
}

fn array<const N: usize>(p: &Place<'_>) -> Result<[u8; N], Failure> {
    p.bytes()?
        .try_into()
        .map_err(|_| Failure::input(p.path(), "hex of the right length"))
}

fn certificate(platform: &SigningKey, a: &Place<'_>) -> Result<AccountCertificate, Failure> {
    let tier = match a.str("tier")? {
        "free" => Tier::Free,
        "career" => Tier::PremiumCareer,
        "business" => Tier::PremiumBusiness,
        _ => return Err(Failure::input(a.path(), "free, career or business")),
    };
    let (mailbox, advertiser, expires) = (
        MailboxId(a.array("mailbox")?),
        a.bool("advertiser")?,
        a.u64("expires")?,
    );
    let signed = AccountCertificate::signed_bytes(&mailbox, tier, advertiser, expires);
    Ok(AccountCertificate {
        mailbox,
        tier,
        advertiser,
        expires,
        signature: platform.sign(&signed),
    })
}

fn keys(p: &Place<'_>, key: &str) -> Result<Vec<AccessKey>, Failure> {
    p.list(key)?
        .iter()
        .map(|k| array(k).map(AccessKey::from_bytes))
        .collect()
}

/// An access update's wire bytes, its lists in the order given (so a refusal can hold them out
/// of order).
fn update_wire(platform: &SigningKey, u: &Place<'_>) -> Result<Vec<u8>, Failure> {
    let update = AccessUpdate {
        contact: u
            .optional("contact")
            .map(|c| array(&c).map(AccessKey::from_bytes))
            .transpose()?,
        add: keys(u, "add")?,
        remove: keys(u, "remove")?,
        settings: u
            .optional("settings")
            .map(|s| {
                Ok::<_, Failure>(MailboxSettings {
                    open_profile: s.bool("open_profile")?,
                    sponsored: s.bool("sponsored")?,
                    account: s
                        .optional("account")
                        .map(|a| certificate(platform, &a))
                        .transpose()?,
                })
            })
            .transpose()?,
    };
    Ok(update.to_bytes())
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let inputs = root.field("inputs")?;
    let issuer = Issuer::new(inputs.array("master")?);
    let failed =
        |at: &str, e: crate::Error| Failure::mismatch(at, "a result".into(), error_name(&e));
    let mut keys_out = Vec::new();
    for k in inputs.list("keys")? {
        let (kind, period) = (kind(&k)?, k.int("period")?);
        let (info, seed) = issuer.key_inputs(kind, period);
        let public = issuer
            .public_key(kind, period)
            .map_err(|e| failed(k.path(), e))?;
        keys_out.push(json!({"info": hex(&info), "seed": hex(*seed), "public_key": hex(public.0)}));
    }
    let mut tokens = Vec::new();
    for t in inputs.list("tokens")? {
        let (kind, period, input) = (kind(&t)?, t.int("period")?, t.array("input")?);
        let token = issuer
            .token_for(kind, period, input)
            .map_err(|e| failed(t.path(), e))?;
        let encoded =
            postcard::to_allocvec(&token).map_err(|_| Failure::input(t.path(), "a token"))?;
        let output = &encoded[encoded.len() - crate::token::OUTPUT_LEN..];
        tokens.push(json!({"output": hex(output), "id": hex(token.id()), "verifies": issuer.verify(&token)}));
    }
    let mut recipients = Vec::new();
    for list in inputs.list("spend_recipients")? {
        let mailboxes = list
            .items()?
            .iter()
            .map(|m| array(m).map(MailboxId))
            .collect::<Result<Vec<_>, _>>()?;
        recipients.push(hex(spend_recipients(&mailboxes)));
    }
    let mut accounts = Vec::new();
    for user in inputs.list("spend_accounts")? {
        let name = user
            .value()
            .as_str()
            .ok_or_else(|| Failure::input(user.path(), "a string"))?;
        accounts.push(hex(spend_account(name.as_bytes())));
    }
    let r = inputs.field("token_request")?;
    let request = TokenRequest {
        kind: kind(&r)?,
        period: r.int("period")?,
        blinded: r
            .list("blinded")?
            .iter()
            .map(array)
            .collect::<Result<_, _>>()?,
    };
    let i = inputs.field("token_issued")?;
    let issued = TokenIssued {
        key: IssuerPublicKey(i.array("key")?),
        response: TokenResponse {
            evaluated: i
                .list("evaluated")?
                .iter()
                .map(array)
                .collect::<Result<_, _>>()?,
            proof: i.array("proof")?,
        },
    };
    let platform = SigningKey::from_seed(&inputs.array("platform_seed")?);
    let account = certificate(&platform, &inputs.field("token_issue")?.field("account")?)?;
    let issue = TokenIssue {
        account,
        request: request.clone(),
        purchase: None,
    };
    let mut updates = Vec::new();
    for u in inputs.list("access_updates")? {
        let wire = update_wire(&platform, &u)?;
        let result = match AccessUpdate::from_bytes(&wire) {
            Ok(decoded) if decoded.to_bytes() == wire => "ok".to_owned(),
            Ok(_) => "re-encoded differently".to_owned(),
            Err(e) => error_name(&e.into()),
        };
        updates.push(json!({"wire": hex(&wire), "result": result}));
    }
    Ok(with_outputs(
        file,
        json!({
            "platform_key": hex(platform.verifying_key().as_bytes()),
            "keys": keys_out, "tokens": tokens,
            "spend_recipients": recipients, "spend_accounts": accounts,
            "token_request": hex(request.to_bytes()), "token_issued": hex(issued.to_bytes()),
            "token_issue": hex(issue.to_bytes()), "access_updates": updates,
        }),
    ))
}
