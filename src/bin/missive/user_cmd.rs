//! `missive init`, `publish`, `send` and `read`: one user's client state in a file.

use std::path::Path;

use missive::client::{
    Access, Client, ClientStore, Connection, Content, Event, Outgoing, StoreError, Unsaved, Waiting,
};
use missive::envelope::MailboxId;
use missive::platform::{Profile, monthly_tokens};
use missive::relay_api::PrekeyStock;
use missive::token::TokenKind;

use crate::http::{Relay, now};
use crate::state_file::{Record, StateFile};

/// Opens the state file at `path` (holding its lock) and loads the client in it.
pub(crate) fn open(path: &Path) -> Result<(Client, StateFile), String> {
    open_file(StateFile::open(path, false)?)
}

/// Loads the client at `path` to show what it holds (no lock: runs beside a chat view).
pub(crate) fn view(path: &Path) -> Result<(Client, StateFile), String> {
    open_file(StateFile::view(path)?)
}

fn open_file(file: StateFile) -> Result<(Client, StateFile), String> {
    let path = file.path().to_owned();
    let path = path.as_path();
    match Client::load_from(&file) {
        Ok(Some(client)) => Ok((client, file)),
        Ok(None) => Err(format!(
            "{}: no such file (run `init` first)",
            path.display()
        )),
        Err(StoreError::Tampered) => Err(format!(
            "{}: wrong passphrase or key, or the file was altered",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Seals the client state into its file.
pub(crate) fn save(file: &mut StateFile, client: &mut Client) -> Result<(), String> {
    client
        .save_to(&mut rand::rng(), file)
        .map_err(|e| format!("{}: {e}", file.path().display()))
}

/// What a send produced, once the state that sent it is in its file.
pub(crate) fn saved<T>(
    file: &mut StateFile,
    sent: Result<Unsaved<'_, T>, missive::Error>,
) -> Result<T, String> {
    let path = file.path().to_owned();
    sent.map_err(|e| e.to_string())?
        .save(&mut rand::rng(), file)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `name` as the directory spells it (NFC), or why it cannot be an account name.
pub(crate) fn account_name(name: &str) -> Result<String, String> {
    missive::name::normalize(name).map_err(|e| format!("{}: {e}", printable(name)))
}

/// Text from other people, safe to print: control and invisible formatting characters are
/// shown escaped, so a message cannot move the cursor, clear the screen or reorder a line.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if missive::name::is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The message to send: `text`, or standard input when it is absent or `-`.
pub(crate) fn message_text(text: Option<String>) -> Result<String, String> {
    let text = match text.as_deref() {
        None | Some("-") => {
            let mut input = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
                .map_err(|e| format!("standard input: {e}"))?;
            // The newline a shell or editor ends a file with is not part of the message.
            input.strip_suffix('\n').map(str::to_owned).unwrap_or(input)
        }
        Some(_) => text.unwrap_or_default(),
    };
    if text.is_empty() {
        return Err("nothing to send: the message is empty".into());
    }
    Ok(text)
}

pub(crate) fn init(state: &Path, user: &str) -> Result<(), String> {
    let user = account_name(user)?;
    let mut file = StateFile::create(state)?;
    let mut client = Client::new(&mut rand::rng(), user.as_bytes());
    save(&mut file, &mut client)?;
    println!(
        "created {user}: mailbox {}",
        hex::encode(client.mailbox_id().0)
    );
    Ok(())
}

/// The platform's side, for a stand-alone relay that is its own platform: signs the user's
/// account certificate with the key in the relay's data directory.
pub(crate) fn certify(
    state: &Path,
    relay_data_dir: &Path,
    profile: Profile,
    advertiser: bool,
) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let mut platform = crate::relay_cmd::existing_platform(relay_data_dir)?;
    platform.register(*client.mailbox_id(), profile);
    let account = platform
        .certify_account(client.mailbox_id(), advertiser, now() + 365 * 86_400)
        .map_err(|e| e.to_string())?;
    client.set_platform_key(platform.public_key());
    client.set_profile(profile);
    client.set_account(account);
    save(&mut file, &mut client)?;
    println!(
        "certified: {:?}{}",
        profile.tier,
        if advertiser { ", advertiser" } else { "" }
    );
    Ok(())
}

pub(crate) fn publish(state: &Path, relay: &str, count: usize) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay)?;
    relay.publish(&mut client, &mut file, count)?;
    relay.sync(&mut client, &mut file)?;
    let tokens = top_up(&relay, &mut client, &mut file);
    println!("published a bundle and {count} one-time prekeys; registered access keys{tokens}");
    Ok(())
}

/// Asks the relay for this month's tokens the account has not taken yet; says what it got.
pub(crate) fn top_up(relay: &Relay, client: &mut Client, store: &mut dyn ClientStore) -> String {
    if client.account().is_none() {
        return String::new();
    }
    let mut got = Vec::new();
    for (kind, count) in [
        (TokenKind::Invite, 10),
        (TokenKind::Credit, 15),
        (TokenKind::Premium, 10),
        (TokenKind::Sponsored, 20),
    ] {
        let quota = client
            .account()
            .map_or(0, |a| monthly_tokens(kind, a) as usize);
        let want = count.min(quota).saturating_sub(client.tokens(kind));
        // A quota already taken this month is not an error: the tokens are in the wallet.
        if want > 0
            && let Ok(n) = relay.tokens(client, store, kind, want)
        {
            got.push(format!("{n} {}", kind.label()));
        }
    }
    if got.is_empty() {
        String::new()
    } else {
        format!("; tokens: {}", got.join(", "))
    }
}

/// The mailbox of `user`, starting a session from the directory if they are new to us.
pub(crate) fn contact(relay: &Relay, client: &mut Client, user: &str) -> Result<MailboxId, String> {
    let user = account_name(user)?;
    if user.as_bytes() == client.user() {
        return Err(format!("{user} is you"));
    }
    if let Some(c) = client
        .contact_by_user(user.as_bytes())
        .map_err(|e| e.to_string())?
    {
        return Ok(c.mailbox);
    }
    let response = relay.lookup(client, user.as_bytes()).map_err(|e| {
        if e.contains(" 404 ") {
            format!("no account named {user} on this relay")
        } else {
            format!("{user}: {e}")
        }
    })?;
    client
        .add_contact(&mut rand::rng(), user.as_bytes(), &response)
        .map_err(|e| format!("{user}: {e}"))
}

/// Receives, prints and saves what is waiting, then acknowledges it; how many deliveries
/// were dropped or refused. Commands that act on the conversation start with it, as an app
/// would be up to date before sending (an acceptance waiting unread would leave the
/// connection unknown).
pub(crate) fn catch_up(
    relay: &Relay,
    client: &mut Client,
    file: &mut StateFile,
) -> Result<usize, String> {
    flush_outbox(relay, client, file)?;
    let received = receive_all(relay, client)?;
    for line in &received.lines {
        println!("{line}");
    }
    for (with, text) in received.messages {
        file.keep(Record {
            at: now(),
            with,
            sent: false,
            text,
        });
    }
    // Saved before acknowledging: a crash in between fetches them again, never loses them.
    save(file, client)?;
    relay.ack(client, received.ids)?;
    Ok(received.dropped)
}

pub(crate) fn send(state: &Path, relay_url: &str, to: &[String], text: &str) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    // Offline, a message to people already known is still sent: it waits in the outbox.
    match catch_up(&relay, &mut client, &mut file) {
        Err(e) if Relay::worth_retrying(&e) => eprintln!("({e}: sending offline)"),
        other => drop(other?),
    }
    let mailboxes = to
        .iter()
        .map(|u| contact(&relay, &mut client, u))
        .collect::<Result<Vec<_>, _>>()?;
    let content = Content::text(text);
    // Saved first: a crash after submitting must not reuse a message key.
    let outgoing = match mailboxes.as_slice() {
        [one] => saved(
            &mut file,
            client.send(&mut rand::rng(), one, &content, now()),
        )?,
        many => {
            let sent = client.send_multi(&mut rand::rng(), many, &content, now());
            saved(&mut file, sent)?.1
        }
    };
    let names = to
        .iter()
        .map(|u| account_name(u))
        .collect::<Result<Vec<_>, _>>()?;
    file.keep(Record {
        at: now(),
        with: names.join(", "),
        sent: true,
        text: text.to_owned(),
    });
    submit(&relay, &mut client, &mut file, &outgoing)?;
    relay.sync(&mut client, &mut file)?;
    let shown: Vec<String> = names.iter().map(|u| printable(u)).collect();
    println!("sent to {}", shown.join(", "));
    Ok(())
}

pub(crate) fn invite(
    state: &Path,
    relay_url: &str,
    to: &str,
    note: Option<&str>,
) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    if client.account().is_none() {
        return Err(format!(
            "{} has no account certificate yet, so no invitation tokens: run `certify`, then `publish`",
            printable(&String::from_utf8_lossy(client.user()))
        ));
    }
    let mailbox = contact(&relay, &mut client, to)?;
    if client.tokens(TokenKind::Invite) == 0 {
        top_up(&relay, &mut client, &mut file);
    }
    let out = saved(
        &mut file,
        client.invite(&mut rand::rng(), &mailbox, note, now()),
    )?;
    submit(&relay, &mut client, &mut file, &out)?;
    println!("invited {}", account_name(to)?);
    Ok(())
}

