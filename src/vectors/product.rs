//! The product's messages and what the platform signs (PROTOCOL.md §10): `product/product.json`.
//!
//! Inputs: the platform's Ed25519 seed; account certificates, an advertiser certificate and a
//! credit purchase by their fields; posts (access and content, every kind of each); a lead
//! answer with the form's X-Wing seed and the encapsulation randomness. Outputs: each signed
//! statement, signature and wire form; each post's bytes; the lead answer's bytes, padding,
//! HPKE values and body, opened again by the form's key; then bytes a decoder refuses.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::{Failure, error_name, skeleton, with_outputs};
use crate::client::lead::{INFO as LEAD_INFO, LeadAnswer, open_answer};
use crate::client::post::{Access, Post};
use crate::client::{
    Attachment, CallToAction, Content, ImageRef, LeadField, LeadForm, MessageRef, Sponsored, Text,
};
use crate::conversation::ConversationId;
use crate::crypto::sign::SigningKey;
use crate::crypto::xwing;
use crate::envelope::{MailboxId, padding};
use crate::error::Error;
use crate::hpke::{self, SenderMode};
use crate::identity::Identity;
use crate::platform::{
    AccountCertificate, AdvertiserCertificate, CreditPurchase, InMailKind, Tier,
};
use crate::wire::{self, Wire};

const DESCRIPTION: &str = "The product's messages (PROTOCOL.md §10): what the platform signs \
    (account and advertiser certificates, a credit purchase), posts with every access and \
    content (mentions, attachments, a sponsored message with buttons, banner and lead form, a \
    read receipt), a lead answer sealed over X-Wing to its form's key; then bytes refused.";

