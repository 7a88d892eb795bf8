//! Which certificate authorities the client trusts: the web's (webpki-roots), or only those in
//! the file `MISSIVE_CA_CERT` names (a private relay's own CA). HTTP (ureq) and the chat
//! view's WebSocket use the same answer.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates in `MISSIVE_CA_CERT`, or `None` when it is not set (the web's roots).
pub(crate) fn private_roots() -> Result<Option<Vec<CertificateDer<'static>>>, String> {
    let Some(path) = std::env::var_os("MISSIVE_CA_CERT") else {
        return Ok(None);
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let pem = std::fs::read(&path).map_err(|e| format!("MISSIVE_CA_CERT {shown}: {e}"))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("MISSIVE_CA_CERT {shown}: {e}"))?;
    if roots.is_empty() {
        return Err(format!("MISSIVE_CA_CERT {shown}: no certificate in it"));
    }
    Ok(Some(roots))
}

/// A rustls client configuration trusting [`private_roots`] or the web's.
pub(crate) fn client_config() -> Result<rustls::ClientConfig, String> {
    let mut store = rustls::RootCertStore::empty();
    match private_roots()? {
        Some(roots) => {
            for root in roots {
                store
                    .add(root)
                    .map_err(|e| format!("MISSIVE_CA_CERT: {e}"))?;
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))
        .map(|b| b.with_root_certificates(store).with_no_client_auth())
}
