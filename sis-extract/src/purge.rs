//! The `[purge]` rules on their own: the purge date that follows an expiry date for a user
//! group, for people the mapping does not see (the run state's vanished people, by the group
//! they were last sent with), and held against a minimum gap between expiry and purge.

use chrono::NaiveDate;

use crate::ExtractError;
use crate::config::MappingConfig;
use crate::rules::Duration;

/// The `[purge]` rules, compiled.
///
/// ```
/// use sis_extract::{MappingConfig, PurgeRules};
/// let toml = r#"
/// [feed]
/// name = "patrons"
/// institution = "DEMO"
/// [[input]]
/// path = "people.csv"
/// key = "id"
/// [fields]
/// primary_id = "{id}"
/// [[group]]
/// group = "UGRD"
/// when = [{ column = "level", any_of = ["UG"] }]
/// [expiry]
/// default = { policy = "today_plus", duration = "1y" }
/// [purge]
/// after = "1y"
/// [[purge.rule]]
/// groups = ["UGRD"]
/// after = "6m"
/// "#;
/// let config = MappingConfig::from_toml(toml, "alma-sis.toml".as_ref(), &[])?;
/// let rules = PurgeRules::new(&config)?;
/// let expiry = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
/// let ugrd = rules.for_group(Some("UGRD")).unwrap();
/// assert_eq!(ugrd.after(expiry), chrono::NaiveDate::from_ymd_opt(2027, 5, 23));
/// assert_eq!(ugrd.applies_to(), "group UGRD");
/// assert_eq!(rules.for_group(None).unwrap().text(), "1y");
/// assert!(rules.check_minimum(90, "minimum").is_ok());
/// assert!(rules.check_minimum(200, "minimum").is_err());
/// # Ok::<(), sis_extract::ExtractError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PurgeRules {
    /// `[[purge.rule]]` in order, then `after` (with no groups).
    rules: Vec<PurgeAfter>,
}

/// One `[purge]` duration and the groups it is for.
#[derive(Debug, Clone)]
pub struct PurgeAfter {
    /// `None`: the default (`purge.after`).
    groups: Option<Vec<String>>,
    duration: Duration,
    text: String,
    at: String,
}

impl PurgeRules {
    /// Compiles the `[purge]` table of `config`. Errors name the config line.
    pub fn new(config: &MappingConfig) -> Result<PurgeRules, ExtractError> {
        let source = &config.source;
        let compile = |text: &toml::Spanned<String>, groups| {
            let at = source.locate(&text.span());
            let duration = Duration::parse(text.get_ref()).ok_or_else(|| ExtractError::Config {
                at: at.clone(),
                message: format!(
                    "{:?} is not a duration; write e.g. 1y, 6m, 2w, 30d or 1y6m",
                    text.get_ref()
                ),
            })?;
            Ok(PurgeAfter {
                groups,
                duration,
                text: text.get_ref().clone(),
                at,
            })
        };
        let mut rules = Vec::new();
        for rule in &config.purge.rule {
            let groups = rule.groups.iter().map(|g| g.get_ref().clone()).collect();
            rules.push(compile(&rule.after, Some(groups))?);
        }
        if let Some(after) = &config.purge.after {
            rules.push(compile(after, None)?);
        }
        Ok(PurgeRules { rules })
    }

    /// The rule for a user of `group` (the code): the first `[[purge.rule]]` that names it,
    /// else `purge.after`; `None` when neither applies (no purge date).
    pub fn for_group(&self, group: Option<&str>) -> Option<&PurgeAfter> {
        self.rules.iter().find(|r| match (&r.groups, group) {
            (None, _) => true,
            (Some(groups), Some(group)) => groups.iter().any(|g| g == group),
            (Some(_), None) => false,
        })
    }

    /// The purge date of a user of `group` expiring on `expiry`.
    pub fn purge_date(&self, group: Option<&str>, expiry: NaiveDate) -> Option<NaiveDate> {
        self.for_group(group)?.after(expiry)
    }

    /// The rules as text that changes when the purge date they give anyone could: each
    /// rule's groups (`*` for `purge.after`) and duration as written, in order. A run state
    /// keeps it to tell when the rules changed (the purge dates of people whose record did
    /// not change are then sent again).
    pub fn basis(&self) -> String {
        let mut basis = String::from("purge rules 1");
        for rule in &self.rules {
            let groups = rule.groups.as_ref().map_or("*".to_owned(), |g| g.join(","));
            basis.push_str(&format!("; {groups} after {}", rule.text));
        }
        basis
    }