fn seed(tag: &str) -> Value {
    use sha2::{Digest, Sha256};
    hex(Sha256::digest(format!("missive vectors {tag}")))
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    let text = json!({"kind": "text", "text": "Hi Ben, the offer is attached.",
        "mentions": [hex([0xb0; 16]), hex([0xc0; 16])],
        "attachments": [{"reference": "https://files.example/7f3a", "sha256": hex([0x5a; 32]),
                         "size": 48_213, "media_type": "application/pdf",
                         "key": hex([0x6b; 32])}]});
    let sponsored = json!({"kind": "sponsored", "headline": "Join Acme", "body": "We are hiring.",
        "buttons": [{"label": "Apply", "target": "https://acme.example/jobs"},
                    {"label": "Learn more", "target": "https://acme.example"}],
        "banner": {"reference": "https://cdn.example/banner.png", "sha256": hex([0x7c; 32])},
        "lead_form": {"id": hex([0x1f; 16]), "key_seed": seed("lead form key"),
                      "fields": [{"name": "email", "label": "Email", "required": true},
                                 {"name": "phone", "label": "Phone", "required": false}]}});
    let bare = json!({"kind": "sponsored", "headline": "Acme", "body": "", "buttons": [],
                      "banner": null, "lead_form": null});
    let post = |description: &str, access: Value, content: &Value| json!({"description": description, "access": access, "content": content});
    let plain = json!({"kind": "text", "text": "hello", "mentions": [], "attachments": []});
    let posts = vec![
        post(
            "a direct message between connections",
            json!({"kind": "connection"}),
            &text,
        ),
        post(
            "in a conversation opened before",
            json!({"kind": "opened"}),
            &plain,
        ),
        post(
            "to an Open Profile",
            json!({"kind": "open_profile"}),
            &plain,
        ),
        post(
            "an InMail paid with a credit",
            json!({"kind": "inmail", "inmail": "credit"}),
            &plain,
        ),
        post(
            "an InMail between premium members",
            json!({"kind": "inmail", "inmail": "premium_to_premium"}),
            &plain,
        ),
        post(
            "between members of a group",
            json!({"kind": "group_member", "group": hex([0x9a; 16])}),
            &plain,
        ),
        post(
            "a group post by an admin, mentioning two",
            json!({"kind": "group"}),
            &text,
        ),
        post(
            "a multi-recipient message",
            json!({"kind": "multi"}),
            &plain,
        ),
        post(
            "a sponsored message with buttons, banner and lead form",
            json!({"kind": "sponsored"}),
            &sponsored,
        ),
        post(
            "a sponsored message with none of them",
            json!({"kind": "sponsored"}),
            &bare,
        ),
        post(
            "an answer to all in a multi-recipient conversation",
            json!({"kind": "participant"}),
            &plain,
        ),
        post(
            "a read receipt",
            json!({"kind": "opened"}),
            &json!({"kind": "read", "sender": hex([0xa0; 16]), "epoch": 3, "index": 300}),
        ),
        post(
            "the sender's device list",
            json!({"kind": "multi"}),
            &json!({"kind": "devices", "bytes": hex(b"a signed device list")}),
        ),
    ];
    let refusal = |description: &str, kind: &str, wire: Vec<u8>| json!({"description": description, "kind": kind, "wire": hex(wire)});
    let refusals = vec![
        refusal("an access of variant 9", "post", vec![1, 9, 0, 0, 0, 0]),
        refusal("a content of variant 4", "post", vec![1, 0, 4]),
        refusal("an InMail kind of 2", "post", vec![1, 3, 2, 0, 0, 0, 0]),
        refusal(
            "text that is not UTF-8",
            "post",
            vec![1, 0, 0, 2, 0xc3, 0x28, 0, 0],
        ),
        refusal("a byte after the post", "post", vec![1, 0, 0, 0, 0, 0, 0]),
        refusal(
            "a certificate of version 2",
            "advertiser_certificate",
            vec![2],
        ),
    ];
    let lead = json!({
        "form_id": hex([0x1f; 16]), "form_seed": seed("lead form key"), "user": "ana",
        "mailbox": hex([0xa0; 16]),
        "answers": [["email", "ana@example.com"], ["phone", "+44 20 7946 0000"]],
        "eseed": format!("{}{}", seed("lead eseed m").as_str().unwrap_or(""),
                         seed("lead eseed x25519").as_str().unwrap_or("")),
    });
    skeleton(
        "product",
        DESCRIPTION,
        json!({
            "platform_seed": seed("platform"),
            "accounts": [
                {"mailbox": hex([0xa0; 16]), "tier": "free", "advertiser": false, "expires": 1_800_000_000u64},
                {"mailbox": hex([0xb0; 16]), "tier": "career", "advertiser": false, "expires": 1_802_592_000u64},
                {"mailbox": hex([0xd0; 16]), "tier": "business", "advertiser": true, "expires": 1_805_184_000u64},
            ],
            "advertiser": {"name": "Acme Recruiting", "mailbox": hex([0xd0; 16]),
                           "identity_secret": format!("01{}{}",
                               seed("advertiser x25519").as_str().unwrap_or(""),
                               seed("advertiser ed25519").as_str().unwrap_or(""))},
            "purchase": {"id": hex([0x3c; 16]), "mailbox": hex([0xa0; 16]), "credits": 3,
                         "expires": 1_800_086_400u64},
            "posts": posts,
            "lead_answer": lead,
            "refusals": refusals,
        }),
    )
}

fn tier(p: &Place<'_>) -> Result<Tier, Failure> {
    match p.str("tier")? {
        "free" => Ok(Tier::Free),
        "career" => Ok(Tier::PremiumCareer),
        "business" => Ok(Tier::PremiumBusiness),
        _ => Err(Failure::input(p.path(), "free, career or business")),
    }
}

fn strings(p: &Place<'_>, key: &str) -> Result<String, Failure> {
    Ok(p.str(key)?.to_owned())
}

fn advertiser(platform: &SigningKey, a: &Place<'_>) -> Result<AdvertiserCertificate, Failure> {
    let secret = a.hex("identity_secret")?;
    let identity = Identity::from_secret_bytes(&secret)
        .map_err(|_| Failure::input(a.path(), "an identity secret (PROTOCOL.md 4.2)"))?;
    let (name, mailbox) = (a.str("name")?, MailboxId(a.array("mailbox")?));
    let signed = AdvertiserCertificate::signed_bytes(name, &mailbox, identity.public());
    Ok(AdvertiserCertificate {
        name: name.to_owned(),
        mailbox,
        identity: *identity.public(),
        signature: platform.sign(&signed),
    })
}