pub(crate) fn accept(state: &Path, relay_url: &str, from: &str) -> Result<(), String> {
    let (mut client, mut file, relay, mailbox, from) = invitation(state, relay_url, from)?;
    let out = saved(&mut file, client.accept(&mut rand::rng(), &mailbox, now()))?;
    submit(&relay, &mut client, &mut file, &out)?;
    relay.sync(&mut client, &mut file)?;
    println!("connected with {from}");
    Ok(())
}

pub(crate) fn decline(state: &Path, relay_url: &str, from: &str) -> Result<(), String> {
    let (mut client, mut file, relay, mailbox, from) = invitation(state, relay_url, from)?;
    let out = saved(&mut file, client.decline(&mut rand::rng(), &mailbox, now()))?;
    submit(&relay, &mut client, &mut file, &out)?;
    println!("declined {from}'s invitation");
    Ok(())
}

/// The state, the relay, and the mailbox of `from`, whose invitation waits for an answer.
fn invitation(
    state: &Path,
    relay_url: &str,
    from: &str,
) -> Result<(Client, StateFile, Relay, MailboxId, String), String> {
    let from = account_name(from)?;
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    catch_up(&relay, &mut client, &mut file)?;
    let mailbox = client
        .contact_by_user(from.as_bytes())
        .map_err(|e| e.to_string())?
        .map(|c| c.mailbox)
        .filter(|m| matches!(client.connection(m), Ok(Connection::InvitedUs(_))))
        .ok_or_else(|| format!("no invitation from {from} is waiting"))?;
    Ok((client, file, relay, mailbox, from))
}

