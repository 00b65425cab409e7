//! `cargo xtask fuzz-check`: `alma-sis check` against the JDK, mutant by mutant.
//!
//! Seed files (the demo's output, the real-world samples, documents made here) are mutated
//! once each, in [`mutate::CLASSES`] (byte flips to zip-header damage), zipped, and given to
//! both `check` (in this process, with `alma-sis check`'s default options) and the Java
//! reference (`xtask/java/CheckReference.java`: `ZipFile`, `ZipInputStream`, the JDK's SAX
//! parser validating against `rest_users.xsd`; one JVM per batch). Each mutant is then
//! *missed* (Java rejects, check has no error), *stricter* (check has an error, Java accepts),
//! *both reject* or *both accept*. A table per class follows; every miss is minimised and
//! kept under `target/fuzz-check/`. The exit code is 1 when anything was missed.
//!
//! Deterministic: the same `--seed` gives the same mutants and the same table.

mod java;
mod mutate;
mod rng;
mod seeds;
mod verdict;
mod xmlmap;
mod zipmodel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alma_sis_package::check::{CheckOptions, Checker};
use alma_user_model::Severity;
use anyhow::{Context as _, bail};

use java::JavaReference;
use mutate::{CLASSES, Kind, Mutant};
use rng::Rng;
use seeds::Seed;
use verdict::{Java, Outcome};

/// Options of `cargo xtask fuzz-check`.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub mutants: usize,
    pub seed: u64,
    pub classes: Vec<String>,
    pub samples: Option<PathBuf>,
    pub xsd: Option<PathBuf>,
    pub verbose: bool,
    pub minimise: bool,
}

impl FuzzOptions {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut o = FuzzOptions {
            mutants: 300,
            seed: 1,
            classes: Vec::new(),
            samples: None,
            xsd: None,
            verbose: false,
            minimise: true,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--mutants" => o.mutants = value()?.parse().context("--mutants")?,
                "--seed" => o.seed = value()?.parse().context("--seed")?,
                "--class" => o.classes.push(value()?.clone()),
                "--samples" => o.samples = Some(PathBuf::from(value()?)),
                "--xsd" => o.xsd = Some(PathBuf::from(value()?)),
                "--verbose" => o.verbose = true,
                "--no-minimise" => o.minimise = false,
                other => bail!(
                    "unknown argument {other}; usage: cargo xtask fuzz-check [--mutants N] \
                     [--seed S] [--class NAME]... [--samples DIR] [--xsd FILE] [--verbose] \
                     [--no-minimise]"
                ),
            }
        }
        for c in &o.classes {
            if !CLASSES.iter().any(|k| k.name == c) {
                bail!(
                    "no class {c}; the classes are: {}",
                    CLASSES
                        .iter()
                        .map(|k| k.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(o)
    }
}

/// Codes deliberately stricter than the JDK (Alma rules, check's own limits, documented
/// choices); see "What Alma does with each code" in docs/troubleshooting.md.
const ON_PURPOSE: &[&str] = &[
    "E-CODE-VALUE",
    "E-CASE",
    "E-DUP-MATCH-ID",
    "E-ID-TAKEN-IN-FEED",
    "E-LIMIT",
    "E-MANDATORY",
    "E-MULTIPLE-PREFERRED",
    "E-NO-MATCH-ID",
    "E-ZIP-NO-XML",
    "E-ZIP-TOO-MANY-XML",
    "E-DOCTYPE",
    "E-UNKNOWN-ATTRIBUTE",
    "E-UNKNOWN-ELEMENT",
    "E-NAMESPACE",
    "E-DUPLICATE-ELEMENT",
];

/// Kinds of miss minimised (a kind: the class and Java's reason without numbers); further
/// misses of a kind are listed and kept as they are.
const MINIMISED: usize = 20;

/// One mutant's result.
struct Result {
    mutant: Mutant,
    path: PathBuf,
    java: Java,
    check_errors: Vec<String>,
    outcome: Outcome,
}

/// check's error codes for a file, with `alma-sis check`'s default options.
fn check_errors(options: &CheckOptions, path: &Path) -> Vec<String> {
    let mut codes = Vec::new();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut checker = Checker::with_sink(options, |f| {
            if f.finding.severity == Severity::Error {
                codes.push(f.finding.code.clone());
            }
        });
        checker.check_path(path).map_err(|e| e.to_string())
    }));
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(e)) => codes.push(format!("CHECK-FAILED({e})")),
        Err(_) => codes.push("CHECK-PANICKED".into()),
    }
    codes.sort();
    codes.dedup();
    codes
}

