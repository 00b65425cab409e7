//! Measures the packager on real XML (run it in a release build, under `/usr/bin/time -v` for
//! CPU time and peak RSS):
//!
//! ```sh
//! unzip -p DEMO_patrons_20261123040000_01.zip > users.xml
//! cargo run --release -p alma-sis-package --example pack_bench -- push users.xml out/
//! ```
//!
//! Modes: `floor` deflates the whole file once on one thread (flate2 on zlib-rs, level 6, as
//! `cargo xtask deflate-floor` does through the `zip` crate); `push` hands each `<user>`
//! element's bytes to [`Packager::push_rendered`] (what the streaming pipeline does); `read`
//! only parses the users (the baseline for `package`); `package` parses the users and streams
//! them into [`package`]. An optional fourth argument stops after that many users. `read` and
//! `package` need one document: keep the first prolog and drop the others (each XML file of a
//! zip has its own), e.g. with `awk 'NR<=3{print;next} /^<\?xml|^<!-- alma-sis|^<users>$|^<\/users>$/{next}
//! {print} END{print "</users>"}'`.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Instant;

use alma_sis_package::{PackageConfig, Packager, RunInfo, package};
use alma_user_model::UserReader;
use memchr::memmem;

const START: &[u8] = b"  <user>\n";
const END: &[u8] = b"  </user>\n";

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, xml, out, rest @ ..] = args.as_slice() else {
        return Err("usage: pack_bench push|read|package <users.xml> <out dir> [max users]".into());
    };
    let max: u64 = rest.first().map_or(Ok(u64::MAX), |s| s.parse())?;
    let run = RunInfo {
        institution: "DEMO".into(),
        feed: "patrons".into(),
        timestamp: "2026-11-23T04:00:00".parse()?,
        run_id: 1,
        tool_version: "alma-sis 0.1.0".into(),
        config_sha256: "786ab7d537b9747406f95456a9b22b187b170b38fc8c54822c11463eec1af25f".into(),
    };
    let config = PackageConfig::default();
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    match mode.as_str() {
        "floor" => floor(Path::new(xml))?,
        "push" => push(Path::new(xml), Path::new(out), &config, &run, max)?,
        "read" => {
            let users = read_users(Path::new(xml), max).count();
            println!("read {users} users");
        }
        "package" => {
            let written = package(
                Path::new(out),
                &config,
                &run,
                read_users(Path::new(xml), max),
            )?;
            println!(
                "package: {} users in {} zips",
                written.manifest.users,
                written.files.len()
            );
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    println!(
        "wall {:.2} s, CPU {:.2} s",
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu_start
    );
    Ok(())
}

/// This process's user + system CPU time so far, from `/proc/self/stat` (Linux, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // After the command name: state is field 3, utime 14 and stime 15 (1-based).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

fn floor(xml: &Path) -> Result<(), Box<dyn Error>> {
    use std::io::Write;
    let data = std::fs::read(xml)?;
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(data.len() / 16),
        flate2::Compression::new(6),
    );
    encoder.write_all(&data)?;
    let out = encoder.finish()?;
    println!(
        "floor: {:.1} MB -> {:.1} MB; deflate wall {:.2} s, CPU {:.2} s",
        data.len() as f64 / 1e6,
        out.len() as f64 / 1e6,
        wall.elapsed().as_secs_f64(),
        cpu_seconds() - cpu
    );
    Ok(())
}

fn read_users(xml: &Path, max: u64) -> impl Iterator<Item = alma_user_model::User> {
    let file = File::open(xml).expect("the XML file opens");
    let mut reader = UserReader::new(BufReader::with_capacity(1 << 20, file));
    std::iter::from_fn(move || reader.next_user().expect("the XML reads"))
        .map(|read| read.user)
        .take(usize::try_from(max).unwrap_or(usize::MAX))
}

fn push(
    xml: &Path,
    out: &Path,
    config: &PackageConfig,
    run: &RunInfo,
    max: u64,
) -> Result<(), Box<dyn Error>> {
    let mut file = File::open(xml)?;
    let mut packager = Packager::new(out, config, run)?;
    let mut buf = vec![0u8; 8 << 20];
    let mut filled = 0;
    let started = Instant::now();
    'read: loop {
        let n = file.read(&mut buf[filled..])?;
        filled += n;
        let mut at = 0;
        while let Some(s) = memmem::find(&buf[at..filled], START) {
            let begin = at + s;
            let Some(e) = memmem::find(&buf[begin..filled], END) else {
                break;
            };
            let end = begin + e + END.len();
            packager.push_rendered(&buf[begin..end])?;
            at = end;
            if packager.users() == max {
                break 'read;
            }
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if n == 0 {
            break;
        }
    }
    let pushed = started.elapsed();
    let cpu_pushed = cpu_seconds();
    let staged = packager.finish()?;
    let finished = started.elapsed();
    println!(
        "CPU after pushing {cpu_pushed:.2} s, after finish {:.2} s",
        cpu_seconds()
    );
    let stats = staged.stats();
    let written = staged.publish()?;
    println!(
        "push: {} users, {} zips; pushing {:.2} s, finish {:.2} s, publish {:.2} s",
        written.manifest.users,
        written.files.len(),
        pushed.as_secs_f64(),
        (finished - pushed).as_secs_f64(),
        (started.elapsed() - finished).as_secs_f64()
    );
    println!(
        "xml {:.1} MB -> {:.1} MB in {} chunks, {} entries; deflate busy {:.2} s (both workers), verify busy {:.2} s, push waited {:.2} s",
        stats.xml_bytes as f64 / 1e6,
        stats.compressed_bytes as f64 / 1e6,
        stats.chunks,
        stats.entries,
        stats.compress_busy.as_secs_f64(),
        stats.verify_busy.as_secs_f64(),
        stats.push_waited.as_secs_f64()
    );
    Ok(())
}
