//! What `Checker::check_user` costs per user, as `alma-sis run` calls it (once per user,
//! streaming, no position), and what the feed index holds afterwards. Times are CPU time.
//!
//! ```sh
//! cargo run --release -p alma-sis-package --example check_user_cost -- 788376
//! ```
#![allow(clippy::print_stdout, missing_docs)]

use std::time::Duration;

/// CPU time of this process (user + system) from `/proc/self/stat`, in 10 ms ticks: the
/// machine may be shared, so wall time would count other processes.
struct Instant(Duration);

impl Instant {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let after_name = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<u64> = after_name
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the name.
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Instant(Duration::from_millis(ticks * 10))
    }

    fn elapsed(&self) -> Duration {
        Instant::now().0.saturating_sub(self.0)
    }
}

use alma_sis_package::check::{CheckOptions, Checker};
use alma_user_model::{Address, CodeValue, Email, Phone, User, UserIdentifier, UserStatistic};

/// A user shaped like the demo's: primary id, barcode, one address, email and phone.
fn demo_user(i: u64) -> User {
    let mut u = User::new(format!("{}", 900_000_000 + i));
    u.first_name = Some("José".into());
    u.last_name = Some("Rossi".into());
    u.user_group = Some(CodeValue::new("GRAD"));
    u.campus_code = Some(CodeValue::new("MAIN"));
    u.expiry_date = chrono::NaiveDate::from_ymd_opt(2027, 6, 13);
    let mut address = Address::new("home");
    address.preferred = true;
    address.line1 = Some("435 Main St".into());
    address.city = Some("Peoria".into());
    u.contact_info.addresses.push(address);
    let mut email = Email::new(format!("u{i}@demo.example.edu"), "school");
    email.preferred = true;
    u.contact_info.emails.push(email);
    u.contact_info
        .phones
        .push(Phone::new("+1 217 555 2929", "mobile"));
    u.user_identifiers.push(UserIdentifier::new(
        "BARCODE",
        format!("{}", 21_234_000_000_000 + i),
    ));
    u.user_identifiers
        .push(UserIdentifier::new("UNIV_ID", format!("U{i:08}")));
    u.user_statistics.push(UserStatistic::new("LIB"));
    u
}

/// Gives `u` the ids of user `i` without allocating.
fn renumber(u: &mut User, i: u64) {
    use std::fmt::Write as _;
    u.primary_id.clear();
    let _ = write!(u.primary_id, "{}", 900_000_000 + i);
    let ids = &mut u.user_identifiers;
    ids[0].value.clear();
    let _ = write!(ids[0].value, "{}", 21_234_000_000_000 + i);
    ids[1].value.clear();
    let _ = write!(ids[1].value, "U{i:08}");
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(788_376);
    let options = CheckOptions::default();
    let mut user = demo_user(0);

    let start = Instant::now();
    for i in 0..n {
        renumber(&mut user, i);
        std::hint::black_box(&user);
    }
    let base = start.elapsed();

    let start = Instant::now();
    let mut findings = 0usize;
    for i in 0..n {
        renumber(&mut user, i);
        findings += alma_user_model::validate(&user, &options.validation).len();
    }
    let validate = start.elapsed().saturating_sub(base);
    println!(
        "validate alone: {:.0} ns/user ({findings} findings)",
        validate.as_nanos() as f64 / n as f64
    );

    let mut checker = Checker::new(&options);
    // `--no-reserve` shows the index growing without a hint.
    if std::env::args().nth(2).as_deref() != Some("--no-reserve") {
        checker.reserve(n as usize);
    }
    let start = Instant::now();
    let mut findings = 0usize;
    for i in 0..n {
        renumber(&mut user, i);
        findings += checker.check_user(&user, None).len();
    }
    let elapsed = start.elapsed().saturating_sub(base);
    println!(
        "check_user: {:.0} ns/user over {n} users ({findings} findings, {:.2} s); \
         without validate: {:.0} ns/user",
        elapsed.as_nanos() as f64 / n as f64,
        elapsed.as_secs_f64(),
        elapsed.saturating_sub(validate).as_nanos() as f64 / n as f64,
    );
    let retained = checker.retained();
    println!("retained: {retained:?}");
    println!(
        "feed index: {:.1} MB, {:.1} bytes per value",
        retained.index_bytes as f64 / 1e6,
        retained.index_bytes as f64 / retained.identifiers as f64
    );
}
