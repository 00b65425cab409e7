//! Shared helpers: synthetic users, a run, and the external zip readers Alma's side stands for
//! (`unzip -t`, Python's `zipfile`, the JDK's `java.util.zip` with its SAX parser).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use alma_sis_package::{Package, PackageConfig, RunInfo};
use alma_user_model::{CodeValue, User};

/// `n` synthetic users `u00000`, `u00001`, ...
pub fn users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| {
            let mut user = User::new(format!("u{i:05}"));
            user.first_name = Some(format!("Given{i}"));
            user.last_name = Some(format!("Family{}", i * 7919 % 1000));
            user.user_group = Some(CodeValue::new(if i % 3 == 0 { "GRAD" } else { "UGRD" }));
            user
        })
        .collect()
}

pub fn run_info() -> RunInfo {
    RunInfo {
        institution: "TEST".into(),
        feed: "patrons".into(),
        timestamp: "2026-11-23T04:00:00".parse().unwrap(),
        run_id: 1,
        tool_version: "alma-sis 0.0.0-test".into(),
        config_sha256: "c0ffee".repeat(10) + "abcd",
    }
}

/// The default config with `users_per_file` set.
pub fn config(users_per_file: u64) -> PackageConfig {
    PackageConfig {
        users_per_file,
        ..PackageConfig::default()
    }
}

/// The file names in a directory, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The primary ids in every XML entry of every zip, in order, read with the zip crate.
pub fn primary_ids(package: &Package) -> Vec<String> {
    let mut ids = Vec::new();
    for file in &package.files {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&file.path).unwrap()).unwrap();
        for i in 0..archive.len() {
            let mut xml = String::new();
            archive
                .by_index(i)
                .unwrap()
                .read_to_string(&mut xml)
                .unwrap();
            for piece in xml.split("<primary_id>").skip(1) {
                ids.push(piece.split("</primary_id>").next().unwrap().to_owned());
            }
        }
    }
    ids
}

/// (zip name, entry name, users) for every entry, as the manifest says.
pub fn manifest_layout(package: &Package) -> BTreeSet<(String, String, u64)> {
    package
        .manifest
        .files
        .iter()
        .flat_map(|f| {
            f.entries
                .iter()
                .map(|e| (f.name.clone(), e.name.clone(), e.users))
        })
        .collect()
}

fn tools_required() -> bool {
    ["ALMA_SIS_REQUIRE_TOOLS", "CI"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Whether `tool` runs; a missing tool fails the test when `ALMA_SIS_REQUIRE_TOOLS` or `CI`
/// is set, and is skipped with a message otherwise.
#[allow(clippy::print_stderr)] // A skipped check must say so in the test output.
pub fn tool_available(tool: &str, version_arg: &str) -> bool {
    let runs = Command::new(tool).arg(version_arg).output().is_ok();
    if !runs {
        assert!(
            !tools_required(),
            "{tool} is required (ALMA_SIS_REQUIRE_TOOLS or CI is set) but does not run"
        );
        eprintln!("skipping the {tool} check: {tool} is not installed");
    }
    runs
}

const PYTHON_CHECK: &str = r#"
import sys, zipfile, xml.sax

class Counter(xml.sax.ContentHandler):
    def __init__(self):
        self.depth = 0
        self.users = 0
    def startElement(self, name, attrs):
        if self.depth == 1 and name == "user":
            self.users += 1
        self.depth += 1
    def endElement(self, name):
        self.depth -= 1

for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            sys.exit(f"{path}: testzip fails on {bad}")
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_DEFLATED:
                sys.exit(f"{path}: {info.filename} is not deflated")
            if info.flag_bits & 0x08:
                sys.exit(f"{path}: {info.filename} uses a data descriptor")
            parser = xml.sax.make_parser()
            parser.setFeature(xml.sax.handler.feature_external_ges, False)
            counter = Counter()
            parser.setContentHandler(counter)
            with z.open(info) as f:
                parser.parse(f)
            print(f"{path}\t{info.filename}\t{counter.users}")
"#;

fn parse_lines(stdout: &[u8]) -> BTreeSet<(String, String, u64)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let mut cols = line.split('\t');
            let path = cols.next().unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            let entry = cols.next().unwrap().to_owned();
            let users = cols.next().unwrap().parse().unwrap();
            (name.into_owned(), entry, users)
        })
        .collect()
}

/// Checks every zip of `package` with `unzip -t`, Python's `zipfile` and the JDK, and that the
/// readers count the users per entry the manifest records.
pub fn external_readers_accept(package: &Package) {
    external_readers_accept_all(std::slice::from_ref(package));
}

/// [`external_readers_accept`] for several packages (with distinct zip names), one process per
/// reader: the JVM takes half a second to start.
pub fn external_readers_accept_all(packages: &[Package]) {
    let zips: Vec<PathBuf> = packages
        .iter()
        .flat_map(|p| p.files.iter().map(|f| f.path.clone()))
        .collect();
    if zips.is_empty() {
        return;
    }
    let expected: BTreeSet<_> = packages.iter().flat_map(manifest_layout).collect();
    if tool_available("unzip", "-v") {
        for zip in &zips {
            let out = Command::new("unzip").arg("-t").arg(zip).output().unwrap();
            assert!(
                out.status.success(),
                "unzip -t {}:\n{}",
                zip.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    if tool_available("python3", "--version") {
        let out = Command::new("python3")
            .arg("-c")
            .arg(PYTHON_CHECK)
            .args(&zips)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python zipfile: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(parse_lines(&out.stdout), expected, "python's user counts");
    }
    if tool_available("java", "-version") {
        let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/ZipCheck.java");
        let out = Command::new("java")
            .arg(checker)
            .args(&zips)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "java ZipCheck: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(parse_lines(&out.stdout), expected, "java's user counts");
    }
}