fn access(a: &Place<'_>, certificate: &AdvertiserCertificate) -> Result<Access, Failure> {
    Ok(match a.str("kind")? {
        "connection" => Access::Connection,
        "opened" => Access::Opened,
        "open_profile" => Access::OpenProfile,
        "inmail" => Access::InMail(match a.str("inmail")? {
            "credit" => InMailKind::Credit,
            "premium_to_premium" => InMailKind::PremiumToPremium,
            _ => return Err(Failure::input(a.path(), "credit or premium_to_premium")),
        }),
        "group_member" => Access::GroupMember(ConversationId(a.array("group")?)),
        "group" => Access::Group,
        "multi" => Access::Multi,
        "sponsored" => Access::Sponsored(Box::new(certificate.clone())),
        "participant" => Access::Participant,
        _ => {
            return Err(Failure::input(
                a.path(),
                "an access kind of PROTOCOL.md 10.1",
            ));
        }
    })
}

fn content(c: &Place<'_>) -> Result<Content, Failure> {
    Ok(match c.str("kind")? {
        "text" => Content::Text(Text {
            text: strings(c, "text")?,
            mentions: c
                .list("mentions")?
                .iter()
                .map(|m| {
                    m.bytes()?
                        .try_into()
                        .map(MailboxId)
                        .map_err(|_| Failure::input(m.path(), "16 bytes"))
                })
                .collect::<Result<_, _>>()?,
            attachments: c
                .list("attachments")?
                .iter()
                .map(|a| {
                    Ok(Attachment {
                        reference: strings(a, "reference")?,
                        sha256: a.array("sha256")?,
                        size: a.u64("size")?,
                        media_type: strings(a, "media_type")?,
                        key: a.array("key")?,
                    })
                })
                .collect::<Result<_, Failure>>()?,
        }),
        "sponsored" => Content::Sponsored(Sponsored {
            headline: strings(c, "headline")?,
            body: strings(c, "body")?,
            buttons: c
                .list("buttons")?
                .iter()
                .map(|b| {
                    Ok(CallToAction {
                        label: strings(b, "label")?,
                        target: strings(b, "target")?,
                    })
                })
                .collect::<Result<_, Failure>>()?,
            banner: c
                .optional("banner")
                .map(|b| {
                    Ok::<_, Failure>(ImageRef {
                        reference: strings(&b, "reference")?,
                        sha256: b.array("sha256")?,
                    })
                })
                .transpose()?,
            lead_form: c
                .optional("lead_form")
                .map(|f| {
                    Ok::<_, Failure>(LeadForm {
                        id: f.array("id")?,
                        key: xwing::SecretKey::from_seed(&f.array("key_seed")?)
                            .public_key()
                            .clone(),
                        fields: f
                            .list("fields")?
                            .iter()
                            .map(|x| {
                                Ok(LeadField {
                                    name: strings(x, "name")?,
                                    label: strings(x, "label")?,
                                    required: x.bool("required")?,
                                })
                            })
                            .collect::<Result<_, Failure>>()?,
                    })
                })
                .transpose()?,
        }),
        "read" => Content::Read(MessageRef {
            sender: MailboxId(c.array("sender")?),
            epoch: c.u64("epoch")?,
            index: c.int("index")?,
        }),
        "devices" => Content::Devices(c.hex("bytes")?),
        _ => return Err(Failure::input(c.path(), "text, sponsored, read or devices")),
    })
}

