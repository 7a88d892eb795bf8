//! `missive`: run a relay, manage an identity, send and read messages, and the demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use missive::platform::{Profile, Tier};
use missive::relay::{Limits, RelayConfig};

mod backlog;
mod chat;
mod demo;
mod group_cmd;
mod http;
mod load;
mod push_load;
mod relay_cmd;
mod slow;
mod socket;
mod state_file;
mod tls;
mod user_cmd;
#[cfg(feature = "vectors")]
mod vectors_cmd;

/// Missive: end-to-end encrypted messaging engine, relay and client.
/// Exit status of `read` when some deliveries were dropped or refused (each is listed).
const DROPPED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Exit status: 0 done; 1 failed (the reason is on standard error); 2 bad \
                  arguments; 3 `read` printed what it could but dropped or refused some \
                  deliveries (each is listed).\n\
                  MISSIVE_STATE and MISSIVE_RELAY stand for --state and --relay. State files \
                  are sealed under MISSIVE_PASSPHRASE (Argon2id), or MISSIVE_STATE_KEY (64 hex \
                  digits), or a passphrase typed on the terminal."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a relay: durable store-and-forward of envelopes it cannot read.
    Relay {
        /// Where the relay keeps its database (and, with `--store`, only its platform key).
        #[arg(long, default_value = "missive-relay-data")]
        data_dir: PathBuf,
        /// A PostgreSQL database (`postgres://user@host:port/db`) to store into instead of
        /// SQLite in the data directory; any number of relays may share one.
        #[arg(long, env = "MISSIVE_RELAY_STORE")]
        store: Option<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: SocketAddr,
        /// Sustained requests per second per client (mailbox, or address when anonymous).
        #[arg(long, default_value_t = RelayConfig::default().rate_per_second)]
        rate_per_second: u32,
        /// Requests a client may burst above the sustained rate.
        #[arg(long, default_value_t = RelayConfig::default().rate_burst)]
        rate_burst: u32,
        /// WebSocket connections one mailbox may hold open (more are refused, 429).
        #[arg(long, default_value_t = RelayConfig::default().max_sockets_per_mailbox)]
        max_sockets_per_mailbox: usize,
        /// WebSocket connections the relay holds open in all (more are refused, 503).
        #[arg(long, default_value_t = RelayConfig::default().max_sockets)]
        max_sockets: usize,
        /// Bytes a WebSocket may have waiting to be written; a connection further behind is
        /// dropped (its client fetches again, nothing stored is lost).
        #[arg(long, default_value_t = RelayConfig::default().socket_queue_bytes)]
        socket_queue_bytes: usize,
        /// Seconds a WebSocket write may take before the connection is dropped.
        #[arg(long, default_value_t = RelayConfig::default().socket_write_timeout)]
        socket_write_timeout: u64,
        /// Mailboxes' access records kept in memory at most; the others are read from the
        /// store when a submission names them.
        #[arg(long, default_value_t = RelayConfig::default().access_cache)]
        access_cache: usize,
        /// Largest envelope accepted, in bytes (a request body may be 1 KiB more).
        #[arg(long, default_value_t = RelayConfig::default().max_envelope_bytes)]
        max_envelope_bytes: usize,
        /// Most mailboxes one envelope may name.
        #[arg(long, default_value_t = RelayConfig::default().max_recipients)]
        max_recipients: usize,
        /// Deliveries one mailbox may hold unacknowledged (more are refused, 403).
        #[arg(long, default_value_t = RelayConfig::default().limits.max_pending_per_mailbox)]
        max_pending_per_mailbox: u64,
    },
    /// Start a relay on a temporary directory and walk five members through every message kind.
    Demo,
    /// Create a user: identity, mailbox key and prekeys, saved in a state file.
    Init {
        /// Account name.
        #[arg(long)]
        user: String,
        /// Where to keep this user's state (secret: readable by the owner only).
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
    },
    /// The platform's side for a stand-alone relay: certify a user's account (tier, Open
    /// Profile, advertiser) with the key in the relay's data directory.
    Certify {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// The relay's data directory (holds the platform key).
        #[arg(long, default_value = "missive-relay-data")]
        relay_data_dir: PathBuf,
        /// Subscription: free, career or business.
        #[arg(long, default_value = "free")]
        tier: String,
        /// Open Profile: anyone may message this (premium) member.
        #[arg(long)]
        open_profile: bool,
        /// A registered advertiser.
        #[arg(long)]
        advertiser: bool,
    },
    /// Publish the user's prekey bundle and one-time prekeys to the relay's directory,
    /// register its access keys, and take this month's tokens.
    Publish {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// How many one-time prekeys to add.
        #[arg(long, default_value_t = 20)]
        count: usize,
    },
    /// Send a text message to one user, or to several (one multi-recipient message).
    Send {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Recipient account names (up to 50), repeated or comma-separated: `--to bob,carol`.
        #[arg(long, required = true, value_delimiter = ',')]
        to: Vec<String>,
        /// The text; without it, or with `-`, the text is read from standard input.
        text: Option<String>,
    },
    /// Drive a relay with 1 KiB envelopes over many keep-alive connections and report
    /// deliveries per second and submit→202 latency (starts its own relay unless given one).
    Load {
        /// Relay base URL (plain http); without it, a relay is started on a temporary directory.
        #[arg(long)]
        relay: Option<String>,
        /// The started relay's PostgreSQL database (`postgres://…`), instead of SQLite.
        #[arg(long, conflicts_with = "relay")]
        store: Option<String>,
        /// Relays to start on that database; the connections are spread over them and each
        /// relay's share is reported beside the total.
        #[arg(long, default_value_t = 1, requires = "store")]
        relays: usize,
        /// Concurrent connections (each has one request in flight; more fill each commit).
        #[arg(long, default_value_t = 256)]
        connections: usize,
        /// Seconds per phase (three phases).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Envelope body size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Run only single-recipient envelopes paced at this many per second.
        #[arg(long)]
        rate: Option<f64>,
        /// What each envelope presents: recipients' contact keys, a fresh one-time token, or
        /// nothing (a local relay with its checks off, the baseline).
        #[arg(long, value_enum, default_value = "keys")]
        credentials: load::Credentials,
        /// With `--credentials tokens`: the share of envelopes that spend a token (0 to 1);
        /// the others present contact keys.
        #[arg(long, default_value_t = 1.0)]
        token_share: f64,
        /// Deliveries to leave pending, in mailboxes nobody reads, before the phases: every
        /// phase then runs against a table that large.
        #[arg(long, default_value_t = 0)]
        pending: usize,
        /// Envelopes per second in the last phase, which measures how long a delivery takes
        /// to reach its recipient's open socket (on another relay than the one it was
        /// submitted to, with several); 0 skips it.
        #[arg(long, default_value_t = 200.0)]
        push_rate: f64,
        /// Distinct recipient mailboxes (at least 50): the fewer, the more often concurrent
        /// commits wait on the same mailbox rows.
        #[arg(long, default_value_t = 2_000)]
        mailboxes: usize,
    },
    /// Measure what WebSocket clients that never read cost a relay: starts one in its own
    /// process, fills many mailboxes' backlogs, holds sockets open on them without reading,
    /// and reports the relay's memory and another client's fetch latency meanwhile.
    SlowReaders {
        /// Sockets held open (eight per mailbox).
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Deliveries waiting in each of those mailboxes.
        #[arg(long, default_value_t = 32)]
        backlog: usize,
        /// Bytes of each waiting envelope (at most 256 KiB).
        #[arg(long, default_value_t = 200_000)]
        size: usize,
        /// Seconds the sockets are held while the other client's fetches are timed.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Invite a member to connect (direct messages need an accepted connection).
    Invite {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Whom to invite (account name).
        #[arg(long)]
        to: String,
        /// A note shown with the invitation.
        #[arg(long)]
        note: Option<String>,
    },
    /// Accept a member's pending invitation.
    Accept {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Whose invitation (account name).
        #[arg(long)]
        from: String,
    },
    /// Fetch, decrypt and print everything waiting, then acknowledge it.
    Read {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
    },
    /// Decline a member's pending invitation.
    Decline {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Whose invitation (account name).
        #[arg(long)]
        from: String,
    },
    /// The messages exchanged with one person, oldest first, kept in the sealed state file.
    History {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Whose (account name).
        #[arg(long)]
        with: String,
    },
    /// Who messages were exchanged with, how many and when the last was.
    Conversations {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
    },
    /// Seal a state file saved in the clear by an earlier version (others refuse to read one).
    Seal {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
    },
    /// A live conversation in the terminal: messages as they arrive, the other side typing,
    /// read receipts on what you sent, and a line to type into (Enter sends, Esc leaves).
    Chat {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Whom to talk with (account name).
        #[arg(long, required_unless_present = "group", conflicts_with = "group")]
        with: Option<String>,
        /// A group to follow and post to (its name from `missive groups`).
        #[arg(long)]
        group: Option<String>,
    },
    /// Show this user's privacy settings, or switch some on or off (each is sent to the
    /// relay where it needs to know, as for sponsored messages).
    Settings {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Send read receipts and show other people's.
        #[arg(long, value_parser = on_off)]
        read_receipts: Option<bool>,
        /// Send typing indicators and show other people's.
        #[arg(long, value_parser = on_off)]
        typing: Option<bool>,
        /// Receive sponsored messages.
        #[arg(long, value_parser = on_off)]
        sponsored: Option<bool>,
    },
    /// Start a group with you as its admin: welcomes and keys go to each member.
    GroupCreate {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL.
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Members, `name` or `name:role` (member, manager or admin), repeated or
        /// comma-separated. Admins and managers post; a non-connection costs an invitation.
        #[arg(long, required = true, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// The groups you are in: each one's name (the start of its id), members and roles.
    Groups {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
    },
    /// Who this state belongs to: account name, mailbox, identity key, certificate.
    Whoami {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
    },
    /// The people this state knows, and which of them are connections; `--add` looks more
    /// up in the directory (a group's admin or manager needs each member as a contact).
    Contacts {
        /// The user's state file.
        #[arg(long, env = "MISSIVE_STATE")]
        state: PathBuf,
        /// Relay base URL (for `--add`).
        #[arg(long, env = "MISSIVE_RELAY", default_value = "http://127.0.0.1:8700")]
        relay: String,
        /// Account names to add, repeated or comma-separated.
        #[arg(long, value_delimiter = ',')]
        add: Vec<String>,
    },
    /// Test vectors (built with the `vectors` feature): `check DIR` replays every vector file
    /// in a folder against this implementation, one line per file; `write DIR` writes ours.
    #[cfg(feature = "vectors")]
    Vectors {
        #[command(subcommand)]
        action: vectors_cmd::Action,
    },
}

fn on_off(word: &str) -> Result<bool, String> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?}: on or off")),
    }
}