fn pick_seed<'s>(rng: &mut Rng, seeds: &'s [Seed], kind: Kind) -> &'s Seed {
    // Zip classes mostly take small seeds: their headers are the point.
    let usable: Vec<&Seed> = seeds
        .iter()
        .filter(|s| kind == Kind::Xml || s.xml.len() < 64 * 1024)
        .collect();
    let total: usize = usable.iter().map(|s| s.weight).sum();
    let mut n = rng.below(total);
    for s in &usable {
        if n < s.weight {
            return s;
        }
        n -= s.weight;
    }
    usable[0]
}

pub fn fuzz_check(root: &Path, o: &FuzzOptions) -> anyhow::Result<bool> {
    let shared = root.join("../shared/alma");
    let samples = o.samples.clone().unwrap_or_else(|| shared.join("samples"));
    let xsd = o
        .xsd
        .clone()
        .unwrap_or_else(|| shared.join("xsd/rest_users.xsd"));
    let work = root.join(format!("target/fuzz-check/seed-{}", o.seed));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(work.join("mutants"))?;
    let reference = JavaReference::compile(root, &work, &xsd)?;
    let seeds = seeds::seeds(root, &samples)?;
    let classes: Vec<&mutate::Class> = CLASSES
        .iter()
        .filter(|c| o.classes.is_empty() || o.classes.iter().any(|n| n == c.name))
        .collect();
    let options = alma_sis::config::CheckConfig::default().options(root)?;

    // Mutants, round-robin over the classes.
    let mut mutants = Vec::with_capacity(o.mutants);
    let mut paths = Vec::with_capacity(o.mutants);
    for i in 0..o.mutants {
        let class = classes[i % classes.len()];
        let mut rng = Rng::new(o.seed, i as u64);
        let mut made = None;
        for _ in 0..8 {
            let seed = pick_seed(&mut rng, &seeds, class.kind);
            if let Some(m) = class.mutate(&mut rng, seed) {
                made = Some(m);
                break;
            }
        }
        let mutant = made.with_context(|| format!("class {} made no mutant", class.name))?;
        let path = work.join(format!("mutants/m{i:05}-{}.zip", class.name));
        std::fs::write(&path, &mutant.file)?;
        paths.push(path);
        mutants.push(mutant);
    }
    eprintln!(
        "fuzz-check: {} mutants of {} seeds in {} classes (seed {})",
        mutants.len(),
        seeds.len(),
        classes.len(),
        o.seed
    );

    // Java works on the whole batch while check runs here.
    let running = reference.start(&paths)?;
    let checked: Vec<Vec<String>> = paths.iter().map(|p| check_errors(&options, p)).collect();
    let verdicts = running.wait()?;

    let results: Vec<Result> = mutants
        .into_iter()
        .zip(paths)
        .zip(checked.into_iter().zip(&verdicts))
        .map(|((mutant, path), (check_errors, v))| {
            let java = verdict::java(v);
            let outcome = verdict::outcome(&java, &check_errors);
            Result {
                mutant,
                path,
                java,
                check_errors,
                outcome,
            }
        })
        .collect();

    print_table(&classes, &results);
    print_stricter(&results);
    if o.verbose {
        for r in &results {
            println!(
                "{:?}\t{}\t{}\t{}\tjava: {:?}\tcheck: {:?}\t{}",
                r.outcome,
                r.mutant.class,
                r.mutant.seed,
                r.mutant.what,
                r.java,
                r.check_errors,
                r.path.display()
            );
        }
    }
    let missed: Vec<&Result> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Missed)
        .collect();
    if missed.is_empty() {
        println!("0 missed");
        return Ok(true);
    }
    println!("\n{} missed:", missed.len());
    let mut session = if o.minimise {
        Some(reference.session()?)
    } else {
        None
    };
    let mut kinds: Vec<String> = Vec::new();
    for (n, r) in missed.iter().enumerate() {
        println!(
            "\n[{}] {} on {}: {}\n    java: {}\n    kept: {}",
            n + 1,
            r.mutant.class,
            r.mutant.seed,
            r.mutant.what,
            match &r.java {
                Java::Rejects(why) => why.clone(),
                other => format!("{other:?}"),
            },
            r.path.display()
        );
        let kind = format!(
            "{} {}",
            r.mutant.class,
            match &r.java {
                Java::Rejects(why) => why
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect::<String>(),
                _ => String::new(),
            }
        );
        let new_kind = !kinds.contains(&kind);
        if new_kind {
            kinds.push(kind);
        }
        if new_kind
            && kinds.len() <= MINIMISED
            && let Some(java) = session.as_mut()
            && let Some(xml) = &r.mutant.xml
        {
            let small = minimise(java, &options, &work, xml)?;
            let shown: String = String::from_utf8_lossy(&small)
                .chars()
                .take(600)
                .flat_map(char::escape_debug)
                .collect();
            let path = work.join(format!("minimal-{n}.xml"));
            std::fs::write(&path, &small)?;
            println!(
                "    minimal ({} bytes, {}): \"{shown}\"",
                small.len(),
                path.display()
            );
        }
    }
    Ok(false)
}

