//! Envelope-budgeting month math, with Actual's and YNAB's semantics:
//!
//! - A category's **available** in a month is what it carried in, plus what
//!   was assigned to it, plus its activity (transactions; outflows negative).
//! - A positive available rolls into the next month. A negative one rolls
//!   forward only when the category's carryover flag **for that month** is
//!   on; otherwise it is taken out of the next month's **to be budgeted** and
//!   the category starts the next month at zero.
//! - **To be budgeted** for a month is the income received through that
//!   month, minus everything assigned through that month, minus the
//!   overspending that earlier months did not carry.
//!
//! The carryover flag is a per-month setting (as in Actual, where
//! `setCategoryCarryover` takes a start month): a [`Schedule`] holds, per
//! category, the months from which the flag changes. Setting it from month
//! M ([`Schedule::set_from`]) changes the flag of M and every later month,
//! never an earlier one; and because a month's flag only decides what that
//! month's overspending does to the *next* month, no figure of M or of any
//! month before it changes either (the property tests check this).
//!
//! The identity this keeps, month after month, and that the property tests
//! check: to be budgeted + the sum of every category's available = all
//! income + all category activity through the month.
//!
//! All figures are integer minor units in `i128`; nothing here rounds,
//! wraps or saturates. Every sum is checked, and [`run`] answers
//! [`Overflow`] rather than a wrong figure (with inputs that are sums of
//! `i64` amounts it cannot happen: it would take 2^64 of them). Whether a
//! figure fits the API's `i64` is the caller's check.

use std::collections::BTreeMap;

/// One category's figures for one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategoryMonth {
    pub assigned: i128,
    pub activity: i128,
    pub available: i128,
    /// The carryover flag in force for this month.
    pub carryover: bool,
}

/// A month's summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthSummary {
    pub income: i128,
    pub assigned: i128,
    pub activity: i128,
    /// Overspending of the previous month that was not carried.
    pub overspent_last_month: i128,
    pub to_be_budgeted: i128,
    pub categories: Vec<CategoryMonth>,
}

/// The inputs for one month: per category (in a fixed order) what was
/// assigned, its activity and the carryover flag in force that month, plus
/// the month's income. Missing entries count as 0 and `false`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthInput {
    pub income: i128,
    pub assigned: Vec<i128>,
    pub activity: Vec<i128>,
    pub carryover: Vec<bool>,
}

/// A sum left the range of `i128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a month figure is out of range")
    }
}

fn add(a: i128, b: i128) -> Result<i128, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

fn sub(a: i128, b: i128) -> Result<i128, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

/// Runs `categories` categories through the months in order. Returns one
/// summary per month.
pub fn run(categories: usize, months: &[MonthInput]) -> Result<Vec<MonthSummary>, Overflow> {
    let mut carried = vec![0i128; categories];
    let mut income_total = 0i128;
    let mut assigned_total = 0i128;
    let mut uncarried_total = 0i128;
    let mut uncarried_last = 0i128;
    let mut out = Vec::with_capacity(months.len());
    for month in months {
        income_total = add(income_total, month.income)?;
        let mut summary = MonthSummary { income: month.income, ..MonthSummary::default() };
        let mut next_uncarried = 0i128;
        for (c, carried) in carried.iter_mut().enumerate() {
            let assigned = month.assigned.get(c).copied().unwrap_or(0);
            let activity = month.activity.get(c).copied().unwrap_or(0);
            let carryover = month.carryover.get(c).copied().unwrap_or(false);
            let available = add(add(*carried, assigned)?, activity)?;
            summary.assigned = add(summary.assigned, assigned)?;
            summary.activity = add(summary.activity, activity)?;
            summary.categories.push(CategoryMonth { assigned, activity, available, carryover });
            *carried = if available >= 0 || carryover { available } else { 0 };
            if available < 0 && !carryover {
                next_uncarried = sub(next_uncarried, available)?;
            }
        }
        assigned_total = add(assigned_total, summary.assigned)?;
        uncarried_total = add(uncarried_total, uncarried_last)?;
        summary.overspent_last_month = uncarried_last;
        summary.to_be_budgeted = sub(sub(income_total, assigned_total)?, uncarried_total)?;
        uncarried_last = next_uncarried;
        out.push(summary);
    }
    Ok(out)
}

/// Months are numbered `year * 12 + month - 1` (January 2026 is 24 312).
pub type MonthIndex = i64;

/// One category's carryover settings: the months from which the flag
/// changes, each with the flag from then on (until the next entry). Before
/// the first entry the flag is off. The ledger stores the same entries
/// (`category_carryover`) and changes them as [`Schedule::set_from`] does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule(BTreeMap<MonthIndex, bool>);

