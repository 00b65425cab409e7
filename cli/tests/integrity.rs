//! Delivery integrity end to end, each case against the drop folder and a real sshd: every
//! zip of a run reaches Alma or the report says which did not, the run state records only
//! what arrived, runs never collide on a name, `deliver` refuses what Alma cannot load and
//! records what a run could not deliver, leftovers are removed or reported.

use std::collections::{BTreeMap, BTreeSet};

use crate::site::{
    Kind, NOW, Site, expect, file_name, ids_in, kill, names, stderr, stdout, strings, wait_for,
};
use crate::support::unzip_text;

/// The demo in zips of 100 users: 249 users make three zips.
const PER_ZIP: u64 = 100;
const KINDS: [Kind; 2] = [Kind::Drop, Kind::Sftp];

/// An earlier run's zip that Alma has not processed.
const EARLIER: &str = "DEMO_patrons_20261122040000_r9_01.zip";

#[test]
fn three_zips_reach_alma_under_every_stale_policy_and_only_earlier_zips_are_stale() {
    for kind in KINDS {
        for (policy, earlier) in [
            ("archive", true),
            ("leave", true),
            ("refuse", true),
            ("refuse", false),
        ] {
            let what = format!("{kind:?} stale = {policy} (earlier zip: {earlier})");
            let Some(site) = Site::new(kind, PER_ZIP, &format!("stale = \"{policy}\"")) else {
                return;
            };
            let target = site.target();
            std::fs::write(target.join("users.xml"), b"<users/>").unwrap();
            if earlier {
                std::fs::write(target.join(EARLIER), b"old").unwrap();
            }
            let out = site.run(&["--now", NOW]);
            let ours: Vec<String> = site.zips_of(1).iter().map(|p| file_name(p)).collect();
            assert_eq!(ours.len(), 3, "{what}");
            let report = site.report(1);
            let delivery = &report["delivery"];
            let attention = strings(&report["attention"]).join("\n");
            assert!(
                attention.contains("users.xml is in") && attention.contains("delete it"),
                "{what}: {attention}"
            );
            assert_eq!(strings(&delivery["other_files"]), ["users.xml"], "{what}");
            let mut expected: BTreeSet<String> = ["users.xml".to_owned()].into();
            if policy == "refuse" && earlier {
                expect(&out, 3);
                assert!(strings(&delivery["delivered"]).is_empty(), "{what}");
                assert_eq!(strings(&delivery["not_delivered"]), ours, "{what}");
                assert!(
                    delivery["error"].as_str().unwrap().contains(EARLIER),
                    "{what}: {delivery}"
                );
                assert!(site.recorded().is_empty(), "{what}: nothing arrived");
                assert_eq!(delivery["stale"][0]["name"], EARLIER, "{what}");
                assert!(attention.contains(EARLIER), "{what}: {attention}");
                expected.insert(EARLIER.into());
            } else {
                expect(&out, 0);
                assert_eq!(strings(&delivery["delivered"]), ours, "{what}");
                assert_eq!(site.recorded().len(), 249, "{what}");
                expected.extend(ours.iter().cloned());
                let stale = delivery["stale"].as_array().unwrap();
                match (policy, earlier) {
                    ("archive", _) => {
                        assert_eq!(stale.len(), 1, "{what}: {stale:?}");
                        assert_eq!(stale[0]["name"], EARLIER);
                        assert!(
                            stale[0]["archived_to"]
                                .as_str()
                                .unwrap()
                                .ends_with(&format!("archive/{EARLIER}")),
                            "{what}"
                        );
                        assert_eq!(names(&target.join("archive")), [EARLIER]);
                        expected.insert("archive".into());
                    }
                    ("leave", _) => {
                        assert_eq!(stale.len(), 1, "{what}: {stale:?}");
                        assert_eq!(stale[0]["name"], EARLIER);
                        assert!(stale[0]["archived_to"].is_null());
                        assert!(attention.contains(EARLIER), "{what}: {attention}");
                        expected.insert(EARLIER.into());
                    }
                    _ => assert!(stale.is_empty(), "{what}: {stale:?}"),
                }
            }
            let listed: BTreeSet<String> = site.target_names().into_iter().collect();
            assert_eq!(listed, expected, "{what}");
        }
    }
}

