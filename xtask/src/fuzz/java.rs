//! The Java reference (`xtask/java/CheckReference.java`): compiled once per run, then one JVM
//! reads every mutant of a batch.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// A schema error as the JDK's validator reported it.
#[derive(Debug, Clone)]
pub struct SchemaError {
    pub entry: String,
    pub line: String,
    pub path: String,
    pub message: String,
}

/// What the JDK said about one file.
#[derive(Debug, Clone, Default)]
pub struct JavaVerdict {
    /// (reader, message) for each zip reader that failed, or `both` when they disagree.
    pub zip: Vec<(String, String)>,
    /// The XML entries parsed.
    pub entries: Vec<String>,
    /// (entry, line, message) of a fatal parse error.
    pub fatal: Vec<(String, String, String)>,
    pub schema: Vec<SchemaError>,
}

/// The compiled reference.
pub struct JavaReference {
    classes: PathBuf,
    xsd: PathBuf,
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

impl JavaReference {
    /// Compiles the reference into `work/classes`.
    pub fn compile(root: &Path, work: &Path, xsd: &Path) -> anyhow::Result<Self> {
        let source = root.join("xtask/java/CheckReference.java");
        let classes = work.join("classes");
        std::fs::create_dir_all(&classes)?;
        let status = Command::new("javac")
            .arg("-d")
            .arg(&classes)
            .arg(&source)
            .status()
            .context(
                "cannot start javac (a JDK 17 is needed: apt-get install openjdk-17-jdk-headless)",
            )?;
        if !status.success() {
            bail!("javac {} failed", source.display());
        }
        if !xsd.exists() {
            bail!("the schema {} is missing", xsd.display());
        }
        Ok(JavaReference {
            classes,
            xsd: xsd.to_owned(),
        })
    }

    /// Starts one JVM for `paths`; [`Running::wait`] collects its verdicts.
    pub fn start(&self, paths: &[PathBuf]) -> anyhow::Result<Running> {
        let mut child = Command::new("java")
            .args([
                "-Xss8m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
            ])
            .arg(&self.classes)
            .arg("CheckReference")
            .arg(&self.xsd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start java")?;
        let mut stdin = child.stdin.take().context("java's stdin")?;
        let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(list.as_bytes());
        });
        Ok(Running {
            child,
            writer: Some(writer),
            paths: paths.to_vec(),
        })
    }

    /// A JVM for many small batches.
    pub fn session(&self) -> anyhow::Result<Session> {
        let mut child = Command::new("java")
            .args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(&self.classes)
            .arg("CheckReference")
            .arg(&self.xsd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start java")?;
        let stdin = child.stdin.take().context("java's stdin")?;
        let stdout = child.stdout.take().context("java's stdout")?;
        Ok(Session {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }
}

/// Reads one `FILE` ... `END` block; `None` at the end of the output.
fn read_verdict(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<Option<JavaVerdict>> {
    let mut current: Option<JavaVerdict> = None;
    for line in lines {
        let line = line?;
        let fields: Vec<String> = line.split('\t').map(unescape).collect();
        let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
        match fields[0].as_str() {
            "FILE" => current = Some(JavaVerdict::default()),
            "END" => return Ok(current),
            "Z" => {
                if let Some(v) = current.as_mut() {
                    v.zip.push((field(1), field(2)));
                }
            }
            "X" => {
                if let Some(v) = current.as_mut() {
                    v.entries.push(field(1));
                }
            }
            "F" => {
                if let Some(v) = current.as_mut() {
                    v.fatal.push((field(1), field(2), field(4)));
                }
            }
            "S" => {
                if let Some(v) = current.as_mut() {
                    v.schema.push(SchemaError {
                        entry: field(1),
                        line: field(2),
                        path: field(4),
                        message: field(6),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// One JVM kept for many small batches (minimising): paths in, verdicts out, in turn.
pub struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Session {
    pub fn verdicts(&mut self, paths: &[PathBuf]) -> anyhow::Result<Vec<JavaVerdict>> {
        for p in paths {
            writeln!(self.stdin, "{}", p.display())?;
        }
        self.stdin.flush()?;
        let mut out = Vec::with_capacity(paths.len());
        for _ in paths {
            out.push(read_verdict(&mut self.lines)?.context("the Java reference stopped")?);
        }
        Ok(out)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JVM at work on a batch.
pub struct Running {
    child: std::process::Child,
    writer: Option<std::thread::JoinHandle<()>>,
    paths: Vec<PathBuf>,
}

impl Running {
    /// The verdicts, in the order of the paths.
    pub fn wait(mut self) -> anyhow::Result<Vec<JavaVerdict>> {
        let stdout = self.child.stdout.take().context("java's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut verdicts = Vec::with_capacity(self.paths.len());
        while let Some(v) = read_verdict(&mut lines)? {
            verdicts.push(v);
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let status = self.child.wait()?;
        if verdicts.len() != self.paths.len() {
            bail!(
                "the Java reference gave {} verdicts for {} files ({status})",
                verdicts.len(),
                self.paths.len()
            );
        }
        Ok(verdicts)
    }
}
