//! TLS for connections to a server the user names by URL (`verify --postgres URL`,
//! `snapshot`, `diff`): managed PostgreSQL services require it, and tokio-postgres alone
//! speaks neither libpq's `sslmode` values nor its certificate parameters. This module turns
//! the TLS parameters [`super::libpq`] took out of a connection string into a [`Tls`]
//! policy (rustls, with the ring provider the crate already uses for GitHub) with libpq's
//! meaning for each, and connects under it, with libpq's fallbacks for `allow` and `prefer`
//! and `tls-server-end-point` channel binding. Our own embedded and Docker servers are local
//! and keep plain connections ([`Tls::none`]).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode as WireMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{CancelToken, Client, Config, NoTls, Socket};

use crate::error::{EnvironmentError, UsageError};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, UsageError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(UsageError(format!(
                    "sslmode `{other}`: expected disable, allow, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }

    /// The name libpq uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// libpq's TLS parameters as a connection string gives them, not yet interpreted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct TlsParams {
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
}

/// How connections are secured: plain (our local servers) or a policy from a URL.
#[derive(Clone, Default)]
pub struct Tls(Option<Arc<Policy>>);

/// A TLS policy: the mode, and for every mode but `disable` the rustls configuration.
struct Policy {
    mode: SslMode,
    config: Arc<ClientConfig>,
    /// What the chain is verified against, for messages (`None`: not verified).
    roots: Option<String>,
}

impl Tls {
    /// Plain connections, as before TLS existed here: for the servers we start ourselves.
    pub fn none() -> Tls {
        Tls(None)
    }

    /// The mode, `None` for [`Tls::none`].
    pub fn mode(&self) -> Option<SslMode> {
        self.0.as_ref().map(|p| p.mode)
    }

    /// The policy the TLS parameters of a URL ask for (each else its libpq environment
    /// variable, else libpq's default file under `~/.postgresql`).
    pub(super) fn from_params(params: &TlsParams) -> anyhow::Result<Tls> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".postgresql"));
        let rootcert = params.sslrootcert.clone().or_else(|| env("PGSSLROOTCERT"));
        let system = rootcert.as_deref() == Some("system");
        let mode = match params.sslmode.clone().or_else(|| env("PGSSLMODE")) {
            Some(text) => SslMode::parse(&text)?,
            None if system => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system && mode != SslMode::VerifyFull && mode != SslMode::Disable {
            return Err(UsageError(format!(
                "sslmode={} may not be used with sslrootcert=system (use sslmode=verify-full): \
                 any certificate a public authority issued would do",
                mode.as_str()
            ))
            .into());
        }
        if mode == SslMode::Disable {
            return Ok(Tls(Some(Arc::new(Policy {
                mode,
                config: Arc::new(client_config(
                    Arc::new(AcceptAnyCertificate(provider())),
                    None,
                )?),
                roots: None,
            }))));
        }
        let provider = provider();
        // The trusted roots: the file named, else libpq's default file when it exists.
        let rootcert = rootcert.map(PathBuf::from).or_else(|| {
            home.as_ref()
                .map(|dir| dir.join("root.crt"))
                .filter(|path| path.exists())
        });
        let verifier: Arc<dyn ServerCertVerifier> = match &rootcert {
            None if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                let default = home
                    .as_ref()
                    .map(|dir| dir.join("root.crt").display().to_string())
                    .unwrap_or_else(|| "~/.postgresql/root.crt".into());
                return Err(EnvironmentError::new(format!(
                    "sslmode={} needs the certificate authority to verify the server with: \
                     {default} does not exist; give sslrootcert=FILE.pem, or sslrootcert=system \
                     for the operating system's roots",
                    mode.as_str()
                ))
                .into());
            }
            None => Arc::new(AcceptAnyCertificate(provider.clone())),
            Some(path) => {
                let roots = load_roots(path, mode)?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            EnvironmentError::new(format!(
                                "sslrootcert {}: {e} (sslmode={})",
                                path.display(),
                                mode.as_str()
                            ))
                        })?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let cert = params
            .sslcert
            .clone()
            .or_else(|| env("PGSSLCERT"))
            .map(|p| (PathBuf::from(p), true))
            .or_else(|| home.as_ref().map(|d| (d.join("postgresql.crt"), false)));
        let client_auth = match cert {
            Some((cert, explicit)) if explicit || cert.exists() => {
                let key = params
                    .sslkey
                    .clone()
                    .or_else(|| env("PGSSLKEY"))
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|d| d.join("postgresql.key")))
                    .unwrap_or_else(|| cert.with_extension("key"));
                Some(client_certificate(&cert, &key, mode)?)
            }
            _ => None,
        };
        let config = client_config(verifier, client_auth)?;
        let roots = rootcert.map(|path| match path.to_str() {
            Some("system") => "the system's trusted roots".to_string(),
            _ => path.display().to_string(),
        });
        Ok(Tls(Some(Arc::new(Policy {
            mode,
            config: Arc::new(config),
            roots,
        }))))
    }

    /// Connects with this policy (libpq's fallbacks for `allow` and `prefer`) and spawns
    /// the task driving the connection.
    pub async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>), tokio_postgres::Error>
    {
        let Some(policy) = &self.0 else {
            let (client, connection) = config.connect(NoTls).await?;
            return Ok((client, tokio::spawn(connection)));
        };
        let plain = async || {
            let mut plain = config.clone();
            plain.ssl_mode(WireMode::Disable);
            let (client, connection) = plain.connect(NoTls).await?;
            Ok::<_, tokio_postgres::Error>((client, tokio::spawn(connection)))
        };
        let encrypted = async |wire: WireMode| {
            let mut encrypted = config.clone();
            encrypted.ssl_mode(wire);
            let (client, connection) = encrypted.connect(MakeRustls(policy.clone())).await?;
            Ok::<_, tokio_postgres::Error>((client, tokio::spawn(connection)))
        };
        // No TLS over Unix-domain sockets (the server does not offer it), as in libpq.
        let local = config
            .get_hosts()
            .iter()
            .all(|host| matches!(host, Host::Unix(_)));
        match policy.mode {
            _ if local && !config.get_hosts().is_empty() => plain().await,
            SslMode::Disable => plain().await,
            // Plain first; TLS when the server turned the plain connection away.
            SslMode::Allow => match plain().await {
                Err(error) if error.as_db_error().is_some() => encrypted(WireMode::Require).await,
                other => other,
            },
            // TLS when the server offers it; plain when TLS failed or the server turned the
            // encrypted connection away. A server's refusal of the TLS attempt is the
            // better message when plain fails too.
            SslMode::Prefer => match encrypted(WireMode::Prefer).await {
                Err(error) if error.as_db_error().is_some() || is_tls_failure(&error) => {
                    match plain().await {
                        Ok(connected) => Ok(connected),
                        Err(_) if error.as_db_error().is_some() => Err(error),
                        Err(second) => Err(second),
                    }
                }
                other => other,
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                encrypted(WireMode::Require).await
            }
        }
    }

    /// Sends a cancel request for the query running on `token`'s connection, encrypted
    /// as that connection is (tokio-postgres keeps the connection's sslmode in the token).
    pub async fn cancel(&self, token: &CancelToken) -> Result<(), tokio_postgres::Error> {
        match &self.0 {
            Some(policy) => token.cancel_query(MakeRustls(policy.clone())).await,
            None => token.cancel_query(NoTls).await,
        }
    }
}

