//! Issue 25's targets ("performance, round two") and the bench's figures measured against
//! them: what `cargo xtask bench` prints and writes with `--json`. Pure: the running is in
//! `bench`.

use std::fmt::Write as _;

/// The deflate level of the packager: the pigz floor compresses at the same level.
pub(crate) const PACKAGER_LEVEL: u32 = alma_sis_package::COMPRESSION_LEVEL;

/// The modes measured for each shape, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `run --mode full` on an empty state.
    FirstLoad,
    /// `run --mode full` the next night, nothing changed.
    Full,
    /// `run --mode delta` the night after, nothing changed.
    DeltaUnchanged,
    /// `run --mode delta` the night after that, 1 % of people changed.
    DeltaChanged,
    /// `alma-sis check` on the nightly full run's zips.
    Check,
}

impl Mode {
    pub(crate) const ALL: [Mode; 5] = [
        Mode::FirstLoad,
        Mode::Full,
        Mode::DeltaUnchanged,
        Mode::DeltaChanged,
        Mode::Check,
    ];

    /// The key in the JSON file.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Mode::FirstLoad => "first_load",
            Mode::Full => "full",
            Mode::DeltaUnchanged => "delta_unchanged",
            Mode::DeltaChanged => "delta_1pct_changed",
            Mode::Check => "check",
        }
    }

    /// What the printed table calls it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Mode::FirstLoad => "first load (empty state)",
            Mode::Full => "nightly full run",
            Mode::DeltaUnchanged => "delta, nothing changed",
            Mode::DeltaChanged => "delta, 1 % changed",
            Mode::Check => "check on the zip",
        }
    }
}

/// One mode's figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModeFigures {
    pub mode: Mode,
    /// Wall time of the whole process.
    pub seconds: f64,
    /// Peak RSS (`VmHWM`).
    pub peak_rss_kib: u64,
    /// The state file (with its WAL) after the run; none for `check`.
    pub state_bytes: Option<u64>,
    /// Users the run wrote (0 for `check`).
    pub users_written: u64,
    /// The binary's own stage times (`--timings`).
    pub stages: Vec<(String, f64)>,
}

/// What the bench measured for one extract shape at one size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapeFigures {
    pub shape: &'static str,
    pub rows: u64,
    /// Users the nightly full run wrote.
    pub users: u64,
    /// Bytes of XML in the nightly full run's zips.
    pub xml_bytes: u64,
    pub modes: Vec<ModeFigures>,
    /// `pigz -p 2 -<level>` over the same XML; none when pigz is not installed.
    pub pigz_seconds: Option<f64>,
    /// The same XML deflated on one thread with the packager's backend (zlib-rs).
    pub zlib_rs_seconds: Option<f64>,
    /// `--pairs N`: the time ratios again, each run next to its own reference.
    pub paired: Option<Paired>,
}

/// Issue 25's limits on the time ratios: the nightly full run and the first load against the
/// pigz floor, the two deltas and `check` against the nightly full run.
const FULL_LIMIT: f64 = 2.0;
const FIRST_LOAD_LIMIT: f64 = 2.5;
const DELTA_UNCHANGED_LIMIT: f64 = 0.2;
const DELTA_CHANGED_LIMIT: f64 = 0.3;
const CHECK_LIMIT: f64 = 0.3;

/// The time ratios taken pair by pair (`cargo xtask bench --pairs N`): each run next to its
/// own reference, the order alternating (run then floor, floor then run), so that a machine
/// whose speed drifts over minutes moves both sides of a ratio together. One ratio a pair.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Paired {
    /// First load on an empty state / the pigz floor.
    pub first_load: Vec<f64>,
    /// Nightly full run (on a copy of the first load's state) / the pigz floor.
    pub full: Vec<f64>,
    /// `check` on that full run's zips / that full run.
    pub check: Vec<f64>,
    /// A delta with nothing changed, on the state that full run left / that full run.
    pub delta_unchanged: Vec<f64>,
    /// Then a delta with 1 % of people changed / that full run.
    pub delta_changed: Vec<f64>,
}

