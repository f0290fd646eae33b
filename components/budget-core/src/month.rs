//! Envelope-budgeting month math, with Actual's and YNAB's semantics:
//!
//! - A category's **available** in a month is what it carried in, plus what
//!   was assigned to it, plus its activity (transactions; outflows negative).
//! - A positive available rolls into the next month. A negative one rolls
//!   forward only when the category's carryover flag is on; otherwise it is
//!   taken out of the next month's **to be budgeted** and the category
//!   starts the next month at zero.
//! - **To be budgeted** for a month is the income received through that
//!   month, minus everything assigned through that month, minus the
//!   overspending that earlier months did not carry.
//!
//! The identity this keeps, month after month, and that the property tests
//! check: to be budgeted + the sum of every category's available = all
//! income + all category activity through the month.
//!
//! All figures are integer minor units; nothing here rounds.

/// One category's figures for one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategoryMonth {
    pub assigned: i64,
    pub activity: i64,
    pub available: i64,
}

/// A month's summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthSummary {
    pub income: i64,
    pub assigned: i64,
    pub activity: i64,
    /// Overspending of the previous month that was not carried.
    pub overspent_last_month: i64,
    pub to_be_budgeted: i64,
    pub categories: Vec<CategoryMonth>,
}

/// The inputs for one month: per category (in a fixed order) what was
/// assigned and its activity, plus the month's income.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonthInput {
    pub income: i64,
    pub assigned: Vec<i64>,
    pub activity: Vec<i64>,
}

/// Runs the months in order. `carryover[c]` says whether category `c`
/// carries a negative balance forward. Returns one summary per month.
/// Sums saturate instead of overflowing (figures near ±9.2e18 minor units
/// are not budgets).
pub fn run(carryover: &[bool], months: &[MonthInput]) -> Vec<MonthSummary> {
    let categories = carryover.len();
    let mut carried = vec![0i64; categories];
    let mut income_total = 0i64;
    let mut assigned_total = 0i64;
    let mut uncarried_total = 0i64;
    let mut uncarried_last = 0i64;
    let mut out = Vec::with_capacity(months.len());
    for month in months {
        income_total = income_total.saturating_add(month.income);
        let mut summary = MonthSummary { income: month.income, ..MonthSummary::default() };
        let mut next_uncarried = 0i64;
        for c in 0..categories {
            let assigned = month.assigned.get(c).copied().unwrap_or(0);
            let activity = month.activity.get(c).copied().unwrap_or(0);
            let available = carried[c].saturating_add(assigned).saturating_add(activity);
            summary.assigned = summary.assigned.saturating_add(assigned);
            summary.activity = summary.activity.saturating_add(activity);
            summary.categories.push(CategoryMonth { assigned, activity, available });
            carried[c] = if available >= 0 || carryover[c] { available } else { 0 };
            if available < 0 && !carryover[c] {
                next_uncarried = next_uncarried.saturating_add(-available);
            }
        }
        assigned_total = assigned_total.saturating_add(summary.assigned);
        uncarried_total = uncarried_total.saturating_add(uncarried_last);
        summary.overspent_last_month = uncarried_last;
        summary.to_be_budgeted = income_total.saturating_sub(assigned_total).saturating_sub(uncarried_total);
        uncarried_last = next_uncarried;
        out.push(summary);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overspending_without_carryover_comes_out_of_next_months_to_be_budgeted() {
        // Groceries (no carryover) and Debt (carryover).
        let months = [
            MonthInput { income: 300_000, assigned: vec![40_000, 10_000], activity: vec![-45_000, -15_000] },
            MonthInput { income: 0, assigned: vec![40_000, 0], activity: vec![-10_000, 0] },
        ];
        let result = run(&[false, true], &months);
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
        let months = [
            MonthInput { income: 1_000, assigned: vec![600], activity: vec![-100] },
            MonthInput { income: 0, assigned: vec![0], activity: vec![-200] },
        ];
        let result = run(&[false], &months);
        assert_eq!(result[1].categories[0].available, 300);
        assert_eq!(result[1].to_be_budgeted, 400);
    }

    fn months_strategy(categories: usize) -> impl Strategy<Value = Vec<MonthInput>> {
        let amount = -1_000_000i64..1_000_000;
        let month = (
            0i64..2_000_000,
            proptest::collection::vec(amount.clone(), categories),
            proptest::collection::vec(amount, categories),
        )
            .prop_map(|(income, assigned, activity)| MonthInput { income, assigned, activity });
        proptest::collection::vec(month, 1..18)
    }

    proptest! {
        #[test]
        fn to_be_budgeted_plus_available_is_income_plus_activity(
            (carryover, months) in proptest::collection::vec(any::<bool>(), 1..8)
                .prop_flat_map(|carryover| { let n = carryover.len(); (Just(carryover), months_strategy(n)) })
        ) {
            let result = run(&carryover, &months);
            let mut income = 0i64;
            let mut activity = 0i64;
            for (month, summary) in months.iter().zip(&result) {
                income += month.income;
                activity += month.activity.iter().sum::<i64>();
                let available: i64 = summary.categories.iter().map(|c| c.available).sum();
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
            let result = run(&[false], &months);
            for pair in result.windows(2) {
                let carried = pair[0].categories[0].available.max(0);
                let next = &pair[1].categories[0];
                prop_assert_eq!(next.available, carried + next.assigned + next.activity);
            }
        }
    }
}
