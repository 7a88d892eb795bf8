//! `missive chat --with NAME` (or `--group NAME`): a live view of one conversation. Deliveries arrive on the
//! mailbox's WebSocket and are shown, kept in the history, saved, then acknowledged on the
//! socket (in that order: a crash in between gets them again, never loses them). What is
//! typed goes through the outbox like `send`. Typing indicators and read receipts go both
//! ways unless this user switched them off (`missive settings`): the engine then sends none
//! and shows none. In a group, typing reaches the members who are our contacts, and the view
//! sends no read receipts (see [`Chat::receive`]).

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use missive::client::{Client, Content, Event, MessageRef, Outgoing, Unsaved};
use missive::conversation::ConversationId;
use missive::envelope::MailboxId;
use missive::relay_api::DeliveredEnvelope;
use ratatui::Frame;
use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Position};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::group_cmd;
use crate::http::{Relay, now};
use crate::socket::{self, Socket};
use crate::state_file::{Record, StateFile};
use crate::user_cmd::{
    account_name, contact, describe, history_entry, message_of, name_of, open, printable, save,
    saved, submit,
};

/// How long "typing…" stays up without a fresh indicator.
const TYPING_SHOWN: Duration = Duration::from_secs(6);
/// How often a typing indicator is repeated while the person keeps typing.
const TYPING_REPEAT: Duration = Duration::from_secs(4);
/// How long to wait before connecting the socket again.
const RECONNECT: Duration = Duration::from_secs(2);
/// How long the loop waits for a key before looking at the socket.
const KEY_POLL: Duration = Duration::from_millis(25);
/// Deliveries taken from the socket before saving and acknowledging them together.
const BATCH: usize = 64;
/// Delivery ids remembered, so one sent twice (backlog and push) is processed once.
const SEEN: usize = 4096;
/// Lines of the history shown when the view opens.
const BACKLOG_LINES: usize = 200;

/// Where a sent message is.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    /// In the outbox: the relay has not taken it yet.
    Queued,
    /// The relay took it.
    Sent,
    /// The other side's read receipt covers it.
    Read,
    /// The relay refused it for good (the reason is in a note).
    Refused,
}

enum Shown {
    Mine {
        text: String,
        mark: Mark,
    },
    Theirs {
        who: String,
        text: String,
    },
    /// Anything else that arrived: other people's messages, connection events, errors.
    Note(String),
}

/// What the view follows.
enum Target {
    Person { mailbox: MailboxId, name: String },
    Group(ConversationId),
}

impl Target {
    /// Under which name the history keeps what is said here.
    fn history_name(&self) -> String {
        match self {
            Self::Person { name, .. } => name.clone(),
            Self::Group(id) => group_cmd::history_name(id),
        }
    }

    fn conversation(&self, client: &Client) -> Option<ConversationId> {
        match self {
            Self::Person { mailbox, .. } => client.direct_conversation(mailbox).ok().flatten(),
            Self::Group(id) => Some(*id),
        }
    }

    /// Whether a message, typing indicator or read receipt belongs in this view (a person's
    /// posts to a group we share go to the group's view).
    fn covers(&self, client: &Client, event: &Event) -> bool {
        let (who, conversation) = match event {
            Event::Message {
                from, conversation, ..
            }
            | Event::Typing {
                from, conversation, ..
            } => (from, conversation),
            Event::Read {
                by, conversation, ..
            } => (by, conversation),
            _ => return false,
        };
        match self {
            Self::Person { mailbox, .. } => {
                who == mailbox && !client.groups().contains(conversation)
            }
            Self::Group(id) => conversation == id,
        }
    }

    /// Sends `content` here.
    fn send<'c>(
        &self,
        client: &'c mut Client,
        content: &Content,
    ) -> Result<Unsaved<'c, Vec<Outgoing>>, missive::Error> {
        match self {
            Self::Person { mailbox, .. } => client.send(&mut rand::rng(), mailbox, content, now()),
            Self::Group(id) => client.post_to_group(&mut rand::rng(), id, content, now()),
        }
    }
}

struct Chat {
    client: Client,
    file: StateFile,
    relay: Relay,
    target: Target,
    shown: Vec<Shown>,
    input: String,
    socket: Option<Socket>,
    connect_at: Instant,
    link: String,
    /// Who is typing here, until when.
    typing: Option<(String, Instant)>,
    /// When we last told the peer we were typing (`None`: we said we stopped, or never began).
    typing_sent: Option<Instant>,
    /// The newest message from the peer, not yet covered by a read receipt.
    unread: Option<(ConversationId, MessageRef)>,
    seen: HashSet<[u8; 16]>,
    seen_order: VecDeque<[u8; 16]>,
    dirty: bool,
}

