//! What receiving a delivery produced, as the boundary gives it: one enum, one variant per
//! engine event, ids as bytes.

use missive::client::{self, Waiting};
use missive::platform::InMailKind;

use crate::types::Connection;
use crate::types::{Contact, Content, MessageRef, Settings};

/// What receiving a delivery produced (`missive::client::Event`; its `from` is `sender` here,
/// since `from` is a keyword in Python).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
// Events are handed straight to the foreign side, which copies them out; boxing the message
// would only add an allocation to the common case.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A conversation message. `access` says why the sender could send it.
    Message {
        conversation: Vec<u8>,
        id: MessageRef,
        sender: Vec<u8>,
        from_user: Option<Vec<u8>>,
        access: Access,
        content: Content,
    },
    /// A message that breaks a product rule (`reason`: the `PolicyError`); not to be shown.
    Refused {
        conversation: Vec<u8>,
        sender: Vec<u8>,
        reason: String,
    },
    /// Someone new opened a pairwise session with us.
    NewContact { contact: Contact },
    /// We were added to a conversation.
    Joined { conversation: Vec<u8> },
    /// A connection invitation.
    Invitation {
        sender: Vec<u8>,
        note: Option<String>,
    },
    /// Our invitation was accepted.
    Connected { with: Vec<u8> },
    /// An admin removed us from a group.
    Removed { group: Vec<u8>, by: Vec<u8> },
    /// Our invitation was declined.
    Declined { by: Vec<u8> },
    /// An invitation to us was withdrawn.
    Withdrawn { by: Vec<u8> },
    /// A connection was removed by the other side.
    Disconnected { by: Vec<u8> },
    /// Another device of our account took a connection step with `with`.
    ConnectionChanged { with: Vec<u8>, standing: Connection },
    /// Another device of our account changed the switches.
    SettingsChanged { settings: Settings },
    /// Someone read a conversation up to a message.
    Read {
        conversation: Vec<u8>,
        by: Vec<u8>,
        up_to: MessageRef,
    },
    /// Someone started or stopped typing.
    Typing {
        conversation: Vec<u8>,
        sender: Vec<u8>,
        typing: bool,
    },
    /// An answer to one of our lead forms (advertisers).
    Lead {
        form: Vec<u8>,
        user: Vec<u8>,
        mailbox: Vec<u8>,
        answers: Vec<LeadAnswer>,
    },
    /// A new device answered the link code we showed: confirm it is the user's, then link it.
    LinkAnswered { mailbox: Vec<u8>, identity: Vec<u8> },
    /// A contact has devices we hold no session with: fetch their device directory.
    DevicesToFetch { member: Vec<u8>, user: Vec<u8> },
    /// This client is now device `device` of the account whose code it answered.
    Linked { device: u32 },
    /// The delivery was kept to be opened later: no key we hold opens it yet (`early` false:
    /// perhaps not for us at all), or it needs something still to come (`early` true).
    Waiting { early: bool },
    /// An event this version of the binding does not know.
    Other { debug: String },
}

/// Why the sender of a message could send it (the product rule the engine checked).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Access {
    /// The two are connected.
    Connection,
    /// The conversation was opened before (by InMail, Open Profile or a shared group).
    Opened,
    /// We are a premium member with Open Profile on.
    OpenProfile,
    /// An InMail, paid with a credit (`premium_to_premium` false) or free between two
    /// premium members.
    InMail { premium_to_premium: bool },
    /// Both are members of `group`.
    GroupMember { group: Vec<u8> },
    /// A post to a group by one of its admins or managers.
    Group,
    /// A multi-recipient message to the sender's connections.
    Multi,
    /// A sponsored message from an advertiser the platform certified under `advertiser`.
    Sponsored { advertiser: String },
    /// An answer to everyone in a multi-recipient conversation, by one of its participants.
    Participant,
    /// A reason this version of the binding does not know.
    Other { debug: String },
}

impl From<&client::Access> for Access {
    fn from(a: &client::Access) -> Self {
        use client::Access as A;
        match a {
            A::Connection => Self::Connection,
            A::Opened => Self::Opened,
            A::OpenProfile => Self::OpenProfile,
            A::InMail(kind) => Self::InMail {
                premium_to_premium: *kind == InMailKind::PremiumToPremium,
            },
            A::GroupMember(group) => Self::GroupMember {
                group: id(&group.0),
            },
            A::Group => Self::Group,
            A::Multi => Self::Multi,
            A::Sponsored(certificate) => Self::Sponsored {
                advertiser: certificate.name.clone(),
            },
            A::Participant => Self::Participant,
            other => Self::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}

/// One answer of a lead form.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LeadAnswer {
    pub field: String,
    pub value: String,
}

fn id(bytes: &[u8; 16]) -> Vec<u8> {
    bytes.to_vec()
}

impl From<&client::Event> for Event {
    fn from(e: &client::Event) -> Self {
        use client::Event as E;
        match e {
            E::Message {
                conversation,
                id: message,
                from,
                from_user,
                access,
                content,
            } => Self::Message {
                conversation: id(&conversation.0),
                id: message.into(),
                sender: id(&from.0),
                from_user: from_user.clone(),
                access: access.into(),
                content: content.into(),
            },
            E::Refused {
                conversation,
                from,
                reason,
            } => Self::Refused {
                conversation: id(&conversation.0),
                sender: id(&from.0),
                reason: format!("{reason:?}"),
            },
            E::NewContact(c) => Self::NewContact { contact: c.into() },
            E::Joined(c) => Self::Joined {
                conversation: id(&c.0),
            },
            E::Invitation { from, note } => Self::Invitation {
                sender: id(&from.0),
                note: note.clone(),
            },
            E::Connected(m) => Self::Connected { with: id(&m.0) },
            E::Removed { group, by } => Self::Removed {
                group: id(&group.0),
                by: id(&by.0),
            },
            E::Declined(m) => Self::Declined { by: id(&m.0) },
            E::Withdrawn(m) => Self::Withdrawn { by: id(&m.0) },
            E::Disconnected(m) => Self::Disconnected { by: id(&m.0) },
            E::ConnectionChanged { with, standing } => Self::ConnectionChanged {
                with: id(&with.0),
                standing: standing.into(),
            },
            E::SettingsChanged(s) => Self::SettingsChanged {
                settings: (*s).into(),
            },
            E::Read {
                conversation,
                by,
                up_to,
            } => Self::Read {
                conversation: id(&conversation.0),
                by: id(&by.0),
                up_to: up_to.into(),
            },
            E::Typing {
                conversation,
                from,
                typing,
            } => Self::Typing {
                conversation: id(&conversation.0),
                sender: id(&from.0),
                typing: *typing,
            },
            E::Lead(answer) => Self::Lead {
                form: answer.form.to_vec(),
                user: answer.user.clone(),
                mailbox: id(&answer.mailbox.0),
                answers: (answer.answers.iter())
                    .map(|(field, value)| LeadAnswer {
                        field: field.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            },
            E::LinkAnswered(device) => Self::LinkAnswered {
                mailbox: id(&device.mailbox.0),
                identity: device.identity.to_bytes().to_vec(),
            },
            E::DevicesToFetch { member, user } => Self::DevicesToFetch {
                member: id(&member.0),
                user: user.clone(),
            },
            E::Linked { device } => Self::Linked { device: *device },
            E::Waiting(w) => Self::Waiting {
                early: *w == Waiting::Early,
            },
            other => Self::Other {
                debug: format!("{other:?}"),
            },
        }
    }
}