impl Schedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an entry as stored (no normalisation; a later entry for the
    /// same month replaces an earlier one).
    pub fn insert(&mut self, from: MonthIndex, carryover: bool) {
        self.0.insert(from, carryover);
    }

    /// The flag in force in `month`.
    pub fn flag_in(&self, month: MonthIndex) -> bool {
        self.0.range(..=month).next_back().is_some_and(|(_, flag)| *flag)
    }

    /// Sets the flag from `start` on: `start` and every later month take
    /// `carryover` (later entries are dropped), earlier months keep theirs.
    /// No entry is added when the flag before `start` already is `carryover`,
    /// so the schedule stays minimal.
    pub fn set_from(&mut self, start: MonthIndex, carryover: bool) {
        self.0.split_off(&start);
        if self.flag_in(start) != carryover {
            self.0.insert(start, carryover);
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (MonthIndex, bool)> + '_ {
        self.0.iter().map(|(m, f)| (*m, *f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(income: i128, assigned: Vec<i128>, activity: Vec<i128>, carryover: Vec<bool>) -> MonthInput {
        MonthInput { income, assigned, activity, carryover }
    }

    #[test]
    fn overspending_without_carryover_comes_out_of_next_months_to_be_budgeted() {
        // Groceries (no carryover) and Debt (carryover).
        let flags = vec![false, true];
        let months = [
            input(300_000, vec![40_000, 10_000], vec![-45_000, -15_000], flags.clone()),
            input(0, vec![40_000, 0], vec![-10_000, 0], flags),
        ];
        let result = run(2, &months).expect("in range");
        let first = &result[0];
        assert_eq!(first.categories[0].available, -5_000);
        assert_eq!(first.categories[1].available, -5_000);
        assert_eq!(first.to_be_budgeted, 250_000);
        let second = &result[1];
        // Groceries restarts at 0; Debt carries −50.00.
        assert_eq!(second.categories[0].available, 30_000);
        assert_eq!(second.categories[1].available, -5_000);
        assert_eq!(second.overspent_last_month, 5_000);
        assert_eq!(second.to_be_budgeted, 300_000 - 90_000 - 5_000);
    }

    #[test]
    fn positive_balances_roll_forward() {
        let months = [input(1_000, vec![600], vec![-100], vec![false]), input(0, vec![0], vec![-200], vec![false])];
        let result = run(1, &months).expect("in range");
        assert_eq!(result[1].categories[0].available, 300);
        assert_eq!(result[1].to_be_budgeted, 400);
    }

    #[test]
    fn turning_carryover_off_in_april_leaves_march_alone() {
        // The reviewer's case (issue 12): a category with carryover on,
        // overspent in February and March; carryover turned off "in April".
        let (february, april) = (2026 * 12 + 1, 2026 * 12 + 3);
        let mut schedule = Schedule::new();
        schedule.set_from(0, true);
        let spend = |month: MonthIndex, schedule: &Schedule| {
            input(if month == february { 100_000 } else { 0 }, vec![0], vec![-1_000], vec![schedule.flag_in(month)])
        };
        let before: Vec<MonthInput> = (february..february + 4).map(|m| spend(m, &schedule)).collect();
        schedule.set_from(april, false);
        let after: Vec<MonthInput> = (february..february + 4).map(|m| spend(m, &schedule)).collect();
        let (before, after) = (run(1, &before).expect("in range"), run(1, &after).expect("in range"));
        // February, March and April keep every figure; April shows its new flag.
        assert_eq!(before[..2], after[..2]);
        let mut april = after[2].clone();
        april.categories[0].carryover = true;
        assert_eq!(before[2], april);
        assert_eq!(after[1].categories[0].available, -2_000, "March still carries February's −10");
        assert_eq!(after[1].to_be_budgeted, 100_000);
        assert!(!after[2].categories[0].carryover, "April's flag is off");
        // April's −30 no longer rolls into May: it comes out of May's to be budgeted.
        assert_eq!(after[3].categories[0].available, -1_000);
        assert_eq!(after[3].overspent_last_month, 3_000);
        assert_eq!(before[3].categories[0].available, -4_000);
    }

    #[test]
    fn schedules_resolve_and_stay_minimal() {
        let mut schedule = Schedule::new();
        assert!(!schedule.flag_in(0), "off before any entry");
        schedule.set_from(10, false);
        assert_eq!(schedule.entries().count(), 0, "off from 10 is what it already was");
        schedule.set_from(10, true);
        schedule.set_from(20, false);
        schedule.set_from(30, true);
        assert_eq!(schedule.entries().collect::<Vec<_>>(), [(10, true), (20, false), (30, true)]);
        assert_eq!(
            (schedule.flag_in(9), schedule.flag_in(15), schedule.flag_in(25), schedule.flag_in(99)),
            (false, true, false, true)
        );
        schedule.set_from(15, true);
        assert_eq!(schedule.entries().collect::<Vec<_>>(), [(10, true)], "from 15 on: later entries go");
    }

    #[test]
    fn sums_beyond_i128_are_refused_not_wrapped() {
        let months = [input(i128::MAX, vec![], vec![], vec![]), input(1, vec![], vec![], vec![])];
        assert_eq!(run(0, &months), Err(Overflow));
        let months = [input(0, vec![i128::MAX, 1], vec![0, 0], vec![false, false])];
        assert_eq!(run(2, &months), Err(Overflow));
    }

    #[test]
    fn figures_beyond_i64_are_exact() {
        // Two amounts of i64::MAX each: the total is exact in i128, so the
        // caller sees it is out of the API's range instead of a saturated one.
        let big = i128::from(i64::MAX);
        let months = [input(big, vec![0], vec![0], vec![false]), input(big, vec![0], vec![0], vec![false])];
        let result = run(1, &months).expect("in range");
        assert_eq!(result[1].to_be_budgeted, 2 * big);
    }

    fn months_strategy(categories: usize) -> impl Strategy<Value = Vec<MonthInput>> {
        let amount = -1_000_000i128..1_000_000;
        let month = (
            0i128..2_000_000,
            proptest::collection::vec(amount.clone(), categories),
            proptest::collection::vec(amount, categories),
            proptest::collection::vec(any::<bool>(), categories),
        )
            .prop_map(|(income, assigned, activity, carryover)| MonthInput {
                income,
                assigned,
                activity,
                carryover,
            });
        proptest::collection::vec(month, 1..18)
    }

    /// Per category, a few settings (start month, flag) applied in order.
    fn schedules_strategy(categories: usize, months: usize) -> impl Strategy<Value = Vec<Schedule>> {
        let settings = proptest::collection::vec((0..months as MonthIndex, any::<bool>()), 0..4);
        proptest::collection::vec(settings, categories).prop_map(|all| {
            all.into_iter()
                .map(|settings| {
                    let mut schedule = Schedule::new();
                    for (from, flag) in settings {
                        schedule.set_from(from, flag);
                    }
                    schedule
                })
                .collect()
        })
    }

    /// `months` with each month's flags taken from `schedules`.
    fn with_flags(months: &[MonthInput], schedules: &[Schedule]) -> Vec<MonthInput> {
        months
            .iter()
            .enumerate()
            .map(|(m, month)| MonthInput {
                carryover: schedules.iter().map(|s| s.flag_in(m as MonthIndex)).collect(),
                ..month.clone()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn to_be_budgeted_plus_available_is_income_plus_activity(
            (categories, months) in (1usize..8).prop_flat_map(|n| (Just(n), months_strategy(n)))
        ) {
            let result = run(categories, &months).expect("in range");
            let mut income = 0i128;
            let mut activity = 0i128;
            for (month, summary) in months.iter().zip(&result) {
                income += month.income;
                activity += month.activity.iter().sum::<i128>();
                let available: i128 = summary.categories.iter().map(|c| c.available).sum();
                // Overspending not carried reappears as a deduction only
                // from the next month on; within its own month it is in the
                // category's negative available.
                prop_assert_eq!(summary.to_be_budgeted + available, income + activity);
            }
        }

        #[test]
        fn a_category_without_carryover_never_starts_a_month_negative(
            months in months_strategy(1)
        ) {
            let months: Vec<MonthInput> =
                months.into_iter().map(|m| MonthInput { carryover: vec![false], ..m }).collect();
            let result = run(1, &months).expect("in range");
            for pair in result.windows(2) {
                let carried = pair[0].categories[0].available.max(0);
                let next = &pair[1].categories[0];
                prop_assert_eq!(next.available, carried + next.assigned + next.activity);
            }
        }

        /// Issue 12: changing a carryover setting from month M never changes
        /// a figure of a month before M. (Nor of M itself: a month's flag
        /// only decides what its overspending does to the month after.)
        #[test]
        fn a_carryover_setting_from_month_m_never_changes_an_earlier_month(
            (categories, months, schedules, changed, start, flag) in (1usize..6)
                .prop_flat_map(|n| (Just(n), months_strategy(n)))
                .prop_flat_map(|(n, months)| {
                    let span = months.len();
                    (Just(n), Just(months), schedules_strategy(n, span), 0..n, 0..span as MonthIndex, any::<bool>())
                })
        ) {
            let before = run(categories, &with_flags(&months, &schedules)).expect("in range");
            let mut changed_schedules = schedules.clone();
            changed_schedules[changed].set_from(start, flag);
            let after = run(categories, &with_flags(&months, &changed_schedules)).expect("in range");
            let start = start as usize;
            for month in 0..start {
                prop_assert_eq!(&before[month], &after[month], "month {} of {} changed", month, months.len());
            }
            // M's own figures stay too; only its flag shows the new setting.
            let mut own = after[start].clone();
            own.categories[changed].carryover = before[start].categories[changed].carryover;
            prop_assert_eq!(&before[start], &own);
            prop_assert_eq!(after[start].categories[changed].carryover, flag);
            // And the setting holds from M on.
            for month in start..months.len() {
                prop_assert_eq!(after[month].categories[changed].carryover, flag);
            }
        }
    }
}
