//! The streaming packager: the XML inside is what the writer writes whatever the chunk
//! boundaries, the container is what the `zip` crate wrote for us, rendered and unrendered
//! users give the same zips, and nothing is left behind when a packager stops early.

use std::io::{Read, Write};
use std::path::Path;

use alma_sis_package::{Package, PackageConfig, PackageError, Packager, RunInfo, verify};
use alma_user_model::{User, UserXmlWriter, WriterOptions, render_user};

use crate::support::{config, external_readers_accept_all, listing, run_info, users};

/// Packages `all` with `chunk_bytes` of XML per deflate chunk, through `push_rendered`.
fn packaged(dir: &Path, config: &PackageConfig, all: &[User], chunk_bytes: usize) -> Package {
    let mut packager = Packager::new(dir, config, &run_info()).unwrap();
    packager.set_chunk_bytes(chunk_bytes);
    let mut xml = Vec::new();
    for user in all {
        xml.clear();
        render_user(user, &mut xml).unwrap();
        packager.push_rendered(&xml).unwrap();
    }
    assert_eq!(packager.users(), all.len() as u64);
    let staged = packager.finish().unwrap();
    assert_eq!(staged.users(), all.len() as u64);
    assert_eq!(staged.stats().users, all.len() as u64);
    staged.publish().unwrap()
}

/// Every entry's bytes, in order, read with the `zip` crate.
fn entries(package: &Package) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for file in &package.files {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&file.path).unwrap()).unwrap();
        for i in 0..archive.len() {
            let mut xml = Vec::new();
            archive.by_index(i).unwrap().read_to_end(&mut xml).unwrap();
            out.push(xml);
        }
    }
    out
}

/// The XML files `UserXmlWriter` writes for `all` split into files of `per_file` users.
fn written_by_the_writer(all: &[User], per_file: usize) -> Vec<Vec<u8>> {
    let run = run_info();
    let options = WriterOptions {
        comment: Some(format!(
            "{} config-sha256 {}",
            run.tool_version, run.config_sha256
        )),
    };
    all.chunks(per_file)
        .map(|part| {
            let mut writer = UserXmlWriter::new(Vec::new(), &options).unwrap();
            for user in part {
                writer.write_user(user).unwrap();
            }
            writer.finish().unwrap()
        })
        .collect()
}

#[test]
fn the_xml_inside_is_the_writers_whatever_the_chunk_boundaries() {
    let all = users(60);
    let mut packages = Vec::new();
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, chunk_bytes) in dirs.iter().zip([1, 7, 100, 4096, 1 << 20]) {
        let config = PackageConfig {
            users_per_file: 25,
            // Distinct zip names, so the external readers can check all packages at once.
            zip_name: format!("{{institution}}_{chunk_bytes}_{{run}}_{{zip}}.zip"),
            ..PackageConfig::default()
        };
        let package = packaged(dir.path(), &config, &all, chunk_bytes);
        assert_eq!(
            entries(&package),
            written_by_the_writer(&all, 25),
            "chunks of {chunk_bytes} bytes"
        );
        verify(dir.path(), &package.manifest).unwrap();
        packages.push(package);
    }
    // Entries made of many sync-flushed chunks open in unzip, Python and the JDK.
    external_readers_accept_all(&packages);
}

#[test]
fn small_chunks_give_identical_zips_run_after_run() {
    let all = users(40);
    let config = PackageConfig {
        users_per_file: 9,
        files_per_zip: 2,
        ..PackageConfig::default()
    };
    let bytes = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        listing(dir)
            .into_iter()
            .map(|name| (name.clone(), std::fs::read(dir.join(name)).unwrap()))
            .collect()
    };
    let first = tempfile::tempdir().unwrap();
    packaged(first.path(), &config, &all, 50);
    for _ in 0..4 {
        let again = tempfile::tempdir().unwrap();
        packaged(again.path(), &config, &all, 50);
        assert_eq!(bytes(again.path()), bytes(first.path()));
    }
}

#[test]
fn pushing_users_or_their_rendering_gives_the_same_zips() {
    let all = users(30);
    let rendered = tempfile::tempdir().unwrap();
    packaged(rendered.path(), &config(7), &all, 1 << 20);
    let pushed = tempfile::tempdir().unwrap();
    let mut packager = Packager::new(pushed.path(), &config(7), &run_info()).unwrap();
    for user in &all {
        packager.push(user).unwrap();
    }
    packager.finish().unwrap().publish().unwrap();
    for name in listing(rendered.path()) {
        assert_eq!(
            std::fs::read(rendered.path().join(&name)).unwrap(),
            std::fs::read(pushed.path().join(&name)).unwrap(),
            "{name}"
        );
    }
}