impl Paired {
    /// The pairs' ratios by name, with the target each is held to.
    fn ratios(&self) -> [(&'static str, &[f64], f64, Unit); 5] {
        use Unit::{OfFull, TimesFloor};
        [
            (
                "nightly full run / pigz",
                &self.full,
                FULL_LIMIT,
                TimesFloor,
            ),
            (
                "first load / pigz",
                &self.first_load,
                FIRST_LOAD_LIMIT,
                TimesFloor,
            ),
            (
                "delta, nothing changed / full",
                &self.delta_unchanged,
                DELTA_UNCHANGED_LIMIT,
                OfFull,
            ),
            (
                "delta, 1 % changed / full",
                &self.delta_changed,
                DELTA_CHANGED_LIMIT,
                OfFull,
            ),
            (
                "check on the zip / full run",
                &self.check,
                CHECK_LIMIT,
                OfFull,
            ),
        ]
    }
}

/// The median of `values` (the mean of the middle two for an even count); none when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

impl ShapeFigures {
    pub(crate) fn mode(&self, mode: Mode) -> Option<&ModeFigures> {
        self.modes.iter().find(|m| m.mode == mode)
    }

    fn seconds(&self, mode: Mode) -> Option<f64> {
        self.mode(mode).map(|m| m.seconds)
    }

    /// The largest state file after any run, per user of the nightly full run.
    pub(crate) fn state_bytes_per_user(&self) -> Option<f64> {
        let bytes = self.modes.iter().filter_map(|m| m.state_bytes).max()?;
        ratio(Some(bytes as f64), Some(self.users as f64))
    }
}

/// How a target's value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Times the floor.
    TimesFloor,
    /// A share of the nightly full run.
    OfFull,
    Megabytes,
    BytesPerUser,
}

/// One of issue 25's targets, measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub target: String,
    /// None when it could not be measured (no pigz).
    pub value: Option<f64>,
    /// The target holds when the value is at most this.
    pub limit: f64,
    pub unit: Unit,
}

impl Verdict {
    /// Met, not met, or not known.
    pub(crate) fn met(&self) -> Option<bool> {
        self.value.map(|v| v <= self.limit)
    }

    fn show(&self, value: f64) -> String {
        match self.unit {
            Unit::TimesFloor => format!("{value:.2}x"),
            Unit::OfFull => format!("{value:.2}"),
            Unit::Megabytes => format!("{value:.1} MB"),
            Unit::BytesPerUser => format!("{value:.0} B"),
        }
    }

    pub(crate) fn verdict(&self) -> &'static str {
        match self.met() {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        }
    }
}

/// `a / b`, when both are known and `b` is not zero.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The binary's stage list with each indented step named under its stage (`pass.map`,
/// `package.compress (workers)`): the names are unique, as the JSON's keys must be.
pub(crate) fn qualified_stages(stages: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let mut parent = String::new();
    stages
        .into_iter()
        .map(|(name, secs)| {
            let trimmed = name.trim_start();
            if trimmed.len() == name.len() {
                parent = name.clone();
                (name, secs)
            } else {
                (format!("{parent}.{trimmed}"), secs)
            }
        })
        .collect()
}

/// Issue 25's acceptance, measured on one shape.
pub(crate) fn verdicts(f: &ShapeFigures) -> Vec<Verdict> {
    let full = f.seconds(Mode::Full);
    let target = |target: String, value: Option<f64>, limit: f64, unit: Unit| Verdict {
        target,
        value,
        limit,
        unit,
    };
    let level = PACKAGER_LEVEL;
    let mut out = vec![
        target(
            format!("nightly full run / pigz -p 2 -{level}"),
            ratio(full, f.pigz_seconds),
            FULL_LIMIT,
            Unit::TimesFloor,
        ),
        target(
            format!("first load / pigz -p 2 -{level}"),
            ratio(f.seconds(Mode::FirstLoad), f.pigz_seconds),
            FIRST_LOAD_LIMIT,
            Unit::TimesFloor,
        ),
        target(
            "delta, nothing changed / full run".into(),
            ratio(f.seconds(Mode::DeltaUnchanged), full),
            DELTA_UNCHANGED_LIMIT,
            Unit::OfFull,
        ),
        target(
            "delta, 1 % changed / full run".into(),
            ratio(f.seconds(Mode::DeltaChanged), full),
            DELTA_CHANGED_LIMIT,
            Unit::OfFull,
        ),
        target(
            "check on the zip / full run".into(),
            ratio(f.seconds(Mode::Check), full),
            CHECK_LIMIT,
            Unit::OfFull,
        ),
    ];
    for mode in Mode::ALL {
        out.push(target(
            format!("peak RSS, {}", mode.label()),
            f.mode(mode).map(|m| m.peak_rss_kib as f64 / 1024.0),
            100.0,
            Unit::Megabytes,
        ));
    }
    out.push(target(
        "state file per user".into(),
        f.state_bytes_per_user(),
        300.0,
        Unit::BytesPerUser,
    ));
    if let Some(paired) = &f.paired {
        for (name, ratios, limit, unit) in paired.ratios() {
            out.push(target(
                format!("{name}, median of {} pairs", ratios.len()),
                median(ratios),
                limit,
                unit,
            ));
        }
    }
    out
}

