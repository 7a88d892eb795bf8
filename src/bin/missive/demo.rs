//! `missive demo`: a relay on a temporary data directory and four users walking through every
//! message kind, showing what each reads and what the relay stored.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand::Rng;
use zeroize::Zeroizing;

use missive::SafetyNumber;
use missive::access::Credential;
use missive::client::{
    CallToAction, Client, Content, Event, ImageRef, LeadField, MessageRef, Outgoing, Settings,
    Sponsored, SqliteStore, Text, Unsaved,
};
use missive::conversation::Role;
use missive::envelope::{Envelope, MailboxId};
use missive::platform::{Platform, Profile, Tier};
use missive::relay::{RelayConfig, RelayState, serve};

use crate::http::{Relay, now};
use crate::user_cmd::{contact, describe, top_up};
use missive::token::TokenKind;

/// Every message text the demo sends: the audit searches the relay's storage for each.
const TEXTS: [&str; 20] = [
    "Hi Ben, thanks for connecting. Coffee next week?",
    "Gladly, Ana. Tuesday works.",
    "Hi Chloe, I admire your work on the payments team.",
    "Dan, would you consider a role on my team?",
    "Thanks Ben, tell me more.",
    "Chloe, could we talk about partnerships?",
    "Join a team that ships memory-safe systems.",
    "Welcome to the hiring group. Ana and Chloe, please introduce yourselves.",
    "Interview loops start Monday.",
    "Ana, do you want to pair on the take-home review?",
    "Chloe has moved on; thanks for everything, Chloe.",
    "Ana: lunch with the team on Friday?",
    "Are you free on Thursday instead?",
    "Dan, I bought credits to ask you about your open-source work.",
    "Ben, I can read you on my laptop now too.",
    "Ana, the offer letter is attached.",
    "Got it on my laptop, signing tonight.",
    "Welcome aboard, Ana.",
    "Ana, the contract to all your devices.",
    "Read on the laptop, answering all.",
];

fn chloe_profile() -> Profile {
    Profile {
        tier: Tier::PremiumBusiness,
        open_profile: true,
    }
}

struct Demo {
    relay: Relay,
    data_dir: PathBuf,
    /// Each member's state, in an encrypted store of its own (`<name>.db` in the data
    /// directory), saved before anything it sent is submitted.
    stores: RefCell<BTreeMap<MailboxId, SqliteStore>>,
    /// Every stored envelope body and part seen while they waited at the relay.
    stored: RefCell<Vec<Vec<u8>>>,
    /// The last message someone read, for read receipts.
    last_message: Cell<Option<MessageRef>>,
    /// Envelopes the relay took, to report to their senders' outboxes.
    taken: RefCell<Vec<Outgoing>>,
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn start_relay(data_dir: &Path, platform: &Platform) -> Result<SocketAddr, String> {
    let config = RelayConfig {
        platform: Some(platform.public_key()),
        ..RelayConfig::default()
    };
    let state = RelayState::open(data_dir, config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || runtime.block_on(serve(listener, state, std::future::pending())));
    Ok(addr)
}

pub(crate) fn run() -> Result<(), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let data_dir =
        std::env::temp_dir().join(format!("missive-demo-{}-{nanos}", std::process::id()));
    let platform = Platform::new(&mut rand::rng());
    let addr = start_relay(&data_dir, &platform)?;
    println!(
        "Missive demo: a relay on http://{addr}, storing into {}",
        data_dir.display()
    );
    let demo = Demo {
        relay: Relay::new(&format!("http://{addr}"))?,
        data_dir: data_dir.clone(),
        stores: RefCell::default(),
        stored: RefCell::default(),
        last_message: Cell::default(),
        taken: RefCell::default(),
    };
    let result = demo.walk(platform);
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

impl Demo {
    fn user(
        &self,
        name: &str,
        profile: Profile,
        platform: &mut Platform,
        advertiser: bool,
    ) -> Result<Client, String> {
        let mut client = Client::new(&mut rand::rng(), name.as_bytes());
        client.set_profile(profile);
        client.set_platform_key(platform.public_key());
        platform.register(*client.mailbox_id(), profile);
        let account = platform
            .certify_account(client.mailbox_id(), advertiser, now() + 86_400)
            .map_err(|e| e.to_string())?;
        client.set_account(account);
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        let path = self.data_dir.join(format!("{name}.db"));
        let mut store = SqliteStore::open(&path, &key).map_err(|e| e.to_string())?;
        self.relay.publish(&mut client, &mut store, 20)?;
        self.relay.sync(&mut client, &mut store)?;
        let tokens = top_up(&self.relay, &mut client, &mut store);
        self.stores.borrow_mut().insert(*client.mailbox_id(), store);
        println!(
            "   {name:>5}: mailbox {}…, 20 one-time prekeys, access keys registered{tokens}",
            hex::encode(&client.mailbox_id().0[..4])
        );
        Ok(client)
    }

