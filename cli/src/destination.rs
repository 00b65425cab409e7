//! Builds the configured [`Destination`] from `[delivery]`: the one place the CLI turns
//! config, environment variables and secret files into a drop folder or an SFTP connection.
//! `alma-sis run`, `alma-sis deliver` and the Leganto course commands all go through here.

use std::path::Path;
use std::time::Duration;

use sftp_deliver::{
    Destination, DropFolder, HostKeyPin, RetryPolicy, Secret, Sftp, SftpAuth, SftpConfig,
    StalePolicy,
};

use crate::config::{DeliveryConfig, DeliveryKind, StaleSetting};
use crate::exit::{Exit, Failure};

/// The configured destination.
pub fn build(config: &DeliveryConfig) -> anyhow::Result<Box<dyn Destination>> {
    match config.kind {
        DeliveryKind::Drop => {
            if let Some(key) = sftp_only_key(config) {
                return Err(invalid(format!(
                    "delivery.{key} is set but delivery.kind is \"drop\"; set kind = \"sftp\" or remove it"
                )));
            }
            Ok(Box::new(DropFolder::new(
                &config.drop_folder,
                stale_policy(config),
            )))
        }
        DeliveryKind::Sftp => Ok(Box::new(sftp(config)?)),
    }
}

/// The configured SFTP server, e.g. for pulling a registrar's files; an error unless
/// `delivery.kind = "sftp"`.
pub fn sftp(config: &DeliveryConfig) -> anyhow::Result<Sftp> {
    if config.kind != DeliveryKind::Sftp {
        return Err(invalid("delivery.kind must be \"sftp\" here".into()));
    }
    let required = |value: &Option<String>, key: &str| {
        value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| invalid(format!("delivery.{key} is required for kind = \"sftp\"")))
    };
    let host = required(&config.host, "host")?;
    let user = required(&config.user, "user")?;
    let host_key = match (&config.known_hosts, &config.host_key_fingerprint) {
        (Some(file), None) => HostKeyPin::KnownHosts(file.clone()),
        (None, Some(fp)) if fp.starts_with("SHA256:") => HostKeyPin::Fingerprint {
            sha256: fp.clone(),
            key_type: config.host_key_type.clone(),
        },
        (None, Some(fp)) => {
            return Err(invalid(format!(
                "delivery.host_key_fingerprint {fp:?} must start with SHA256: (as `ssh-keygen -lf` prints it)"
            )));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "set one of delivery.known_hosts and delivery.host_key_fingerprint, not both"
                    .into(),
            ));
        }
        (None, None) => {
            return Err(invalid(
                "the server's host key must be pinned: set delivery.known_hosts or delivery.host_key_fingerprint"
                    .into(),
            ));
        }
    };
    let auth = SftpAuth {
        key_file: config.key_file.clone(),
        passphrase: secret(
            "key passphrase",
            "key_passphrase",
            config.key_passphrase_env.as_deref(),
            config.key_passphrase_file.as_deref(),
        )?,
        password: secret(
            "password",
            "password",
            config.password_env.as_deref(),
            config.password_file.as_deref(),
        )?,
    };
    if let Some(key) = &auth.key_file {
        // Refused here, before a run reads anything: a link, or a key others may read.
        sftp_deliver::read_private_key(key)
            .map_err(|e| invalid(format!("delivery.key_file: {e}")))?;
    }
    if auth.key_file.is_none() && auth.password.is_none() {
        return Err(invalid(
            "set delivery.key_file (or, if the server requires it, delivery.password_env or delivery.password_file)"
                .into(),
        ));
    }
    let secs = Duration::from_secs;
    let config = SftpConfig {
        host,
        port: config.port,
        user,
        auth,
        host_key,
        base_dir: config.base_dir.clone(),
        sub_dir: config.sub_dir.clone(),
        connect_timeout: secs(config.connect_timeout_secs.max(1)),
        io_timeout: secs(config.io_timeout_secs.max(1)),
        keepalive: secs(config.keepalive_secs),
        retry: RetryPolicy {
            attempts: config.retries.saturating_add(1),
            initial_backoff: secs(config.backoff_initial_secs),
            max_backoff: secs(config.backoff_max_secs),
        },
        stale: stale_policy(config),
        verify_sha256: config.verify_sha256,
    };
    Ok(
        Sftp::new(config, Box::new(std::thread::sleep)).on_retry(Box::new(|fault, pause| {
            // The cause with its sources: "cannot connect to host:22: Connection refused".
            let mut cause = fault.to_string();
            let mut source = std::error::Error::source(fault);
            while let Some(s) = source {
                cause = format!("{cause}: {s}");
                source = s.source();
            }
            tracing::warn!(
                seconds = pause.as_secs(),
                "delivery failed transiently ({cause}); retrying"
            );
            if let Ok(mut retries) = retries().lock() {
                retries.push(Retried {
                    cause,
                    pause_secs: pause.as_secs(),
                });
            }
        })),
    )
}

/// A transient delivery fault that was retried.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retried {
    /// What went wrong.
    pub cause: String,
    /// Seconds waited before the next attempt.
    pub pause_secs: u64,
}

fn retries() -> &'static std::sync::Mutex<Vec<Retried>> {
    static RETRIES: std::sync::Mutex<Vec<Retried>> = std::sync::Mutex::new(Vec::new());
    &RETRIES
}

/// The retries of this process's deliveries so far, for the run report; empties the list.
pub fn take_retries() -> Vec<Retried> {
    retries()
        .lock()
        .map(|mut r| std::mem::take(&mut *r))
        .unwrap_or_default()
}

/// `delivery.stale` as the library's policy.
pub fn stale_policy(config: &DeliveryConfig) -> StalePolicy {
    match config.stale {
        StaleSetting::Refuse => StalePolicy::Refuse,
        StaleSetting::Leave => StalePolicy::Leave,
        StaleSetting::Archive => StalePolicy::Archive(config.archive_dir.clone()),
    }
}

/// The first SFTP-only key set in a drop-folder config.
fn sftp_only_key(c: &DeliveryConfig) -> Option<&'static str> {
    [
        ("host", c.host.is_some()),
        ("user", c.user.is_some()),
        ("key_file", c.key_file.is_some()),
        ("password_env", c.password_env.is_some()),
        ("password_file", c.password_file.is_some()),
        ("known_hosts", c.known_hosts.is_some()),
        ("host_key_fingerprint", c.host_key_fingerprint.is_some()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key))
}

/// Reads a secret from the environment variable or the file the config names.
fn secret(
    what: &str,
    key: &str,
    env: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<Option<Secret>> {
    match (env, file) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(format!(
            "set one of delivery.{key}_env and delivery.{key}_file, not both"
        ))),
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(invalid(format!(
                "the {what} is to come from the environment variable {var} (delivery.{key}_env), which is not set"
            ))),
        },
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(format!(
                    "cannot read the {what} file {} (delivery.{key}_file): {e}",
                    path.display()
                ))
            })?;
            warn_if_readable_by_others(path, what);
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(invalid(format!(
                    "the {what} file {} is empty",
                    path.display()
                )));
            }
            Ok(Some(Secret::new(value)))
        }
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %path.display(), "the {what} file is readable by others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path, _what: &str) {}

fn invalid(message: String) -> anyhow::Error {
    Failure::error(Exit::ConfigOrInput, format!("config: {message}"))
}
