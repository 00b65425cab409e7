//! The `alma-sis.toml` file: the mapping (owned by `sis-extract`) plus where output goes.

use std::path::{Path, PathBuf};

use alma_sis_package::check::{CheckOptions, Limits, MandatoryProfile};
use alma_sis_state::{BrakeLimits, LoadMode, PlanOptions, PurgePolicy, VanishedPolicy, WaitPolicy};
use alma_user_model::{CodeTables, MatchId, ValidationOptions};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sis_extract::MappingConfig;

use crate::exit::{Exit, Failure};

/// Sections the CLI owns; everything else belongs to the mapping. List every new section
/// here: the configuration-reference test walks these.
pub const CLI_SECTIONS: [&str; 6] = ["output", "delivery", "package", "check", "state", "alert"];

/// The whole config file.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative input paths are resolved against.
    pub base_dir: PathBuf,
    /// The raw bytes' sha256, hex: identifies the config in reports and XML comments.
    pub hash: String,
    /// The mapping rules.
    pub mapping: MappingConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[delivery]`.
    pub delivery: DeliveryConfig,
    /// `[package]`: users per XML file, files per zip, zips per run, file names.
    pub package: alma_sis_package::PackageConfig,
    /// `[state]`: the run-state file, full or delta, vanished people, the brake.
    pub state: StateConfig,
    /// `[check]`: match ID, mandatory fields, code tables, input limits.
    pub check: CheckConfig,
    /// The `[purge]` rules, compiled (for the vanished, who are not mapped).
    pub purge: sis_extract::PurgeRules,
    /// `[[alert]]`: who is told about a run, and when.
    pub alerts: Vec<crate::alert::AlertConfig>,
    /// Warnings about the config file itself (e.g. readable by others): logged when it is
    /// loaded, and put into a run's report.
    pub warnings: Vec<String>,
}

/// `[output]`: where work files go. Relative paths are resolved against the current directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Work directory for zips, reports and rejects.
    #[serde(default = "default_out")]
    pub dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig { dir: default_out() }
    }
}

impl OutputConfig {
    /// The work directory, created if missing: never a symbolic link, which is refused (exit
    /// 2) so that no file of a run appears at a link's target.
    pub fn ensure_dir(&self) -> anyhow::Result<&Path> {
        let dir = &self.dir;
        let refuse = |why: String| Failure::error(Exit::ConfigOrInput, why);
        match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(refuse(format!(
                    "work directory {} ([output] dir) is a symbolic link: alma-sis does not \
                     follow links at the work directory; nothing was written. Point output.dir \
                     at the directory itself",
                    dir.display()
                )));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(refuse(format!(
                    "work directory {} ([output] dir) is not a directory",
                    dir.display()
                )));
            }
            Ok(_) => return writable(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(refuse(format!("work directory {}: {e}", dir.display()))),
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| refuse(format!("cannot create {}: {e}", parent.display())))?;
        }
        // `create_dir` makes nothing at a link's target: a name taken meanwhile is an error.
        std::fs::create_dir(dir).map_err(|e| {
            refuse(format!(
                "cannot create work directory {}: {e}",
                dir.display()
            ))
        })?;
        Ok(dir)
    }
}

/// `dir` when a file can be created in it: otherwise no file of the run can be, the report
/// included, and that is said once, first.
fn writable(dir: &Path) -> anyhow::Result<&Path> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let probe = dir.join(format!(".alma-sis-probe-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe);
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(dir)
        }
        Err(e) => Err(Failure::unwritable_work_dir(format!(
            "cannot write in work directory {} ([output] dir): {e}; nothing was read or sent, \
             and no run report could be written. Let the account that runs alma-sis write \
             there (`chown` or `chmod u+w` the directory), or set [output] dir to a directory \
             it can write",
            dir.display()
        ))),
    }
}

/// A warning when the config file can be read by other users or written by anyone but its
/// owner: it names the state file, the key and the delivery target.
fn mode_warning(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    let mut who = Vec::new();
    if mode & 0o004 != 0 {
        who.push("readable by other users");
    }
    if mode & 0o022 != 0 {
        who.push("writable by users other than its owner");
    }
    if who.is_empty() {
        return None;
    }
    Some(format!(
        "config {} is {} (mode {mode:04o}): it names the state file, the SFTP key and where \
         users are delivered; run `chmod 600 {}` (or 640 for a service group)",
        path.display(),
        who.join(" and "),
        path.display()
    ))
}

fn default_out() -> PathBuf {
    PathBuf::from("out")
}

/// `[delivery]`: where finished zips go, a local drop folder or SFTP (see
/// `docs/configuration.md`). Relative paths are resolved against the current directory.
/// Secrets are never in the file: it names an environment variable or a file holding them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// `drop` (the default) or `sftp`.
    #[serde(default)]
    pub kind: DeliveryKind,
    /// The local drop folder (`kind = "drop"`).
    #[serde(default = "default_drop")]
    pub drop_folder: PathBuf,
    /// SFTP host name or address.
    pub host: Option<String>,
    /// SFTP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// SFTP login name.
    pub user: Option<String>,
    /// Private key file (ed25519 or RSA).
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the key's passphrase.
    pub key_passphrase_env: Option<String>,
    /// File holding the key's passphrase.
    pub key_passphrase_file: Option<PathBuf>,
    /// Environment variable holding a password (password auth only when this is set).
    pub password_env: Option<String>,
    /// File holding a password (password auth only when this is set).
    pub password_file: Option<PathBuf>,
    /// A known_hosts file pinning the server's host key.
    pub known_hosts: Option<PathBuf>,
    /// The server's host key as a `SHA256:` fingerprint (instead of `known_hosts`).
    pub host_key_fingerprint: Option<String>,
    /// The host key type to ask for with a fingerprint pin, e.g. `ssh-ed25519`.
    pub host_key_type: Option<String>,
    /// Remote base directory (Alma's S/FTP connection).
    #[serde(default)]
    pub base_dir: String,
    /// Remote sub-directory (the integration profile's), below `base_dir`.
    #[serde(default)]
    pub sub_dir: String,
    /// Seconds allowed for connecting and the SSH handshake.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds allowed for any one network operation afterwards.
    #[serde(default = "default_io_timeout")]
    pub io_timeout_secs: u64,
    /// Seconds between keepalives; 0 disables them.
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// Retries after a transient fault (connection refused, reset, timeout).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds before the first retry; doubles each time.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_secs: u64,
    /// The longest pause between retries, in seconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_secs: u64,
    /// What to do with unprocessed `.zip` files already in the target folder.
    #[serde(default)]
    pub stale: StaleSetting,
    /// The archive folder for `stale = "archive"`, relative to the target folder.
    #[serde(default = "default_archive")]
    pub archive_dir: String,
    /// Read each upload back and compare sha256 before renaming it into place.
    #[serde(default)]
    pub verify_sha256: bool,
}

/// `delivery.kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    /// A local drop folder.
    #[default]
    Drop,
    /// An SFTP server.
    Sftp,
}