#[test]
fn a_destination_lost_after_zip_1_of_3_records_only_zip_1_and_a_delta_rerun_sends_the_rest() {
    for kind in KINDS {
        let Some(mut site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        let out = run_and_lose_destination_after_zip_1(&mut site);
        expect(&out, 3);
        let zips = site.zips_of(1);
        assert_eq!(zips.len(), 3, "{kind:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "1 of 3 zip(s) reached {}",
                site.report(1)["delivery"]["destination"].as_str().unwrap()
            )) && err.contains(&format!(
                "not delivered: {}, {}",
                file_name(&zips[1]),
                file_name(&zips[2])
            )),
            "{kind:?}: {err}"
        );
        let report = site.report(1);
        assert_eq!(report["outcome"]["exit_code"], 3);
        assert_eq!(
            strings(&report["delivery"]["delivered"]),
            [file_name(&zips[0])]
        );
        assert_eq!(
            strings(&report["delivery"]["not_delivered"]),
            [file_name(&zips[1]), file_name(&zips[2])]
        );
        assert!(
            strings(&report["attention"])
                .iter()
                .any(|l| l.starts_with("W-NOT-DELIVERED: 2 of 3 zip(s) did not reach")),
            "{kind:?}: {report}"
        );
        assert_eq!(site.recorded(), ids_in(&zips[..1]), "{kind:?}");
        assert_eq!(site.outcome(1), "partly-delivered");
        site.mend_destination();
        assert_eq!(site.target_names(), [file_name(&zips[0])], "{kind:?}");

        let rerun = site.run(&["--now", "2026-11-24T04:00:00Z", "--mode", "delta"]);
        expect(&rerun, 0);
        assert_eq!(ids_in(&site.zips_of(2)), ids_in(&zips[1..]), "{kind:?}");
        assert_eq!(site.recorded().len(), 249, "{kind:?}");
    }
}

/// Runs the site's first run, making its destination unusable once zip 1 arrived.
fn run_and_lose_destination_after_zip_1(site: &mut Site) -> std::process::Output {
    run_losing_destination_after_zip_1(site, &["--now", NOW])
}