    /// Fetches, opens, prints and acknowledges everything waiting for `client`.
    fn read(&self, client: &mut Client) -> Result<(), String> {
        let mut name = String::from_utf8_lossy(client.user()).into_owned();
        // An account with several devices: which one reads.
        if client.device_list().is_some() {
            name = format!("{name}/{}", client.device_id());
        }
        self.capture()?;
        let deliveries = self.relay.fetch(client)?;
        let mut ids = Vec::new();
        let mut shown = 0;
        for d in deliveries {
            ids.push(d.id);
            let events = client
                .receive(&d.delivery, now())
                .map_err(|e| e.to_string())?;
            for event in &events {
                if let Event::Message { id, .. } = event {
                    self.last_message.set(Some(*id));
                }
                if let Some(line) = describe(client, event) {
                    println!("   {name:>5} reads: {line}");
                    shown += 1;
                }
            }
        }
        if shown == 0 {
            println!("   {name:>5} reads: (nothing)");
        }
        self.relay.ack(client, ids)?;
        // Register new group keys; hand a replaced contact key to those who keep it.
        self.sync(client)
    }

    /// What a send produced, once the sender's state is in its store: a crash after that
    /// leaves a state that has already used the keys, never one that would use them again.
    fn saved<T>(&self, out: Result<Unsaved<'_, T>, missive::Error>) -> Result<T, String> {
        let unsaved = out.map_err(|e| e.to_string())?;
        let sender = *unsaved.client().mailbox_id();
        let mut stores = self.stores.borrow_mut();
        let store = stores.get_mut(&sender).ok_or("a member without a store")?;
        unsaved
            .save(&mut rand::rng(), store)
            .map_err(|e| e.to_string())
    }

    /// Runs `f` with the relay, `client` and its store.
    fn with_store<T>(
        &self,
        client: &mut Client,
        f: impl FnOnce(&Relay, &mut Client, &mut SqliteStore) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut stores = self.stores.borrow_mut();
        let store = stores
            .get_mut(client.mailbox_id())
            .ok_or("a member without a store")?;
        f(&self.relay, client, store)
    }

    fn sync(&self, client: &mut Client) -> Result<(), String> {
        // What the relay took leaves the sender's outbox.
        self.taken.borrow_mut().retain(|o| !client.accepted(o));
        self.with_store(client, |relay, client, store| relay.sync(client, store))
    }

    /// Saves the sender's state, then submits what it sent.
    fn submit(
        &self,
        out: Result<Unsaved<'_, Vec<Outgoing>>, missive::Error>,
    ) -> Result<(), String> {
        let out = self.saved(out)?;
        self.send(&out)
    }

    /// Submits what a client sent (and saved); the relay took it.
    fn send(&self, out: &[Outgoing]) -> Result<(), String> {
        let missed = self.relay.submit(out)?;
        if let Some(note) = Relay::missed_note(&missed) {
            println!("   {note}");
        }
        self.taken.borrow_mut().extend(out.iter().cloned());
        Ok(())
    }