/// The printed report of one shape: the modes, the floor, and every target with its verdict.
pub(crate) fn report(f: &ShapeFigures) -> String {
    let mut s = String::new();
    let mb = f.xml_bytes as f64 / 1e6;
    let _ = writeln!(
        s,
        "== {} shape, {} rows: {} users, {mb:.1} MB of XML",
        f.shape, f.rows, f.users
    );
    let _ = writeln!(
        s,
        "{:<26} {:>9} {:>9} {:>12} {:>14}",
        "mode", "wall s", "rows/s", "peak RSS MB", "state B/user"
    );
    for m in &f.modes {
        let per_user = ratio(m.state_bytes.map(|b| b as f64), Some(f.users as f64))
            .map_or_else(|| "-".to_owned(), |b| format!("{b:.0}"));
        let rows_per_s = ratio(Some(f.rows as f64), Some(m.seconds))
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
        let _ = writeln!(
            s,
            "{:<26} {:>9.2} {:>9} {:>12.1} {:>14}",
            m.mode.label(),
            m.seconds,
            rows_per_s,
            m.peak_rss_kib as f64 / 1024.0,
            per_user
        );
        if !m.stages.is_empty() {
            let stages: Vec<String> = m
                .stages
                .iter()
                .map(|(name, secs)| format!("{name} {secs:.2}"))
                .collect();
            let _ = writeln!(s, "    stages: {}", stages.join(", "));
        }
    }
    let level = PACKAGER_LEVEL;
    match f.pigz_seconds {
        Some(secs) => {
            let _ = writeln!(
                s,
                "floor: pigz -p 2 -{level} {secs:.2} s ({:.0} MB/s of XML)",
                mb / secs
            );
        }
        None => {
            let _ = writeln!(
                s,
                "floor: pigz is not installed (apt-get install pigz): the ratios against it \
                 are not measured"
            );
        }
    }
    if let Some(secs) = f.zlib_rs_seconds {
        let _ = writeln!(
            s,
            "       zlib-rs, one thread, level {level}: {secs:.2} s (the packager's backend)"
        );
    }
    if let Some(paired) = &f.paired {
        let _ = writeln!(
            s,
            "paired (each run next to its own reference, the order alternating):"
        );
        for (name, ratios, _, _) in paired.ratios() {
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            let _ = writeln!(s, "  {name:<30} {}", each.join("  "));
        }
    }
    let _ = writeln!(s, "targets (issue 25), {} shape:", f.shape);
    for v in verdicts(f) {
        let value = v.value.map_or_else(|| "-".to_owned(), |x| v.show(x));
        let _ = writeln!(
            s,
            "  {:<48} {:>10}  (at most {:>8})  {}",
            v.target,
            value,
            v.show(v.limit),
            v.verdict()
        );
    }
    s
}

