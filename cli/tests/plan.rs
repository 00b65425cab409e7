//! `alma-sis plan` against Alma "Export users" files the project makes itself: the demo's own
//! output (what Alma holds after loading it), then edited the way Alma's data drifts: a
//! field changed, a note staff typed in, an internal user, a barcode another user holds, a
//! changed match id, two users sharing a match id, a user missing from either side. One test
//! per outcome and reason, each with a snapshot of the summary; then `run --plan-against`,
//! and `explain --alma-export` agreeing with the plan person by person.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::state::Demo;
use crate::support::expect_code;

/// The run that makes Alma's state, and the plans after it (the same day: expiry dates
/// computed from "today" do not move).
const LOADED: &str = "2026-11-23T04:00:00Z";
const PLANNED: &str = "2026-11-23T05:00:00Z";

/// Alma's export: the users of a document, each `<user>...</user>` as written.
#[derive(Clone)]
struct Export {
    head: String,
    users: Vec<String>,
}

/// The text of the first `<tag>` (with or without attributes) in `xml`.
fn value_of(xml: &str, tag: &str) -> String {
    let start = [format!("<{tag}>"), format!("<{tag} ")]
        .iter()
        .filter_map(|open| xml.find(open.as_str()))
        .min()
        .unwrap_or_else(|| panic!("no <{tag}>"));
    let start = start + xml[start..].find('>').unwrap() + 1;
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_owned()
}

impl Export {
    /// What Alma holds after loading the demo's run at [`LOADED`] into `demo`.
    fn of_demo(demo: &Demo) -> Export {
        expect_code(&demo.run(LOADED, &[]), 0);
        let zips = demo.drop_zips();
        assert_eq!(zips.len(), 1);
        Export::parse(&crate::support::unzip_text(&zips[0]))
    }

    fn parse(xml: &str) -> Export {
        let body = xml.split("</users>").next().unwrap();
        let mut parts = body.split("  <user>\n");
        let head = parts.next().unwrap().to_owned();
        let users = parts.map(|u| format!("  <user>\n{u}")).collect();
        Export { head, users }
    }

    fn ids(&self) -> Vec<String> {
        self.users
            .iter()
            .map(|u| value_of(u, "primary_id"))
            .collect()
    }

    fn position(&self, id: &str) -> usize {
        let tag = format!("<primary_id>{id}</primary_id>");
        self.users
            .iter()
            .position(|u| u.contains(&tag))
            .unwrap_or_else(|| panic!("no user {id} in the export"))
    }

    fn user(&self, id: &str) -> &str {
        &self.users[self.position(id)]
    }

    fn edit(&mut self, id: &str, f: impl FnOnce(&str) -> String) {
        let i = self.position(id);
        let edited = f(&self.users[i]);
        assert_ne!(edited, self.users[i], "the edit of {id} changed nothing");
        self.users[i] = edited;
    }

    fn remove(&mut self, id: &str) {
        let i = self.position(id);
        self.users.remove(i);
    }

    /// A copy of user `id` under another primary id and barcode, edited further by `f`.
    fn add_copy(&mut self, id: &str, primary_id: &str, f: impl FnOnce(&str) -> String) {
        let user = self.user(id);
        let copy = user.replace(
            &format!("<primary_id>{id}</primary_id>"),
            &format!("<primary_id>{primary_id}</primary_id>"),
        );
        let barcode = value_of(user, "value");
        let copy = copy.replace(
            &format!("<value>{barcode}</value>"),
            &format!("<value>{primary_id}-CARD</value>"),
        );
        self.users.push(f(&copy));
    }

    fn text(&self) -> String {
        format!("{}{}</users>\n", self.head, self.users.concat())
    }

    /// Written as Alma does: no extension.
    fn write(&self, path: &Path) {
        std::fs::write(path, self.text()).unwrap();
    }
}

/// Adds an identifier segment to a user.
fn with_identifier(user: &str, id_type: &str, value: &str, segment: &str) -> String {
    user.replace(
        "    </user_identifiers>\n",
        &format!(
            "      <user_identifier segment_type=\"{segment}\">\n        <id_type>{id_type}</id_type>\n        <value>{value}</value>\n      </user_identifier>\n    </user_identifiers>\n"
        ),
    )
}

