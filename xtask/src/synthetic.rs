//! `cargo xtask gen-extract`: a deterministic synthetic extract with the demo's columns.
//!
//! The same options always give the same bytes. `--messy` adds what real extracts contain:
//! windows-1252 names, control characters, duplicate ids, missing emails and people with
//! several affiliations in one row. `--cp1252 N` writes about N of every thousand people's
//! rows in windows-1252 (as when an office pastes from Excel), `--double-encoded N` about N of
//! every thousand as UTF-8 decoded twice upstream (`Ã©` for `é`); their names are then drawn
//! from names windows-1252 can write. Those choices come from a generator of their own, so
//! `--as-utf8` writes the same people, every row in plain UTF-8: the twin to compare with.
//!
//! `--shape college` writes another extract instead (`COLLEGE_COLUMNS`): a student-and-faculty
//! college with 22 columns, many of them optional, three identifiers, two addresses, two
//! emails and two notes a person (the bench's wider shape, `xtask/bench/college.toml`).
//! `--changed N` gives about N of every thousand people a new phone number, from a generator
//! of their own: the rest of the extract is byte for byte the one without it (the bench's
//! "1 % changed" night). `--stray-quotes N`, also from a generator of its own, writes about N
//! of every thousand rows with a stray quote before the last name (`"Xylo`) and the next row
//! with one after it (`Yang"`): read with `multiline`, the pair is one record of two rows.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};

/// Which extract `gen-extract` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// The demo's 24 columns (`examples/demo`).
    #[default]
    Demo,
    /// A student-and-faculty college: `COLLEGE_COLUMNS`.
    College,
}

impl Shape {
    /// Both shapes, in the order the bench measures them.
    pub const ALL: [Shape; 2] = [Shape::Demo, Shape::College];

    /// The name `--shape` takes.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Demo => "demo",
            Shape::College => "college",
        }
    }

    /// The shape `--shape` names.
    pub fn parse(name: &str) -> anyhow::Result<Shape> {
        Shape::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .with_context(|| format!("unknown shape {name:?}; the shapes are demo and college"))
    }
}

/// Options of `gen-extract`.
#[derive(Debug, Default)]
pub struct GenOptions {
    /// Which columns and people.
    pub shape: Shape,
    /// Data rows to write.
    pub rows: u64,
    /// The seed.
    pub seed: u64,
    /// Add the defects real extracts have.
    pub messy: bool,
    /// People (per thousand) whose rows are written in windows-1252.
    pub cp1252: u64,
    /// People (per thousand) whose rows are UTF-8 decoded twice upstream.
    pub double_encoded: u64,
    /// Write every row in plain UTF-8 (the same people and text as without it).
    pub as_utf8: bool,
    /// People (per thousand) with another phone number than without it.
    pub changed: u64,
    /// Rows (per thousand) whose last name opens a stray quote that the next row closes.
    pub stray_quotes: u64,
    /// Where to write (stdout when absent).
    pub out: Option<PathBuf>,
}

