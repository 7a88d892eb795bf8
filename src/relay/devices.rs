//! The directory's device lists (PROTOCOL.md §12.5): an account's signed list under its name,
//! each listed device's bundle as a directory entry of its own, and the lookup that hands out
//! both. The relay checks what it can (the list is signed by the account's identity, newer
//! than the one it holds, and sent by a device the current list names) so that nobody else
//! can replace a list; clients check the signature again, since the relay is not trusted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::auth::{Request, authenticate};
use super::refusal::Refusal;
use super::server::{authenticated_body, blocking, lookup_allowed, malformed, respond, user_name};
use super::state::RelayState;
use super::store::{RelayStore, StoreError};
use crate::device::{DeviceList, SignedDeviceList};
use crate::mailbox::MailboxId;
use crate::relay_api::{DeviceDirectory, OneTimePrekey, PrekeyResponse};
use crate::session::PrekeyBundle;

/// The directory entry of `device`'s bundle under account `user`: `user || 0x00 || mailbox`.
/// No name holds a zero byte (names have no control characters), so no one can publish it as
/// a name of their own.
pub(crate) fn device_entry(user: &[u8], device: &MailboxId) -> Vec<u8> {
    [user, &[0], &device.0].concat()
}

/// Where `requester` publishes its bundle for `user`: the name itself for the name's owner
/// (and anyone while no one owns it), else its device entry if the account's list names it.
pub(crate) fn entry_for(
    s: &dyn RelayStore,
    user: &[u8],
    requester: &MailboxId,
) -> Result<Vec<u8>, StoreError> {
    match s.fetch_prekeys(user, false) {
        Ok(found) if found.mailbox == *requester => return Ok(user.to_vec()),
        Ok(_) => {}
        Err(StoreError::UnknownUser) => return Ok(user.to_vec()),
        Err(e) => return Err(e),
    }
    let listed = stored(s, user)?.is_some_and(|l| l.unverified().by_mailbox(requester).is_some());
    if listed {
        Ok(device_entry(user, requester))
    } else {
        Err(StoreError::NotOwner)
    }
}

/// The devices `user`'s stored list names, if it has one.
pub(crate) fn listed(s: &dyn RelayStore, user: &[u8]) -> Result<Option<DeviceList>, StoreError> {
    Ok(stored(s, user)?.map(|l| l.unverified().clone()))
}

fn stored(s: &dyn RelayStore, user: &[u8]) -> Result<Option<SignedDeviceList>, StoreError> {
    s.device_list(user)?
        .map(|bytes| SignedDeviceList::from_bytes(&bytes).map_err(|_| StoreError::Backend))
        .transpose()
}

/// Whether `list` may replace what `user` has: the first list comes from the name's owner and
/// is signed by the identity of the bundle it published; a later one from a device the stored
/// list names, signed by the same account, newer. If so, the mailboxes it no longer lists.
fn admissible(
    s: &dyn RelayStore,
    user: &[u8],
    requester: &MailboxId,
    list: &SignedDeviceList,
) -> Result<Result<Vec<MailboxId>, Refusal>, StoreError> {
    let mut removed = Vec::new();
    let (account, seen) = match stored(s, user)? {
        Some(signed) => {
            let current = signed.unverified();
            if current.by_mailbox(requester).is_none() {
                return Ok(Err(Refusal::Forbidden));
            }
            let next = list.unverified();
            removed.extend(
                (current.devices().iter())
                    .filter(|d| next.by_mailbox(&d.mailbox).is_none())
                    .map(|d| d.mailbox),
            );
            (*signed.account(), Some(current.version()))
        }
        None => {
            let owner = s.fetch_prekeys(user, false)?;
            if owner.mailbox != *requester {
                return Ok(Err(Refusal::Forbidden));
            }
            let Ok(bundle) = PrekeyBundle::from_bytes(&owner.bundle) else {
                return Ok(Err(Refusal::Forbidden));
            };
            (*bundle.identity(), None)
        }
    };
    Ok(match list.verify(&account, seen) {
        Ok(_) => Ok(removed),
        Err(_) => Err(Refusal::Forbidden),
    })
}

/// `PUT /v1/directory/{user}/devices`: a device of the account publishes its newer list.
pub(crate) async fn publish_devices(
    State(state): State<RelayState>,
    user: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let reply = async {
        let (requester, bytes) =
            authenticated_body(&state, &method, &uri, &headers, &ext, bytes).await?;
        let user = user_name(user)?;
        let list = SignedDeviceList::from_bytes(&bytes)?;
        let version = i64::try_from(list.unverified().version())
            .map_err(|_| malformed("device list version"))?;
        let book = Arc::clone(&state.access);
        let written = blocking(&state, move |s| {
            let removed = match admissible(s, &user, &requester, &list)? {
                Ok(removed) => removed,
                Err(refusal) => return Ok(Err(refusal)),
            };
            // Revoked before the list is stored: a failure in between leaves a device that is
            // listed and revoked (it fails closed), never one removed and still reachable.
            for mailbox in &removed {
                if let Err(refusal) = book.revoke(mailbox, s) {
                    return Ok(Err(refusal));
                }
            }
            // Of two devices racing, the one whose version is stored first wins; the other
            // is told as if its list were old.
            Ok(if s.put_device_list(&user, version, &bytes)? {
                Ok(())
            } else {
                Err(Refusal::Forbidden)
            })
        })
        .await?;
        written?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    respond(&state, reply.await)
}

/// `GET /v1/directory/{user}/devices`: the account's list and each listed device's prekeys,
/// within the lookup allowance (one-time prekeys while the name's hourly budget lasts).
pub(crate) async fn lookup_devices(
    State(state): State<RelayState>,
    user: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ext: Extensions,
) -> Response {
    let reply = async {
        let request = Request::without_body(&method, &uri, &headers, &ext);
        let requester = authenticate(&state, request).await?;
        let user = user_name(user)?;
        let one_time = lookup_allowed(&state, &requester, &user)?;
        let found = blocking(&state, move |s| {
            let list = s.device_list(&user)?.ok_or(StoreError::UnknownUser)?;
            let signed = SignedDeviceList::from_bytes(&list).map_err(|_| StoreError::Backend)?;
            let mut devices = Vec::new();
            for d in signed.unverified().devices() {
                let entry = match s.fetch_prekeys(&device_entry(&user, &d.mailbox), one_time) {
                    // The name's owner may not have published again since it listed itself.
                    Err(StoreError::UnknownUser) => match s.fetch_prekeys(&user, one_time) {
                        Ok(f) if f.mailbox == d.mailbox => f,
                        Ok(_) | Err(StoreError::UnknownUser) => continue,
                        Err(e) => return Err(e),
                    },
                    other => other?,
                };
                devices.push(PrekeyResponse {
                    mailbox: d.mailbox,
                    bundle: entry.bundle,
                    one_time: entry.one_time.map(|(id, key)| OneTimePrekey { id, key }),
                });
            }
            Ok(DeviceDirectory { list, devices })
        })
        .await?;
        Ok(found.to_bytes().into_response())
    };
    respond(&state, reply.await)
}
