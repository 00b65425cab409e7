//! `cargo xtask alma-export --extra N --out FILE <zip>...`: an Alma "Export users" file (version
//! 2, no extension, as Alma writes it) made from a run's own zips, as Alma would hold those
//! users after loading them, then drifted: every 100th user's expiry date differs (an update),
//! every 500th has a note staff typed in (an update that removes it), every 1000th is internal
//! (will fail), and `N` copies of users under other ids are Alma users the load does not
//! match. Run by `bench --plan` in a release build.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Users in the file.
    pub users: u64,
    /// Users copied from the zips.
    pub loaded: u64,
    /// Of them, with a changed expiry date.
    pub expiry: u64,
    /// Of them, with a staff note.
    pub notes: u64,
    /// Of them, internal.
    pub internal: u64,
    /// Users only Alma has.
    pub extra: u64,
}

/// `alma-export` from the command line: prints what it wrote.
pub fn command(args: &[String]) -> anyhow::Result<()> {
    let mut extra = 0u64;
    let mut out = None;
    let mut zips = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--extra" => extra = it.next().context("--extra N")?.parse()?,
            "--out" => out = Some(PathBuf::from(it.next().context("--out FILE")?)),
            zip => zips.push(PathBuf::from(zip)),
        }
    }
    let Some(out) = out else {
        bail!("usage: cargo xtask alma-export --extra N --out FILE <zip>...");
    };
    let w = write(&zips, extra, &out)?;
    println!(
        "{} {} {} {} {} {}",
        w.users, w.loaded, w.expiry, w.notes, w.internal, w.extra
    );
    Ok(())
}

const NOTE: &str = "    <user_notes>\n      <user_note segment_type=\"External\">\n        \
<note_type>CIRCULATION</note_type>\n        <note_text>Typed in at the desk</note_text>\n        \
<user_viewable>false</user_viewable>\n        <popup_note>false</popup_note>\n      </user_note>\n    \
</user_notes>\n  </user>\n";

/// Writes the export, with `extra_total` users only Alma has.
pub fn write(zips: &[PathBuf], extra_total: u64, out: &std::path::Path) -> anyhow::Result<Written> {
    let mut file = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    file.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n")?;
    let mut w = Written::default();
    for zip in zips {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(zip)?)?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i)?;
            let mut xml = String::new();
            entry.read_to_string(&mut xml)?;
            let body = xml.split("</users>").next().unwrap_or("");
            for user in body.split("  <user>\n").skip(1) {
                let user = format!("  <user>\n{user}");
                let n = w.loaded;
                w.loaded += 1;
                let mut edited = user.clone();
                if n % 1000 == 999 {
                    edited = edited.replace(
                        "<account_type>EXTERNAL</account_type>",
                        "<account_type>INTERNAL</account_type>",
                    );
                    w.internal += 1;
                } else if n % 500 == 499 {
                    // Into the user's notes when it has some (the schema allows one list).
                    edited = match edited.find("    </user_notes>\n") {
                        Some(at) => {
                            let note = &NOTE["    <user_notes>\n".len()
                                ..NOTE.find("    </user_notes>").unwrap_or(0)];
                            let mut with = edited.clone();
                            with.insert_str(at, note);
                            with
                        }
                        None => edited.replacen("  </user>\n", NOTE, 1),
                    };
                    w.notes += 1;
                } else if n % 100 == 99
                    && let Some(at) = edited.find("<expiry_date>")
                {
                    let at = at + "<expiry_date>".len();
                    edited.replace_range(at..at + 4, "2020");
                    w.expiry += 1;
                }
                file.write_all(edited.as_bytes())?;
                if w.extra < extra_total {
                    file.write_all(alma_only(&user).as_bytes())?;
                    w.extra += 1;
                }
            }
        }
    }
    file.write_all(b"</users>\n")?;
    file.flush()?;
    w.users = w.loaded + w.extra;
    Ok(w)
}

/// A copy of `user` under other ids: someone only Alma has.
fn alma_only(user: &str) -> String {
    let mut copy = user.replacen("<primary_id>", "<primary_id>A-", 1);
    for tag in ["<value>", "<email_address>"] {
        copy = copy.replace(tag, &format!("{tag}A-"));
    }
    copy
}