impl GenOptions {
    /// Parses `--rows N --seed S [--messy] [--cp1252 N] [--double-encoded N] [--as-utf8]
    /// [--out FILE]`.
    pub fn parse(args: &[String]) -> anyhow::Result<GenOptions> {
        let mut options = GenOptions {
            rows: 1000,
            seed: 1,
            ..GenOptions::default()
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{arg} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--rows" => options.rows = value()?.parse().context("--rows takes a number")?,
                "--seed" => options.seed = value()?.parse().context("--seed takes a number")?,
                "--out" => options.out = Some(PathBuf::from(value()?)),
                "--messy" => options.messy = true,
                "--cp1252" => {
                    options.cp1252 = value()?.parse().context("--cp1252 takes a number")?;
                }
                "--double-encoded" => {
                    options.double_encoded = value()?
                        .parse()
                        .context("--double-encoded takes a number")?;
                }
                "--as-utf8" => options.as_utf8 = true,
                "--shape" => options.shape = Shape::parse(&value()?)?,
                "--changed" => {
                    options.changed = value()?.parse().context("--changed takes a number")?;
                }
                "--stray-quotes" => {
                    options.stray_quotes =
                        value()?.parse().context("--stray-quotes takes a number")?;
                }
                other => bail!(
                    "unknown option {other:?}; usage: cargo xtask gen-extract --rows N --seed S \
                     [--shape demo|college] [--messy] [--cp1252 PER_MILLE] \
                     [--double-encoded PER_MILLE] [--as-utf8] [--changed PER_MILLE] \
                     [--stray-quotes PER_MILLE] [--out FILE]"
                ),
            }
        }
        if options.cp1252 + options.double_encoded > 1000 {
            bail!("--cp1252 and --double-encoded together are at most 1000 per thousand");
        }
        if options.changed > 1000 || options.stray_quotes > 1000 {
            bail!("--changed and --stray-quotes are at most 1000 per thousand");
        }
        if options.shape == Shape::College
            && (options.messy
                || options.cp1252 > 0
                || options.double_encoded > 0
                || options.stray_quotes > 0)
        {
            bail!(
                "--messy, --cp1252, --double-encoded and --stray-quotes are for the demo shape only"
            );
        }
        Ok(options)
    }
}

/// The demo extract's columns, in order.
pub const COLUMNS: [&str; 24] = [
    "person_id",
    "barcode",
    "first_name",
    "middle_name",
    "last_name",
    "preferred_first_name",
    "affiliation",
    "student_level",
    "employee_type",
    "employment_status",
    "department",
    "campus",
    "term",
    "registration_status",
    "email",
    "personal_email",
    "phone",
    "address_line1",
    "city",
    "state",
    "postal_code",
    "country",
    "birth_date",
    "end_date",
];

const FIRST: &[&str] = &[
    "Ana",
    "José",
    "Zoë",
    "Björn",
    "Chloé",
    "Łukasz",
    "Søren",
    "Ümit",
    "Ines",
    "Noah",
    "Liam",
    "Emma",
    "Olivia",
    "Mateo",
    "Aisha",
    "Kenji",
    "Priya",
    "Omar",
    "Fatima",
    "Mei",
    "Ravi",
    "Sofia",
    "Élodie",
    "François",
    "Siobhán",
    "Ольга",
    "Дмитрий",
    "Σοφία",
    "李",
    "محمد",
    "יעל",
    "민준",
    "Nguyễn",
    "Zoltán",
    "Jürgen",
    "Çağla",
];
const LAST: &[&str] = &[
    "García",
    "Müller",
    "O'Brien",
    "Nakamura",
    "Smith",
    "Johnson",
    "Kowalski",
    "Dubois",
    "Rossi",
    "Okafor",
    "Patel",
    "Chen",
    "Kim",
    "Ivanova",
    "Haddad",
    "Cohen",
    "Silva",
    "Schröder",
    "Åström",
    "Van der Berg",
    "Brown",
    "Иванов",
    "Παπαδόπουλος",
    "张",
    "佐藤",
    "김",
    "الحسن",
    "לוי",
    "Núñez",
];
/// Names that windows-1252 can encode, for the messy rows.
const LATIN1_FIRST: &[&str] = &["José", "Zoë", "Björn", "Chloé", "Søren", "François", "Ümit"];
/// Last names that windows-1252 can encode, with a character beyond ASCII.
const LATIN1_LAST: &[&str] = &["García", "Müller", "Schröder", "Åström", "Núñez", "Dubœuf"];

/// How a person's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    /// Every byte in windows-1252.
    Cp1252,
    /// The UTF-8 bytes read as windows-1252 and written again as UTF-8.
    Double,
}
const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "College Rd",
    "Elm St",
    "University Blvd",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "627"),
    ("Urbana", "IL", "618"),
    ("Champaign", "IL", "618"),
    ("Peoria", "IL", "616"),
    ("Chicago", "IL", "606"),
];
const DEPARTMENTS: &[&str] = &["HIST", "MATH", "BIO", "CS", "LAW", "MUS", "LIB"];