/// The header bytes of every entry in a zip, with the compressed-size fields (which differ
/// with the deflate chunks) zeroed: local headers, central directory headers, end record.
fn headers(zip: &[u8], entries: usize) -> Vec<Vec<u8>> {
    let u16at = |at: usize| usize::from(u16::from_le_bytes([zip[at], zip[at + 1]]));
    let u32at = |at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    let end = zip.len() - 22;
    let mut central = u32at(end + 16);
    for _ in 0..entries {
        let local = u32at(central + 42);
        let mut header = zip[local..local + 30 + u16at(local + 26)].to_vec();
        header[18..22].fill(0);
        out.push(header);
        let len = 46 + u16at(central + 28) + u16at(central + 30) + u16at(central + 32);
        let mut header = zip[central..central + len].to_vec();
        header[20..24].fill(0);
        header[42..46].fill(0);
        out.push(header);
        central += len;
    }
    let mut record = zip[end..].to_vec();
    record[12..20].fill(0);
    out.push(record);
    out
}

#[test]
fn the_container_has_the_fields_the_zip_crate_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let all = users(5);
    let package = packaged(dir.path(), &config(2), &all, 100);
    let ours = std::fs::read(&package.files[0].path).unwrap();

    let options = zip::write::SimpleFileOptions::DEFAULT
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::from_date_and_time(2026, 11, 23, 4, 0, 0).unwrap())
        .unix_permissions(0o600);
    let mut theirs = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let files = package.manifest.files[0].entries.iter();
    for (entry, xml) in files.zip(written_by_the_writer(&all, 2)) {
        theirs.start_file(&entry.name, options).unwrap();
        theirs.write_all(&xml).unwrap();
    }
    let theirs = theirs.finish().unwrap().into_inner();
    assert_eq!(headers(&ours, 3), headers(&theirs, 3));
}

#[test]
fn a_dropped_packager_or_unpublished_run_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut packager = Packager::new(dir.path(), &config(2), &run_info()).unwrap();
    for user in users(5) {
        packager.push(&user).unwrap();
    }
    drop(packager);
    assert_eq!(listing(dir.path()), Vec::<String>::new());

    let mut packager = Packager::new(dir.path(), &config(2), &run_info()).unwrap();
    for user in users(5) {
        packager.push(&user).unwrap();
    }
    let staged = packager.finish().unwrap();
    assert_eq!(staged.manifest().files.len(), 1);
    assert_eq!(
        listing(dir.path()),
        ["TEST_patrons_20261123040000_r1_01.zip.partial"]
    );
    drop(staged);
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn a_refused_user_adds_nothing_and_the_packager_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut packager = Packager::new(dir.path(), &config(2), &run_info()).unwrap();
    let all = users(4);
    let mut bad = all[1].clone();
    bad.first_name = Some("bell\u{7}".into());
    packager.push(&all[0]).unwrap();
    match packager.push(&bad) {
        Err(PackageError::Xml { entry, .. }) => {
            assert_eq!(entry, "TEST_patrons_20261123040000_001.xml");
        }
        other => panic!("expected an Xml error, got {other:?}"),
    }
    for user in &all[1..] {
        packager.push(user).unwrap();
    }
    let written = packager.finish().unwrap().publish().unwrap();
    assert_eq!(written.manifest.users, 4);
    assert_eq!(
        crate::support::primary_ids(&written),
        all.iter().map(|u| u.primary_id.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn after_an_error_the_packager_is_stopped_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let one_per_zip = PackageConfig {
        users_per_file: 1,
        files_per_zip: 1,
        max_zips: 2,
        ..PackageConfig::default()
    };
    let mut packager = Packager::new(dir.path(), &one_per_zip, &run_info()).unwrap();
    let all = users(3);
    packager.push(&all[0]).unwrap();
    packager.push(&all[1]).unwrap();
    match packager.push(&all[2]) {
        Err(PackageError::TooManyZips { needed: 3, max: 2 }) => {}
        other => panic!("expected TooManyZips, got {other:?}"),
    }
    assert!(matches!(packager.push(&all[0]), Err(PackageError::Stopped)));
    assert!(matches!(packager.finish(), Err(PackageError::Stopped)));
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn a_run_timestamp_and_names_are_checked_before_any_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut run: RunInfo = run_info();
    run.timestamp = "1979-12-31T23:59:58".parse().unwrap();
    assert!(matches!(
        Packager::new(dir.path(), &config(2), &run),
        Err(PackageError::Timestamp { .. })
    ));
    let bad = PackageConfig {
        zip_name: "{institution}.zip".into(),
        ..config(2)
    };
    assert!(matches!(
        Packager::new(dir.path(), &bad, &run_info()),
        Err(PackageError::Config { .. })
    ));
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn a_packager_and_a_staged_run_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Packager>();
    send::<alma_sis_package::Staged>();
}