/// Adds a note (as staff add one in Alma's user editor) to a user.
fn with_note(user: &str, segment: &str) -> String {
    user.replace(
        "  </user>\n",
        &format!(
            "    <user_notes>\n      <user_note segment_type=\"{segment}\">\n        <note_type desc=\"Circulation\">CIRCULATION</note_type>\n        <note_text>Lost card paid at the desk</note_text>\n        <user_viewable>false</user_viewable>\n        <popup_note>false</popup_note>\n        <created_by>jsmith</created_by>\n        <created_date>2026-10-02T10:11:12.000Z</created_date>\n      </user_note>\n    </user_notes>\n  </user>\n"
        ),
    )
}

/// `alma-sis plan` at `now` in the demo's directory.
fn plan_at(demo: &Demo, now: &str, exports: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["plan", "--now", now];
    for e in exports {
        args.push("--alma-export");
        args.push(e.to_str().unwrap());
    }
    args.extend_from_slice(extra);
    demo.cmd(&args)
}

fn plan(demo: &Demo, export: &Export) -> Output {
    let path = demo.root().join("alma_users_export");
    export.write(&path);
    plan_at(demo, PLANNED, &[&path], &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn snapshot(name: &str, out: &Output) {
    insta::assert_snapshot!(name, stdout(out));
}

/// The file in `out/` of the plan or run at `now` (whose name may carry a run id) that ends
/// in `suffix`.
fn out_file(demo: &Demo, now: &str, suffix: &str) -> PathBuf {
    let stamp: String = now.chars().filter(char::is_ascii_digit).collect();
    let prefix = format!("DEMO_patrons_{stamp}");
    let found: Vec<PathBuf> = std::fs::read_dir(demo.root().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&prefix) && name.ends_with(suffix)
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix}*{suffix}: {found:?}");
    found.into_iter().next().unwrap()
}

/// The plan's people file: primary id -> (outcome, reason, alma user, fields).
fn people(demo: &Demo, now: &str) -> BTreeMap<String, [String; 4]> {
    let path = out_file(demo, now, ".plan.people.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["primary_id", "outcome", "reason", "alma_user", "fields"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_owned(),
                [
                    r[1].to_owned(),
                    r[2].to_owned(),
                    r[3].to_owned(),
                    r[4].to_owned(),
                ],
            )
        })
        .collect()
}

/// The people of the plan whose outcome is not `unchanged`.
fn changed(people: &BTreeMap<String, [String; 4]>) -> BTreeMap<String, [String; 4]> {
    people
        .iter()
        .filter(|(_, p)| p[0] != "unchanged")
        .map(|(id, p)| (id.clone(), p.clone()))
        .collect()
}

/// What [`changed`] should be.
fn expect<const N: usize>(lines: [(&String, [String; 4]); N]) -> BTreeMap<String, [String; 4]> {
    lines.into_iter().map(|(id, l)| (id.clone(), l)).collect()
}

fn line(outcome: &str, reason: &str, alma: &str, fields: &str) -> [String; 4] {
    [outcome, reason, alma, fields].map(str::to_owned)
}

fn report_json(demo: &Demo, now: &str) -> serde_json::Value {
    let path = out_file(demo, now, ".plan.report.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_runs_own_output_as_alma_holds_it_is_unchanged() {
    let demo = Demo::new();
    let export = Export::of_demo(&demo);
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_unchanged", &out);
    let people = people(&demo, PLANNED);
    assert_eq!(people.len(), export.users.len());
    assert!(people.values().all(|p| p[0] == "unchanged"));
    let json = report_json(&demo, PLANNED);
    assert_eq!(json["schema"], "alma-sis.plan-report/1");
    let counts = &json["counts"];
    let n = |k: &str| counts[k].as_u64().unwrap();
    assert_eq!(
        n("users_mapped"),
        n("new") + n("update") + n("unchanged") + n("will_fail") + n("quarantined")
    );
    assert_eq!(
        n("rows_read"),
        n("rows_written") + n("rows_filtered") + n("rows_rejected")
    );
    for entry in std::fs::read_dir(demo.root().join("out")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(".plan.") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
}

#[test]
fn a_changed_field_is_an_update_named_by_field_without_its_value() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let ids = export.ids();
    let (a, b) = (&ids[0], &ids[1]);
    let name = value_of(export.user(a), "last_name");
    export.edit(a, |u| u.replace(&name, "Zzyzx-Married"));
    export.edit(b, |u| {
        let email = value_of(u, "email_address");
        u.replace(&email, "old.address@example.org")
    });
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_update", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([
            (a, line("update", "", a, "last_name")),
            (
                b,
                line("update", "", b, "contact_info/emails/email/email_address")
            ),
        ])
    );
    // Ids and field names only: neither Alma's values nor the load's.
    let report =
        |ext: &str| std::fs::read_to_string(out_file(&demo, PLANNED, &format!(".plan.{ext}")));
    let report = |ext: &str| report(ext).unwrap();
    let html = report("report.html");
    assert!(html.contains("<h2>Updates, by field</h2>"), "{html}");
    for text in [
        stdout(&out),
        report("report.json"),
        html,
        report("people.csv"),
    ] {
        assert!(!text.contains("Zzyzx") && !text.contains(&name));
        assert!(!text.contains("old.address@"));
    }
}