/// `delivery.stale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleSetting {
    /// Refuse to deliver while unprocessed zips wait.
    Refuse,
    /// Report them and deliver.
    #[default]
    Leave,
    /// Move them to `archive_dir`, report them, and deliver.
    Archive,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        toml::Value::Table(toml::Table::new())
            .try_into()
            .unwrap_or_else(|e| unreachable!("every [delivery] key has a default: {e}"))
    }
}

fn default_drop() -> PathBuf {
    PathBuf::from("out/drop")
}

fn default_port() -> u16 {
    22
}

fn default_connect_timeout() -> u64 {
    30
}

fn default_io_timeout() -> u64 {
    120
}

fn default_keepalive() -> u64 {
    30
}

fn default_retries() -> u32 {
    3
}

fn default_backoff_initial() -> u64 {
    5
}

fn default_backoff_max() -> u64 {
    120
}

fn default_archive() -> String {
    "archive".into()
}

/// The sections the CLI owns, read from the document with their positions, so that a
/// mistake in any of them is reported with its line and column.
#[derive(Debug, Deserialize)]
struct CliSections {
    #[serde(default)]
    output: Option<OutputConfig>,
    #[serde(default)]
    delivery: Option<DeliveryConfig>,
    #[serde(default)]
    package: Option<alma_sis_package::PackageConfig>,
    #[serde(default)]
    check: Option<CheckConfig>,
    #[serde(default)]
    state: Option<StateConfig>,
    #[serde(default)]
    alert: Vec<crate::alert::AlertConfig>,
}