fn is_tls_failure(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<TlsFailure>())
}

/// An error's text followed by its sources' (tokio-postgres's own text is only the kind of
/// error, "error performing TLS handshake"; the reason is in its source). No source of a
/// tokio-postgres error holds a password: they are I/O, parameter names, our TLS messages.
pub fn with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Adds context to the text of a connection error where tokio-postgres's own says too
/// little: a server without TLS under a mode that requires it, a password asked for but
/// found nowhere.
pub fn describe_connect_error(message: String) -> String {
    if message.ends_with("password missing") {
        format!(
            "{message}: the server asks for a password; give it in the URL, in PGPASSWORD or \
             in the password file (~/.pgpass, or the file PGPASSFILE names)"
        )
    } else if message.contains("server does not support TLS") {
        format!(
            "{message}: the server does not accept encrypted connections, which \
             sslmode=require, verify-ca and verify-full need (sslmode=prefer falls back to an \
             unencrypted connection)"
        )
    } else {
        message
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client certificate chain and its key.
type ClientAuth = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_config(
    verifier: Arc<dyn ServerCertVerifier>,
    client_auth: Option<ClientAuth>,
) -> anyhow::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| EnvironmentError::new(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_auth {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| EnvironmentError::new(format!("the client certificate sslcert: {e}")))?,
    };
    // What libpq 17 sends; servers before 17 ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// The client certificate `sslcert` and its key `sslkey`, which only we may read.
fn client_certificate(cert: &Path, key: &Path, mode: SslMode) -> anyhow::Result<ClientAuth> {
    let fail = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        EnvironmentError::new(format!(
            "{what} {}: {e} (sslmode={})",
            path.display(),
            mode.as_str()
        ))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail("cannot read the client certificate sslcert", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail("cannot read the client certificate sslcert", cert, &e))?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate in sslcert",
            cert,
            &"no PEM CERTIFICATE block",
        )
        .into());
    }
    use std::os::unix::fs::MetadataExt;
    let metadata =
        std::fs::metadata(key).map_err(|e| fail("cannot read the private key sslkey", key, &e))?;
    // libpq: u=rw (0600) or less, or u=rw,g=r (0640) or less when root owns it.
    let allowed = if metadata.uid() == 0 { 0o037 } else { 0o077 };
    if metadata.mode() & allowed != 0 {
        return Err(fail(
            "the private key sslkey",
            key,
            &"has group or world access; permissions should be u=rw (0600) or less",
        )
        .into());
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| fail("cannot read the private key sslkey", key, &e))?;
    Ok((certs, private_key))
}