#[test]
fn a_note_staff_typed_into_an_external_user_will_disappear_an_internal_one_stays() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let ids = export.ids();
    export.edit(&ids[2], |u| with_note(u, "External"));
    export.edit(&ids[3], |u| with_note(u, "Internal"));
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_staff_note", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(
            &ids[2],
            line("update", "", &ids[2], "user_notes/user_note (removed)")
        )])
    );
    let explained = demo.cmd(&[
        "explain",
        &ids[2],
        "--now",
        PLANNED,
        "--alma-export",
        demo.root().join("alma_users_export").to_str().unwrap(),
    ]);
    expect_code(&explained, 0);
    assert!(
        stdout(&explained).contains("user_notes/user_note [CIRCULATION]"),
        "{}",
        stdout(&explained)
    );
    assert!(!stdout(&explained).contains("Lost card"));
}

#[test]
fn an_internal_alma_user_will_fail() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[4].clone();
    export.edit(&id, |u| {
        u.replace(
            "<account_type>EXTERNAL</account_type>",
            "<account_type desc=\"Internal\">INTERNAL</account_type>",
        )
    });
    let out = plan(&demo, &export);
    expect_code(&out, 1);
    snapshot("plan_internal", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(&id, line("will_fail", "E-ALMA-NOT-EXTERNAL", &id, ""))])
    );
}

#[test]
fn a_barcode_another_alma_user_holds_will_fail_naming_that_user() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[5].clone();
    let barcode = value_of(export.user(&id), "value");
    // A member of staff (internal, not in the profile's groups) has the card on file.
    export.add_copy(&id, "staff-jsmith", |u| {
        let group = value_of(u, "user_group");
        let u = u
            .replace(
                "<account_type>EXTERNAL</account_type>",
                "<account_type>INTERNAL</account_type>",
            )
            .replace(&format!(">{group}<"), ">LIBSTAFF<");
        with_identifier(&u, "OTHER_ID_1", &barcode, "Internal")
    });
    let out = plan(&demo, &export);
    expect_code(&out, 1);
    snapshot("plan_barcode_taken", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(
            &id,
            line("will_fail", "E-ALMA-ID-TAKEN", "staff-jsmith", "")
        )])
    );
}

#[test]
fn a_barcode_an_earlier_update_takes_off_its_holder_is_free_a_later_holder_is_not() {
    let demo = Demo::new();
    let base = Export::of_demo(&demo);
    let ids = base.ids();
    // A card moved to `to`; Alma still lists it on its old holder, before or after `to`
    // in the load.
    let (before, to, after) = (&ids[6], &ids[7], &ids[8]);
    let barcode = value_of(base.user(to), "value");
    let mut export = base.clone();
    export.edit(before, |u| {
        with_identifier(u, "OTHER_ID_1", &barcode, "External")
    });
    expect_code(&plan(&demo, &export), 0);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(
            before,
            line(
                "update",
                "",
                before,
                "user_identifiers/user_identifier (removed)"
            )
        )]),
        "the update of {before} frees the card before {to} comes"
    );
    let mut export = base.clone();
    export.edit(after, |u| {
        with_identifier(u, "OTHER_ID_1", &barcode, "External")
    });
    let now = "2026-11-23T05:00:01Z";
    let path = export.write_to(&demo, "alma_users_export_2");
    expect_code(&plan_at(&demo, now, &[&path], &[]), 1);
    assert_eq!(
        changed(&people(&demo, now)),
        expect([
            (to, line("will_fail", "E-ALMA-ID-TAKEN", after, "")),
            (
                after,
                line(
                    "update",
                    "",
                    after,
                    "user_identifiers/user_identifier (removed)"
                )
            ),
        ])
    );
}

