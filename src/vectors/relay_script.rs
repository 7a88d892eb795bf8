//! The relay's refusals (PROTOCOL.md §8.3) as a script a relay answers: `relay/refusals.json`.
//!
//! Inputs: the relay's limits, mailbox seeds, and requests in order (method, target, how the
//! request is authorised, body). Outputs: each mailbox's id, and each request's answer: its
//! status and, for a refusal, the metrics label its body starts with. A proof must be fresh, so
//! the script gives what a proof is made of (mailbox, nonce, clock offset) and whoever runs it
//! signs at run time (§8.2). Checking the file runs it, request by request, against a fresh
//! relay of this build on a loopback socket; the Python client in `vectors/relay/` runs it
//! against the `missive relay` process, and a second relay proves itself by answering it alike.

use serde_json::{Value, json};

use super::json::{Place, hex};
use super::live::Relay;
use super::{Failure, skeleton, with_outputs};
use crate::access::{AccessKey, AccessUpdate, Credential, Submission};
use crate::envelope::{Envelope, MailboxId};
use crate::mailbox::MailboxKey;
use crate::platform::{AccountCertificate, Platform, Profile, Tier, month_of};
use crate::relay::{Limits, RelayConfig, system_clock};
use crate::relay_api::{OneTimePrekey, PublishPrekeys, TokenIssue, TokenIssued};
use crate::token::{PendingTokens, Token, TokenKind, request_tokens};

const DESCRIPTION: &str = "The refusals of PROTOCOL.md §8.3 as a script: each request in \
    order to one fresh relay configured with `relay` (the names are RelayConfig's, and \
    `missive relay` flags with dashes), and the answer it must give (status, and for a \
    refusal the label before ': ' in its body). An `auth` of {mailbox, nonce, clock} is a \
    proof (§8.2) made when the request is sent, by mailboxes[mailbox], at the sender's Unix \
    time plus `clock`, over `signed_path` if given (else the request's own path) and the body; \
    {header} is sent as the Authorization header as it is; null sends none. A step with \
    `issue` in place of `body` is a token request (§11.3) made when it is sent: `count` \
    random inputs of `kind`, blinded, for the current month, with the account certificate \
    `account` (signed by the platform key `relay.platform_seed`, which the relay trusts); its \
    answer, when 200, is unblinded and kept. A step with `spend` sends a submission presenting \
    the first token the step `spend.issued` (an index into the steps) obtained, for an \
    envelope with `spend.body` to `spend.mailboxes`, expiring at `spend.expiry`. Not \
    scripted: unavailable and overloaded (a failing store, a full writer queue or too many \
    WebSockets: tests/relay_refusals.rs, tests/relay_socket.rs).";

/// Ana, Ben, Cara and Dan.
const SEEDS: [[u8; 32]; 4] = [[0x11; 32], [0x22; 32], [0x33; 32], [0x44; 32]];
const ANA: usize = 0;
const BEN: usize = 1;
const CARA: usize = 2;
const DAN: usize = 3;
const MAX_ENVELOPE: usize = 8192;
const EXPIRY: u64 = 4_000_000_000;
const PLATFORM_SEED: [u8; 32] = [0x50; 32];

fn name(user: &str) -> String {
    format!("/v1/directory/{}", hex::encode(user))
}

fn proof(mailbox: usize, nonce: u8, clock: i64) -> Value {
    json!({"mailbox": mailbox, "nonce": hex([nonce; 16]), "clock": clock})
}

fn step(description: &str, method: &str, path: &str, auth: Value, body: &[u8]) -> Value {
    json!({"description": description, "method": method, "path": path, "auth": auth,
           "body": hex(body)})
}

/// A token request of `count` tokens of `kind`, with `mailbox`'s account certificate.
fn issue(description: &str, mailbox: usize, tier: Tier, kind: &str, count: u32) -> Value {
    let mut platform = Platform::from_seed(&PLATFORM_SEED);
    let id = id(&SEEDS[mailbox]);
    platform.register(
        id,
        Profile {
            tier,
            open_profile: false,
        },
    );
    let account = platform
        .certify_account(&id, false, EXPIRY)
        .map(|c| hex(c.to_bytes()))
        .unwrap_or(Value::Null);
    json!({"description": description, "method": "POST", "path": "/v1/tokens",
           "auth": proof(mailbox, 0x40 + mailbox as u8, 0),
           "issue": {"account": account, "kind": kind, "count": count}})
}

/// A submission spending the first token step `issued` obtained.
fn spend(description: &str, issued: usize, mailboxes: &[usize], body: &[u8]) -> Value {
    json!({"description": description, "method": "POST", "path": "/v1/envelopes",
           "auth": Value::Null,
           "spend": {"issued": issued, "mailboxes": mailboxes, "body": hex(body),
                     "expiry": EXPIRY}})
}