/// SplitMix64: written out here (rather than a crate's RNG) so a seed reproduces the same
/// extract forever, whatever version of a random-number crate is current.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Writes the extract.
pub fn gen_extract(options: &GenOptions) -> anyhow::Result<()> {
    let sink: Box<dyn Write> = match &options.out {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    write_extract(options, &mut out)?;
    out.flush()?;
    Ok(())
}

pub(crate) fn write_extract(options: &GenOptions, out: &mut impl Write) -> anyhow::Result<()> {
    if options.shape == Shape::College {
        return write_college(options, out);
    }
    let mut rng = SplitMix64(options.seed);
    let mut changes = changes(options.seed);
    // The encoding knobs draw from a generator of their own: the people are the same with
    // or without them.
    let mut knobs = SplitMix64(options.seed ^ 0x00C0_FFEE_1252_0002);
    let mut strays = StrayQuotes {
        rng: SplitMix64(options.seed ^ 0x0057_2A70_0000_0022),
        per_mille: options.stray_quotes,
        open: false,
    };
    out.write_all(COLUMNS.join(",").as_bytes())?;
    out.write_all(b"\r\n")?;
    let mut written = 0u64;
    let mut person = 0u64;
    let mut fields: Vec<Vec<u8>> = vec![Vec::new(); COLUMNS.len()];
    while written < options.rows {
        person += 1;
        let id = 900_000_000 + person;
        for f in fields.iter_mut() {
            f.clear();
        }
        let set = |fields: &mut Vec<Vec<u8>>, column: usize, value: &str| {
            fields[column].clear();
            fields[column].extend_from_slice(value.as_bytes());
        };
        set(&mut fields, 0, &id.to_string());
        set(&mut fields, 1, &format!("2123400{:07}", id % 10_000_000));
        // A first name from a system that still writes windows-1252.
        let cp1252_first = options.messy && rng.chance(10);
        if cp1252_first {
            set(&mut fields, 2, rng.pick(LATIN1_FIRST));
        } else {
            set(&mut fields, 2, rng.pick(FIRST));
        }
        set(&mut fields, 3, rng.pick(&["", "", "A.", "Marie", "J"]));
        set(&mut fields, 4, rng.pick(LAST));
        let roll = knobs.below(1000);
        let encoding = if roll < options.cp1252 {
            Encoding::Cp1252
        } else if roll < options.cp1252 + options.double_encoded {
            Encoding::Double
        } else {
            Encoding::Utf8
        };
        let (first, last) = (knobs.pick(LATIN1_FIRST), knobs.pick(LATIN1_LAST));
        if encoding != Encoding::Utf8 {
            set(&mut fields, 2, first);
            set(&mut fields, 4, last);
        }
        let row = Row {
            encoding: if options.as_utf8 {
                Encoding::Utf8
            } else {
                encoding
            },
            cp1252_first: cp1252_first && !options.as_utf8,
            stray: Stray::None,
        };
        if options.messy && rng.chance(5) {
            // A control character pasted into a name.
            fields[4].push(0x07);
        }
        let (city, state, zip) = CITIES[rng.below(CITIES.len() as u64) as usize];
        set(&mut fields, 10, rng.pick(DEPARTMENTS));
        set(
            &mut fields,
            11,
            rng.pick(&["MAIN", "MAIN", "MAIN", "MAIN", "NORTH", "MAIN;NORTH"]),
        );
        if !(options.messy && rng.chance(30)) {
            set(&mut fields, 14, &format!("u{id}@demo.example.edu"));
        }
        if rng.chance(500) {
            set(&mut fields, 15, &format!("u{id}.home@example.org"));
        }
        set(
            &mut fields,
            16,
            &format!("+1 217 555 {:04}", rng.below(10_000)),
        );
        set(
            &mut fields,
            17,
            &format!("{} {}", 1 + rng.below(999), rng.pick(STREETS)),
        );
        set(&mut fields, 18, city);
        set(&mut fields, 19, state);
        set(&mut fields, 20, &format!("{zip}{:02}", rng.below(100)));
        set(&mut fields, 21, "USA");
        set(
            &mut fields,
            22,
            &format!(
                "{}-{:02}-{:02}",
                1950 + rng.below(58),
                1 + rng.below(12),
                1 + rng.below(28)
            ),
        );
        let roll = rng.below(100);
        let both = (86..95).contains(&roll);
        if roll < 55 || both {
            set(&mut fields, 6, "STUDENT");
            set(&mut fields, 7, if rng.chance(250) { "GR" } else { "UG" });
            set(&mut fields, 12, rng.pick(&["2026FA", "2026FA", "2027SP"]));
            let dropped = rng.chance(60);
            set(
                &mut fields,
                13,
                if dropped { "DROPPED" } else { "ENROLLED" },
            );
        } else if roll < 70 {
            set(&mut fields, 6, "EMPLOYEE");
            set(&mut fields, 8, "FACULTY");
            set(&mut fields, 9, rng.pick(&["FT", "FT", "PT", "EMERITUS"]));
        } else if roll < 86 {
            set(&mut fields, 6, "EMPLOYEE");
            set(&mut fields, 8, "STAFF");
            set(&mut fields, 9, rng.pick(&["FT", "PT", "TEMP"]));
        } else {
            set(&mut fields, 6, "AFFILIATE");
        }
        if options.messy && rng.chance(20) {
            // Several affiliations in one row.
            set(&mut fields, 6, "STUDENT;EMPLOYEE");
            set(&mut fields, 8, "STAFF");
            set(&mut fields, 9, "PT");
        }
        if changes.chance(options.changed) {
            another_number(&mut fields[16]);
        }
        let row = strays.next(row, written + 1 == options.rows);
        write_row(out, &fields, row)?;
        written += 1;
        if both && written < options.rows {
            // The same person from the HR system: a second row to merge.
            set(&mut fields, 6, "EMPLOYEE");
            for column in [7, 12, 13] {
                fields[column].clear();
            }
            set(&mut fields, 8, "STAFF");
            set(&mut fields, 9, "PT");
            let row = strays.next(row, written + 1 == options.rows);
            write_row(out, &fields, row)?;
            written += 1;
        }
        if options.messy && rng.chance(5) && written < options.rows {
            // The same id sent twice with a different name: a duplicate to catch.
            set(&mut fields, 2, rng.pick(FIRST));
            let row = Row {
                cp1252_first: false,
                ..row
            };
            let row = strays.next(row, written + 1 == options.rows);
            write_row(out, &fields, row)?;
            written += 1;
        }
    }
    Ok(())
}

/// The generator of `--changed`: its own, so that the people are the same with or without it.
fn changes(seed: u64) -> SplitMix64 {
    SplitMix64(seed ^ 0x0C4A_4DED_0000_0025)
}

/// Another phone number: the last digit moves on by one.
fn another_number(phone: &mut Vec<u8>) {
    match phone.last_mut() {
        Some(d) if d.is_ascii_digit() => *d = b'0' + (*d - b'0' + 1) % 10,
        _ => phone.push(b'0'),
    }
}

/// The college extract's columns, in order: three identifiers besides the person id, two
/// emails, a home and a campus address and two notes, most of them optional.
pub const COLLEGE_COLUMNS: [&str; 22] = [
    "person_id",
    "univ_id",
    "barcode",
    "netid",
    "first_name",
    "middle_name",
    "last_name",
    "preferred_first_name",
    "role",
    "class_level",
    "department",
    "email",
    "alt_email",
    "phone",
    "home_line1",
    "home_city",
    "home_state",
    "home_postal",
    "campus_line1",
    "hold_note",
    "advisor_note",
    "end_date",
];

/// Column numbers of `COLLEGE_COLUMNS`.
mod college {
    pub const PERSON_ID: usize = 0;
    pub const UNIV_ID: usize = 1;
    pub const BARCODE: usize = 2;
    pub const NETID: usize = 3;
    pub const FIRST_NAME: usize = 4;
    pub const MIDDLE: usize = 5;
    pub const LAST_NAME: usize = 6;
    pub const PREFERRED: usize = 7;
    pub const ROLE: usize = 8;
    pub const CLASS_LEVEL: usize = 9;
    pub const DEPARTMENT: usize = 10;
    pub const EMAIL: usize = 11;
    pub const ALT_EMAIL: usize = 12;
    pub const PHONE: usize = 13;
    pub const HOME_LINE1: usize = 14;
    pub const HOME_CITY: usize = 15;
    pub const HOME_STATE: usize = 16;
    pub const HOME_POSTAL: usize = 17;
    pub const CAMPUS_LINE1: usize = 18;
    pub const HOLD_NOTE: usize = 19;
    pub const ADVISOR_NOTE: usize = 20;
    pub const END_DATE: usize = 21;
}

const HALLS: &[&str] = &[
    "Johnson Hall",
    "Pratt Hall",
    "Kendrick House",
    "Science Center",
    "Frost Library",
];
const COLLEGE_TOWNS: &[(&str, &str, &str)] = &[
    ("Amherst", "MA", "010"),
    ("Northampton", "MA", "010"),
    ("Springfield", "MA", "011"),
    ("Hartford", "CT", "061"),
    ("Albany", "NY", "122"),
];

/// The college extract: about 8 % of people are students who also work on campus, with a
/// second row from HR (so 1M rows are about 926k people).
fn write_college(options: &GenOptions, out: &mut impl Write) -> anyhow::Result<()> {
    use college::*;
    let mut rng = SplitMix64(options.seed);
    let mut changes = changes(options.seed);
    out.write_all(COLLEGE_COLUMNS.join(",").as_bytes())?;
    out.write_all(b"\r\n")?;
    let plain = Row {
        encoding: Encoding::Utf8,
        cp1252_first: false,
        stray: Stray::None,
    };
    let mut written = 0u64;
    let mut person = 0u64;
    let mut fields: Vec<Vec<u8>> = vec![Vec::new(); COLLEGE_COLUMNS.len()];
    let set = |fields: &mut Vec<Vec<u8>>, column: usize, value: &str| {
        fields[column].clear();
        fields[column].extend_from_slice(value.as_bytes());
    };
    while written < options.rows {
        person += 1;
        let id = 700_000_000 + person;
        for f in fields.iter_mut() {
            f.clear();
        }
        set(&mut fields, PERSON_ID, &id.to_string());
        set(&mut fields, UNIV_ID, &format!("U{person:08}"));
        if rng.chance(900) {
            set(&mut fields, BARCODE, &format!("2999900{person:07}"));
        }
        if rng.chance(950) {
            set(&mut fields, NETID, &format!("n{person:07}"));
        }
        set(&mut fields, FIRST_NAME, rng.pick(FIRST));
        set(&mut fields, MIDDLE, rng.pick(&["", "", "A.", "Marie", "J"]));
        set(&mut fields, LAST_NAME, rng.pick(LAST));
        if rng.chance(150) {
            set(&mut fields, PREFERRED, rng.pick(FIRST));
        }
        let roll = rng.below(100);
        let works_too = roll >= 92;
        let role = match roll {
            0..62 => "STUDENT",
            62..75 => "FACULTY",
            75..92 => "STAFF",
            _ => "STUDENT",
        };
        set(&mut fields, ROLE, role);
        let student = role == "STUDENT";
        if student {
            set(
                &mut fields,
                CLASS_LEVEL,
                if rng.chance(200) { "GR" } else { "UG" },
            );
        }
        set(&mut fields, DEPARTMENT, rng.pick(DEPARTMENTS));
        set(&mut fields, EMAIL, &format!("u{id}@college.example.edu"));
        if rng.chance(400) {
            set(&mut fields, ALT_EMAIL, &format!("u{id}.home@example.org"));
        }
        if rng.chance(850) {
            set(
                &mut fields,
                PHONE,
                &format!("+1 413 555 {:04}", rng.below(10_000)),
            );
        }
        if rng.chance(800) {
            let (town, state, zip) = COLLEGE_TOWNS[rng.below(COLLEGE_TOWNS.len() as u64) as usize];
            set(
                &mut fields,
                HOME_LINE1,
                &format!("{} {}", 1 + rng.below(999), rng.pick(STREETS)),
            );
            set(&mut fields, HOME_CITY, town);
            set(&mut fields, HOME_STATE, state);
            set(
                &mut fields,
                HOME_POSTAL,
                &format!("{zip}{:02}", rng.below(100)),
            );
        }
        if rng.chance(if student { 600 } else { 900 }) {
            // A comma inside: the field is quoted.
            let place = if student { "Box" } else { "Office" };
            set(
                &mut fields,
                CAMPUS_LINE1,
                &format!("{place} {}, {}", 1 + rng.below(4999), rng.pick(HALLS)),
            );
        }
        if rng.chance(50) {
            set(
                &mut fields,
                HOLD_NOTE,
                &format!("Library hold: {} overdue items", 1 + rng.below(9)),
            );
        }
        if student && rng.chance(300) {
            set(
                &mut fields,
                ADVISOR_NOTE,
                &format!("Advisor: {} ({})", rng.pick(LAST), rng.pick(DEPARTMENTS)),
            );
        }
        if student {
            set(
                &mut fields,
                END_DATE,
                &format!("{}-05-{:02}", 2027 + rng.below(4), 15 + rng.below(10)),
            );
        } else if rng.chance(300) {
            set(
                &mut fields,
                END_DATE,
                &format!("{}-06-30", 2027 + rng.below(3)),
            );
        }
        if changes.chance(options.changed) {
            another_number(&mut fields[PHONE]);
        }
        write_row(out, &fields, plain)?;
        written += 1;
        if works_too && written < options.rows {
            // The same person from HR: a second row to merge.
            set(&mut fields, ROLE, "STAFF");
            for column in [CLASS_LEVEL, HOLD_NOTE, ADVISOR_NOTE, END_DATE] {
                fields[column].clear();
            }
            set(&mut fields, DEPARTMENT, rng.pick(DEPARTMENTS));
            write_row(out, &fields, plain)?;
            written += 1;
        }
    }
    Ok(())
}

/// How one row is written.
#[derive(Debug, Clone, Copy)]
struct Row {
    encoding: Encoding,
    /// The first name (only) in windows-1252.
    cp1252_first: bool,
    /// A stray quote at the last name.
    stray: Stray,
}

/// A stray quote at a row's last name (`--stray-quotes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stray {
    None,
    /// Before it: a quoted field opens there, as far as a reader can tell.
    Open,
    /// After it: closes the quote the row before opened.
    Close,
}