fn tier_of(name: &str) -> Result<Tier, String> {
    match name {
        "free" => Ok(Tier::Free),
        "career" => Ok(Tier::PremiumCareer),
        "business" => Ok(Tier::PremiumBusiness),
        other => Err(format!("unknown tier {other:?}: free, career or business")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Relay {
            data_dir,
            store,
            listen,
            rate_per_second,
            rate_burst,
            max_sockets_per_mailbox,
            max_sockets,
            socket_queue_bytes,
            socket_write_timeout,
            access_cache,
            max_envelope_bytes,
            max_recipients,
            max_pending_per_mailbox,
        } => {
            let defaults = RelayConfig::default();
            let config = RelayConfig {
                max_envelope_bytes,
                max_recipients,
                limits: Limits {
                    max_pending_per_mailbox,
                    ..defaults.limits
                },
                rate_per_second,
                rate_burst,
                max_sockets_per_mailbox,
                max_sockets,
                socket_queue_bytes,
                socket_write_timeout,
                access_cache,
                ..defaults
            };
            relay_cmd::run(&data_dir, store.as_deref(), listen, config)
        }
        Command::Demo => demo::run(),
        #[cfg(feature = "vectors")]
        Command::Vectors { action } => return vectors_cmd::run(&action),
        Command::Init { user, state } => user_cmd::init(&state, &user),
        Command::Decline { state, relay, from } => user_cmd::decline(&state, &relay, &from),
        Command::Whoami { state } => user_cmd::whoami(&state),
        Command::Chat {
            state,
            relay,
            with,
            group,
        } => chat::run(&state, &relay, with.as_deref(), group.as_deref()),
        Command::GroupCreate {
            state,
            relay,
            members,
        } => group_cmd::create(&state, &relay, &members),
        Command::Groups { state } => group_cmd::list(&state),
        Command::Settings {
            state,
            relay,
            read_receipts,
            typing,
            sponsored,
        } => user_cmd::settings(&state, &relay, read_receipts, typing, sponsored),
        Command::Seal { state } => user_cmd::seal(&state),
        Command::History { state, with } => user_cmd::history(&state, &with),
        Command::Conversations { state } => user_cmd::conversations(&state),
        Command::Contacts { state, relay, add } => user_cmd::contacts(&state, &relay, &add),
        Command::Certify {
            state,
            relay_data_dir,
            tier,
            open_profile,
            advertiser,
        } => tier_of(&tier).and_then(|tier| {
            let profile = Profile { tier, open_profile };
            user_cmd::certify(&state, &relay_data_dir, profile, advertiser)
        }),
        Command::Publish {
            state,
            relay,
            count,
        } => user_cmd::publish(&state, &relay, count),
        Command::Send {
            state,
            relay,
            to,
            text,
        } => {
            user_cmd::message_text(text).and_then(|text| user_cmd::send(&state, &relay, &to, &text))
        }
        Command::Read { state, relay } => match user_cmd::read(&state, &relay) {
            Ok(0) => Ok(()),
            Ok(dropped) => {
                let what = if dropped == 1 {
                    "delivery"
                } else {
                    "deliveries"
                };
                eprintln!("{dropped} {what} could not be read (listed above)");
                return ExitCode::from(DROPPED);
            }
            Err(e) => Err(e),
        },
        Command::Load {
            relay,
            store,
            relays,
            connections,
            seconds,
            size,
            rate,
            credentials,
            token_share,
            pending,
            push_rate,
            mailboxes,
        } => load::run(&load::Options {
            relay,
            store,
            relays,
            connections,
            seconds,
            size,
            rate,
            credentials,
            token_share: token_share.clamp(0.0, 1.0),
            pending,
            push_rate,
            mailboxes,
        }),
        Command::SlowReaders {
            sockets,
            backlog,
            size,
            seconds,
        } => slow::run(&slow::Options {
            sockets,
            backlog,
            size,
            seconds,
        }),
        Command::Invite {
            state,
            relay,
            to,
            note,
        } => user_cmd::invite(&state, &relay, &to, note.as_deref()),
        Command::Accept { state, relay, from } => user_cmd::accept(&state, &relay, &from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