fn id(seed: &[u8; 32]) -> MailboxId {
    *MailboxKey::from_seed(seed).id()
}

/// An envelope with `body` to `mailboxes`, as a submission with `credential`.
fn submission(credential: Credential, expiry: u64, mailboxes: &[usize], body: &[u8]) -> Vec<u8> {
    let ids: Vec<MailboxId> = mailboxes.iter().map(|m| id(&SEEDS[*m])).collect();
    let envelope = Envelope::to_mailboxes(expiry, &ids, body)
        .ok()
        .and_then(|mut e| e.pop())
        .map(|e| e.to_bytes())
        .unwrap_or_default();
    Submission {
        credential,
        envelope,
    }
    .to_bytes()
}

fn publish(bundle: &[u8], one_time: u32) -> Vec<u8> {
    PublishPrekeys {
        bundle: bundle.to_vec(),
        one_time: (1..=one_time)
            .map(|id| OneTimePrekey {
                id,
                key: id.to_be_bytes().to_vec(),
            })
            .collect(),
    }
    .to_bytes()
}

/// Our inputs.
pub(super) fn inputs() -> Value {
    let cara_key = AccessKey::from_bytes([0xc1; 16]);
    let contacts = || Credential::Contacts(cara_key.clone());
    let to_cara = |body: &[u8]| submission(contacts(), EXPIRY, &[CARA], body);
    let register = AccessUpdate {
        contact: Some(cara_key.clone()),
        ..AccessUpdate::default()
    }
    .to_bytes();
    let too_many_keys = AccessUpdate {
        add: (0u32..513)
            .map(|i| {
                let mut key = [0u8; 16];
                key[12..].copy_from_slice(&i.to_be_bytes());
                AccessKey::from_bytes(key)
            })
            .collect(),
        ..AccessUpdate::default()
    }
    .to_bytes();
    let (mailbox, ana) = ("/v1/mailbox?after=0&limit=100", name("ana"));
    let mut steps = vec![
        step("the relay answers", "GET", "/health", Value::Null, b""),
        step("no Authorization header", "GET", mailbox, Value::Null, b""),
        step(
            "another scheme",
            "GET",
            mailbox,
            json!({"header": "Bearer 00"}),
            b"",
        ),
        step(
            "a proof that is not hex",
            "GET",
            mailbox,
            json!({"header": "Missive zz"}),
            b"",
        ),
        step(
            "a proof signed for another query",
            "GET",
            mailbox,
            json!({"mailbox": CARA, "nonce": hex([1; 16]), "clock": 0,
                   "signed_path": "/v1/mailbox?after=1&limit=100"}),
            b"",
        ),
        step(
            "a proof 301 s old",
            "GET",
            mailbox,
            proof(CARA, 2, -301),
            b"",
        ),
        step(
            "a proof 301 s ahead",
            "GET",
            mailbox,
            proof(CARA, 3, 301),
            b"",
        ),
        step("a fresh proof", "GET", mailbox, proof(CARA, 4, 0), b""),
        step("its nonce again", "GET", mailbox, proof(CARA, 4, 0), b""),
        step(
            "a query parameter twice",
            "GET",
            "/v1/mailbox?after=0&after=1",
            proof(CARA, 5, 0),
            b"",
        ),
        step(
            "Ana publishes: the name is hers",
            "PUT",
            &ana,
            proof(ANA, 6, 0),
            &publish(b"Ana's prekey bundle", 1),
        ),
        step(
            "Ben publishes under Ana's name",
            "PUT",
            &ana,
            proof(BEN, 7, 0),
            &publish(b"Ben's prekey bundle", 1),
        ),
        step(
            "Dan publishes 1001 one-time prekeys",
            "PUT",
            &name("dan"),
            proof(DAN, 8, 0),
            &publish(b"Dan's prekey bundle", 1001),
        ),
        step(
            "a directory name that is not hex",
            "GET",
            "/v1/directory/zz",
            proof(BEN, 9, 0),
            b"",
        ),
        step(
            "a name nobody published",
            "GET",
            &name("nobody"),
            proof(BEN, 10, 0),
            b"",
        ),
        step("Ben looks Ana up", "GET", &ana, proof(BEN, 11, 0), b""),
        step("a second time", "GET", &ana, proof(BEN, 12, 0), b""),
        step("a third time", "GET", &ana, proof(BEN, 13, 0), b""),
        step(
            "a fourth time within the hour",
            "GET",
            &ana,
            proof(BEN, 14, 0),
            b"",
        ),
        step(
            "Ben asks for Ana's stock of one-time prekeys",
            "GET",
            &format!("{ana}/stock"),
            proof(BEN, 15, 0),
            b"",
        ),
        step(
            "Ana asks for her own",
            "GET",
            &format!("{ana}/stock"),
            proof(ANA, 16, 0),
            b"",
        ),
        step(
            "Cara registers a contact key",
            "PUT",
            "/v1/mailbox/access",
            proof(CARA, 17, 0),
            &register,
        ),
        step(
            "Ben registers 513 keys",
            "PUT",
            "/v1/mailbox/access",
            proof(BEN, 18, 0),
            &too_many_keys,
        ),
        step(
            "an access update that does not decode",
            "PUT",
            "/v1/mailbox/access",
            proof(BEN, 19, 0),
            &[0x01, 0xff],
        ),
        step(
            "a message to Cara under her contact key",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &to_cara(b"first"),
        ),
        step(
            "a second",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &to_cara(b"second"),
        ),
        step(
            "a third: her mailbox holds two",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &to_cara(b"third"),
        ),
        step(
            "a typing indicator to Cara: ephemeral, never stored",
            "POST",
            "/v1/ephemeral",
            Value::Null,
            &to_cara(b"typing"),
        ),
        step(
            "a message to Cara under another key",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &submission(
                Credential::Contacts(AccessKey::from_bytes([0xee; 16])),
                EXPIRY,
                &[CARA],
                b"fourth",
            ),
        ),
        step(
            "a message to four mailboxes",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &submission(contacts(), EXPIRY, &[ANA, BEN, CARA, DAN], b"all"),
        ),
        step(
            "a message larger than the relay takes",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &to_cara(&[0x5a; MAX_ENVELOPE + 100]),
        ),
        step(
            "a message that expired",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &submission(contacts(), 1_000_000_000, &[CARA], b"late"),
        ),
        step(
            "a submission that does not decode",
            "POST",
            "/v1/envelopes",
            Value::Null,
            &[0x01, 0x09],
        ),
        step(
            "Cara fetches her two",
            "GET",
            mailbox,
            proof(CARA, 20, 0),
            b"",
        ),
        step(
            "an acknowledgement that does not decode",
            "POST",
            "/v1/mailbox/ack",
            proof(CARA, 21, 0),
            &[0x01, 0x05, 0xaa],
        ),
        issue(
            "Dan, a free member, asks for an InMail credit",
            DAN,
            Tier::Free,
            "Credit",
            1,
        ),
    ];
    let issued = steps.len();
    steps.extend([
        issue(
            "Ana, Premium Career, asks for an invitation token",
            ANA,
            Tier::PremiumCareer,
            "Invite",
            1,
        ),
        spend(
            "she spends it on an invitation to Ben",
            issued,
            &[BEN],
            b"invite",
        ),
        spend("the same token for Dan", issued, &[DAN], b"invite"),
    ]);
    skeleton(
        "relay_script",
        DESCRIPTION,
        json!({
            "relay": {"max_envelope_bytes": MAX_ENVELOPE, "max_recipients": 3,
                      "max_pending_per_mailbox": 2, "platform_seed": hex(PLATFORM_SEED)},
            "mailboxes": SEEDS.iter().map(hex).collect::<Vec<_>>(),
            "steps": steps,
        }),
    )
}