impl CliSections {
    /// Parses the CLI's sections of `text`; errors name `path:line:column`.
    fn parse(text: &str, path: &Path) -> anyhow::Result<CliSections> {
        let source = sis_extract::config::ConfigSource {
            path: path.to_owned(),
            text: text.into(),
        };
        let invalid = |e: toml::de::Error| {
            let at = e
                .span()
                .map_or_else(|| path.display().to_string(), |s| source.locate(&s));
            let message = crate::messages::with_key_suggestion(e.message().trim_end(), &[]);
            Failure::error(Exit::ConfigOrInput, format!("config {at}: {message}"))
        };
        let mut root = toml::de::DeTable::parse(text).map_err(invalid)?;
        let others: Vec<String> = root
            .get_ref()
            .keys()
            .filter(|k| !CLI_SECTIONS.contains(&k.get_ref().as_ref()))
            .map(|k| k.get_ref().to_string())
            .collect();
        for key in others {
            root.get_mut().remove(key.as_str());
        }
        CliSections::deserialize(toml::de::Deserializer::from(root)).map_err(invalid)
    }
}

impl AppConfig {
    /// Reads and validates the config file.
    pub fn load(path: &Path) -> anyhow::Result<AppConfig> {
        let unreadable = |e: std::io::Error| {
            let next = if e.kind() == std::io::ErrorKind::NotFound {
                "; start one with `alma-sis init` (an annotated config and a sample extract), \
                 or name yours with --config FILE (or ALMA_SIS_CONFIG)"
            } else {
                "; the account running alma-sis must be able to read it"
            };
            Failure::error(
                Exit::ConfigOrInput,
                format!("cannot read config {}: {e}{next}", path.display()),
            )
        };
        let mut file = std::fs::File::open(path).map_err(unreadable)?;
        let mut warnings = Vec::new();
        // The mode of the file read (a link is followed: the file it names is what counts).
        if let Some(warning) = file
            .metadata()
            .ok()
            .and_then(|meta| mode_warning(path, &meta))
        {
            tracing::warn!("{warning}");
            warnings.push(warning);
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(unreadable)?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("config {} is not UTF-8", path.display()),
            )
        })?;
        let sections = CliSections::parse(&text, path)?;
        let output = sections.output.unwrap_or_default();
        let delivery = sections.delivery.unwrap_or_default();
        let check = sections.check.unwrap_or_default();
        let package = sections.package.unwrap_or_default();
        package.validate().map_err(|e| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("config {}: {e}", path.display()),
            )
        })?;
        let state = sections.state.unwrap_or_default();
        state.validate().map_err(|e| {
            Failure::error(
                Exit::ConfigOrInput,
                format!("config {}: {e}", path.display()),
            )
        })?;
        for (i, alert) in sections.alert.iter().enumerate() {
            alert.validate(i + 1).map_err(|e| {
                Failure::error(
                    Exit::ConfigOrInput,
                    format!("config {}: {e}", path.display()),
                )
            })?;
        }
        // The mapping is parsed from the text itself so its errors keep line and column;
        // every section the CLI owns must be listed in CLI_SECTIONS.
        let mapping_error = |e: sis_extract::ExtractError| {
            let message = match &e {
                sis_extract::ExtractError::Config { at, message } => format!(
                    "config {at}: {}",
                    crate::messages::with_key_suggestion(message, &CLI_SECTIONS)
                ),
                _ => e.to_string(),
            };
            Failure::error(Exit::ConfigOrInput, message)
        };
        let mapping =
            MappingConfig::from_toml(&text, path, &CLI_SECTIONS).map_err(mapping_error)?;
        let purge = sis_extract::PurgeRules::new(&mapping)
            .and_then(|rules| {
                rules.check_minimum(state.purge_minimum_days, "state.purge_minimum_days")?;
                Ok(rules)
            })
            .map_err(mapping_error)?;
        let base_dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(AppConfig {
            path: path.to_owned(),
            base_dir,
            hash: sha256_hex(&bytes),
            mapping,
            output,
            delivery,
            package,
            state,
            check,
            purge,
            alerts: sections.alert,
            warnings,
        })
    }
}

