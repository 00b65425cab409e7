//! Alerts: `[[alert]]` entries of the config, and sending one message to one of them, as a
//! JSON POST to a webhook (Slack and Teams read its `text`) or as an email over SMTP with
//! STARTTLS or implicit TLS.
//!
//! The API is [`AlertConfig`] (what the config says), [`AlertMessage`] (what to say) and
//! [`send`]. Which alerts a run sends, and what the message says, is decided in
//! `pipeline::alerts`. Secrets never come from the config file: the SMTP server and its
//! credentials are a URL in an environment variable or a file only its owner can read, and a
//! webhook URL (which is itself a secret for Slack and Teams) may come from the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The environment variable `smtp_env` defaults to.
pub const DEFAULT_SMTP_ENV: &str = "ALMA_SIS_SMTP_URL";

/// One `[[alert]]` entry: where to send, and on what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// A webhook URL (Slack, Teams, or anything that takes a JSON POST).
    pub webhook: Option<String>,
    /// An environment variable holding the webhook URL (instead of `webhook`).
    pub webhook_env: Option<String>,
    /// The address an email alert goes to.
    pub email: Option<String>,
    /// The sender of an email alert.
    pub from: Option<String>,
    /// The environment variable holding the SMTP server as a URL: `smtp://user:password@host:587`
    /// (STARTTLS), `smtps://user:password@host:465` (TLS from the start).
    pub smtp_env: Option<String>,
    /// A file holding that URL (mode 0600: refused when others may read it).
    pub smtp_file: Option<PathBuf>,
    /// A PEM file of the certificate authority that signed the SMTP or webhook server's
    /// certificate, when it is not one the system trusts.
    pub ca_file: Option<PathBuf>,
    /// The conditions that send this alert.
    pub on: Vec<Condition>,
    /// For `warning`: the warning codes that count (e.g. `W-STALE-ZIP`); empty: every one.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Seconds allowed for connecting and for each network operation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// What sends an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// The run failed: config or input error (exit 2), delivery failed (exit 3), the state
    /// stayed busy (exit 5), or it was interrupted (130, 143).
    Failure,
    /// The brake stopped the run (exit 4).
    Brake,
    /// More rows were rejected than `[check] max_rejected_percent` allows.
    Rejects,
    /// A warning (of `codes`, or any) is in the report.
    Warning,
    /// The run succeeded (exit 0 or 1, delivered): at most one a day.
    Digest,
}

impl Condition {
    /// The name in the config and the report.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Failure => "failure",
            Condition::Brake => "brake",
            Condition::Rejects => "rejects",
            Condition::Warning => "warning",
            Condition::Digest => "digest",
        }
    }
}

impl AlertConfig {
    /// Checks what can be checked without sending: one target, a sender for email, some
    /// conditions. `index` is the entry's place (1-based) for the message.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let at = format!("[[alert]] number {index}");
        let targets = [
            self.webhook.is_some(),
            self.webhook_env.is_some(),
            self.email.is_some(),
        ];
        match targets.iter().filter(|t| **t).count() {
            0 => return Err(format!("{at}: set webhook, webhook_env or email")),
            1 => {}
            _ => {
                return Err(format!(
                    "{at}: set one of webhook, webhook_env and email (one target per entry; \
                     add another [[alert]] for another)"
                ));
            }
        }
        if let Some(url) = &self.webhook
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!("{at}: webhook must be an http:// or https:// URL"));
        }
        if let Some(email) = &self.email {
            if !email.contains('@') {
                return Err(format!("{at}: email {email:?} is not an address"));
            }
            if self.from.is_none() {
                return Err(format!("{at}: set from, the sender address of the email"));
            }
            if self.smtp_env.is_some() && self.smtp_file.is_some() {
                return Err(format!("{at}: set one of smtp_env and smtp_file, not both"));
            }
        } else if self.from.is_some() || self.smtp_env.is_some() || self.smtp_file.is_some() {
            return Err(format!(
                "{at}: from, smtp_env and smtp_file are for email alerts"
            ));
        }
        if self.on.is_empty() {
            return Err(format!(
                "{at}: on is empty; pick from failure, brake, rejects, warning, digest"
            ));
        }
        if !self.codes.is_empty() && !self.on.contains(&Condition::Warning) {
            return Err(format!("{at}: codes is for on = [\"warning\"]"));
        }
        Ok(())
    }

    /// Where this alert goes, for logs and the report: an email address (staff, not a
    /// patron) or a webhook's scheme and host, never its path (which holds its secret).
    pub fn target(&self) -> String {
        if let Some(email) = &self.email {
            return format!("email {email}");
        }
        if let Some(var) = &self.webhook_env {
            return format!("webhook from ${var}");
        }
        let url = self.webhook.as_deref().unwrap_or_default();
        format!("webhook {}", redact_url(url))
    }
}

/// `scheme://host[:port]/…` of a URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// What became of one alert, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertOutcome {
    /// Where it went: an email address or a webhook's host (never its secret path).
    pub target: String,
    /// The conditions that sent it.
    pub on: Vec<Condition>,
    /// Whether the server took it.
    pub sent: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One alert's text: a subject line and a body of plain lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertMessage {
    /// One line: feed, status, exit code.
    pub subject: String,
    /// What happened, what was and was not delivered, and the next step.
    pub text: String,
}

/// Why an alert was not sent.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A setting or secret it needs is missing or unusable.
    #[error("{0}")]
    Setup(String),
    /// The server could not be reached or refused the message.
    #[error("{0}")]
    Send(String),
}