fn config(relay: &Place<'_>) -> Result<RelayConfig, Failure> {
    let defaults = RelayConfig::default();
    let platform = Platform::from_seed(&relay.array("platform_seed")?);
    Ok(RelayConfig {
        platform: Some(platform.public_key()),
        max_envelope_bytes: relay.int("max_envelope_bytes")?,
        max_recipients: relay.int("max_recipients")?,
        limits: Limits {
            max_pending_per_mailbox: relay.u64("max_pending_per_mailbox")?,
            ..defaults.limits
        },
        ..defaults
    })
}

/// The `Authorization` header a step sends, made now.
fn authorization(
    step: &Place<'_>,
    method: &str,
    path: &str,
    body: &[u8],
    keys: &[MailboxKey],
) -> Result<Option<String>, Failure> {
    let Some(auth) = step.optional("auth").filter(|a| !a.value().is_null()) else {
        return Ok(None);
    };
    if let Some(header) = auth.optional("header") {
        let text = header.value().as_str();
        return text
            .map(|h| Some(h.to_owned()))
            .ok_or_else(|| Failure::input(header.path(), "a string"));
    }
    let key = keys
        .get(auth.int::<usize>("mailbox")?)
        .ok_or_else(|| Failure::input(auth.path(), "the index of a listed mailbox"))?;
    let clock = auth
        .field("clock")?
        .value()
        .as_i64()
        .ok_or_else(|| Failure::input(auth.path(), "a clock offset in seconds"))?;
    let now = system_clock()
        .checked_add_signed(clock)
        .ok_or_else(|| Failure::input(auth.path(), "a clock offset in seconds"))?;
    let signed = match auth.optional("signed_path") {
        Some(p) => p
            .value()
            .as_str()
            .ok_or_else(|| Failure::input(p.path(), "a path"))?,
        None => path,
    };
    let proof = key.prove_with_nonce(method, signed, body, now, auth.array("nonce")?);
    Ok(Some(format!("Missive {}", hex::encode(proof.to_bytes()))))
}