impl Export {
    fn write_to(&self, demo: &Demo, name: &str) -> PathBuf {
        let path = demo.root().join(name);
        self.write(&path);
        path
    }
}

#[test]
fn a_changed_match_id_will_fail_naming_the_old_alma_user() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[9].clone();
    let old = format!("S{id}");
    export.edit(&id, |u| {
        u.replace(
            &format!("<primary_id>{id}</primary_id>"),
            &format!("<primary_id>{old}</primary_id>"),
        )
    });
    let out = plan(&demo, &export);
    expect_code(&out, 1);
    snapshot("plan_match_id_changed", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([
            (&old, line("vanished", "not-in-run-state", &old, "")),
            (&id, line("will_fail", "E-ALMA-MATCH-ID-CHANGED", &old, "")),
        ])
    );
}

#[test]
fn two_alma_users_sharing_the_match_id_will_fail() {
    let demo = Demo::new();
    let config = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(
        demo.config(),
        config + "\n[check]\nmatch_id = \"BARCODE\"\n",
    )
    .unwrap();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[10].clone();
    let barcode = value_of(export.user(&id), "value");
    export.add_copy(&id, "dup-record", |u| {
        u.replace(
            "<value>dup-record-CARD</value>",
            &format!("<value>{barcode}</value>"),
        )
    });
    let out = plan(&demo, &export);
    expect_code(&out, 1);
    snapshot("plan_shared_match_id", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(&id, line("will_fail", "E-ALMA-SHARED-MATCH-ID", &id, ""))])
    );
}

#[test]
fn a_user_alma_lacks_is_new() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[11].clone();
    export.remove(&id);
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_new", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(&id, line("new", "", "", ""))])
    );
}

#[test]
fn alma_users_missing_from_the_extract_are_vanished_candidates_with_what_run_sends() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let ids = export.ids();
    // Gone from the extract after the run that sent them: the run state re-sends them.
    let gone = ids[12].clone();
    demo.edit_extract(&[&gone], &[]);
    // In Alma, never sent by alma-sis: one of the profile's groups, one of another group.
    export.add_copy(&ids[13], "alumni-1", |u| u.to_owned());
    export.add_copy(&ids[13], "guest-1", |u| {
        let group = value_of(u, "user_group");
        u.replace(&format!(">{group}<"), ">GUEST<")
    });
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_vanished", &out);
    let people = people(&demo, PLANNED);
    let alumni = "alumni-1".to_owned();
    assert_eq!(
        changed(&people),
        expect([
            (
                &alumni,
                line("vanished", "not-in-run-state", "alumni-1", "")
            ),
            (&gone, line("vanished", "expire", &gone, "")),
        ])
    );
    // explain tells the same dates from the run state, with and without the export.
    let export_path = demo.root().join("alma_users_export");
    let with = demo.cmd(&[
        "explain",
        &gone,
        "--now",
        PLANNED,
        "--alma-export",
        export_path.to_str().unwrap(),
    ]);
    expect_code(&with, 0);
    let text = stdout(&with);
    let alma = text.split("\nalma (").nth(1).expect("an alma section");
    assert!(alma.contains("vanished expire"), "{text}");
    let dates = alma.split("    expiry date ").nth(1).unwrap();
    let (expiry, purge) = (
        &dates[..10],
        dates[10..].trim_start_matches(", purge date "),
    );
    let purge = &purge[..10];
    let state = text.split("\nalma (").next().unwrap();
    assert!(state.contains(&format!("expiry date  {expiry} ")), "{text}");
    assert!(state.contains(&format!("purge date   {purge} ")), "{text}");
}

#[test]
fn a_user_the_check_quarantines_is_not_sent_and_not_vanished() {
    let demo = Demo::new();
    let export = Export::of_demo(&demo);
    let ids = export.ids();
    // Two people with one barcode: the check keeps the first and quarantines the second.
    let (first, second) = (&ids[14], &ids[15]);
    let text = std::fs::read_to_string(demo.people()).unwrap();
    let barcode = |id: &str| value_of(export.user(id), "value");
    let edited = text.replace(
        &format!(",{},", barcode(second)),
        &format!(",{},", barcode(first)),
    );
    assert_ne!(edited, text, "{second}'s barcode is in the extract");
    std::fs::write(demo.people(), edited).unwrap();
    let out = plan(&demo, &export);
    expect_code(&out, 0);
    snapshot("plan_quarantined", &out);
    assert_eq!(
        changed(&people(&demo, PLANNED)),
        expect([(second, line("quarantined", "E-ID-TAKEN-IN-FEED", "", ""))])
    );
}