/// `alma-sis run` with `args`, making the destination unusable once zip 1 arrived.
fn run_losing_destination_after_zip_1(site: &mut Site, args: &[&str]) -> std::process::Output {
    let handshake = tempfile::tempdir().unwrap();
    let config = site.config();
    let mut child = std::process::Command::new(&site.bin)
        .args(["run", "--config", config.to_str().unwrap()])
        .args(args)
        .current_dir(site.root())
        .env_remove("ALMA_SIS_CONFIG")
        .env_remove("ALMA_SIS_LOG")
        .env(
            "ALMA_SIS_TEST_PAUSE",
            format!("delivered:1@{}", handshake.path().display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("zip 1 to arrive", || {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        handshake.path().join("paused").exists()
    });
    site.break_destination();
    std::fs::write(handshake.path().join("resume"), b"").unwrap();
    child.wait_with_output().unwrap()
}

/// Changes the phone number on every sixth row of the site's extract.
fn change_every_sixth_phone(site: &Site) {
    let path = site.root().join("demo/people.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let phone = header.split(',').position(|c| c == "phone").unwrap();
    let mut out = vec![header.to_owned()];
    for (i, line) in lines.enumerate() {
        let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
        if i % 6 == 3 {
            fields[phone] = format!("+1 217 555 {:04}", 9000 + i);
        }
        out.push(fields.join(","));
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

/// Each user's XML in `zips` but for the expiry and purge dates (the demo's are "today + N",
/// which a full run refreshes and a delta leaves until they need it), by primary id (lower
/// case), found by plain string search.
fn users_by_id(zips: &[std::path::PathBuf]) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    for zip in zips {
        for user in unzip_text(zip).split("<user>").skip(1) {
            let id = user.split("<primary_id>").nth(1).expect("a primary_id");
            let id = id[..id.find("</primary_id>").expect("closed")].to_lowercase();
            let user = &user[..user.find("</user>").expect("a closed user")];
            let user: Vec<&str> = user
                .lines()
                .filter(|l| !l.contains("<expiry_date>") && !l.contains("<purge_date>"))
                .collect();
            users.insert(id, user.join("\n"));
        }
    }
    users
}

/// A change whose zip did not arrive (a delta's or a full run's) is sent by the next delta,
/// which skips the unchanged by their raw rows: it sends exactly the people of the lost zips
/// whose record differs from the one Alma has, but for dates a full run refreshes (an oracle
/// from the zips' text alone), and a
/// delta that maps everyone (`--map-everyone`) sends the same bytes and leaves the same run
/// state.
#[test]
fn a_change_in_a_zip_that_did_not_arrive_is_sent_by_the_next_skipping_delta() {
    for mode in ["delta", "full"] {
        let runs = [("skipping", &[][..]), ("mapping", &["--map-everyone"][..])];
        let mut nights = Vec::new();
        let mut exports = Vec::new();
        for (what, extra) in runs {
            let what = format!("{what} after a {mode} run");
            let Some(mut site) = Site::new(Kind::Drop, 15, "") else {
                return;
            };
            expect(&site.run(&["--now", NOW]), 0);
            let in_alma = users_by_id(&site.zips_of(1));
            change_every_sixth_phone(&site);
            let mut args = vec!["--now", "2026-11-24T04:00:00Z", "--mode", mode];
            args.extend_from_slice(extra);
            let out = run_losing_destination_after_zip_1(&mut site, &args);
            expect(&out, 3);
            let lost = site.zips_of(2);
            assert!(lost.len() >= 3, "{what}: {} zip(s)", lost.len());
            assert_eq!(site.outcome(2), "partly-delivered", "{what}");
            site.mend_destination();
            // What the state says was sent is what arrived: zip 1 on night 2, the rest on
            // night 1.
            let arrived = ids_in(&lost[..1]);
            for line in site.export().lines() {
                let item: serde_json::Value = serde_json::from_str(line).unwrap();
                let key = item["key"].as_str().unwrap();
                let sent = if arrived.contains(key) {
                    "2026-11-24"
                } else {
                    "2026-11-23"
                };
                assert_eq!(item["last_sent"], sent, "{what}: {line}");
            }
            let changed: BTreeSet<String> = users_by_id(&lost[1..])
                .into_iter()
                .filter(|(id, user)| in_alma.get(id) != Some(user))
                .map(|(id, _)| id)
                .collect();
            assert!(changed.len() > 10, "{what}: {changed:?}");

            let mut args = vec!["--now", "2026-11-25T04:00:00Z", "--mode", "delta"];
            args.extend_from_slice(extra);
            expect(&site.run(&args), 0);
            let resent = site.zips_of(3);
            assert_eq!(ids_in(&resent), changed, "{what}: the undelivered changes");
            let texts: Vec<(String, String)> = resent
                .iter()
                .map(|z| (file_name(z), unzip_text(z)))
                .collect();
            nights.push(texts);
            exports.push(site.export());
        }
        assert_eq!(nights[0], nights[1], "{mode}: the zips of a mapping delta");
        assert_eq!(
            exports[0], exports[1],
            "{mode}: the state of a mapping delta"
        );
    }
}

#[test]
fn runs_never_collide_dry_or_real_in_one_second_or_with_the_same_now() {
    for kind in KINDS {
        // A dry run then a real run, straight after each other (the same second).
        let Some(clock) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        expect(&clock.run(&["--dry-run"]), 0);
        expect(&clock.run(&[]), 0);
        assert_eq!(clock.zips_of(2).len(), 3);
        assert_eq!(clock.target_names().len(), 3, "{kind:?}");
        // The same --now three times, dry and real.
        let Some(site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        expect(&site.run(&["--now", NOW, "--dry-run"]), 0);
        expect(&site.run(&["--now", NOW]), 0);
        expect(&site.run(&["--now", NOW]), 0);
        for id in 1..=3 {
            let report = site.report(id);
            assert_eq!(report["outcome"]["status"], "ok", "{kind:?} run {id}");
        }
        let (third, fourth) = (site.zips_of(2), site.zips_of(3));
        assert_eq!(third.len(), 3, "{kind:?}");
        for (a, b) in third.iter().zip(&fourth) {
            assert_ne!(file_name(a), file_name(b));
            assert_eq!(
                std::fs::read(a).unwrap(),
                std::fs::read(b).unwrap(),
                "the same --now gives the same bytes under other names"
            );
        }
        let delivered: Vec<String> = site
            .target_names()
            .into_iter()
            .filter(|n| n.ends_with(".zip"))
            .collect();
        assert_eq!(delivered.len(), 6, "{kind:?}: runs 2 and 3: {delivered:?}");
        // Every file name in the work directory is used once: reports, manifests, zips.
        let work = site.work_names();
        let unique: BTreeSet<&String> = work.iter().collect();
        assert_eq!(unique.len(), work.len());
        assert_eq!(
            work.iter().filter(|n| n.ends_with(".report.json")).count(),
            3
        );
    }
}

#[test]
fn deliver_refuses_a_truncated_zip_random_bytes_and_a_text_file() {
    for kind in KINDS {
        let Some(site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        expect(&site.run(&["--now", NOW]), 0);
        let before = (site.target_names(), site.recorded());
        let real = std::fs::read(&site.zips_of(1)[0]).unwrap();
        let bad = [
            (
                "DEMO_patrons_truncated.zip",
                real[..real.len() / 2].to_vec(),
            ),
            (
                "DEMO_patrons_text.zip",
                b"name,email\nSam,sam@example.edu\n".to_vec(),
            ),
            (
                "DEMO_patrons_random.zip",
                (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            ),
            ("notes.txt", b"hello\n".to_vec()),
        ];
        for (name, bytes) in bad {
            let path = site.root().join(name);
            std::fs::write(&path, bytes).unwrap();
            let out = site.deliver(&path);
            expect(&out, 2);
            assert!(
                stderr(&out).contains("refusing to deliver"),
                "{kind:?} {name}: {}",
                stderr(&out)
            );
            assert_eq!(
                (site.target_names(), site.recorded()),
                before,
                "{kind:?} {name}"
            );
        }
    }
}

#[test]
fn deliver_records_the_zips_of_a_failed_run_and_refuses_one_sent_again_since() {
    for kind in KINDS {
        let Some(mut site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        site.break_destination();
        expect(&site.run(&["--now", NOW]), 3);
        assert!(site.recorded().is_empty());
        assert_eq!(site.outcome(1), "failed");
        site.mend_destination();
        let zips = site.zips_of(1);
        for (i, zip) in zips[..2].iter().enumerate() {
            let out = site.deliver(zip);
            expect(&out, 0);
            let users = alma_sis_package::primary_ids(zip).unwrap().len();
            assert!(
                stdout(&out).contains(&format!(
                    "recorded         {users} user(s) of run 1 as sent"
                )),
                "{kind:?}: {}",
                stdout(&out)
            );
            assert_eq!(site.recorded(), ids_in(&zips[..=i]), "{kind:?}");
        }
        // The next delta run sends only the users of the zip still missing.
        let delta = site.run(&["--now", "2026-11-24T04:00:00Z", "--mode", "delta"]);
        expect(&delta, 0);
        assert_eq!(ids_in(&site.zips_of(2)), ids_in(&zips[2..]), "{kind:?}");
        // Run 2 sent them again: the old zip would now bring older records.
        let late = site.deliver(&zips[2]);
        expect(&late, 2);
        assert!(
            stderr(&late).contains("run 2 has sent its users again"),
            "{kind:?}: {}",
            stderr(&late)
        );
        assert!(!site.target_names().contains(&file_name(&zips[2])));
    }
}

#[test]
fn leftover_temporary_files_are_removed_and_other_files_reported() {
    for kind in KINDS {
        let Some(site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        let target = site.target();
        let ours = [
            ".DEMO_patrons_20261122040000_01.zip.1.part",
            ".alma-sis.DEMO_patrons_20261122040000_r7_02.zip.2.part",
        ];
        let theirs = [".OTHER_feed.zip.1.part", ".upload.tmp"];
        for name in ours.iter().chain(&theirs) {
            std::fs::write(target.join(name), b"half").unwrap();
        }
        std::fs::write(target.join("users.xml"), b"<users/>").unwrap();
        let out = site.run(&["--now", NOW]);
        expect(&out, 0);
        let report = site.report(1);
        assert_eq!(
            strings(&report["delivery"]["removed_leftovers"]),
            ours,
            "{kind:?}"
        );
        assert_eq!(strings(&report["delivery"]["other_files"]), ["users.xml"]);
        let attention = strings(&report["attention"]).join("\n");
        assert!(
            attention.contains("removed 2 temporary file(s) an interrupted earlier delivery left"),
            "{kind:?}: {attention}"
        );
        assert!(
            stdout(&out).contains("attention        "),
            "{}",
            stdout(&out)
        );
        let html = site
            .work_names()
            .into_iter()
            .find(|n| n.ends_with("_r1.report.html"))
            .unwrap();
        let html = std::fs::read_to_string(site.root().join("out").join(html)).unwrap();
        assert!(
            html.contains("<h2>Warnings</h2>") && html.contains("users.xml is in"),
            "{kind:?}"
        );
        let listed = site.target_names();
        for name in theirs.iter().chain(&["users.xml"]) {
            assert!(
                listed.contains(&(*name).to_owned()),
                "{kind:?}: {name} was left"
            );
        }
        for name in ours {
            assert!(
                !listed.contains(&name.to_owned()),
                "{kind:?}: {name} was removed"
            );
        }
    }
}

#[test]
fn what_a_killed_run_left_is_removed_and_reported_by_the_next_run() {
    for kind in KINDS {
        // Killed while packaging: an unfinished zip in the work directory.
        let Some(site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        let out = site.run_paused(&["--now", NOW], "pass:150", |pid| {
            wait_for("a zip under its temporary name", || {
                site.work_names().iter().any(|n| n.ends_with(".partial"))
            });
            kill("KILL", pid);
        });
        assert_eq!(out.status.code(), None, "killed by a signal");
        let partial: Vec<String> = site
            .work_names()
            .into_iter()
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(!partial.is_empty());
        let next = site.run(&["--now", "2026-11-24T04:00:00Z"]);
        expect(&next, 0);
        let report = site.report(2);
        assert_eq!(strings(&report["removed_partials"]), partial, "{kind:?}");
        assert!(
            strings(&report["attention"])
                .iter()
                .any(|l| l.contains("unfinished zip(s) an interrupted earlier run left")),
            "{kind:?}: {report}"
        );
        assert!(!site.work_names().iter().any(|n| n.ends_with(".partial")));
        assert_eq!(site.outcome(1), "running");

        // Killed mid-upload: a temporary file at the destination.
        let Some(site) = Site::new(kind, PER_ZIP, "") else {
            return;
        };
        let out = site.run_paused(&["--now", NOW], "uploading:2", |pid| kill("KILL", pid));
        assert_eq!(out.status.code(), None, "killed by a signal");
        let temps: Vec<String> = site
            .target_names()
            .into_iter()
            .filter(|n| n.starts_with(".alma-sis.") && n.ends_with(".part"))
            .collect();
        assert_eq!(temps.len(), 1, "{kind:?}: {:?}", site.target_names());
        let first = file_name(&site.zips_of(1)[0]);
        let next = site.run(&["--now", "2026-11-24T04:00:00Z"]);
        expect(&next, 0);
        let report = site.report(2);
        assert_eq!(
            strings(&report["delivery"]["removed_leftovers"]),
            temps,
            "{kind:?}"
        );
        // Zip 1 of the killed run arrived but was never recorded: it is an earlier zip now,
        // and its users are sent again.
        assert_eq!(report["delivery"]["stale"][0]["name"], first.as_str());
        assert_eq!(site.recorded().len(), 249);
        assert!(!site.target_names().iter().any(|n| n.ends_with(".part")));
    }
}

#[test]
fn a_private_key_others_may_read_or_a_link_stops_the_run_before_it_reads_anything() {
    use std::os::unix::fs::PermissionsExt;
    let Some(site) = Site::new(Kind::Sftp, PER_ZIP, "") else {
        return;
    };
    let sshd = site.sshd.as_ref().unwrap();
    let open_key = site.root().join("id_open");
    std::fs::copy(sshd.key("client_ed25519"), &open_key).unwrap();
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = site.root().join("id_link");
    std::os::unix::fs::symlink(sshd.key("client_ed25519"), &link).unwrap();
    for (key, says) in [
        (&open_key, "0644 let others read it"),
        (&link, "symbolic link"),
    ] {
        let config = std::fs::read_to_string(site.config()).unwrap();
        let mut lines: Vec<String> = config.lines().map(str::to_owned).collect();
        for line in lines.iter_mut() {
            if line.starts_with("key_file = ") {
                *line = format!("key_file = \"{}\"", key.display());
            }
        }
        std::fs::write(site.config(), lines.join("\n")).unwrap();
        let out = site.run(&["--now", NOW]);
        expect(&out, 2);
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(site.target_names().is_empty());
        assert!(
            site.zips_of(1).is_empty() && site.zips_of(2).is_empty(),
            "nothing packaged"
        );
        std::fs::write(site.config(), &config).unwrap();
    }
}