/// Prints the messages exchanged with `with` (sent to several people counts for each).
pub(crate) fn history(state: &Path, with: &str) -> Result<(), String> {
    let with = account_name(with)?;
    let (_, file) = view(state)?;
    let mut any = false;
    for r in file.history() {
        if !r.with.split(", ").any(|w| w == with) {
            continue;
        }
        any = true;
        let who = if r.sent {
            format!("you → {}", printable(&r.with))
        } else {
            printable(&r.with)
        };
        println!("[{}] {who}: {}", r.at, printable(&r.text));
    }
    if !any {
        println!("(no messages with {})", printable(&with));
    }
    Ok(())
}

/// Lists who messages were exchanged with: how many, and when the last was.
pub(crate) fn conversations(state: &Path) -> Result<(), String> {
    let (_, file) = view(state)?;
    let mut seen: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
    for r in file.history() {
        let entry = seen.entry(r.with.as_str()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(r.at);
    }
    if seen.is_empty() {
        println!("(no conversations yet)");
    }
    for (with, (count, last)) in seen {
        let plural = if count == 1 { "" } else { "s" };
        println!(
            "{}: {count} message{plural}, last at {last}",
            printable(with)
        );
    }
    Ok(())
}

/// Seals a state saved in the clear by an earlier version (a sealed one is left as it is).
pub(crate) fn seal(state: &Path) -> Result<(), String> {
    let (mut client, mut file) = open_file(StateFile::open(state, true)?)?;
    save(&mut file, &mut client)?;
    println!("{} is sealed", state.display());
    Ok(())
}

pub(crate) fn whoami(state: &Path) -> Result<(), String> {
    let (client, _) = view(state)?;
    let user = String::from_utf8_lossy(client.user()).into_owned();
    println!("account  {}", printable(&user));
    println!("mailbox  {}", hex::encode(client.mailbox_id().0));
    println!("identity {}", hex::encode(client.identity().to_bytes()));
    match client.account() {
        Some(a) => println!(
            "account certificate: {:?}{}, until {}",
            a.tier,
            if a.advertiser { ", advertiser" } else { "" },
            a.expires
        ),
        None => println!("no account certificate (run `certify`, then `publish`)"),
    }
    Ok(())
}

/// Adds the members named in `add` as contacts (from the relay's directory: their verified
/// keys, and a session to write to them, as a group's manager needs with each member), then
/// lists every contact.
pub(crate) fn contacts(state: &Path, relay_url: &str, add: &[String]) -> Result<(), String> {
    let (client, _) = if add.is_empty() {
        view(state)?
    } else {
        let (mut client, mut file) = open(state)?;
        let relay = Relay::new(relay_url)?;
        for name in add {
            contact(&relay, &mut client, name)?;
        }
        save(&mut file, &mut client)?;
        (client, file)
    };
    let mut rows: Vec<(String, &'static str)> = Vec::new();
    for c in client.contacts().map_err(|e| e.to_string())? {
        let status = match client.connection(&c.mailbox).map_err(|e| e.to_string())? {
            Connection::Connected => "connected",
            Connection::Invited => "invited by you",
            Connection::InvitedUs(_) => "invited you",
            Connection::None => "not connected",
        };
        rows.push((printable(&String::from_utf8_lossy(&c.user)), status));
    }
    rows.sort();
    if rows.is_empty() {
        println!("(no contacts yet)");
    }
    for (name, status) in rows {
        println!("{name}: {status}");
    }
    Ok(())
}

/// Prints what is waiting; how many deliveries were dropped or refused.
pub(crate) fn read(state: &Path, relay_url: &str) -> Result<usize, String> {
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    let dropped = catch_up(&relay, &mut client, &mut file)?;
    // New group keys to register, or a contact key to replace after a removal.
    relay.sync(&mut client, &mut file)?;
    // One-time prekeys running low: publish more.
    let user = client.user().to_vec();
    let left = relay.stock(&client, &user)?;
    let wanted = client.prekeys_wanted(&PrekeyStock { one_time: left });
    if wanted > 0 {
        relay.publish(&mut client, &mut file, wanted)?;
        println!("(published {wanted} more one-time prekeys: {left} were left)");
    }
    // Messages owed to group members who had not caught up, if it is time to try again.
    let again = saved(&mut file, Ok(client.resend(now())))?;
    if let Some(note) = submit(&relay, &mut client, &mut file, &again)? {
        println!("{note}");
    }
    Ok(dropped)
}

/// Submits what was sent (and saved, in the outbox), in order. Each envelope the relay takes
/// leaves the outbox; what it could not deliver to some recipients yet goes to the resend
/// queue (the answer says so, for a person to read). If the relay cannot be reached (or is
/// overloaded), the rest stays in the outbox for the next command; an envelope it refuses for
/// good is dropped and reported.
pub(crate) fn submit(
    relay: &Relay,
    client: &mut Client,
    file: &mut StateFile,
    out: &[Outgoing],
) -> Result<Option<String>, String> {
    let mut refused = Vec::new();
    let mut unreachable = None;
    let mut missed = Vec::new();
    for o in out {
        match relay.submit(std::slice::from_ref(o)) {
            Ok(not_reached) => {
                client.accepted(o);
                for (sent, mailboxes) in &not_reached {
                    client.undelivered(sent, mailboxes, now());
                }
                missed.extend(not_reached);
            }
            Err(e) if Relay::worth_retrying(&e) => {
                unreachable = Some(e);
                break;
            }
            Err(e) => {
                client.accepted(o);
                refused.push(e);
            }
        }
    }
    save(file, client)?;
    if let Some(e) = unreachable {
        let queued = client.outbox().len();
        return Err(format!(
            "{e}; {queued} envelope(s) wait in the outbox and go with the next command"
        ));
    }
    if refused.is_empty() {
        Ok(Relay::missed_note(&missed))
    } else {
        Err(refused.join("; "))
    }
}

/// Submits what earlier commands left in the outbox, oldest first.
pub(crate) fn flush_outbox(
    relay: &Relay,
    client: &mut Client,
    file: &mut StateFile,
) -> Result<(), String> {
    let queued = client.outbox().to_vec();
    if queued.is_empty() {
        return Ok(());
    }
    let note = submit(relay, client, file, &queued)?;
    println!("(sent {} envelope(s) left in the outbox)", queued.len());
    note.into_iter().for_each(|n| println!("{n}"));
    Ok(())
}

/// What [`receive_all`] found: a line per event, the deliveries to acknowledge once the state
/// is saved, and how many were dropped or refused.
pub(crate) struct Received {
    pub(crate) lines: Vec<String>,
    /// Messages for the history: who from, and the text.
    pub(crate) messages: Vec<(String, String)>,
    pub(crate) ids: Vec<[u8; 16]>,
    pub(crate) dropped: usize,
}

/// Fetches and decrypts everything waiting (the caller saves, then acknowledges `ids`).
pub(crate) fn receive_all(relay: &Relay, client: &mut Client) -> Result<Received, String> {
    let deliveries = relay.fetch(client)?;
    let mut received = Received {
        lines: Vec::new(),
        messages: Vec::new(),
        ids: Vec::new(),
        dropped: 0,
    };
    for d in deliveries {
        match client.receive(&d.delivery, now()) {
            Ok(events) => {
                for e in &events {
                    received.dropped += usize::from(matches!(e, Event::Refused { .. }));
                    received.lines.extend(describe(client, e));
                    received.messages.extend(history_entry(client, e));
                }
            }
            Err(e) => {
                received.dropped += 1;
                received.lines.push(format!("(dropped a delivery: {e})"));
            }
        }
        received.ids.push(d.id);
    }
    Ok(received)
}

/// A line for a person to read, or nothing for bookkeeping events. `name` turns a mailbox
/// into the contact's account name.
pub(crate) fn describe(client: &Client, event: &Event) -> Option<String> {
    describe_raw(client, event).map(|line| printable(&line))
}

/// What the history keeps of a message event: under whose name (the sender's, or the
/// group's for a group post, then prefixed with the sender's), and the text.
pub(crate) fn history_entry(client: &Client, event: &Event) -> Option<(String, String)> {
    let Event::Message {
        from,
        conversation,
        access,
        ..
    } = event
    else {
        return None;
    };
    let sender = name_of(client, from);
    Some(match access {
        Access::Group => (
            crate::group_cmd::history_name(conversation),
            format!("{sender}: {}", message_of(event)),
        ),
        _ => (sender, message_of(event)),
    })
}

/// What the history keeps of a message: its text, or a line for sponsored content.
pub(crate) fn message_of(event: &Event) -> String {
    match event {
        Event::Message {
            access: Access::Sponsored(_),
            content,
            ..
        } => sponsored_line(content),
        Event::Message { content, .. } => content.as_text().unwrap_or("(non-text content)").into(),
        _ => String::new(),
    }
}

/// A contact's account name, or the start of an unknown mailbox's id.
pub(crate) fn name_of(client: &Client, m: &MailboxId) -> String {
    if m == client.member_id() {
        return "you (on another device)".into();
    }
    client.contact(m).ok().flatten().map_or_else(
        || hex::encode(&m.0[..4]),
        |c| String::from_utf8_lossy(&c.user).into_owned(),
    )
}

fn describe_raw(client: &Client, event: &Event) -> Option<String> {
    let name = |m: &MailboxId| name_of(client, m);
    Some(match event {
        Event::Message {
            from,
            access,
            content,
            ..
        } => {
            let kind = match access {
                Access::InMail(_) => " [InMail]",
                Access::OpenProfile => " [Open Profile]",
                Access::Sponsored(c) => {
                    return Some(format!(
                        "[Sponsored by {}] {}",
                        c.name,
                        sponsored_line(content)
                    ));
                }
                Access::Group => " [group post]",
                Access::Multi => " [to several]",
                _ => "",
            };
            format!(
                "{}{kind}: {}",
                name(from),
                content.as_text().unwrap_or("(non-text content)")
            )
        }
        Event::Refused { from, reason, .. } => {
            format!("(refused a message from {}: {reason})", name(from))
        }
        Event::Invitation { from, note } => format!(
            "(invitation from {}{})",
            name(from),
            note.as_ref()
                .map(|n| format!(": \"{n}\""))
                .unwrap_or_default()
        ),
        Event::Connected(m) => format!("(now connected with {})", name(m)),
        Event::Declined(m) => format!("({} declined the invitation)", name(m)),
        Event::Withdrawn(m) => format!("({} withdrew the invitation)", name(m)),
        Event::Disconnected(m) => format!("({} removed the connection)", name(m)),
        Event::ConnectionChanged { with, standing } => {
            format!("(on another device: {standing:?} with {})", name(with))
        }
        Event::SettingsChanged(s) => format!(
            "(on another device: read receipts {}, typing indicators {}, sponsored messages {})",
            word(s.read_receipts),
            word(s.typing_indicators),
            word(s.sponsored_messages)
        ),
        Event::Read { by, .. } => format!("(read by {})", name(by)),
        Event::Typing {
            from, typing: true, ..
        } => format!("({} is typing…)", name(from)),
        Event::Lead(lead) => format!(
            "(lead from {}: {})",
            String::from_utf8_lossy(&lead.user),
            lead.answers
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::Removed { group, by } => format!(
            "({} removed you from group {})",
            name(by),
            hex::encode(&group.0[..4])
        ),
        Event::Waiting(Waiting::Early) => "(a message waits for what it needs to arrive)".into(),
        Event::LinkAnswered(device) => format!(
            "(a new device answered your link code: mailbox {}…)",
            hex::encode(&device.mailbox.0[..4])
        ),
        Event::Linked { device } => format!("(linked: this is device {device} of the account)"),
        _ => return None,
    })
}

fn sponsored_line(content: &Content) -> String {
    match content {
        Content::Sponsored(s) => {
            let buttons: Vec<&str> = s.buttons.iter().map(|b| b.label.as_str()).collect();
            let form = s
                .lead_form
                .as_ref()
                .map(|f| format!(", lead form with {} fields", f.fields.len()))
                .unwrap_or_default();
            format!("{}: {} [{}]{form}", s.headline, s.body, buttons.join("] ["))
        }
        _ => String::new(),
    }
}

fn word(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Switches settings given as `Some`, then prints them all.
pub(crate) fn settings(
    state: &Path,
    relay_url: &str,
    read_receipts: Option<bool>,
    typing: Option<bool>,
    sponsored: Option<bool>,
) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let mut settings = *client.settings();
    let before = settings;
    if let Some(on) = read_receipts {
        settings.read_receipts = on;
    }
    if let Some(on) = typing {
        settings.typing_indicators = on;
    }
    if let Some(on) = sponsored {
        settings.sponsored_messages = on;
    }
    if settings != before {
        client.set_settings(settings);
        save(&mut file, &mut client)?;
        // Whether sponsored messages reach this mailbox is the relay's to enforce.
        Relay::new(relay_url)?.sync(&mut client, &mut file)?;
    }
    let now = client.settings();
    println!("read receipts: {}", word(now.read_receipts));
    println!("typing indicators: {}", word(now.typing_indicators));
    println!("sponsored messages: {}", word(now.sponsored_messages));
    Ok(())
}