/// Which rows get a stray quote: about `per_mille` of every thousand open one, and the row
/// after each closes it.
struct StrayQuotes {
    rng: SplitMix64,
    per_mille: u64,
    /// The row before opened one.
    open: bool,
}

impl StrayQuotes {
    /// `row` with its stray quote, if any; the `last` row opens none.
    fn next(&mut self, row: Row, last: bool) -> Row {
        // Drawn for every row, so that which rows open one does not depend on the others.
        let opens = self.rng.chance(self.per_mille) && !last;
        let stray = if self.open {
            Stray::Close
        } else if opens {
            Stray::Open
        } else {
            Stray::None
        };
        self.open = stray == Stray::Open;
        Row { stray, ..row }
    }
}

/// `text` in windows-1252 (every character of the names used has a byte there).
fn cp1252(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    encoding_rs::WINDOWS_1252.encode(&text).0.into_owned()
}

/// Writes one row (fields as UTF-8 text) as `row` says.
fn write_row(out: &mut impl Write, fields: &[Vec<u8>], row: Row) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(256);
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        let field = if row.cp1252_first && i == 2 && row.encoding == Encoding::Utf8 {
            cp1252(field)
        } else {
            field.clone()
        };
        let needs_quotes = field
            .iter()
            .any(|&b| b == b',' || b == b'"' || b == b'\r' || b == b'\n');
        // A last name (no delimiter nor quote in it) with a stray quote, written as it is.
        if i == 4 && row.stray != Stray::None {
            if row.stray == Stray::Open {
                line.push(b'"');
            }
            line.extend_from_slice(&field);
            if row.stray == Stray::Close {
                line.push(b'"');
            }
        } else if needs_quotes {
            line.push(b'"');
            for &b in &field {
                if b == b'"' {
                    line.extend_from_slice(b"\"\"");
                } else {
                    line.push(b);
                }
            }
            line.push(b'"');
        } else {
            line.extend_from_slice(&field);
        }
    }
    let line = match row.encoding {
        Encoding::Utf8 => line,
        Encoding::Cp1252 => cp1252(&line),
        Encoding::Double => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(&line)
            .0
            .into_owned()
            .into_bytes(),
    };
    out.write_all(&line)?;
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(rows: u64, seed: u64, messy: bool) -> Vec<u8> {
        let options = GenOptions {
            rows,
            seed,
            messy,
            ..GenOptions::default()
        };
        let mut out = Vec::new();
        write_extract(&options, &mut out).unwrap();
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
        assert_eq!(generate(500, 7, true), generate(500, 7, true));
        assert_ne!(generate(500, 7, true), generate(500, 8, true));
    }

    #[test]
    fn it_writes_exactly_the_rows_asked_for_with_every_column() {
        for messy in [false, true] {
            let bytes = generate(1234, 3, messy);
            let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
            let headers = reader.byte_headers().unwrap().clone();
            assert_eq!(headers.len(), COLUMNS.len());
            let rows: Vec<_> = reader.byte_records().map(|r| r.unwrap()).collect();
            assert_eq!(rows.len(), 1234);
            assert!(rows.iter().all(|r| r.len() == COLUMNS.len()));
        }
    }

    #[test]
    fn only_the_messy_extract_has_defects() {
        let clean = generate(5000, 11, false);
        assert!(std::str::from_utf8(&clean).is_ok());
        assert!(!clean.contains(&0x07));
        let messy = generate(5000, 11, true);
        assert!(std::str::from_utf8(&messy).is_err(), "windows-1252 rows");
        assert!(messy.contains(&0x07), "control characters");
        let text = String::from_utf8_lossy(&messy);
        assert!(text.contains("STUDENT;EMPLOYEE"), "several affiliations");
    }

    #[test]
    fn stray_quotes_make_records_that_swallow_a_row_and_change_nothing_else() {
        let write = |stray_quotes| {
            let options = GenOptions {
                rows: 3000,
                seed: 5,
                stray_quotes,
                ..GenOptions::default()
            };
            let mut out = Vec::new();
            write_extract(&options, &mut out).unwrap();
            out
        };
        let (clean, stray) = (write(0), write(20));
        // The same bytes but for the quotes.
        assert!(!clean.contains(&b'"'));
        let unquoted: Vec<u8> = stray.iter().copied().filter(|&b| b != b'"').collect();
        assert_eq!(unquoted, clean);
        // A whole-file read (quoted fields over line breaks) makes one record of each pair,
        // with a row's field count and a row's worth of delimiters in its last name.
        let pairs = stray.iter().filter(|&&b| b == b'"').count() / 2;
        assert!(pairs > 20, "{pairs} pairs");
        let mut reader = csv::ReaderBuilder::new().from_reader(stray.as_slice());
        let records: Vec<_> = reader.byte_records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 3000 - pairs);
        let swallowing = records
            .iter()
            .filter(|r| {
                let last = &r[4];
                r.len() == COLUMNS.len()
                    && last.contains(&b'\n')
                    && last.iter().filter(|&&b| b == b',').count() >= COLUMNS.len() - 1
            })
            .count();
        assert_eq!(swallowing, pairs);
    }

    fn generate_shape(shape: Shape, rows: u64, seed: u64, changed: u64) -> Vec<u8> {
        let options = GenOptions {
            shape,
            rows,
            seed,
            changed,
            ..GenOptions::default()
        };
        let mut out = Vec::new();
        write_extract(&options, &mut out).unwrap();
        out
    }

    fn records(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
        let headers = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (headers, rows)
    }

    #[test]
    fn the_college_shape_is_deterministic() {
        let a = generate_shape(Shape::College, 3000, 42, 0);
        assert_eq!(a, generate_shape(Shape::College, 3000, 42, 0));
        assert_ne!(a, generate_shape(Shape::College, 3000, 43, 0));
        assert_ne!(a, generate_shape(Shape::Demo, 3000, 42, 0));
    }

    #[test]
    fn the_college_shape_has_its_columns_many_of_them_optional() {
        let (headers, rows) = records(&generate_shape(Shape::College, 5000, 42, 0));
        assert_eq!(headers, COLLEGE_COLUMNS);
        assert_eq!(rows.len(), 5000);
        assert!(rows.iter().all(|r| r.len() == 22));
        let filled = |name: &str| {
            let i = COLLEGE_COLUMNS.iter().position(|c| *c == name).unwrap();
            rows.iter().filter(|r| !r[i].is_empty()).count()
        };
        for always in [
            "person_id",
            "univ_id",
            "first_name",
            "last_name",
            "role",
            "email",
        ] {
            assert_eq!(filled(always), rows.len(), "{always} is always there");
        }
        let optional = [
            "barcode",
            "netid",
            "middle_name",
            "preferred_first_name",
            "class_level",
            "alt_email",
            "phone",
            "home_line1",
            "home_city",
            "campus_line1",
            "hold_note",
            "advisor_note",
            "end_date",
        ];
        for column in optional {
            let n = filled(column);
            assert!(0 < n && n < rows.len(), "{column} is optional: {n} filled");
        }
        // Two addresses, two notes and three identifiers on one person.
        assert!(
            rows.iter()
                .any(|r| { [1, 2, 3, 14, 18, 19, 20].iter().all(|&i| !r[i].is_empty()) })
        );
        // People who are students and staff: two rows with the same id, one of each role.
        let mut roles: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for r in &rows {
            roles.entry(&r[0]).or_default().push(&r[8]);
        }
        let both = roles
            .values()
            .filter(|v| v == &&["STUDENT", "STAFF"])
            .count();
        assert!(both > 0 && roles.values().all(|v| v.len() <= 2));
        let people = roles.len();
        assert!(
            (4400..4800).contains(&people),
            "{people} people in 5000 rows"
        );
        // Identifiers are unique a person.
        for column in [1, 2, 3] {
            let mut ids: Vec<(&str, &str)> = rows
                .iter()
                .filter(|r| !r[column].is_empty())
                .map(|r| (r[column].as_str(), r[0].as_str()))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            assert!(ids.windows(2).all(|w| w[0].0 != w[1].0));
        }
    }

    #[test]
    fn changed_people_differ_only_in_their_phone_number() {
        for (shape, phone) in [(Shape::Demo, 16), (Shape::College, 13)] {
            let (_, before) = records(&generate_shape(shape, 20_000, 42, 0));
            let (_, after) = records(&generate_shape(shape, 20_000, 42, 10));
            assert_eq!(before.len(), after.len());
            let mut changed = 0;
            for (b, a) in before.iter().zip(&after) {
                for (i, (x, y)) in b.iter().zip(a).enumerate() {
                    if x != y {
                        assert_eq!(i, phone, "{shape:?}: only the phone changes");
                        changed += 1;
                    }
                }
            }
            // About 1 % of people (some with two rows); the empty phones of the college
            // shape become "0", which is still a change.
            assert!(
                (100..=300).contains(&changed),
                "{shape:?}: {changed} rows changed"
            );
        }
    }
}