/// The file recomputed: its steps run against a fresh relay of this build.
pub(super) fn recompute(file: &Value) -> Result<Value, Failure> {
    let inputs = Place::root(file).field("inputs")?;
    let relay_input = inputs.field("relay")?;
    let keys = inputs
        .list("mailboxes")?
        .iter()
        .map(|m| {
            m.bytes()
                .and_then(|b| seed(m, b))
                .map(|s| MailboxKey::from_seed(&s))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let relay = Relay::start(config(&relay_input)?)
        .map_err(|_| Failure::input(relay_input.path(), "a relay that starts"))?;
    let mut answers = Vec::new();
    // Each step's tokens, once a token request was answered.
    let mut tokens: Vec<Vec<Token>> = Vec::new();
    for step in inputs.list("steps")? {
        let (method, path) = (step.str("method")?, step.str("path")?);
        let (body, pending) = made_body(&step, &keys, &tokens)?;
        let auth = authorization(&step, method, path, &body, &keys)?;
        let (status, text) = relay
            .send(method, path, auth.as_deref(), &body)
            .map_err(|_| Failure::input(step.path(), "a request the relay answers"))?;
        answers.push(answer(status, &text));
        let issued = match pending {
            Some(pending) if status == 200 => TokenIssued::from_bytes(&text)
                .ok()
                .and_then(|i| pending.finish(&i.response, &i.key).ok())
                .ok_or_else(|| Failure::input(step.path(), "a token request answered"))?,
            _ => Vec::new(),
        };
        tokens.push(issued);
    }
    let ids: Vec<Value> = keys.iter().map(|k| hex(k.id().0)).collect();
    Ok(with_outputs(
        file,
        json!({"mailboxes": ids, "answers": answers}),
    ))
}

/// A step's body: given, or made now (a token request, and what it waits for; a spend).
fn made_body(
    step: &Place<'_>,
    keys: &[MailboxKey],
    tokens: &[Vec<Token>],
) -> Result<(Vec<u8>, Option<PendingTokens>), Failure> {
    if let Some(issue) = step.optional("issue") {
        let account = AccountCertificate::from_bytes(&issue.hex("account")?)
            .map_err(|_| Failure::input(issue.path(), "an account certificate"))?;
        let kind = issue.str("kind")?;
        let kind = TokenKind::ALL
            .into_iter()
            .find(|k| format!("{k:?}") == kind)
            .ok_or_else(|| Failure::input(issue.path(), "a token kind"))?;
        let period = month_of(system_clock());
        let (pending, request) =
            request_tokens(&mut rand::rng(), kind, period, issue.int("count")?)
                .map_err(|_| Failure::input(issue.path(), "1 to 100 tokens"))?;
        let body = TokenIssue {
            account,
            request,
            purchase: None,
        };
        return Ok((body.to_bytes(), Some(pending)));
    }
    let Some(spend) = step.optional("spend") else {
        return Ok((step.hex("body")?, None));
    };
    let token = tokens
        .get(spend.int::<usize>("issued")?)
        .and_then(|t| t.first())
        .ok_or_else(|| Failure::input(spend.path(), "an earlier step that obtained a token"))?;
    let ids = spend
        .field("mailboxes")?
        .items()?
        .iter()
        .map(|m| {
            let i = m.value().as_u64().and_then(|i| usize::try_from(i).ok());
            i.and_then(|i| keys.get(i))
                .map(|k| *k.id())
                .ok_or_else(|| Failure::input(m.path(), "the index of a listed mailbox"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::to_mailboxes(spend.u64("expiry")?, &ids, &spend.hex("body")?)
        .ok()
        .and_then(|mut e| e.pop())
        .ok_or_else(|| Failure::input(spend.path(), "an envelope that fits in one"))?;
    let submission = Submission {
        credential: Credential::Token(token.clone()),
        envelope: envelope.to_bytes(),
    };
    Ok((submission.to_bytes(), None))
}

fn seed(at: &Place<'_>, bytes: Vec<u8>) -> Result<[u8; 32], Failure> {
    bytes
        .try_into()
        .map_err(|_| Failure::input(at.path(), "a 32-byte seed"))
}

/// A success is its status; a refusal also its label, the body's text before `": "`.
fn answer(status: u16, body: &[u8]) -> Value {
    if status < 400 {
        return json!({ "status": status });
    }
    let text = String::from_utf8_lossy(body);
    let label = text.split_once(": ").map_or(&*text, |(label, _)| label);
    json!({"status": status, "label": label})
}