/// Trusted roots from a PEM file, or the operating system's for `system`.
fn load_roots(path: &Path, mode: SslMode) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let fail = |e: &dyn std::fmt::Display| {
        EnvironmentError::new(format!(
            "cannot read the certificate authority file sslrootcert {}: {e} (sslmode={})",
            path.display(),
            mode.as_str()
        ))
    };
    if path == Path::new("system") {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "none found".into());
            return Err(EnvironmentError::new(format!(
                "sslrootcert=system: no trusted root certificates of the operating system could \
                 be loaded ({why})"
            ))
            .into());
        }
        return Ok(roots);
    }
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no PEM CERTIFICATE block in it").into());
    }
    for cert in certs {
        roots.add(cert).map_err(|e| fail(&e))?;
    }
    Ok(roots)
}

/// `require` without trusted roots: encryption, no authentication of the server (libpq's
/// meaning). The handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
/// webpki checks the name after the chain, so a name error means the chain verified.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A TLS failure, worded for the user (mode, host, the file the chain is checked against).
#[derive(Debug)]
pub struct TlsFailure(String);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// tokio-postgres's TLS hook, backed by rustls.
#[derive(Clone)]
struct MakeRustls(Arc<Policy>);

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream<Socket>;
    type TlsConnect = RustlsConnect;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, TlsFailure> {
        // "" for a Unix-domain socket: tokio-postgres never starts a handshake there.
        let checked = if host.is_empty() { "localhost" } else { host };
        let name = ServerName::try_from(checked.to_string()).map_err(|e| {
            TlsFailure(format!(
                "host {host} cannot be checked against a certificate: {e} (sslmode={})",
                self.0.mode.as_str()
            ))
        })?;
        Ok(RustlsConnect {
            policy: self.0.clone(),
            host: host.to_string(),
            name,
        })
    }
}

struct RustlsConnect {
    policy: Arc<Policy>,
    host: String,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsFailure;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsFailure>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.policy.config.clone());
            connector
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
                .map_err(|e| TlsFailure(handshake_message(&self.policy, &self.host, &e)))
        })
    }
}