fn print_table(classes: &[&mutate::Class], results: &[Result]) {
    println!(
        "{:<20} {:>7} {:>7} {:>9} {:>12} {:>12} {:>10}",
        "class", "mutants", "missed", "stricter", "both reject", "both accept", "tolerated"
    );
    let mut totals = [0usize; 6];
    for class in classes {
        let mine: Vec<&Result> = results
            .iter()
            .filter(|r| r.mutant.class == class.name)
            .collect();
        let count = |o: Outcome| mine.iter().filter(|r| r.outcome == o).count();
        let row = [
            mine.len(),
            count(Outcome::Missed),
            count(Outcome::Stricter),
            count(Outcome::BothReject),
            count(Outcome::BothAccept),
            mine.iter()
                .filter(|r| matches!(r.java, Java::Tolerated(_)))
                .count(),
        ];
        for (t, v) in totals.iter_mut().zip(row) {
            *t += v;
        }
        println!(
            "{:<20} {:>7} {:>7} {:>9} {:>12} {:>12} {:>10}",
            class.name, row[0], row[1], row[2], row[3], row[4], row[5]
        );
    }
    println!(
        "{:<20} {:>7} {:>7} {:>9} {:>12} {:>12} {:>10}",
        "total", totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]
    );
}

fn print_stricter(results: &[Result]) {
    let mut by_code: BTreeMap<&str, (usize, &Result)> = BTreeMap::new();
    for r in results.iter().filter(|r| r.outcome == Outcome::Stricter) {
        for code in &r.check_errors {
            by_code.entry(code.as_str()).or_insert((0, r)).0 += 1;
        }
    }
    if by_code.is_empty() {
        return;
    }
    println!(
        "\nstricter than Java, by check code (one example each; * = not among the \
         deliberately stricter codes docs/troubleshooting.md lists):"
    );
    for (code, (n, r)) in by_code {
        let mark = if ON_PURPOSE.contains(&code) { ' ' } else { '*' };
        println!(
            "  {mark}{code:<24} {n:>5}  e.g. {} on {}: {}",
            r.mutant.class, r.mutant.seed, r.mutant.what
        );
    }
}