/// Sends `message` to the alert's target, bounded by its timeout.
pub fn send(alert: &AlertConfig, message: &AlertMessage) -> Result<(), AlertError> {
    let timeout = Duration::from_secs(alert.timeout_secs.max(1));
    if let Some(to) = &alert.email {
        return send_email(alert, to, message, timeout);
    }
    let url = match (&alert.webhook, &alert.webhook_env) {
        (Some(url), _) => url.clone(),
        (None, Some(var)) => std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                AlertError::Setup(format!(
                    "the environment variable {var} (webhook_env) is not set"
                ))
            })?,
        (None, None) => return Err(AlertError::Setup("no target".into())),
    };
    send_webhook(alert, &url, message, timeout)
}

/// POSTs `{"text": …, "title": …}`: Slack's incoming webhooks and Teams' connectors show
/// `text`; Teams shows `title` as the card's heading.
fn send_webhook(
    alert: &AlertConfig,
    url: &str,
    message: &AlertMessage,
    timeout: Duration,
) -> Result<(), AlertError> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let roots = match &alert.ca_file {
        Some(path) => {
            let pem = read_ca(path)?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| AlertError::Setup(format!("ca_file {}: {e}", path.display())))?
                .to_owned();
            RootCerts::new_with_certs(&[cert])
        }
        None => RootCerts::PlatformVerifier,
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(roots)
        .build();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build(),
    );
    let body = serde_json::json!({ "text": format!("{}\n\n{}", message.subject, message.text), "title": message.subject });
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map_err(|e| AlertError::Send(format!("{}: {e}", redact_url(url))))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(AlertError::Send(format!(
            "{} answered HTTP {}",
            redact_url(url),
            status.as_u16()
        )))
    }
}

fn read_ca(path: &Path) -> Result<Vec<u8>, AlertError> {
    std::fs::read(path)
        .map_err(|e| AlertError::Setup(format!("cannot read ca_file {}: {e}", path.display())))
}

/// The SMTP URL from `smtp_file` or the environment.
fn smtp_url(alert: &AlertConfig) -> Result<String, AlertError> {
    if let Some(path) = &alert.smtp_file {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path).map_err(|e| {
            AlertError::Setup(format!("cannot read smtp_file {}: {e}", path.display()))
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(AlertError::Setup(format!(
                "smtp_file {} may be read by others (mode {:04o}): it holds the mail server's \
                 password; run `chmod 600 {}`",
                path.display(),
                meta.permissions().mode() & 0o777,
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            AlertError::Setup(format!("cannot read smtp_file {}: {e}", path.display()))
        })?;
        return Ok(text.trim().to_owned());
    }
    let var = alert.smtp_env.as_deref().unwrap_or(DEFAULT_SMTP_ENV);
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| {
            AlertError::Setup(format!(
                "the environment variable {var} (smtp_env) is not set: it holds the mail \
                 server, e.g. smtp://user:password@mail.example.edu:587"
            ))
        })
}

/// The transport the URL describes: `smtp://` always with STARTTLS, `smtps://` with TLS
/// from the start; `ca_file` adds a certificate authority.
fn smtp_transport(
    alert: &AlertConfig,
    timeout: Duration,
) -> Result<lettre::SmtpTransport, AlertError> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let raw = smtp_url(alert)?;
    let parsed = url::Url::parse(&raw)
        .map_err(|e| AlertError::Setup(format!("the SMTP URL is not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| AlertError::Setup("the SMTP URL names no host".into()))?
        .to_owned();
    let implicit = match parsed.scheme() {
        "smtps" => true,
        "smtp" => false,
        other => {
            return Err(AlertError::Setup(format!(
                "the SMTP URL's scheme is {other:?}: use smtp:// (STARTTLS) or smtps:// (TLS)"
            )));
        }
    };
    // lettre reads the host, port and credentials; TLS is always ours to set.
    let mut bare = parsed.clone();
    bare.set_query(None);
    let mut params = TlsParameters::builder(host);
    if let Some(path) = &alert.ca_file {
        let pem = read_ca(path)?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| AlertError::Setup(format!("ca_file {}: {e}", path.display())))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build()
        .map_err(|e| AlertError::Setup(format!("TLS for the SMTP server: {e}")))?;
    let tls = if implicit {
        Tls::Wrapper(params)
    } else {
        Tls::Required(params)
    };
    let builder = lettre::SmtpTransport::from_url(bare.as_str())
        .map_err(|e| AlertError::Setup(format!("the SMTP URL: {e}")))?;
    let builder = match parsed.port() {
        Some(port) => builder.port(port),
        None if implicit => builder.port(465),
        None => builder.port(587),
    };
    Ok(builder.tls(tls).timeout(Some(timeout)).build())
}

fn send_email(
    alert: &AlertConfig,
    to: &str,
    message: &AlertMessage,
    timeout: Duration,
) -> Result<(), AlertError> {
    use lettre::Transport as _;
    let from = alert.from.as_deref().unwrap_or_default();
    let mailbox = |address: &str, key: &str| {
        address
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| AlertError::Setup(format!("{key} {address:?}: {e}")))
    };
    let email = lettre::Message::builder()
        .from(mailbox(from, "from")?)
        .to(mailbox(to, "email")?)
        .subject(message.subject.as_str())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|e| AlertError::Setup(format!("the email: {e}")))?;
    let transport = smtp_transport(alert, timeout)?;
    transport
        .send(&email)
        .map(drop)
        .map_err(|e| AlertError::Send(format!("mail server: {}", error_chain(&e))))
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