/// Says why a handshake failed, in the user's terms.
fn handshake_message(policy: &Policy, host: &str, error: &io::Error) -> String {
    let mode = policy.mode.as_str();
    let roots = policy.roots.as_deref().unwrap_or("the trusted roots");
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => {
            let presented = match rustls_error {
                Some(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForNameContext { presented, .. },
                )) if !presented.is_empty() => {
                    // webpki's Debug text: DnsName("db.example"), IpAddress(10.0.0.1).
                    let names: Vec<&str> = presented
                        .iter()
                        .map(|name| {
                            name.strip_prefix("DnsName(\"")
                                .and_then(|n| n.strip_suffix("\")"))
                                .or_else(|| {
                                    name.strip_prefix("IpAddress(")
                                        .and_then(|n| n.strip_suffix(')'))
                                })
                                .unwrap_or(name)
                        })
                        .collect();
                    format!(" (it names {})", names.join(", "))
                }
                _ => String::new(),
            };
            format!(
                "the server certificate does not match host name {host}{presented}; \
                 sslmode=verify-full checks the name: connect by a name the certificate \
                 lists, or use sslmode=verify-ca"
            )
        }
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
            "the server certificate was not issued by a certificate authority in {roots} \
             (sslmode={mode}): the certificate does not verify"
        ),
        Some(invalid @ rustls::Error::InvalidCertificate(_)) => format!(
            "the server certificate does not verify against {roots} (sslmode={mode}): {invalid}"
        ),
        Some(rustls::Error::AlertReceived(alert)) => format!(
            "the server refused the TLS handshake ({alert:?}; sslmode={mode}): a server that \
             wants a client certificate needs sslcert and sslkey"
        ),
        Some(other) => format!("TLS handshake with {host} failed (sslmode={mode}): {other}"),
        None => format!("TLS handshake with {host} failed (sslmode={mode}): {error}"),
    }
}

/// An encrypted connection, with channel binding for SCRAM.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, connection) = self.0.get_ref();
        connection
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| tls_server_end_point(cert))
            .map(ChannelBinding::tls_server_end_point)
            .unwrap_or_else(ChannelBinding::none)
    }
}

/// RFC 5929 `tls-server-end-point`: the certificate hashed with its signature's hash
/// (SHA-256 for MD5 and SHA-1). `None` for algorithms without one (Ed25519, RSA-PSS), in
/// which case SCRAM runs without channel binding.
fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let (_, certificate, _) = der(cert)?;
    let (_, _tbs, rest) = der(certificate)?;
    let (_, algorithm, _) = der(rest)?;
    let (tag, oid, _) = der(algorithm)?;
    if tag != 0x06 {
        return None;
    }
    let hash = match oid.split_last()? {
        (4 | 5, prefix) if prefix == RSA => 256, // MD5, SHA-1
        (11, prefix) if prefix == RSA => 256,
        (12, prefix) if prefix == RSA => 384,
        (13, prefix) if prefix == RSA => 512,
        (1, prefix) if prefix == &ECDSA[..6] => 256, // ecdsa-with-SHA1 (1.2.840.10045.4.1)
        (2, prefix) if prefix == ECDSA => 256,
        (3, prefix) if prefix == ECDSA => 384,
        (4, prefix) if prefix == ECDSA => 512,
        _ => return None,
    };
    Some(match hash {
        256 => sha2::Sha256::digest(cert).to_vec(),
        384 => sha2::Sha384::digest(cert).to_vec(),
        _ => sha2::Sha512::digest(cert).to_vec(),
    })
}

/// One DER element: (tag, contents, the bytes after it).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_point_hash_follows_the_signature_algorithm() {
        // A minimal certificate shape: SEQUENCE { SEQUENCE {}, SEQUENCE { OID } , BIT STRING }.
        let cert = |oid: &[u8]| {
            let mut algorithm = vec![0x06, oid.len() as u8];
            algorithm.extend_from_slice(oid);
            let mut body = vec![0x30, 0x00, 0x30, algorithm.len() as u8];
            body.extend(algorithm);
            body.extend([0x03, 0x01, 0x00]);
            let mut cert = vec![0x30, body.len() as u8];
            cert.extend(body);
            cert
        };
        let sha256_rsa = cert(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
        assert_eq!(
            tls_server_end_point(&sha256_rsa),
            Some(sha2::Sha256::digest(&sha256_rsa).to_vec())
        );
        let sha384_ecdsa = cert(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]);
        assert_eq!(
            tls_server_end_point(&sha384_ecdsa).map(|h| h.len()),
            Some(48)
        );
        assert_eq!(tls_server_end_point(&cert(&[0x2b, 0x65, 0x70])), None);
        assert_eq!(tls_server_end_point(&[0x30, 0x05]), None);
    }
}
