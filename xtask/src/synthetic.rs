//! `cargo xtask gen-extract`: a deterministic synthetic extract with the demo's columns.
//!
//! The same `--rows` and `--seed` always give the same bytes. `--messy` adds what real
//! extracts contain: windows-1252 rows, control characters, duplicate ids, missing emails and
//! people with several affiliations in one row.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};

/// Options of `gen-extract`.
pub struct GenOptions {
    /// Data rows to write.
    pub rows: u64,
    /// The seed.
    pub seed: u64,
    /// Add the defects real extracts have.
    pub messy: bool,
    /// Where to write (stdout when absent).
    pub out: Option<PathBuf>,
}

impl GenOptions {
    /// Parses `--rows N --seed S [--messy] [--out FILE]`.
    pub fn parse(args: &[String]) -> anyhow::Result<GenOptions> {
        let mut options = GenOptions {
            rows: 1000,
            seed: 1,
            messy: false,
            out: None,
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
                other => bail!(
                    "unknown option {other:?}; usage: cargo xtask gen-extract --rows N --seed S [--messy] [--out FILE]"
                ),
            }
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

fn write_extract(options: &GenOptions, out: &mut impl Write) -> anyhow::Result<()> {
    let mut rng = SplitMix64(options.seed);
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
        let cp1252 = options.messy && rng.chance(10);
        if cp1252 {
            // A row exported by a system that still writes windows-1252.
            let name = rng.pick(LATIN1_FIRST);
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(name);
            fields[2] = bytes.into_owned();
        } else {
            set(&mut fields, 2, rng.pick(FIRST));
        }
        set(&mut fields, 3, rng.pick(&["", "", "A.", "Marie", "J"]));
        set(&mut fields, 4, rng.pick(LAST));
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
        write_row(out, &fields)?;
        written += 1;
        if both && written < options.rows {
            // The same person from the HR system: a second row to merge.
            set(&mut fields, 6, "EMPLOYEE");
            for column in [7, 12, 13] {
                fields[column].clear();
            }
            set(&mut fields, 8, "STAFF");
            set(&mut fields, 9, "PT");
            write_row(out, &fields)?;
            written += 1;
        }
        if options.messy && rng.chance(5) && written < options.rows {
            // The same id sent twice with a different name: a duplicate to catch.
            set(&mut fields, 2, rng.pick(FIRST));
            write_row(out, &fields)?;
            written += 1;
        }
    }
    Ok(())
}

fn write_row(out: &mut impl Write, fields: &[Vec<u8>]) -> std::io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let needs_quotes = field
            .iter()
            .any(|&b| b == b',' || b == b'"' || b == b'\r' || b == b'\n');
        if needs_quotes {
            out.write_all(b"\"")?;
            for &b in field {
                if b == b'"' {
                    out.write_all(b"\"\"")?;
                } else {
                    out.write_all(&[b])?;
                }
            }
            out.write_all(b"\"")?;
        } else {
            out.write_all(field)?;
        }
    }
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
            out: None,
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
}