    /// Every rule, `purge.after` last.
    pub fn iter(&self) -> impl Iterator<Item = &PurgeAfter> {
        self.rules.iter()
    }

    /// [`ExtractError::Config`] naming the first rule that can give a purge date fewer than
    /// `minimum_days` after the expiry date (`minimum_key` names the setting in the message).
    pub fn check_minimum(&self, minimum_days: u32, minimum_key: &str) -> Result<(), ExtractError> {
        for rule in &self.rules {
            let (days, from) = rule.shortest();
            if days < u64::from(minimum_days) {
                let from = from
                    .map(|d| {
                        format!(
                            " (from an expiry date of {}, in some years)",
                            d.format("%-d %B")
                        )
                    })
                    .unwrap_or_default();
                return Err(ExtractError::Config {
                    at: rule.at.clone(),
                    message: format!(
                        "purge duration {:?} ({}) can put the purge date {days} days after the \
                         expiry date{from}, under {minimum_key} = {minimum_days}: alma-sis sends \
                         no purge date that close to expiry; lengthen the duration or lower \
                         {minimum_key}",
                        rule.text,
                        rule.applies_to()
                    ),
                });
            }
        }
        Ok(())
    }
}

impl PurgeAfter {
    /// The purge date for an expiry date: expiry + the duration (`None` past year 262143).
    pub fn after(&self, expiry: NaiveDate) -> Option<NaiveDate> {
        self.duration.after(expiry)
    }

    /// The duration as written, e.g. `6m`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whom it is for: `group UGRD`, `groups UGRD, GRAD` or `default`.
    pub fn applies_to(&self) -> String {
        match &self.groups {
            None => "default".to_owned(),
            Some(g) if g.len() == 1 => format!("group {}", g[0]),
            Some(g) => format!("groups {}", g.join(", ")),
        }
    }

    /// The fewest days the duration spans, and an expiry date where it does (months are as
    /// long as the calendar makes them; `1m` spans 28 days from January 31 of a common year).
    pub fn shortest(&self) -> (u64, Option<NaiveDate>) {
        // Eight common years in a row around 2100 hold every run of month lengths.
        let (Some(first), Some(last)) = (
            NaiveDate::from_ymd_opt(2096, 1, 1),
            NaiveDate::from_ymd_opt(2105, 1, 1),
        ) else {
            return (0, None);
        };
        let mut shortest: Option<(u64, NaiveDate)> = None;
        let mut day = Some(first);
        while let Some(from) = day.filter(|d| *d < last) {
            if let Some(to) = self.after(from) {
                let days = u64::try_from((to - from).num_days()).unwrap_or(0);
                if shortest.is_none_or(|(d, _)| days < d) {
                    shortest = Some((days, from));
                }
            }
            if self.duration.is_days_only() {
                break;
            }
            day = from.succ_opt();
        }
        shortest.map_or((u64::MAX, None), |(d, from)| {
            (d, (!self.duration.is_days_only()).then_some(from))
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Datelike as _;

    use super::*;

    fn shortest(text: &str) -> u64 {
        let rule = PurgeAfter {
            groups: None,
            duration: Duration::parse(text).unwrap(),
            text: text.to_owned(),
            at: String::new(),
        };
        rule.shortest().0
    }

    #[test]
    fn the_shortest_span_of_a_duration_is_found_over_the_calendar() {
        // An independent count: the fewest days between a day and the same day-of-month
        // (clamped to the month's end) `m` months later, over every start of 2096..2104.
        for months in [1u32, 2, 3, 6, 12, 18, 48, 100] {
            let mut fewest = i64::MAX;
            let mut from = NaiveDate::from_ymd_opt(2096, 1, 1).unwrap();
            while from.year() < 2105 {
                let total = from.year() * 12 + from.month0() as i32 + months as i32;
                let (year, month0) = (total.div_euclid(12), total.rem_euclid(12) as u32);
                let last = (28..=31)
                    .rev()
                    .find(|d| NaiveDate::from_ymd_opt(year, month0 + 1, *d).is_some())
                    .unwrap();
                let to = NaiveDate::from_ymd_opt(year, month0 + 1, from.day().min(last)).unwrap();
                fewest = fewest.min((to - from).num_days());
                from = from.succ_opt().unwrap();
            }
            assert_eq!(shortest(&format!("{months}m")) as i64, fewest, "{months}m");
        }
        assert_eq!(shortest("3m"), 89);
        assert_eq!(shortest("1y"), 365);
        assert_eq!(shortest("90d"), 90);
        assert_eq!(shortest("2w"), 14);
        assert_eq!(shortest("1m2d"), 30);
    }
}
