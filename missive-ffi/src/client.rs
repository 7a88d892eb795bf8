//! `MissiveClient`: one user's engine and the store it saves to, behind one lock. Every call
//! that changes the state saves it (only what changed, in one atomic commit) before it
//! returns what to send, as the Rust API requires: an app hands the relay only what is saved.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use missive::access::Submission;
use missive::client::{Client, ClientStore, MemoryStore, SqliteStore, StorageKey, Unsaved};
use missive::platform::{AccountCertificate, PlatformKey};
use missive::relay_api::{PrekeyResponse, PrekeyStock, TokenIssued};
use missive::{PublicIdentity, SafetyNumber, UsageError};

use crate::error::{MissiveError, argument, panicked};
use crate::events::Event;
use crate::types::{
    AccessSync, Attachment, Connection, Contact, Member, MessageRef, Outgoing, Settings, Started,
    Tier, TokenKind, conversation, mailbox, outgoing, profile, text_content,
};

type Store = Box<dyn ClientStore + Send>;

struct Inner {
    client: Client,
    store: Store,
    /// A call panicked part-way: what is in memory may be half changed, so every later call
    /// is refused; the store still holds the last save.
    broken: bool,
}

/// One user's client: thread-safe (every call takes the client's lock, so calls on one client
/// run one at a time, in any threads); calls on different clients run concurrently.
#[derive(uniffi::Object)]
pub struct MissiveClient {
    inner: Mutex<Inner>,
}

fn sqlite(path: &str, storage_key: &[u8]) -> Result<Store, MissiveError> {
    let key: [u8; 32] = storage_key.try_into().map_err(|_| {
        argument(format!(
            "a storage key is 32 bytes, not {}",
            storage_key.len()
        ))
    })?;
    Ok(Box::new(SqliteStore::open(
        std::path::Path::new(path),
        &key,
    )?))
}

/// Runs `f`, turning a panic into [`MissiveError::Internal`].
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, MissiveError>) -> Result<T, MissiveError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panicked(&*p)))
}

/// Saves what `unsaved` changed, then hands over its value.
pub(crate) fn saved<T>(unsaved: Unsaved<'_, T>, store: &mut Store) -> Result<T, MissiveError> {
    Ok(unsaved.save(&mut rand::rng(), store.as_mut())?)
}

impl MissiveClient {
    fn new_arc(client: Client, store: Store) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                client,
                store,
                broken: false,
            }),
        })
    }

    /// Runs `f` on the client and its store, one call at a time.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Client, &mut Store) -> Result<T, MissiveError>,
    ) -> Result<T, MissiveError> {
        let mut inner = self.inner.lock().map_err(|_| MissiveError::Internal {
            detail: "the client's lock is poisoned".into(),
        })?;
        if inner.broken {
            return Err(MissiveError::Internal {
                detail: "an earlier call on this client failed inside the engine: load it \
                         again from its store"
                    .into(),
            });
        }
        let Inner { client, store, .. } = &mut *inner;
        let result = catch_unwind(AssertUnwindSafe(|| f(client, store)));
        result.unwrap_or_else(|p| {
            inner.broken = true;
            Err(panicked(&*p))
        })
    }

    pub(crate) fn sends(
        &self,
        f: impl FnOnce(
            &mut Client,
        ) -> Result<Unsaved<'_, Vec<missive::client::Outgoing>>, missive::Error>,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        self.with(|client, store| Ok(outgoing(&saved(f(client)?, store)?)))
    }
}

#[uniffi::export]
impl MissiveClient {
    /// A new user `user`, saved at once to the SQLite file at `path`, sealed under the 32-byte
    /// `storage_key` from the platform's keystore. Refused if the file holds a state already.
    #[uniffi::constructor]
    pub fn create(
        user: Vec<u8>,
        path: String,
        storage_key: Vec<u8>,
    ) -> Result<Arc<Self>, MissiveError> {
        guarded(|| {
            let mut store = sqlite(&path, &storage_key)?;
            let mut client = Client::new(&mut rand::rng(), &user);
            client.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(Self::new_arc(client, store))
        })
    }