fn lead_answer(l: &Place<'_>) -> Result<Value, Failure> {
    let form: [u8; 16] = l.array("form_id")?;
    let key = xwing::SecretKey::from_seed(&l.array("form_seed")?);
    let answer = LeadAnswer {
        form,
        user: l.str("user")?.as_bytes().to_vec(),
        mailbox: MailboxId(l.array("mailbox")?),
        answers: l
            .list("answers")?
            .iter()
            .map(|pair| match pair.value().as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(Failure::input(
                    pair.path(),
                    "a [name, answer] pair of strings",
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    let wire = answer.to_wire();
    let mut padded = Vec::new();
    padding::pad_into(&wire, &mut padded)
        .map_err(|_| Failure::input(l.path(), "a shorter answer"))?;
    let failed = |e: Error| Failure::mismatch(l.path(), "a sealed answer".into(), error_name(&e));
    let (enc, mut ctx, values) = hpke::xwing::sender_intermediates(
        &l.array("eseed")?,
        SenderMode::Base,
        key.public_key(),
        LEAD_INFO,
    )
    .map_err(failed)?;
    let mut body = enc.as_bytes().to_vec();
    body.extend_from_slice(&ctx.seal(&form, &padded).map_err(failed)?);
    // The advertiser opens it with the form's key.
    let opened =
        hpke::xwing::open_base(&enc, &key, LEAD_INFO, &form, &body[xwing::CIPHERTEXT_LEN..])
            .and_then(|p| open_answer(&form, &p));
    let opened = match opened {
        Ok(a) if a == answer => "ok".to_owned(),
        Ok(_) => "another answer".to_owned(),
        Err(e) => error_name(&e),
    };
    Ok(json!({
        "form_public_key": hex(key.public_key().as_bytes()),
        "answer": hex(&wire), "padded": hex(&padded), "enc": hex(enc.as_bytes()),
        "shared_secret": hex(&values.shared_secret), "key": hex(&values.key),
        "base_nonce": hex(&values.base_nonce), "body": hex(&body), "opened": opened,
    }))
}

/// The file recomputed from its inputs.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let root = Place::root(file);
    let inputs = root.field("inputs")?;
    let platform = SigningKey::from_seed(&inputs.array("platform_seed")?);
    let mut accounts = Vec::new();
    for a in inputs.list("accounts")? {
        let (mailbox, tier) = (MailboxId(a.array("mailbox")?), tier(&a)?);
        let (advertiser, expires) = (a.bool("advertiser")?, a.u64("expires")?);
        let signed = AccountCertificate::signed_bytes(&mailbox, tier, advertiser, expires);
        let signature = platform.sign(&signed);
        let certificate = AccountCertificate {
            mailbox,
            tier,
            advertiser,
            expires,
            signature,
        };
        let mut postcard = Vec::new();
        wire::encode_into(&certificate, &mut postcard);
        accounts.push(
            json!({"signed_message": hex(&signed), "signature": hex(signature.to_bytes()),
                             "postcard": hex(&postcard)}),
        );
    }
    let certificate = advertiser(&platform, &inputs.field("advertiser")?)?;
    let signed = AdvertiserCertificate::signed_bytes(
        &certificate.name,
        &certificate.mailbox,
        &certificate.identity,
    );
    let purchase = {
        let p = inputs.field("purchase")?;
        let (id, mailbox) = (p.array("id")?, MailboxId(p.array("mailbox")?));
        let (credits, expires) = (p.int("credits")?, p.u64("expires")?);
        let signed = CreditPurchase::signed_bytes(&id, &mailbox, credits, expires);
        let signature = platform.sign(&signed);
        let wire = CreditPurchase {
            id,
            mailbox,
            credits,
            expires,
            signature,
        }
        .to_bytes();
        json!({"signed_message": hex(&signed), "signature": hex(signature.to_bytes()), "wire": hex(wire)})
    };
    let mut posts = Vec::new();
    for p in inputs.list("posts")? {
        let post = Post {
            access: access(&p.field("access")?, &certificate)?,
            content: content(&p.field("content")?)?,
        };
        let bytes = post.to_bytes();
        if Post::from_bytes(&bytes).as_ref() != Ok(&post) {
            return Err(Failure::mismatch(
                p.path(),
                "a post that decodes to itself".into(),
                hex::encode(&bytes),
            ));
        }
        posts.push(json!({"wire": hex(bytes)}));
    }
    let mut refusals = Vec::new();
    for r in inputs.list("refusals")? {
        let wire = r.hex("wire")?;
        let result = match r.str("kind")? {
            "post" => Post::from_bytes(&wire).map(|_| ()),
            "advertiser_certificate" => AdvertiserCertificate::from_bytes(&wire).map(|_| ()),
            _ => return Err(Failure::input(r.path(), "post or advertiser_certificate")),
        };
        refusals.push(
            json!({"result": result.map_or_else(|e| error_name(&e.into()), |()| "ok".into())}),
        );
    }
    Ok(with_outputs(
        file,
        json!({
            "platform_key": hex(platform.verifying_key().as_bytes()),
            "accounts": accounts,
            "advertiser": {"identity": hex(certificate.identity.to_bytes()), "signed_message": hex(&signed),
                           "signature": hex(certificate.signature.to_bytes()), "wire": hex(certificate.to_bytes())},
            "purchase": purchase,
            "posts": posts,
            "lead_answer": lead_answer(&inputs.field("lead_answer")?)?,
            "refusals": refusals,
        }),
    ))
}
