//! A copy of the demo that delivers to a drop folder or to a real sshd, for the delivery
//! integrity tests: runs, paused runs, reports, the run state, both folders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::workspace_root;

#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../sftp-deliver/tests/support/sshd.rs"]
pub mod sshd;

use sshd::{Sshd, current_user};

pub const NOW: &str = "2026-11-23T04:00:00Z";

/// Where a site delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Drop,
    Sftp,
}

/// A work directory with a copy of the demo, its config, and the sshd when it delivers by
/// SFTP.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub sshd: Option<Sshd>,
    /// The binary under test.
    pub bin: PathBuf,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

impl Site {
    /// The demo split into zips of `users_per_file` users (one XML file per zip), delivered
    /// as `kind` says with `delivery` as extra `[delivery]` lines. `None` (skip) when sshd is
    /// missing and not required.
    pub fn new(kind: Kind, users_per_file: u64, delivery: &str) -> Option<Site> {
        let sshd = match kind {
            Kind::Drop => None,
            Kind::Sftp => Some(Sshd::start()?),
        };
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &workspace_root().join("examples/demo"),
            &dir.path().join("demo"),
        );
        let site = Site {
            dir,
            sshd,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_alma-sis")),
        };
        std::fs::create_dir_all(site.target()).unwrap();
        site.write_config(
            &format!("users_per_file = {users_per_file}\nfiles_per_zip = 1\n"),
            delivery,
        );
        Some(site)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("demo/alma-sis.toml")
    }

    /// Rewrites the config: the demo's, with `[package]` and `[delivery]` as given.
    pub fn write_config(&self, package: &str, delivery: &str) {
        let demo =
            std::fs::read_to_string(workspace_root().join("examples/demo/alma-sis.toml")).unwrap();
        let (before, _) = demo.split_once("[delivery]").unwrap();
        let destination = match &self.sshd {
            None => "drop_folder = \"out/drop\"\n".to_owned(),
            Some(sshd) => {
                let known =
                    sshd.write_known_hosts("known_hosts", &[sshd.known_hosts_line("ed25519")]);
                format!(
                    "kind = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n\
                     key_file = \"{}\"\nknown_hosts = \"{}\"\nbase_dir = \"{}\"\n\
                     sub_dir = \"alma/patrons\"\nretries = 0\nverify_sha256 = true\n",
                    sshd.port(),
                    current_user(),
                    sshd.key("client_ed25519").display(),
                    known.display(),
                    sshd.srv().display(),
                )
            }
        };
        std::fs::write(
            self.config(),
            format!("{before}[package]\n{package}\n[delivery]\n{destination}{delivery}\n"),
        )
        .unwrap();
    }

    /// The folder Alma polls.
    pub fn target(&self) -> PathBuf {
        match &self.sshd {
            None => self.root().join("out/drop"),
            Some(sshd) => sshd.srv().join("alma/patrons"),
        }
    }

    /// The sorted names in the folder Alma polls.
    pub fn target_names(&self) -> Vec<String> {
        names(&self.target())
    }

    /// The sorted names in the work directory.
    pub fn work_names(&self) -> Vec<String> {
        names(&self.root().join("out"))
    }

    fn command(&self, args: &[&str]) -> Command {
        let config = self.config();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--config")
            .arg(config)
            .current_dir(self.root())
            .env_remove("ALMA_SIS_CONFIG")
            .env_remove("ALMA_SIS_LOG");
        cmd
    }

    /// `alma-sis run` with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        self.command(&all).output().unwrap()
    }

    /// `alma-sis deliver ZIP`.
    pub fn deliver(&self, zip: &Path) -> Output {
        self.command(&["deliver", zip.to_str().unwrap()])
            .output()
            .unwrap()
    }

    /// `alma-sis run` with `args`, paused at `point`: `while_paused` gets the process id,
    /// then the run resumes (if it still lives) and its output comes back.
    pub fn run_paused(&self, args: &[&str], point: &str, while_paused: impl FnOnce(u32)) -> Output {
        let handshake = tempfile::tempdir().unwrap();
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let mut child = self
            .command(&all)
            .env(
                "ALMA_SIS_TEST_PAUSE",
                format!("{point}@{}", handshake.path().display()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let paused = handshake.path().join("paused");
        wait_for(&format!("the run to pause at {point}"), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the run ended ({status}) before pausing at {point}");
            }
            paused.exists()
        });
        while_paused(child.id());
        std::fs::write(handshake.path().join("resume"), b"").unwrap();
        child.wait_with_output().unwrap()
    }

    /// The report of run `id`.
    pub fn report(&self, id: u32) -> serde_json::Value {
        let out = self.root().join("out");
        let suffix = format!("_r{id}.report.json");
        let path = names(&out)
            .into_iter()
            .find(|n| n.ends_with(&suffix))
            .unwrap_or_else(|| panic!("no report of run {id} in {:?}", names(&out)));
        serde_json::from_str(&std::fs::read_to_string(out.join(path)).unwrap()).unwrap()
    }

    /// The zips run `id` wrote in the work directory, in order.
    pub fn zips_of(&self, id: u32) -> Vec<PathBuf> {
        let marker = format!("_r{id}_");
        names(&self.root().join("out"))
            .into_iter()
            .filter(|n| n.contains(&marker) && n.ends_with(".zip"))
            .map(|n| self.root().join("out").join(n))
            .collect()
    }

    /// The match ids the run state records as sent (`state export`, read with plain string
    /// search: a big run's export is read in a debug build).
    pub fn recorded(&self) -> BTreeSet<String> {
        const KEY: &str = "\"key\":\"";
        self.export()
            .lines()
            .filter(|l| !l.contains("\"last_sent\":null"))
            .map(|l| {
                let from = l.find(KEY).expect("an export line has a key") + KEY.len();
                let len = l[from..].find('"').expect("the key ends");
                l[from..from + len].to_owned()
            })
            .collect()
    }

    /// The run state's items (`state export`).
    pub fn export(&self) -> String {
        let out = self.command(&["state", "export"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The outcome of run `id` as the run state recorded it.
    pub fn outcome(&self, id: u32) -> String {
        let out = self
            .command(&["history", "--json", "-n", "1000"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["id"] == id)
            .map(|v| v["outcome"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Makes the destination unusable: sshd stops, or a file takes the drop folder's place.
    pub fn break_destination(&mut self) {
        match &mut self.sshd {
            Some(sshd) => sshd.kill(),
            None => {
                let target = self.target();
                std::fs::rename(&target, target.with_extension("moved")).unwrap();
                std::fs::write(&target, b"not a folder").unwrap();
            }
        }
    }

    /// Undoes [`Site::break_destination`].
    pub fn mend_destination(&mut self) {
        match &mut self.sshd {
            Some(sshd) => sshd.restart(),
            None => {
                let target = self.target();
                std::fs::remove_file(&target).unwrap();
                std::fs::rename(target.with_extension("moved"), &target).unwrap();
            }
        }
    }
}

/// The sorted names in `dir` (empty when it does not exist).
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The primary ids in zips, as match ids (lower case): unzipped by `unzip`, found by plain
/// string search (an oracle apart from our reader, and quick in a debug build).
pub fn ids_in(zips: &[PathBuf]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for zip in zips {
        let out = Command::new("unzip").arg("-p").arg(zip).output().unwrap();
        assert!(out.status.success(), "unzip -p {}", zip.display());
        let xml = String::from_utf8(out.stdout).unwrap();
        for piece in xml.split("<primary_id>").skip(1) {
            let end = piece.find("</primary_id>").expect("a closed primary_id");
            ids.insert(piece[..end].to_lowercase());
        }
    }
    ids
}

/// Waits (polling) until `done`, failing after a minute: a condition, not a timing.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` (`INT`, `TERM`, `KILL`) to process `pid`.
pub fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Fails with the output unless the command exited with `code`.
pub fn expect(out: &Output, code: i32) {
    crate::support::expect_code(out, code);
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A JSON array of strings as a Vec.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// The file name of a path.
pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