/// Restores the terminal however the view ends.
struct Screen;

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the chat view with the person `with`, or in `group`, until Esc or Ctrl-C.
pub(crate) fn run(
    state: &Path,
    relay_url: &str,
    with: Option<&str>,
    group: Option<&str>,
) -> Result<(), String> {
    let (mut client, file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    let target = match (with, group) {
        (Some(with), _) => {
            let name = account_name(with)?;
            let mailbox = contact(&relay, &mut client, &name)?;
            Target::Person { mailbox, name }
        }
        (None, Some(group)) => Target::Group(group_cmd::find(&client, group)?),
        (None, None) => return Err("chat with whom? --with NAME or --group NAME".into()),
    };
    let here = target.history_name();
    let earlier: Vec<&Record> = file.history().iter().filter(|r| r.with == here).collect();
    let shown = earlier[earlier.len().saturating_sub(BACKLOG_LINES)..]
        .iter()
        .map(|r| match (r.sent, &target) {
            (true, _) => Shown::Mine {
                text: r.text.clone(),
                mark: Mark::Sent,
            },
            (false, Target::Person { name, .. }) => Shown::Theirs {
                who: name.clone(),
                text: r.text.clone(),
            },
            // A group's history keeps "sender: text".
            (false, Target::Group(_)) => {
                let (who, text) = r.text.split_once(": ").unwrap_or(("", &r.text));
                Shown::Theirs {
                    who: who.to_owned(),
                    text: text.to_owned(),
                }
            }
        })
        .collect();
    let mut chat = Chat {
        client,
        file,
        relay,
        target,
        shown,
        input: String::new(),
        socket: None,
        connect_at: Instant::now(),
        link: "connecting…".into(),
        typing: None,
        typing_sent: None,
        unread: None,
        seen: HashSet::new(),
        seen_order: VecDeque::new(),
        dirty: true,
    };
    // What the lookup added (a new contact) is kept before anything else happens.
    save(&mut chat.file, &mut chat.client)?;
    let mut terminal = ratatui::try_init().map_err(|e| format!("terminal: {e}"))?;
    let screen = Screen;
    let result = chat.run(&mut terminal);
    drop(screen);
    chat.stop_typing();
    if let Some(socket) = chat.socket.take() {
        socket.close();
    }
    result
}

impl Chat {
    fn run(&mut self, terminal: &mut ratatui::DefaultTerminal) -> Result<(), String> {
        loop {
            if self.dirty {
                terminal
                    .draw(|frame| self.draw(frame))
                    .map_err(|e| format!("terminal: {e}"))?;
                self.dirty = false;
            }
            if event::poll(KEY_POLL).map_err(|e| format!("terminal: {e}"))? {
                match event::read().map_err(|e| format!("terminal: {e}"))? {
                    event::Event::Key(key) if key.kind == KeyEventKind::Press => {
                        if !self.key(key) {
                            return Ok(());
                        }
                    }
                    _ => self.dirty = true,
                }
            }
            self.pump();
            if self
                .typing
                .as_ref()
                .is_some_and(|(_, until)| Instant::now() >= *until)
            {
                self.typing = None;
                self.dirty = true;
            }
        }
    }

    /// Handles a key; `false` to leave.
    fn key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return false,
            KeyCode::Char('c' | 'd') if ctrl => return false,
            KeyCode::Enter => self.send(),
            KeyCode::Backspace => {
                self.input.pop();
                self.typed();
            }
            KeyCode::Char(c) if !ctrl => {
                self.input.push(c);
                self.typed();
            }
            _ => {}
        }
        self.dirty = true;
        true
    }

    fn note(&mut self, text: impl Into<String>) {
        self.shown.push(Shown::Note(text.into()));
        self.dirty = true;
    }

    /// Reads what the socket has, or connects it when it is time.
    fn pump(&mut self) {
        let Some(socket) = self.socket.as_mut() else {
            if Instant::now() >= self.connect_at {
                self.connect();
            }
            return;
        };
        let mut got = Vec::new();
        let mut failed = None;
        while got.len() < BATCH {
            match socket.next() {
                Ok(Some(delivery)) => got.push(delivery),
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if !got.is_empty() {
            self.receive(got);
        }
        if let Some(e) = failed {
            self.offline(e);
        }
    }

    fn connect(&mut self) {
        let auth = Relay::auth(&self.client, "GET", socket::PATH, b"");
        match Socket::connect(self.relay.base(), &auth) {
            Ok(socket) => {
                self.socket = Some(socket);
                self.link = "live".into();
                self.dirty = true;
                self.flush_outbox();
            }
            Err(e) => self.offline(e),
        }
    }

    fn offline(&mut self, why: String) {
        self.socket = None;
        self.connect_at = Instant::now() + RECONNECT;
        self.link = format!("offline ({why}); retrying");
        self.dirty = true;
    }

    /// Sends what waits in the outbox; what the relay took is shown as sent.
    fn flush_outbox(&mut self) {
        let queued = self.client.outbox().to_vec();
        if queued.is_empty() {
            return;
        }
        match submit(&self.relay, &mut self.client, &mut self.file, &queued) {
            Ok(note) => {
                note.into_iter().for_each(|n| self.note(n));
                self.mark_all(Mark::Queued, Mark::Sent);
            }
            Err(e) => self.note(format!("({e})")),
        }
    }

    fn mark_all(&mut self, from: Mark, to: Mark) {
        for line in &mut self.shown {
            if let Shown::Mine { mark, .. } = line
                && *mark == from
            {
                *mark = to;
            }
        }
        self.dirty = true;
    }

    /// Whether `id` is new (and remembers it).
    fn first_time(&mut self, id: [u8; 16]) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > SEEN
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    fn receive(&mut self, deliveries: Vec<DeliveredEnvelope>) {
        let mut ids = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            ids.push(d.id);
            if !self.first_time(d.id) {
                continue;
            }
            match self.client.receive(&d.delivery, now()) {
                Ok(events) => events.into_iter().for_each(|e| self.event(e)),
                Err(e) => self.note(format!("(dropped a delivery: {e})")),
            }
        }
        // Saved before acknowledging: a crash in between gets them again, never loses them.
        if let Err(e) = save(&mut self.file, &mut self.client) {
            self.note(format!("(not saved, so not acknowledged: {e})"));
            return;
        }
        if let Some(Err(e)) = self.socket.as_mut().map(|s| s.ack(ids)) {
            self.offline(e);
        }
        // New group keys to register, or a contact key to hand out after a change.
        if let Err(e) = self.relay.sync(&mut self.client, &mut self.file) {
            self.note(format!("({e})"));
        }
        // What is on the screen has been read. Only a person gets a receipt: in a group it
        // would go to every member, and needs a session with each (a plain member has none
        // with the others until they write to each other).
        if let Some((conversation, up_to)) = self.unread.take()
            && matches!(self.target, Target::Person { .. })
        {
            let receipt = self
                .client
                .mark_read(&mut rand::rng(), &conversation, &up_to, now());
            let receipt = saved(&mut self.file, receipt);
            self.submit_saved(receipt);
        }
    }

    fn event(&mut self, event: Event) {
        let here = self.target.covers(&self.client, &event);
        match &event {
            Event::Message {
                from,
                conversation,
                id,
                ..
            } => {
                if let Some((with, text)) = history_entry(&self.client, &event) {
                    self.keep_with(with, false, text);
                }
                if here {
                    self.shown.push(Shown::Theirs {
                        who: name_of(&self.client, from),
                        text: message_of(&event),
                    });
                    self.unread = Some((*conversation, *id));
                    self.typing = None;
                } else {
                    self.shown
                        .extend(describe(&self.client, &event).map(Shown::Note));
                }
            }
            Event::Typing { from, typing, .. } if here => {
                self.typing =
                    typing.then(|| (name_of(&self.client, from), Instant::now() + TYPING_SHOWN));
            }
            Event::Read { .. } if here => self.mark_all(Mark::Sent, Mark::Read),
            _ => self
                .shown
                .extend(describe(&self.client, &event).map(Shown::Note)),
        }
        self.dirty = true;
    }

    fn keep_with(&mut self, with: String, sent: bool, text: String) {
        self.file.keep(Record {
            at: now(),
            with,
            sent,
            text,
        });
    }

    /// Submits what a send produced (and saved): `Some(true)` taken, `Some(false)` queued in
    /// the outbox for later, `None` failed (a note says why).
    fn submit_saved(&mut self, out: Result<Vec<Outgoing>, String>) -> Option<bool> {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                self.note(format!("({e})"));
                return None;
            }
        };
        match submit(&self.relay, &mut self.client, &mut self.file, &out) {
            Ok(note) => {
                note.into_iter().for_each(|n| self.note(n));
                Some(true)
            }
            Err(e) if Relay::worth_retrying(&e) => Some(false),
            Err(e) => {
                self.note(format!("({e})"));
                None
            }
        }
    }

    fn send(&mut self) {
        let text = self.input.trim_end().to_owned();
        if text.is_empty() {
            return;
        }
        let content = Content::text(text.as_str());
        let out = match self.target.send(&mut self.client, &content) {
            Ok(sent) => {
                // Kept with the state that sent it, in the same save.
                self.file.keep(Record {
                    at: now(),
                    with: self.target.history_name(),
                    sent: true,
                    text: text.clone(),
                });
                sent.save(&mut rand::rng(), &mut self.file)
                    .map_err(|e| e.to_string())
            }
            Err(e) => {
                // Nothing changed: the text stays in the line to try again.
                self.note(format!("(not sent: {e})"));
                return;
            }
        };
        self.input.clear();
        self.typing_sent = None;
        let mark = match self.submit_saved(out) {
            Some(true) => Mark::Sent,
            Some(false) => Mark::Queued,
            None => Mark::Refused,
        };
        self.shown.push(Shown::Mine { text, mark });
    }

    /// The input changed: tell the peer we are typing (repeated while we go on), or that we
    /// stopped once the line is empty.
    fn typed(&mut self) {
        if self.input.is_empty() {
            self.stop_typing();
        } else if self
            .typing_sent
            .is_none_or(|at| at.elapsed() >= TYPING_REPEAT)
        {
            self.typing_sent = Some(Instant::now());
            self.indicate(true);
        }
    }

    fn stop_typing(&mut self) {
        if self.typing_sent.take().is_some() {
            self.indicate(false);
        }
    }

    /// A typing indicator: ephemeral and best effort (nothing to save, nothing to retry).
    fn indicate(&mut self, typing: bool) {
        let Some(conversation) = self.target.conversation(&self.client) else {
            return;
        };
        if let Ok(out) = self
            .client
            .typing(&mut rand::rng(), &conversation, typing, now())
        {
            let _ = self.relay.submit(&out);
        }
    }

    fn draw(&self, frame: &mut Frame) {
        let [top, body, status, input] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(3),
        ])
        .areas(frame.area());
        let me = printable(&String::from_utf8_lossy(self.client.user()));
        let title = match &self.target {
            Target::Person { name, .. } => format!(" {me} ↔ {} ", printable(name)),
            Target::Group(id) => {
                let members = self
                    .client
                    .conversation(id)
                    .ok()
                    .flatten()
                    .map_or(0, |c| c.members.len());
                format!(
                    " {me} in group {} ({members} members) ",
                    group_cmd::label(id)
                )
            }
        };
        frame.render_widget(
            Line::from(vec![
                Span::from(title).bold(),
                Span::from(format!(" {}", self.link)).dim(),
            ]),
            top,
        );
        let lines: Vec<Line> = self
            .shown
            .iter()
            .map(|s| match s {
                Shown::Mine { text, mark } => {
                    let mark = match mark {
                        Mark::Queued => " · queued",
                        Mark::Sent => " · sent",
                        Mark::Read => " · read",
                        Mark::Refused => " · not delivered",
                    };
                    Line::from(vec![
                        Span::from("you: ").bold(),
                        Span::from(printable(text)),
                        Span::from(mark).dim(),
                    ])
                }
                Shown::Theirs { who, text } => Line::from(vec![
                    Span::from(format!("{}: ", printable(who))).bold().cyan(),
                    Span::from(printable(text)),
                ]),
                Shown::Note(text) => Line::from(Span::from(printable(text)).dim()),
            })
            .collect();
        let messages = Paragraph::new(lines).wrap(Wrap { trim: false });
        let height = usize::from(body.height);
        let total = messages.line_count(body.width);
        let scroll = u16::try_from(total.saturating_sub(height)).unwrap_or(u16::MAX);
        frame.render_widget(messages.scroll((scroll, 0)), body);
        if let Some((who, _)) = &self.typing {
            frame.render_widget(
                Line::from(format!("{} is typing…", printable(who)))
                    .italic()
                    .dim(),
                status,
            );
        }
        let block = Block::bordered().title(" Enter sends · Esc leaves ");
        let inner = block.inner(input);
        // The end of a long line stays in view.
        let width = usize::from(inner.width.saturating_sub(1));
        let chars: Vec<char> = printable(&self.input).chars().collect();
        let visible: String = chars[chars.len().saturating_sub(width)..].iter().collect();
        let cursor = u16::try_from(visible.chars().count()).unwrap_or(0);
        frame.render_widget(Paragraph::new(visible).block(block), input);
        frame.set_cursor_position(Position::new(inner.x + cursor, inner.y));
    }
}