    /// Shows a refusal the engine made before encrypting anything.
    fn refused<T>(&self, what: &str, result: Result<T, missive::Error>) -> Result<(), String> {
        match result {
            Ok(_) => Err(format!("{what} should have been refused")),
            Err(e) => {
                println!("   refused: {what}: {e}");
                Ok(())
            }
        }
    }

    fn walk(&self, mut platform: Platform) -> Result<(), String> {
        step(
            "Members: each creates an identity and a mailbox, publishes prekeys, and is known to the platform",
        );
        let mut ana = self.user("ana", Profile::FREE, &mut platform, false)?;
        let mut ben = self.user(
            "ben",
            Profile {
                tier: Tier::PremiumCareer,
                open_profile: false,
            },
            &mut platform,
            false,
        )?;
        let mut chloe = self.user(
            "chloe",
            Profile {
                tier: Tier::PremiumBusiness,
                open_profile: true,
            },
            &mut platform,
            false,
        )?;
        let mut dan = self.user("dan", Profile::FREE, &mut platform, false)?;
        let mut acme = self.user("acme", Profile::FREE, &mut platform, true)?;
        acme.set_advertiser_certificate(platform.certify_advertiser(
            "Acme Recruiting",
            acme.mailbox_id(),
            acme.identity(),
        ));
        println!(
            "   ana is a free member; ben has Premium Career; chloe has Premium Business with Open Profile on;"
        );
        println!("   dan is a free member; acme is a registered advertiser");

        step("1. Connections and direct messages");
        let ben_id = contact(&self.relay, &mut ana, "ben")?;
        self.refused(
            "ana messages ben before they are connected",
            ana.send(&mut rand::rng(), &ben_id, &Content::text("hello?"), now()),
        )?;
        self.submit(ana.invite(&mut rand::rng(), &ben_id, Some("We met at RustConf"), now()))?;
        println!("   ana invites ben");
        self.read(&mut ben)?;
        let ana_id = *ana.mailbox_id();
        self.submit(ben.accept(&mut rand::rng(), &ana_id, now()))?;
        self.read(&mut ana)?;
        self.submit(ana.send(&mut rand::rng(), &ben_id, &Content::text(TEXTS[0]), now()))?;
        self.read(&mut ben)?;
        self.submit(ben.send(&mut rand::rng(), &ana_id, &Content::text(TEXTS[1]), now()))?;
        self.read(&mut ana)?;
        let last = self.last_message.take().ok_or("no message to mark read")?;
        let dm = ana
            .direct_conversation(&ben_id)
            .map_err(|e| e.to_string())?
            .ok_or("no conversation")?;
        self.submit(ana.mark_read(&mut rand::rng(), &dm, &last, now()))?;
        println!("   ana marks ben's reply read");
        self.read(&mut ben)?;
        let typing = ana
            .typing(&mut rand::rng(), &dm, true, now())
            .map_err(|e| e.to_string())?;
        self.relay.submit(&typing)?;
        println!(
            "   ana types: {} ephemeral envelope, pushed only to connected mailboxes, never stored",
            typing.len()
        );

        step("2. Safety numbers: ana and ben compare them out of band");
        let at_ana = SafetyNumber::new(
            b"ana",
            ana.identity(),
            b"ben",
            &ana.contact(&ben_id)
                .map_err(|e| e.to_string())?
                .ok_or("no contact")?
                .identity,
        );
        let at_ben = SafetyNumber::new(
            b"ben",
            ben.identity(),
            b"ana",
            &ben.contact(&ana_id)
                .map_err(|e| e.to_string())?
                .ok_or("no contact")?
                .identity,
        );
        println!(
            "   ana sees {at_ana}\n   ben sees {at_ben}\n   {}",
            if at_ana == at_ben {
                "they match"
            } else {
                "MISMATCH"
            }
        );

        step("3. Open Profile: anyone may message chloe, a premium member who switched it on");
        let chloe_id = contact(&self.relay, &mut ana, "chloe")?;
        ana.set_contact_profile(chloe_id, chloe_profile())
            .map_err(|e| e.to_string())?;
        self.submit(ana.send(&mut rand::rng(), &chloe_id, &Content::text(TEXTS[2]), now()))?;
        self.read(&mut chloe)?;
        let dan_id = contact(&self.relay, &mut ana, "dan")?;
        self.refused(
            "ana messages dan (no connection, no Open Profile)",
            ana.send(&mut rand::rng(), &dan_id, &Content::text("hi"), now()),
        )?;
        // A modified client that skips the check and crafts the envelope itself: the relay
        // refuses it, without knowing who sent it.
        let crafted = Outgoing {
            envelope: Envelope::to_mailboxes(now() + 60, &[dan_id], &[0x5a; 300])
                .map_err(|e| e.to_string())?
                .remove(0)
                .to_bytes(),
            credential: Credential::Open,
            ephemeral: false,
            conversation: None,
        };
        match self.relay.submit(&[crafted]) {
            Ok(_) => return Err("the relay took an envelope without a credential".into()),
            Err(e) => println!("   a crafted envelope to dan without a credential: {e}"),
        }

        step(
            "4. InMail: credit tokens the relay issues and takes without learning who spends them (Career 5 a month, Business 15, or bought; a premium token between premium members)",
        );
        self.refused(
            "ana (free member, no credit tokens) InMails dan",
            ana.send_inmail(&mut rand::rng(), &dan_id, &Content::text("hi"), now()),
        )?;
        // A free member may buy credits: the platform signs a receipt, which the relay
        // redeems once for credit tokens, issued blind like the monthly ones.
        let purchase = platform
            .sell_credits(&mut rand::rng(), ana.mailbox_id(), 3, now() + 86_400)
            .map_err(|e| e.to_string())?;
        let bought = self.with_store(&mut ana, |relay, client, store| {
            relay.redeem(client, store, &purchase)
        })?;
        println!(
            "   ana buys 3 InMail credits: the relay redeems the platform's receipt once, for {bought} credit tokens"
        );
        self.submit(ana.send_inmail(&mut rand::rng(), &dan_id, &Content::text(TEXTS[13]), now()))?;
        self.read(&mut dan)?;
        let ben_dan = contact(&self.relay, &mut ben, "dan")?;
        let credits = ben.tokens(TokenKind::Credit);
        self.submit(ben.send_inmail(&mut rand::rng(), &ben_dan, &Content::text(TEXTS[3]), now()))?;
        println!(
            "   ben InMails dan with one credit token: {credits} before, {} left this month",
            ben.tokens(TokenKind::Credit)
        );
        self.read(&mut dan)?;
        let ben_id_at_dan = *ben.mailbox_id();
        self.submit(dan.send(
            &mut rand::rng(),
            &ben_id_at_dan,
            &Content::text(TEXTS[4]),
            now(),
        ))?;
        println!("   dan replies in the conversation the InMail opened");
        self.read(&mut ben)?;
        let ben_chloe = contact(&self.relay, &mut ben, "chloe")?;
        ben.set_contact_profile(ben_chloe, chloe_profile())
            .map_err(|e| e.to_string())?;
        self.submit(ben.send_inmail(
            &mut rand::rng(),
            &ben_chloe,
            &Content::text(TEXTS[5]),
            now(),
        ))?;
        println!(
            "   ben InMails chloe, both premium: a premium token, still {} credit tokens",
            ben.tokens(TokenKind::Credit)
        );
        self.read(&mut chloe)?;

        step(
            "5. A sponsored message: buttons, an image banner and a lead form, readable only by its audience",
        );
        chloe.set_settings(Settings {
            sponsored_messages: false,
            ..*chloe.settings()
        });
        self.sync(&mut chloe)?;
        println!(
            "   chloe has switched sponsored messages off (her client and the relay both know)"
        );
        let audience = ["ana", "ben", "chloe", "dan"]
            .iter()
            .map(|u| contact(&self.relay, &mut acme, u))
            .collect::<Result<Vec<_>, _>>()?;
        let form = acme.new_lead_form(
            &mut rand::rng(),
            vec![
                LeadField {
                    name: "email".into(),
                    label: "Work email".into(),
                    required: true,
                },
                LeadField {
                    name: "role".into(),
                    label: "Current role".into(),
                    required: false,
                },
            ],
        );
        let ad = Sponsored {
            headline: "Acme is hiring Rust engineers".into(),
            body: TEXTS[6].into(),
            buttons: vec![CallToAction {
                label: "See roles".into(),
                target: "https://acme.example/jobs".into(),
            }],
            banner: Some(ImageRef {
                reference: "blob:acme-banner".into(),
                sha256: [7; 32],
            }),
            lead_form: Some(form.clone()),
        };
        self.submit(acme.send_sponsored(&mut rand::rng(), &audience, &ad, now()))?;
        for c in [&mut ana, &mut ben, &mut chloe, &mut dan] {
            self.read(c)?;
        }
        let acme_id = *acme.mailbox_id();
        let answer = self.saved(ana.answer_lead_form(
            &mut rand::rng(),
            &acme_id,
            &form,
            &[("email", "ana@example.com"), ("role", "Engineer")],
            now(),
        ))?;
        self.send(&[answer])?;
        println!("   ana answers the lead form, sealed to acme's form key");
        self.read(&mut acme)?;

        step(
            "6. A group: dan (admin) with ben (manager), ana and chloe; posts by admins and managers mention up to 20",
        );
        let members = [
            ("ana", Role::Member),
            ("ben", Role::Manager),
            ("chloe", Role::Member),
        ]
        .iter()
        .map(|(u, r)| Ok((contact(&self.relay, &mut dan, u)?, *r)))
        .collect::<Result<Vec<_>, String>>()?;
        let (group, out) = self.saved(dan.create_group(&mut rand::rng(), &members, now()))?;
        self.send(&out)?;
        println!(
            "   dan creates the group: welcomes and the epoch's access secret go to each member"
        );
        // Each member registers its key for the group as it joins; the relay lets group
        // messages through to members who have.
        for c in [&mut ana, &mut ben, &mut chloe] {
            self.read(c)?;
        }
        let mention = |m: &[MailboxId], text: &str| {
            Content::Text(Text {
                text: text.into(),
                mentions: m.to_vec(),
                attachments: vec![],
            })
        };
        let (ana_at_dan, chloe_at_dan) = (members[0].0, members[2].0);
        self.submit(dan.post_to_group(
            &mut rand::rng(),
            &group,
            &mention(&[ana_at_dan, chloe_at_dan], TEXTS[7]),
            now(),
        ))?;
        println!("   dan posts, mentioning ana and chloe");
        for c in [&mut ana, &mut ben, &mut chloe] {
            self.read(c)?;
        }
        for u in ["ana", "chloe", "dan"] {
            contact(&self.relay, &mut ben, u)?;
        }
        self.submit(ben.post_to_group(&mut rand::rng(), &group, &Content::text(TEXTS[8]), now()))?;
        println!("   ben (manager) posts");
        for c in [&mut ana, &mut chloe, &mut dan] {
            self.read(c)?;
        }
        self.refused(
            "ana (a plain member) posts to the group",
            ana.post_to_group(&mut rand::rng(), &group, &Content::text("me too"), now()),
        )?;
        let many: Vec<MailboxId> = (0..21u8).map(|i| MailboxId([i; 16])).collect();
        self.refused(
            "dan posts mentioning 21 members",
            dan.post_to_group(&mut rand::rng(), &group, &mention(&many, "everyone"), now()),
        )?;
        contact(&self.relay, &mut chloe, "ana")?;
        self.submit(chloe.send(&mut rand::rng(), &ana_id, &Content::text(TEXTS[9]), now()))?;
        println!("   chloe messages ana directly: not connected, but both are in the group");
        self.read(&mut ana)?;
        self.submit(dan.change_group(&mut rand::rng(), &group, &[], &[chloe_at_dan], now()))?;
        self.submit(dan.post_to_group(&mut rand::rng(), &group, &Content::text(TEXTS[10]), now()))?;
        println!("   dan removes chloe (a new epoch), then posts");
        for c in [&mut ana, &mut ben, &mut chloe] {
            self.read(c)?;
        }

        step("7. One message to several connections (at most 50), readable only by them");
        let ben_ana = *ana.mailbox_id();
        self.refused(
            "ana sends to ben and dan (dan is not a connection)",
            ana.send_multi(
                &mut rand::rng(),
                &[ben_id, dan_id],
                &Content::text("hi both"),
                now(),
            ),
        )?;
        contact(&self.relay, &mut ben, "ana")?;
        let (_, out) = self.saved(ben.send_multi(
            &mut rand::rng(),
            &[ben_ana],
            &Content::text(TEXTS[11]),
            now(),
        ))?;
        self.send(&out)?;
        self.show_relay("what the relay holds before ana fetches")?;
        self.capture()?;
        self.read(&mut ana)?;

        step("8. Settings: ben switches read receipts off");
        ben.set_settings(Settings {
            read_receipts: false,
            ..*ben.settings()
        });
        self.submit(ana.send(&mut rand::rng(), &ben_id, &Content::text(TEXTS[12]), now()))?;
        self.read(&mut ben)?;
        let last = self.last_message.take().ok_or("no message")?;
        let receipts = self.saved(ben.mark_read(&mut rand::rng(), &dm, &last, now()))?;
        println!(
            "   ben reads it; his client sends {} read receipts",
            receipts.len()
        );

        let mut users = [&mut ana, &mut ben, &mut chloe, &mut dan, &mut acme];
        for user in &mut users {
            self.sync(user)?;
        }
        let queued: usize = users.iter().map(|u| u.outbox().len()).sum();
        if queued > 0 {
            return Err(format!("{queued} envelopes still wait in outboxes"));
        }
        println!("   every envelope sent was taken by the relay: the outboxes are empty");

        let mut laptop = self.two_devices(&mut ana, &mut ben)?;
        self.sync(&mut laptop)?;

        step("10. What the relay never saw");
        self.audit(&[&ana, &laptop, &ben, &chloe, &dan, &acme], &TEXTS)?;
        self.show_relay("after every delivery was acknowledged")?;
        let metrics = self.relay.metrics()?;
        let counters: Vec<&str> = metrics
            .lines()
            .filter(|l| !l.starts_with('#') && !l.ends_with(" 0") && !l.contains("bytes_stored"))
            .collect();
        println!(" relay counters: {}", counters.join("; "));
        Ok(())
    }