/// The smallest XML (by delta debugging over lines, then tags and text, then bytes) that
/// Java still rejects and check still passes; within a minute per miss.
fn minimise(
    java: &mut java::Session,
    options: &CheckOptions,
    work: &Path,
    xml: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let dir = work.join("minimise");
    std::fs::create_dir_all(&dir)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut current = xml.to_vec();
    let still_missed = |java: &mut java::Session, candidates: &[Vec<u8>]| {
        let files: Vec<PathBuf> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let path = dir.join(format!("e{i}.zip"));
                std::fs::write(&path, mutate::zipped(c)).map(|()| path)
            })
            .collect::<std::io::Result<_>>()?;
        let verdicts = java.verdicts(&files)?;
        anyhow::Ok(files.iter().zip(&verdicts).position(|(p, v)| {
            matches!(verdict::java(v), Java::Rejects(_)) && check_errors(options, p).is_empty()
        }))
    };
    // Whole elements first, largest first, while the document stays a miss.
    while std::time::Instant::now() < deadline {
        let Some(map) = xmlmap::map(&current) else {
            break;
        };
        let mut elements: Vec<&xmlmap::Element> = map.iter().skip(1).collect();
        elements.sort_by_key(|e| std::cmp::Reverse(e.whole.len()));
        let candidates: Vec<Vec<u8>> = elements
            .iter()
            .map(|e| [&current[..e.whole.start], &current[e.whole.end..]].concat())
            .collect();
        match still_missed(java, &candidates)? {
            Some(i) => current = candidates[i].clone(),
            None => break,
        }
    }
    for unit in [Unit::Line, Unit::Markup, Unit::Byte] {
        if unit == Unit::Byte && current.len() > 1024 {
            break;
        }
        let mut parts = split(&current, unit);
        let mut n = 2usize;
        while parts.len() >= 2 && std::time::Instant::now() < deadline {
            n = n.min(parts.len());
            let len = parts.len();
            let candidates: Vec<Vec<Vec<u8>>> = (0..n)
                .map(|i| {
                    let mut c = parts.clone();
                    c.drain(i * len / n..(i + 1) * len / n);
                    c
                })
                .filter(|c| !c.is_empty())
                .collect();
            let files: Vec<PathBuf> = candidates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let path = dir.join(format!("c{i}.zip"));
                    std::fs::write(&path, mutate::zipped(&c.concat())).map(|()| path)
                })
                .collect::<std::io::Result<_>>()?;
            let verdicts = java.verdicts(&files)?;
            let found = files.iter().zip(&verdicts).position(|(p, v)| {
                matches!(verdict::java(v), Java::Rejects(_)) && check_errors(options, p).is_empty()
            });
            match found {
                Some(i) => {
                    parts = candidates[i].clone();
                    n = n.saturating_sub(1).max(2);
                }
                None if n < parts.len() => n = (n * 2).min(parts.len()),
                None => break,
            }
        }
        current = parts.concat();
    }
    Ok(current)
}

/// What delta debugging removes: lines, then tags and text, then bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Line,
    Markup,
    Byte,
}

fn split(xml: &[u8], unit: Unit) -> Vec<Vec<u8>> {
    match unit {
        Unit::Line => xml
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect(),
        Unit::Markup => {
            let mut parts = Vec::new();
            let mut start = 0;
            for (i, &b) in xml.iter().enumerate() {
                if b == b'<' && i > start {
                    parts.push(xml[start..i].to_vec());
                    start = i;
                }
            }
            parts.push(xml[start..].to_vec());
            parts
        }
        Unit::Byte => xml.iter().map(|&b| vec![b]).collect(),
    }
}