/// `[check]`: what `check` and `run`'s quarantine check against.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// The integration profile's match ID: `primary_id` or an identifier type.
    #[serde(default = "default_match_id")]
    pub match_id: String,
    /// Mandatory-field profile: `alma` (the schema's required fields) or `i-share`.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// More mandatory fields for this site (see `docs/configuration.md` for the names).
    #[serde(default)]
    pub mandatory: Vec<String>,
    /// The institution's code tables as TSV, relative to the config file.
    pub code_tables: Option<PathBuf>,
    /// Most uncompressed bytes read from one XML file or zip entry.
    #[serde(default = "default_entry_bytes")]
    pub max_entry_bytes: u64,
    /// Most uncompressed bytes read in one check.
    #[serde(default = "default_total_bytes")]
    pub max_total_bytes: u64,
    /// Longest tag or text node read.
    #[serde(default = "default_token_bytes")]
    pub max_token_bytes: u64,
    /// `run` exits 1 when more than this percentage of the rows read is rejected (the rest is
    /// still delivered).
    #[serde(default = "default_max_rejected_percent")]
    pub max_rejected_percent: f64,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            match_id: default_match_id(),
            profile: default_profile(),
            mandatory: Vec::new(),
            code_tables: None,
            max_entry_bytes: default_entry_bytes(),
            max_total_bytes: default_total_bytes(),
            max_token_bytes: default_token_bytes(),
            max_rejected_percent: default_max_rejected_percent(),
        }
    }
}

fn default_max_rejected_percent() -> f64 {
    5.0
}

fn default_match_id() -> String {
    "primary_id".into()
}

fn default_profile() -> String {
    "alma".into()
}

fn default_entry_bytes() -> u64 {
    Limits::default().max_entry_bytes
}

fn default_total_bytes() -> u64 {
    Limits::default().max_total_bytes
}

fn default_token_bytes() -> u64 {
    Limits::default().max_token_bytes
}

fn input_error(message: String) -> anyhow::Error {
    Failure::error(Exit::ConfigOrInput, message)
}

impl CheckConfig {
    /// The library's options; relative paths are resolved against `base_dir`.
    pub fn options(&self, base_dir: &Path) -> anyhow::Result<CheckOptions> {
        if !(0.0..=100.0).contains(&self.max_rejected_percent) {
            return Err(input_error(format!(
                "check.max_rejected_percent must be between 0 and 100, not {}",
                self.max_rejected_percent
            )));
        }
        let profile = MandatoryProfile::builtin(&self.profile)
            .map_err(|e| input_error(format!("check.profile: {e}")))?
            .with_fields(&self.mandatory)
            .map_err(|e| input_error(format!("check.mandatory: {e}")))?;
        let code_tables = match &self.code_tables {
            Some(path) => load_code_tables(&base_dir.join(path))?,
            None => CodeTables::default(),
        };
        Ok(CheckOptions {
            match_id: MatchId::parse(&self.match_id),
            profile: Some(profile),
            validation: ValidationOptions { code_tables },
            limits: Limits {
                max_entry_bytes: self.max_entry_bytes,
                max_total_bytes: self.max_total_bytes,
                max_token_bytes: self.max_token_bytes,
            },
            previous: None,
        })
    }
}

fn load_code_tables(path: &Path) -> anyhow::Result<CodeTables> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input_error(format!("cannot read code tables {}: {e}", path.display())))?;
    CodeTables::parse_tsv(&text)
        .map_err(|e| input_error(format!("code tables {}: {e}", path.display())))
}

/// `[state]`: the run-state file, the load mode, vanished people and the brake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The state file; default `<output.dir>/alma-sis-state.sqlite`.
    pub path: Option<PathBuf>,
    /// `full` or `delta`; `run --mode` overrides it.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// What people sent before and missing from the extract get.
    #[serde(default)]
    pub vanished: VanishedSetting,
    /// Days after the day someone vanished for their expiry and purge date (`expire`),
    /// unless the expiry date last sent is earlier.
    #[serde(default)]
    pub vanished_grace_days: u32,
    /// Successful runs that re-send a vanished person before they are retired.
    #[serde(default = "default_vanished_runs")]
    pub vanished_runs: u32,
    /// Re-send an unchanged user when the expiry date last sent is this many days away.
    #[serde(default = "default_refresh_days")]
    pub refresh_days: u32,
    /// The brake trips when the eligible count falls by more than this percentage.
    #[serde(default = "default_eligible_drop")]
    pub brake_eligible_drop_percent: f64,
    /// The brake trips when more than this percentage of known users changed or vanished.
    #[serde(default = "default_changed")]
    pub brake_changed_percent: f64,
    /// No purge date is sent sooner than this many days after the later of the expiry date
    /// and the run date; `[purge]` durations must be at least this long.
    #[serde(default = "default_purge_minimum")]
    pub purge_minimum_days: u32,
    /// Seconds a run waits for a busy state file (another process writing it) or for the
    /// feed's lock (another run of the feed) before it gives up.
    #[serde(default = "default_lock_wait")]
    pub lock_wait_secs: u64,
}