    /// Ana links a laptop to her account: ben's messages reach both devices, the laptop's
    /// answer reaches ben and ana's phone, and once removed the laptop is sent nothing.
    fn two_devices(&self, ana: &mut Client, ben: &mut Client) -> Result<Client, String> {
        step("9. Two devices: ana links a laptop to her account");
        let err = |e: missive::Error| e.to_string();
        let mut laptop = Client::new(&mut rand::rng(), b"ana");
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        let path = self.data_dir.join("ana-laptop.db");
        let store = SqliteStore::open(&path, &key).map_err(|e| e.to_string())?;
        self.stores.borrow_mut().insert(*laptop.mailbox_id(), store);
        // The phone shows a code (a QR code); the laptop answers it through the relay.
        let code = ana.link_code(&mut rand::rng(), now()).map_err(err)?;
        self.sync(ana)?;
        let request = self.saved(laptop.answer_link(&mut rand::rng(), &code, now()))?;
        self.sync(&mut laptop)?;
        self.send(&[request])?;
        self.read(ana)?;
        let linked = self.saved(ana.link_device(&mut rand::rng(), now()))?;
        self.relay.put_devices(ana, &linked.list)?;
        self.send(&[linked.handover])?;
        self.read(&mut laptop)?;
        self.with_store(&mut laptop, |relay, laptop, store| {
            relay.publish(laptop, store, 20)
        })?;
        println!(
            "   the phone signs a device list naming both (version 2) and hands the account over; same safety number"
        );
        // Each takes ana's signed list from the directory, checked under her account's key.
        let ana_id = *ana.member_id();
        for c in [&mut *ben, &mut *ana, &mut laptop] {
            let found = self.relay.devices(c, b"ana")?;
            self.saved(c.add_contact_devices(&mut rand::rng(), &ana_id, &found))?;
        }
        let at_ben = self.relay.lookup(&laptop, b"ben")?;
        let ben_id = laptop
            .add_contact(&mut rand::rng(), b"ben", &at_ben)
            .map_err(err)?;
        self.submit(ana.send(&mut rand::rng(), &ben_id, &Content::text(TEXTS[14]), now()))?;
        println!(
            "   ana writes from the phone: a new chain, to ben and (with the conversation) to the laptop"
        );
        self.read(ben)?;
        self.read(&mut laptop)?;
        self.submit(ben.send(&mut rand::rng(), &ana_id, &Content::text(TEXTS[15]), now()))?;
        println!("   ben answers: one message, to each of her devices");
        self.read(ana)?;
        self.read(&mut laptop)?;
        self.submit(laptop.send(&mut rand::rng(), &ben_id, &Content::text(TEXTS[16]), now()))?;
        println!("   ana answers from the laptop: ben reads it as ana's, and so does her phone");
        self.read(ben)?;
        self.read(ana)?;
        let (adhoc, out) = self.saved(ben.send_multi(
            &mut rand::rng(),
            &[ana_id],
            &Content::text(TEXTS[18]),
            now(),
        ))?;
        self.send(&out)?;
        println!(
            "   ben sends a multi-recipient message: one 56-byte part for each of ana's devices, in one envelope"
        );
        self.read(ana)?;
        self.read(&mut laptop)?;
        self.submit(laptop.reply(&mut rand::rng(), &adhoc, &Content::text(TEXTS[19]), now()))?;
        println!("   the laptop answers all: ben and ana's phone read it as ana's");
        self.read(ben)?;
        self.read(ana)?;

        let removed = self.saved(ana.remove_device(&mut rand::rng(), 2, now()))?;
        self.relay.put_devices(ana, &removed.list)?;
        self.send(&removed.notices)?;
        self.read(ben)?;
        let found = self.relay.devices(ben, b"ana")?;
        self.saved(ben.add_contact_devices(&mut rand::rng(), &ana_id, &found))?;
        println!(
            "   ana removes the laptop (version 3): the relay revokes its mailbox, ben draws new keys"
        );
        println!(
            "   the phone sends the new list in the conversation to all: ben writes there no more"
        );
        self.refused(
            "ben answering all where the laptop still holds the keys",
            ben.reply(&mut rand::rng(), &adhoc, &Content::text("after"), now())
                .map(|_| ()),
        )?;
        self.submit(ben.send(&mut rand::rng(), &ana_id, &Content::text(TEXTS[17]), now()))?;
        self.read(ana)?;
        Ok(laptop)
    }