/// Everything of one bench run, for `--json` (later sessions compare against it).
pub(crate) fn to_json(all: &[ShapeFigures]) -> serde_json::Value {
    let shapes: Vec<serde_json::Value> = all
        .iter()
        .map(|f| {
            let mut modes = serde_json::Map::new();
            for m in &f.modes {
                let stages: serde_json::Map<String, serde_json::Value> = m
                    .stages
                    .iter()
                    .map(|(name, secs)| (name.clone(), serde_json::json!(secs)))
                    .collect();
                modes.insert(
                    m.mode.key().to_owned(),
                    serde_json::json!({
                        "seconds": m.seconds,
                        "peak_rss_kib": m.peak_rss_kib,
                        "state_bytes": m.state_bytes,
                        "users_written": m.users_written,
                        "stages": stages,
                    }),
                );
            }
            let targets: Vec<serde_json::Value> = verdicts(f)
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "target": v.target,
                        "value": v.value,
                        "limit": v.limit,
                        "met": v.met(),
                    })
                })
                .collect();
            serde_json::json!({
                "shape": f.shape,
                "rows": f.rows,
                "users": f.users,
                "xml_bytes": f.xml_bytes,
                "floor": {
                    "level": PACKAGER_LEVEL,
                    "pigz_p2_seconds": f.pigz_seconds,
                    "zlib_rs_one_thread_seconds": f.zlib_rs_seconds,
                },
                "state_bytes_per_user": f.state_bytes_per_user(),
                "modes": modes,
                "paired": f.paired.as_ref().map(|p| serde_json::json!({
                    "first_load_over_pigz": p.first_load,
                    "full_over_pigz": p.full,
                    "check_over_full": p.check,
                    "delta_unchanged_over_full": p.delta_unchanged,
                    "delta_1pct_changed_over_full": p.delta_changed,
                })),
                "targets": targets,
            })
        })
        .collect();
    serde_json::json!({ "issue": 25, "shapes": shapes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(mode: Mode, seconds: f64, rss_mb: u64, state: Option<u64>) -> ModeFigures {
        ModeFigures {
            mode,
            seconds,
            peak_rss_kib: rss_mb * 1024,
            state_bytes: state,
            users_written: 0,
            stages: vec![("pass".into(), seconds / 2.0)],
        }
    }

    fn figures(pigz: Option<f64>) -> ShapeFigures {
        ShapeFigures {
            shape: "college",
            rows: 1000,
            users: 800,
            xml_bytes: 2_000_000,
            modes: vec![
                mode(Mode::FirstLoad, 12.0, 90, Some(200_000)),
                mode(Mode::Full, 10.0, 101, Some(240_000)),
                mode(Mode::DeltaUnchanged, 2.0, 80, Some(240_000)),
                mode(Mode::DeltaChanged, 3.5, 80, Some(250_000)),
                mode(Mode::Check, 3.0, 20, None),
            ],
            pigz_seconds: pigz,
            zlib_rs_seconds: Some(4.0),
            paired: None,
        }
    }

    fn table(f: &ShapeFigures) -> Vec<(String, Option<f64>, Option<bool>)> {
        verdicts(f)
            .into_iter()
            .map(|v| {
                let met = v.met();
                (
                    v.target,
                    v.value.map(|x| (x * 1000.0).round() / 1000.0),
                    met,
                )
            })
            .collect()
    }

    #[test]
    fn every_target_is_a_ratio_with_a_verdict_at_its_limit() {
        let rows = table(&figures(Some(5.0)));
        let expect = [
            ("nightly full run / pigz -p 2 -6", 2.0, true),
            ("first load / pigz -p 2 -6", 2.4, true),
            ("delta, nothing changed / full run", 0.2, true),
            ("delta, 1 % changed / full run", 0.35, false),
            ("check on the zip / full run", 0.3, true),
            ("peak RSS, first load (empty state)", 90.0, true),
            ("peak RSS, nightly full run", 101.0, false),
            ("peak RSS, delta, nothing changed", 80.0, true),
            ("peak RSS, delta, 1 % changed", 80.0, true),
            ("peak RSS, check on the zip", 20.0, true),
            // The largest state file, 250,000 bytes, over the full run's 800 users.
            ("state file per user", 312.5, false),
        ];
        assert_eq!(rows.len(), expect.len());
        for ((target, value, met), (t, v, m)) in rows.iter().zip(expect) {
            assert_eq!((target.as_str(), *value, *met), (t, Some(v), Some(m)));
        }
    }

    #[test]
    fn without_pigz_the_floor_ratios_are_not_measured_and_say_so() {
        let f = figures(None);
        let rows = table(&f);
        assert_eq!(rows[0].1, None);
        assert_eq!(rows[0].2, None);
        assert_eq!(rows[1].2, None);
        assert_eq!(
            rows[2].2,
            Some(true),
            "the other ratios do not need the floor"
        );
        let printed = report(&f);
        assert!(printed.contains("pigz is not installed"), "{printed}");
        assert!(printed.contains("not measured"), "{printed}");
    }

    #[test]
    fn steps_are_named_under_their_stage() {
        let stages = ["read", "pass", "  map", "  package", "package", "  verify"]
            .iter()
            .enumerate()
            .map(|(i, n)| ((*n).to_owned(), i as f64))
            .collect();
        let names: Vec<String> = qualified_stages(stages).into_iter().map(|s| s.0).collect();
        assert_eq!(
            names,
            [
                "read",
                "pass",
                "pass.map",
                "pass.package",
                "package",
                "package.verify"
            ]
        );
    }

    #[test]
    fn a_missing_mode_or_a_zero_divisor_gives_no_ratio() {
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(1.0), Some(4.0)), Some(0.25));
        let mut f = figures(Some(5.0));
        f.modes.retain(|m| m.mode != Mode::DeltaChanged);
        let v = &verdicts(&f)[3];
        assert_eq!((v.value, v.met()), (None, None));
    }

    #[test]
    fn the_report_prints_every_mode_and_verdict() {
        let printed = report(&figures(Some(5.0)));
        for mode in Mode::ALL {
            assert!(printed.contains(mode.label()), "{printed}");
        }
        assert!(printed.contains("2.00x"), "{printed}");
        assert!(printed.contains("NOT met"), "{printed}");
        assert!(printed.contains("312 B"), "{printed}");
    }

    #[test]
    fn the_json_carries_figures_and_verdicts() {
        let json = to_json(&[figures(Some(5.0))]);
        let shape = &json["shapes"][0];
        assert_eq!(shape["shape"], "college");
        assert_eq!(shape["floor"]["pigz_p2_seconds"], 5.0);
        assert_eq!(shape["modes"]["delta_1pct_changed"]["seconds"], 3.5);
        assert_eq!(
            shape["modes"]["check"]["state_bytes"],
            serde_json::Value::Null
        );
        assert_eq!(shape["modes"]["full"]["stages"]["pass"], 5.0);
        let targets = shape["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 11);
        assert_eq!(targets[0]["met"], true);
        assert_eq!(targets[3]["met"], false);
        assert_eq!(shape["state_bytes_per_user"], 312.5);
    }
    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[2.5, 1.0, 9.0]), Some(2.5));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0, 2.0]), Some(1.5));
    }

    #[test]
    fn paired_ratios_add_a_verdict_each_from_their_median() {
        let mut f = figures(Some(5.0));
        f.paired = Some(Paired {
            first_load: vec![2.6, 2.4, 2.45],
            full: vec![1.9, 2.2, 1.95, 2.05],
            check: vec![0.5, 0.45, 0.55],
            delta_unchanged: vec![0.21, 0.19, 0.18],
            delta_changed: vec![0.2, 0.31, 0.32],
        });
        let rows = table(&f);
        assert_eq!(rows.len(), 16, "{rows:?}");
        let tail: Vec<_> = rows[11..]
            .iter()
            .map(|(t, v, m)| (t.as_str(), *v, *m))
            .collect();
        assert_eq!(
            tail,
            [
                (
                    "nightly full run / pigz, median of 4 pairs",
                    Some(2.0),
                    Some(true)
                ),
                (
                    "first load / pigz, median of 3 pairs",
                    Some(2.45),
                    Some(true)
                ),
                (
                    "delta, nothing changed / full, median of 3 pairs",
                    Some(0.19),
                    Some(true)
                ),
                (
                    "delta, 1 % changed / full, median of 3 pairs",
                    Some(0.31),
                    Some(false)
                ),
                (
                    "check on the zip / full run, median of 3 pairs",
                    Some(0.5),
                    Some(false)
                ),
            ]
        );
        let printed = report(&f);
        assert!(printed.contains("1.90  2.20  1.95  2.05"), "{printed}");
        let json = to_json(&[f]);
        assert_eq!(json["shapes"][0]["paired"]["check_over_full"][2], 0.55);
        assert_eq!(
            json["shapes"][0]["paired"]["delta_unchanged_over_full"][0],
            0.21
        );
        assert_eq!(json["shapes"][0]["targets"].as_array().unwrap().len(), 16);
    }
}