/// `state.vanished`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VanishedSetting {
    /// Re-send with the expiry date on the day they vanished (plus the grace), or the one
    /// last sent when that is earlier, and a purge date by their last group's `[purge]`
    /// rule, no sooner than the minimum.
    #[default]
    Expire,
    /// Re-send with status INACTIVE (the last expiry date, and a purge date as for `expire`).
    Inactive,
    /// Send nothing.
    Nothing,
}

fn default_mode() -> Mode {
    Mode::Full
}

fn default_vanished_runs() -> u32 {
    3
}

fn default_refresh_days() -> u32 {
    30
}

fn default_eligible_drop() -> f64 {
    10.0
}

fn default_changed() -> f64 {
    25.0
}

fn default_purge_minimum() -> u32 {
    PurgePolicy::DEFAULT_MINIMUM_DAYS
}

fn default_lock_wait() -> u64 {
    600
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            path: None,
            mode: default_mode(),
            vanished: VanishedSetting::default(),
            vanished_grace_days: 0,
            vanished_runs: default_vanished_runs(),
            refresh_days: default_refresh_days(),
            brake_eligible_drop_percent: default_eligible_drop(),
            brake_changed_percent: default_changed(),
            purge_minimum_days: default_purge_minimum(),
            lock_wait_secs: default_lock_wait(),
        }
    }
}

impl StateConfig {
    /// The state file: `path`, or `alma-sis-state.sqlite` in the output directory.
    pub fn file(&self, output: &OutputConfig) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| output.dir.join("alma-sis-state.sqlite"))
    }

    /// Checks the percentages.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            (
                "brake_eligible_drop_percent",
                self.brake_eligible_drop_percent,
            ),
            ("brake_changed_percent", self.brake_changed_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(format!(
                    "state.{key} = {value} is not a percentage between 0 and 100"
                ));
            }
        }
        Ok(())
    }

    /// How long to wait for a busy state file or feed lock; a wait that starts is logged
    /// (stderr at the default level).
    pub fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            limit: std::time::Duration::from_secs(self.lock_wait_secs),
            notice: std::sync::Arc::new(|waiting| tracing::warn!("{waiting}")),
        }
    }

    /// How `alma-sis explain` and `run` plan (full mode, a complete run), users matched on
    /// `match_id` (`[check] match_id`).
    pub fn explain_options(&self, match_id: &str) -> PlanOptions {
        self.plan_options(Mode::Full, false, match_id)
    }

    pub(crate) fn plan_options(&self, mode: Mode, partial: bool, match_id: &str) -> PlanOptions {
        PlanOptions {
            match_id: MatchId::parse(match_id),
            mode: match mode {
                Mode::Full => LoadMode::Full,
                Mode::Delta => LoadMode::Delta,
            },
            vanished: match self.vanished {
                VanishedSetting::Expire => VanishedPolicy::Expire {
                    grace_days: self.vanished_grace_days,
                },
                VanishedSetting::Inactive => VanishedPolicy::Inactive,
                VanishedSetting::Nothing => VanishedPolicy::Nothing,
            },
            vanished_runs: self.vanished_runs,
            refresh_days: self.refresh_days,
            brake: BrakeLimits {
                eligible_drop_percent: self.brake_eligible_drop_percent,
                changed_or_vanished_percent: self.brake_changed_percent,
            },
            partial,
        }
    }
}

/// Load modes (also `state.mode` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Send everyone eligible.
    Full,
    /// Send new and changed users only.
    Delta,
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