/// The export zipped, the entry without an extension; a folder of two files and a README.
#[test]
fn exports_come_as_zips_folders_and_files_without_an_extension() {
    let demo = Demo::new();
    let export = Export::of_demo(&demo);
    let id = export.ids()[16].clone();
    let zip_path = demo.root().join("alma_export_users.zip");
    {
        use std::io::Write as _;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        zip.start_file("export_users_1", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(export.text().as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    expect_code(&plan_at(&demo, PLANNED, &[&zip_path], &[]), 0);
    assert!(people(&demo, PLANNED).values().all(|p| p[0] == "unchanged"));

    // Two exports of the same population: the later record of a user wins.
    let folder = demo.root().join("exports");
    std::fs::create_dir(&folder).unwrap();
    export.write(&folder.join("a_export_users"));
    let mut later = export.clone();
    later
        .users
        .retain(|u| u.contains(&format!("<primary_id>{id}</primary_id>")));
    later.edit(&id, |u| {
        u.replace("<status>ACTIVE</status>", "<status>INACTIVE</status>")
    });
    later.write(&folder.join("b_export_users.xml"));
    std::fs::write(folder.join("README.txt"), "exported by hand\n").unwrap();
    let now = "2026-11-23T05:00:01Z";
    let out = plan_at(&demo, now, &[&folder], &["--format", "json"]);
    expect_code(&out, 0);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["export"]["repeated"], 1);
    assert_eq!(json["export"]["users"], export.users.len());
    assert_eq!(json["export"]["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(
        changed(&people(&demo, now)),
        expect([(&id, line("update", "", &id, "status"))])
    );
}

#[test]
fn a_version_1_export_is_refused_with_what_to_do() {
    let demo = Demo::new();
    let path = demo.root().join("v1");
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<userRecords><userRecord><userDetails><userName>jdoe</userName></userDetails></userRecord></userRecords>\n",
    )
    .unwrap();
    let out = plan_at(&demo, PLANNED, &[&path], &[]);
    expect_code(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("version 1 export"), "{stderr}");
    assert!(stderr.contains("version 2"), "{stderr}");
}

#[test]
fn a_document_only_the_full_reader_reads_gives_the_same_plan() {
    let demo = Demo::new();
    let mut export = Export::of_demo(&demo);
    let id = export.ids()[17].clone();
    export.edit(&id, |u| with_note(u, "External"));
    let fast = plan(&demo, &export);
    expect_code(&fast, 0);
    // CDATA sends the document to the full reader (and its records to the spill file).
    export.edit(&id, |u| {
        u.replace(
            "Lost card paid at the desk",
            "<![CDATA[Lost card paid at the desk]]>",
        )
    });
    let zip_path = demo.root().join("cdata.zip");
    {
        use std::io::Write as _;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        zip.start_file("users.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(export.text().as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    let now = "2026-11-23T05:00:01Z";
    expect_code(&plan_at(&demo, now, &[&zip_path], &[]), 0);
    assert_eq!(people(&demo, PLANNED), people(&demo, now));
    assert_eq!(
        changed(&people(&demo, now)),
        expect([(
            &id,
            line("update", "", &id, "user_notes/user_note (removed)")
        )])
    );
}

/// Every edit at once: the export the agreement test and `run --plan-against` use.
fn drifted(demo: &Demo) -> Export {
    let mut export = Export::of_demo(demo);
    let ids = export.ids();
    export.edit(&ids[0], |u| {
        u.replace("<status>ACTIVE</status>", "<status>INACTIVE</status>")
    });
    export.edit(&ids[2], |u| with_note(u, "External"));
    export.edit(&ids[4], |u| {
        u.replace(
            "<account_type>EXTERNAL</account_type>",
            "<account_type>INTERNAL</account_type>",
        )
    });
    let barcode = value_of(export.user(&ids[5]), "value");
    export.add_copy(&ids[5], "staff-jsmith", |u| {
        let u = u.replace(
            "<account_type>EXTERNAL</account_type>",
            "<account_type>INTERNAL</account_type>",
        );
        with_identifier(&u, "OTHER_ID_1", &barcode, "Internal")
    });
    let id = ids[9].clone();
    export.edit(&id, |u| {
        u.replace(
            &format!("<primary_id>{id}</primary_id>"),
            &format!("<primary_id>S{id}</primary_id>"),
        )
    });
    export.remove(&ids[11]);
    export.add_copy(&ids[13], "alumni-1", |u| u.to_owned());
    export
}

#[test]
fn run_plan_against_quarantines_exactly_the_users_that_will_fail_and_does_not_record_them() {
    // Alma's export comes from another checkout's run: this one's state knows nobody.
    let elsewhere = Demo::new();
    let export = drifted(&elsewhere);
    let ids = export.ids();
    let demo = Demo::new();
    let path = export.write_to(&demo, "alma_users_export");
    let out = demo.run(LOADED, &["--plan-against", path.to_str().unwrap()]);
    expect_code(&out, 0);
    let summary = stdout(&out);
    assert!(
        summary.contains(
            "Alma plan        1 new, 2 update, 243 unchanged, 3 will fail (quarantined), 2 vanished"
        ),
        "{summary}"
    );
    let failing = [
        ids[4].clone(),
        ids[5].clone(),
        ids[9].trim_start_matches('S').to_owned(),
    ];
    let plan = people(&demo, LOADED);
    let will_fail: Vec<&String> = plan
        .iter()
        .filter(|(_, p)| p[0] == "will_fail")
        .map(|(id, _)| id)
        .collect();
    let mut expected: Vec<&String> = failing.iter().collect();
    expected.sort();
    assert_eq!(will_fail, expected);
    // The reject file lists exactly them, with the plan's codes.
    let rejects = std::fs::read_to_string(out_file(&demo, LOADED, ".rejects.csv")).unwrap();
    let rejected: Vec<&str> = rejects
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut rejected_sorted = rejected.clone();
    rejected_sorted.sort();
    assert_eq!(rejected_sorted, expected);
    // Not in the zip, not recorded as sent; everyone else is.
    let sent = crate::support::unzip_text(&demo.drop_zips()[0]);
    let known = demo.known();
    for id in &failing {
        assert!(
            !sent.contains(&format!("<primary_id>{id}</primary_id>")),
            "{id} sent"
        );
        assert!(
            !known.iter().any(|(k, _)| k == id),
            "{id} recorded: {known:?}"
        );
    }
    assert_eq!(
        sent.matches("<user>").count(),
        plan.values()
            .filter(|p| p[0] != "will_fail" && p[0] != "vanished")
            .count()
    );

    // --strict: nothing is delivered, nothing recorded as sent.
    let strict = Demo::new();
    let path = export.write_to(&strict, "alma_users_export");
    let out = strict.run(
        LOADED,
        &["--plan-against", path.to_str().unwrap(), "--strict"],
    );
    expect_code(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 of them because they will fail in Alma")
    );
    assert!(strict.drop_zips().is_empty());
    assert!(strict.known().is_empty(), "{:?}", strict.known());
}

/// `explain <id> --alma-export` for every person of the plan (in the demo: everyone),
/// against the plan's people file.
#[test]
fn plan_and_explain_agree_person_by_person_over_the_whole_demo() {
    let demo = Demo::new();
    let export = drifted(&demo);
    let path = export.write_to(&demo, "alma_users_export");
    let out = plan_at(&demo, PLANNED, &[&path], &[]);
    expect_code(&out, 1);
    let people = people(&demo, PLANNED);
    assert!(people.len() > 240, "{} people", people.len());
    let ids: Vec<&String> = people.keys().collect();
    let chunks: Vec<&[&String]> = ids.chunks(ids.len().div_ceil(4)).collect();
    let said: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let (demo, path) = (&demo, &path);
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|id| {
                            let out = demo.cmd(&[
                                "explain",
                                "--now",
                                PLANNED,
                                "--alma-export",
                                path.to_str().unwrap(),
                                id,
                            ]);
                            expect_code(&out, 0);
                            let text = stdout(&out);
                            let section = text
                                .split("\nalma (")
                                .nth(1)
                                .unwrap_or_else(|| panic!("no alma section for {id}:\n{text}"));
                            let first = section.lines().nth(1).unwrap().trim();
                            ((*id).clone(), first.to_owned())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (id, first) in said {
        let [outcome, reason, ..] = &people[&id];
        let word = outcome.replace('_', " ");
        let expected = if reason.is_empty() {
            format!("{word}:")
        } else {
            format!("{word} {reason}:")
        };
        assert!(
            first.starts_with(&expected),
            "{id}: the plan says {outcome} {reason}, explain says {first:?}"
        );
    }
}
