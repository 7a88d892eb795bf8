//! `missive group create` and `missive groups`: groups as the command line names them, by the
//! first eight hex digits of their id (the engine gives groups no names; an app would keep
//! its own).

use std::path::Path;

use missive::client::Client;
use missive::conversation::{ConversationId, Role};

use crate::http::{Relay, now};
use crate::user_cmd::{catch_up, contact, name_of, open, printable, saved, submit, view};

/// How a group is named on the command line and in the history.
pub(crate) fn label(group: &ConversationId) -> String {
    hex::encode(&group.0[..4])
}

/// The history's name for what was said in a group.
pub(crate) fn history_name(group: &ConversationId) -> String {
    format!("group {}", label(group))
}

/// The group `name` (its label, or a longer prefix of its id in hex) among ours.
pub(crate) fn find(client: &Client, name: &str) -> Result<ConversationId, String> {
    let name = name.trim_start_matches("group ").to_ascii_lowercase();
    let found: Vec<ConversationId> = client
        .groups()
        .into_iter()
        .filter(|g| !name.is_empty() && hex::encode(g.0).starts_with(&name))
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no group {} here (`missive groups` lists them)",
            printable(&name)
        )),
        _ => Err(format!(
            "{} names several groups: give more of its id",
            printable(&name)
        )),
    }
}

fn role_of(word: &str) -> Result<Role, String> {
    match word {
        "member" => Ok(Role::Member),
        "manager" => Ok(Role::Manager),
        "admin" => Ok(Role::Admin),
        other => Err(format!("role {other:?}: member, manager or admin")),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Manager => "manager",
        Role::Admin => "admin",
    }
}

/// Creates a group of us (its admin) and `members` (`name` or `name:role`).
pub(crate) fn create(state: &Path, relay_url: &str, members: &[String]) -> Result<(), String> {
    let (mut client, mut file) = open(state)?;
    let relay = Relay::new(relay_url)?;
    catch_up(&relay, &mut client, &mut file)?;
    let mut roster = Vec::new();
    for spec in members {
        let (name, role) = match spec.split_once(':') {
            Some((name, role)) => (name, role_of(role)?),
            None => (spec.as_str(), Role::Member),
        };
        roster.push((contact(&relay, &mut client, name)?, role));
    }
    let created = client.create_group(&mut rand::rng(), &roster, now());
    let (group, out) = saved(&mut file, created)?;
    if let Some(note) = submit(&relay, &mut client, &mut file, &out)? {
        println!("{note}");
    }
    // Our own key for the group's epoch, registered so members' posts reach us.
    relay.sync(&mut client, &mut file)?;
    println!("created group {}", describe(&client, &group));
    Ok(())
}

/// `label`: each member and role.
fn describe(client: &Client, group: &ConversationId) -> String {
    let members = client
        .conversation(group)
        .ok()
        .flatten()
        .map(|c| {
            c.members
                .iter()
                .map(|m| {
                    let who = if m.id == *client.mailbox_id() {
                        "you".to_owned()
                    } else {
                        printable(&name_of(client, &m.id))
                    };
                    format!("{who} ({})", role_name(m.role))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!("{}: {members}", label(group))
}

/// Prints the groups we are in.
pub(crate) fn list(state: &Path) -> Result<(), String> {
    let (client, _) = view(state)?;
    let groups = client.groups();
    if groups.is_empty() {
        println!("no groups yet");
    }
    for g in groups {
        println!("{}", describe(&client, &g));
    }
    Ok(())
}