    fn database_bytes(&self) -> Vec<u8> {
        ["relay.db", "relay.db-wal"]
            .iter()
            .filter_map(|f| std::fs::read(self.data_dir.join(f)).ok())
            .flatten()
            .collect()
    }

    fn open_db(&self) -> Result<rusqlite::Connection, String> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        rusqlite::Connection::open_with_flags(self.data_dir.join("relay.db"), flags)
            .map_err(|e| e.to_string())
    }

    /// Keeps a copy of every envelope body and part the relay holds right now.
    fn capture(&self) -> Result<(), String> {
        let conn = self.open_db()?;
        let mut stmt = conn
            .prepare("SELECT bytes FROM bodies UNION ALL SELECT part FROM deliveries UNION ALL SELECT mailbox FROM deliveries")
            .map_err(|e| e.to_string())?;
        let blobs = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        self.stored.borrow_mut().extend(blobs);
        Ok(())
    }

    /// Searches what the relay stored of every envelope for names and identity keys, and its
    /// whole database (directory included, deleted pages included) for message texts.
    fn audit(&self, users: &[&Client], plaintexts: &[&str]) -> Result<(), String> {
        let stored = self.stored.borrow();
        let blobs_holding = |needle: &[u8]| {
            stored
                .iter()
                .filter(|b| b.windows(needle.len()).any(|w| w == needle))
                .count()
        };
        // A three-letter name turns up by chance in about one run in 500 of 32 KB of
        // ciphertext, so a bare name counts as a leak only when it is long enough or
        // recurs; the form our encodings give a name (its length, then its bytes) and a
        // 32-byte key count at once.
        let in_envelopes = |needle: &[u8]| {
            let mut encoded = vec![needle.len() as u8];
            encoded.extend_from_slice(needle);
            let bare = blobs_holding(needle);
            blobs_holding(&encoded) > 0 || bare > 1 || (bare > 0 && needle.len() >= 8)
        };
        let db = self.database_bytes();
        let in_database = |needle: &[u8]| db.windows(needle.len()).any(|w| w == needle);
        let mut leaks = Vec::new();
        for u in users {
            let identity = u.identity();
            let name = String::from_utf8_lossy(u.user()).into_owned();
            let keys = [
                ("identity key", &identity.dh_key().as_bytes()[..]),
                ("signing key", &identity.verifying_key().as_bytes()[..]),
                ("name", u.user()),
            ];
            for (what, needle) in keys {
                if in_envelopes(needle) {
                    leaks.push(format!("{name}'s {what} in an envelope"));
                }
            }
        }
        for text in plaintexts {
            if in_database(text.as_bytes()) {
                leaks.push(format!("plaintext {text:?}"));
            }
        }
        let bytes: usize = stored.iter().map(Vec::len).sum();
        println!(
            " {} stored envelope bodies and parts ({bytes} bytes): no sender name, identity key or signing key",
            stored.len()
        );
        println!(
            " {} bytes of relay database and log: none of the {} message texts",
            db.len(),
            plaintexts.len()
        );
        println!(
            " (the directory does hold each user's public bundle, by account name, as any directory must)"
        );
        if !leaks.is_empty() {
            return Err(format!(
                "the relay stored what it must not: {}",
                leaks.join(", ")
            ));
        }
        Ok(())
    }

    fn show_relay(&self, title: &str) -> Result<(), String> {
        let conn = self.open_db()?;
        let mut stmt = conn
            .prepare(
                "SELECT hex(d.mailbox), length(b.bytes), length(d.part), d.received_at, d.expires_at, b.body_id
                 FROM deliveries d JOIN bodies b ON b.body_id = d.body_id ORDER BY d.seq",
            )
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        println!(" relay storage, {title}: {} deliveries", rows.len());
        if !rows.is_empty() {
            println!(
                "   {:<10} {:>8} {:>10} {:>5} {:>8}",
                "mailbox", "body id", "body bytes", "part", "kept for"
            );
        }
        for (mailbox, body, part, received, expires, body_id) in rows {
            let days = (expires - received) / 86_400;
            println!(
                "   {:<10} {body_id:>8} {body:>10} {part:>5} {days:>6} d",
                &mailbox[..8.min(mailbox.len())]
            );
        }
        Ok(())
    }
}