    /// The user saved in the SQLite file at `path` under `storage_key`.
    #[uniffi::constructor]
    pub fn open(path: String, storage_key: Vec<u8>) -> Result<Arc<Self>, MissiveError> {
        guarded(|| {
            let store = sqlite(&path, &storage_key)?;
            let client = Client::load_from(store.as_ref())?.ok_or(MissiveError::Store {
                kind: "Missing".into(),
                detail: format!("{path} holds no client state"),
            })?;
            Ok(Self::new_arc(client, store))
        })
    }

    /// A new user whose state lives in memory only (tools, tests), sealed under a random key.
    #[uniffi::constructor]
    pub fn in_memory(user: Vec<u8>) -> Result<Arc<Self>, MissiveError> {
        guarded(|| {
            let mut store: Store =
                Box::new(MemoryStore::new(StorageKey::generate(&mut rand::rng())));
            let mut client = Client::new(&mut rand::rng(), &user);
            client.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(Self::new_arc(client, store))
        })
    }

    /// The user's name (its directory entry).
    pub fn user(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, _| Ok(c.user().to_vec()))
    }

    /// The mailbox id (16 bytes): how others address this client.
    pub fn mailbox_id(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, _| Ok(c.mailbox_id().0.to_vec()))
    }

    /// The public identity (65 bytes).
    pub fn identity(&self) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, _| Ok(c.identity().to_bytes().to_vec()))
    }

    /// Saves so far (a monotonic counter: a store rolled back shows a smaller one).
    pub fn generation(&self) -> Result<u64, MissiveError> {
        self.with(|c, _| Ok(c.generation()))
    }

    /// The `Authorization` header value for one relay request on our mailbox.
    pub fn authorization(
        &self,
        method: String,
        path: String,
        body: Vec<u8>,
        now: u64,
    ) -> Result<String, MissiveError> {
        self.with(|c, _| {
            let proof = c.prove(&mut rand::rng(), &method, &path, &body, now);
            let hex: String = proof
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok(format!("Missive {hex}"))
        })
    }

    /// The platform's public key (32 bytes), which certificates are checked against.
    pub fn set_platform_key(&self, key: Vec<u8>) -> Result<(), MissiveError> {
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| argument("a platform key is 32 bytes"))?;
        let key = PlatformKey::from_bytes(&key)?;
        self.with(|c, store| {
            c.set_platform_key(key);
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// Our tier and whether Open Profile is on.
    pub fn set_profile(&self, tier: Tier, open_profile: bool) -> Result<(), MissiveError> {
        self.with(|c, store| {
            c.set_profile(profile(tier, open_profile));
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// Our account certificate from the platform (its postcard bytes).
    pub fn set_account(&self, certificate: Vec<u8>) -> Result<(), MissiveError> {
        let certificate = AccountCertificate::from_bytes(&certificate)?;
        self.with(|c, store| {
            c.set_account(certificate);
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// The body of `PUT /v1/directory/{user hex}`: our prekey bundle and `one_time` new
    /// one-time prekeys.
    pub fn publish(&self, one_time: u32) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, store| {
            let count = usize::try_from(one_time).map_err(|_| argument("too many prekeys"))?;
            Ok(saved(c.publish(&mut rand::rng(), count)?, store)?.to_bytes())
        })
    }

    /// Adds `user` from the relay's answer to `GET /v1/directory/{user hex}`; returns their
    /// mailbox id.
    pub fn add_contact(&self, user: Vec<u8>, prekeys: Vec<u8>) -> Result<Vec<u8>, MissiveError> {
        let response = PrekeyResponse::from_bytes(&prekeys)?;
        self.with(|c, store| {
            let id = c.add_contact(&mut rand::rng(), &user, &response)?;
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(id.0.to_vec())
        })
    }

    /// What the platform says of `member` (their tier and Open Profile switch): which sends
    /// reach them without a connection (Open Profile, a premium-to-premium InMail).
    pub fn set_contact_profile(
        &self,
        member: Vec<u8>,
        tier: Tier,
        open_profile: bool,
    ) -> Result<(), MissiveError> {
        let member = mailbox(&member)?;
        self.with(|c, store| {
            c.set_contact_profile(member, profile(tier, open_profile))?;
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// Everyone we hold a session with.
    pub fn contacts(&self) -> Result<Vec<Contact>, MissiveError> {
        self.with(|c, _| Ok(c.contacts()?.iter().map(Contact::from).collect()))
    }

    /// Where our connection with `member` stands.
    pub fn connection(&self, member: Vec<u8>) -> Result<Connection, MissiveError> {
        let member = mailbox(&member)?;
        self.with(|c, _| Ok((&c.connection(&member)?).into()))
    }

    /// The 60 digits two people compare to check they talk to each other's devices.
    pub fn safety_number(&self, contact: Vec<u8>) -> Result<String, MissiveError> {
        let member = mailbox(&contact)?;
        self.with(|c, _| {
            let them = c
                .contacts()?
                .into_iter()
                .find(|x| x.mailbox == member)
                .ok_or(missive::Error::Usage(UsageError::UnknownRecipient))?;
            let number = SafetyNumber::new(c.user(), c.identity(), &them.user, &them.identity);
            Ok(String::from_utf8_lossy(number.digits()).into_owned())
        })
    }

    /// A connection invitation to `to`, with an optional note (at most 300 bytes).
    pub fn invite(
        &self,
        to: Vec<u8>,
        note: Option<String>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let to = mailbox(&to)?;
        self.sends(|c| c.invite(&mut rand::rng(), &to, note.as_deref(), now))
    }

    /// Accepts `from`'s invitation.
    pub fn accept(&self, from: Vec<u8>, now: u64) -> Result<Vec<Outgoing>, MissiveError> {
        let from = mailbox(&from)?;
        self.sends(|c| c.accept(&mut rand::rng(), &from, now))
    }

    /// Declines `from`'s invitation.
    pub fn decline(&self, from: Vec<u8>, now: u64) -> Result<Vec<Outgoing>, MissiveError> {
        let from = mailbox(&from)?;
        self.sends(|c| c.decline(&mut rand::rng(), &from, now))
    }

    /// Withdraws our invitation to `to`.
    pub fn withdraw(&self, to: Vec<u8>, now: u64) -> Result<Vec<Outgoing>, MissiveError> {
        let to = mailbox(&to)?;
        self.sends(|c| c.withdraw(&mut rand::rng(), &to, now))
    }

    /// Ends our connection with `peer`.
    pub fn remove_connection(
        &self,
        peer: Vec<u8>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let peer = mailbox(&peer)?;
        self.sends(|c| c.remove_connection(&mut rand::rng(), &peer, now))
    }

    /// A direct message (to a connection, an Open Profile member, or in a conversation
    /// opened before).
    pub fn send_text(
        &self,
        to: Vec<u8>,
        text: String,
        attachments: Vec<Attachment>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let to = mailbox(&to)?;
        let content = text_content(text, &[], &attachments)?;
        self.sends(|c| c.send(&mut rand::rng(), &to, &content, now))
    }

    /// An InMail to a non-connection, paid with a credit (or a premium token when both are
    /// premium).
    pub fn send_inmail(
        &self,
        to: Vec<u8>,
        text: String,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let to = mailbox(&to)?;
        let content = text_content(text, &[], &[])?;
        self.sends(|c| c.send_inmail(&mut rand::rng(), &to, &content, now))
    }

    /// One message to up to 50 connections, readable by them only.
    pub fn send_multi(
        &self,
        to: Vec<Vec<u8>>,
        text: String,
        now: u64,
    ) -> Result<Started, MissiveError> {
        let to = to
            .iter()
            .map(|m| mailbox(m))
            .collect::<Result<Vec<_>, _>>()?;
        let content = text_content(text, &[], &[])?;
        self.with(|c, store| {
            let (id, sent) = saved(c.send_multi(&mut rand::rng(), &to, &content, now)?, store)?;
            Ok(Started {
                conversation: id.0.to_vec(),
                outgoing: outgoing(&sent),
            })
        })
    }

    /// A group with us as its admin and `members` in their roles.
    pub fn create_group(&self, members: Vec<Member>, now: u64) -> Result<Started, MissiveError> {
        let members = members
            .iter()
            .map(|m| Ok((mailbox(&m.mailbox)?, m.role.into())))
            .collect::<Result<Vec<_>, MissiveError>>()?;
        self.with(|c, store| {
            let (id, sent) = saved(c.create_group(&mut rand::rng(), &members, now)?, store)?;
            Ok(Started {
                conversation: id.0.to_vec(),
                outgoing: outgoing(&sent),
            })
        })
    }

    /// Adds and removes group members (admins only).
    pub fn change_group(
        &self,
        group: Vec<u8>,
        added: Vec<Member>,
        removed: Vec<Vec<u8>>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let group = conversation(&group)?;
        let added = added
            .iter()
            .map(|m| Ok((mailbox(&m.mailbox)?, m.role.into())))
            .collect::<Result<Vec<_>, MissiveError>>()?;
        let removed = removed
            .iter()
            .map(|m| mailbox(m))
            .collect::<Result<Vec<_>, _>>()?;
        self.sends(|c| c.change_group(&mut rand::rng(), &group, &added, &removed, now))
    }

    /// A post to a group, mentioning up to 20 members.
    pub fn post_to_group(
        &self,
        group: Vec<u8>,
        text: String,
        mentions: Vec<Vec<u8>>,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let group = conversation(&group)?;
        let content = text_content(text, &mentions, &[])?;
        self.sends(|c| c.post_to_group(&mut rand::rng(), &group, &content, now))
    }

    /// A read receipt up to `up_to` (nothing when read receipts are off).
    pub fn mark_read(
        &self,
        conversation_id: Vec<u8>,
        up_to: MessageRef,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let id = conversation(&conversation_id)?;
        let up_to = (&up_to).try_into()?;
        self.sends(|c| c.mark_read(&mut rand::rng(), &id, &up_to, now))
    }

    /// A typing indicator (ephemeral; nothing when typing indicators are off).
    pub fn typing(
        &self,
        conversation_id: Vec<u8>,
        typing: bool,
        now: u64,
    ) -> Result<Vec<Outgoing>, MissiveError> {
        let id = conversation(&conversation_id)?;
        self.with(|c, _| Ok(outgoing(&c.typing(&mut rand::rng(), &id, typing, now)?)))
    }

    /// Opens one delivery from our mailbox (a `DeliveredEnvelope`'s `delivery`), saves, and
    /// says what it produced. A delivery that fails changes nothing.
    pub fn receive(&self, delivery: Vec<u8>, now: u64) -> Result<Vec<Event>, MissiveError> {
        self.with(|c, store| {
            let events = c.receive(&delivery, now)?;
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(events.iter().map(Event::from).collect())
        })
    }

    /// What was sent and saved that the relay has not taken yet, oldest first: after a
    /// restart, hand it to the relay before anything new.
    pub fn outbox(&self) -> Result<Vec<Outgoing>, MissiveError> {
        self.with(|c, _| Ok(outgoing(&c.outbox())))
    }

    /// The relay took `envelope` (or refused it for good): the outbox forgets it. Whether it
    /// was there.
    pub fn accepted(&self, envelope: Vec<u8>) -> Result<bool, MissiveError> {
        self.with(|c, store| {
            let found = c.outbox().into_iter().find(|o| o.envelope == envelope);
            let Some(found) = found else {
                return Ok(false);
            };
            let removed = c.accepted(&found);
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(removed)
        })
    }

    /// What the relay answered to `sent`: `missed`, the recipients a `202` named as not
    /// reached (`undelivered(body)`), or all of them for a `403` to a conversation message.
    /// Those still members are resent to by `resend`, after 1, 2, 4 … minutes; an empty list
    /// clears what was kept.
    pub fn undelivered(
        &self,
        sent: Outgoing,
        missed: Vec<Vec<u8>>,
        now: u64,
    ) -> Result<(), MissiveError> {
        let missed = (missed.iter())
            .map(|m| mailbox(m))
            .collect::<Result<Vec<_>, _>>()?;
        let sent = engine_outgoing(&sent)?;
        self.with(|c, store| {
            c.undelivered(&sent, &missed, now);
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// The envelopes due again to members who had not caught up; hand each answer back to
    /// `undelivered`.
    pub fn resend(&self, now: u64) -> Result<Vec<Outgoing>, MissiveError> {
        self.sends(|c| Ok(c.resend(now)))
    }

    /// Envelopes kept to resend.
    pub fn pending_resends(&self) -> Result<u32, MissiveError> {
        self.with(|c, _| Ok(u32::try_from(c.pending_resends()).unwrap_or(u32::MAX)))
    }

    /// How many one-time prekeys to publish now, given how many the relay has left
    /// (`prekey_stock` of `GET directory_path(user) + "/stock"`).
    pub fn prekeys_wanted(&self, left: u32) -> Result<u32, MissiveError> {
        let stock = PrekeyStock { one_time: left };
        self.with(|c, _| Ok(u32::try_from(c.prekeys_wanted(&stock)).unwrap_or(u32::MAX)))
    }

    /// The body of `POST /v1/tokens` for `count` tokens of `kind` this month.
    pub fn request_tokens(
        &self,
        kind: TokenKind,
        count: u32,
        now: u64,
    ) -> Result<Vec<u8>, MissiveError> {
        self.with(|c, store| {
            let count = usize::try_from(count).map_err(|_| argument("too many tokens"))?;
            let issue = c.request_tokens(&mut rand::rng(), kind.into(), count, now)?;
            Ok(saved(issue, store)?.to_bytes())
        })
    }

    /// Adds the tokens of the relay's answer to `POST /v1/tokens`; how many.
    pub fn add_tokens(&self, issued: Vec<u8>) -> Result<u32, MissiveError> {
        let issued = TokenIssued::from_bytes(&issued)?;
        self.with(|c, store| {
            let added = c.add_tokens(&issued)?;
            c.save_to(&mut rand::rng(), store.as_mut())?;
            Ok(u32::try_from(added).unwrap_or(u32::MAX))
        })
    }

    /// Tokens of `kind` held.
    pub fn tokens(&self, kind: TokenKind) -> Result<u32, MissiveError> {
        self.with(|c, _| Ok(u32::try_from(c.tokens(kind.into())).unwrap_or(u32::MAX)))
    }

    /// What to register with the relay (our access keys and switches), and the notices to
    /// send once it is registered.
    pub fn access_sync(&self, now: u64) -> Result<AccessSync, MissiveError> {
        self.with(|c, store| {
            let sync = saved(c.access_sync(&mut rand::rng(), now)?, store)?;
            Ok(AccessSync {
                update: sync.update.map(|u| u.to_bytes()),
                notices: outgoing(&sync.notices),
            })
        })
    }

    /// The relay refused the last access update: the next `access_sync` sends it all again.
    pub fn reset_access_registration(&self) -> Result<(), MissiveError> {
        self.with(|c, store| {
            c.reset_access_registration();
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }

    /// Our switches.
    pub fn settings(&self) -> Result<Settings, MissiveError> {
        self.with(|c, _| Ok((*c.settings()).into()))
    }

    /// Changes our switches (run `access_sync` after, so the relay and our devices learn).
    pub fn set_settings(&self, settings: Settings) -> Result<(), MissiveError> {
        self.with(|c, store| {
            c.set_settings(settings.into());
            Ok(c.save_to(&mut rand::rng(), store.as_mut())?)
        })
    }
}

/// The engine's `Outgoing` back from the boundary's: its submission holds the credential.
fn engine_outgoing(o: &Outgoing) -> Result<missive::client::Outgoing, MissiveError> {
    let submission = Submission::from_bytes(&o.body)?;
    Ok(missive::client::Outgoing {
        envelope: submission.envelope,
        credential: submission.credential,
        ephemeral: o.path == "/v1/ephemeral",
        conversation: o.conversation.as_deref().map(conversation).transpose()?,
    })
}

/// A public identity's 65 bytes, checked (for an app showing a contact's key).
#[uniffi::export]
pub fn check_identity(identity: Vec<u8>) -> Result<(), MissiveError> {
    guarded(|| Ok(PublicIdentity::from_bytes(&identity).map(drop)?))
}

/// Raises [`MissiveError::Internal`] from a panic inside the library: shows (and lets a test
/// check) that a panic never crosses the boundary.
#[uniffi::export]
pub fn panic_for_tests() -> Result<(), MissiveError> {
    guarded(|| panic!("panic_for_tests"))
}
