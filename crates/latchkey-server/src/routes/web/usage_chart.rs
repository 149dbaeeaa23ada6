//! The usage chart of a credential's page: token grants, API calls and refusals (stacked
//! by reason) over the last 30 days, drawn on the server as SVG bars — one per hour for
//! wide screens, one per day for phones (the stylesheet shows one of the two).

use chrono::{DateTime, Utc};

use crate::usage_history::{HISTORY_DAYS, RefusalReason, UsageHour};

/// The drawing's height in SVG units; its width is one unit per bar.
const HEIGHT: f64 = 100.0;

/// One stacked segment of one bar.
pub(super) struct Bar {
    pub(super) x: usize,
    pub(super) y: String,
    pub(super) height: String,
    /// The series' class, which colours it.
    pub(super) class: &'static str,
}

pub(super) struct Chart {
    /// `hourly` or `daily`: which the stylesheet shows at which width.
    pub(super) kind: &'static str,
    /// "hour" or "day", for the description.
    pub(super) per: &'static str,
    /// Bars in the view box's width (`0 0 {width} 100`).
    pub(super) width: usize,
    pub(super) bars: Vec<Bar>,
    /// The tallest bar's total, for the axis.
    pub(super) max: i64,
}

pub(super) struct LegendItem {
    pub(super) label: &'static str,
    pub(super) class: &'static str,
    pub(super) total: i64,
}

pub(super) struct UsageChart {
    /// Per hour, then per day.
    pub(super) charts: [Chart; 2],
    pub(super) legend: Vec<LegendItem>,
    /// "Last 30 days: 12 token grants, 340 API calls, 3 refused".
    pub(super) summary: String,
    pub(super) empty: bool,
    pub(super) start: String,
}

/// The series from the bottom of a bar up, with their classes.
fn series(usage: &UsageHour) -> [(i64, &'static str); 7] {
    [
        (usage.grants, "series-grant"),
        (usage.calls, "series-call"),
        (usage.refused_for(RefusalReason::Expired), "series-expired"),
        (
            usage.refused_for(RefusalReason::Disabled),
            "series-disabled",
        ),
        (
            usage.refused_for(RefusalReason::AddressNotAllowed),
            "series-address",
        ),
        (usage.refused_for(RefusalReason::RateLimited), "series-rate"),
        (
            usage.refused_for(RefusalReason::MissingPermission),
            "series-permission",
        ),
    ]
}

const LABELS: [&str; 7] = [
    "Token grants",
    "API calls",
    "Refused: expired",
    "Refused: disabled",
    "Refused: address not allowed",
    "Refused: rate limited",
    "Refused: missing permission",
];

/// Sums `history` into `buckets` buckets of `bucket_hours` from `start`, and draws them.
fn chart(
    history: &[(DateTime<Utc>, UsageHour)],
    start: DateTime<Utc>,
    buckets: usize,
    bucket_hours: i64,
) -> Chart {
    let (kind, per) = if bucket_hours == 1 {
        ("hourly", "hour")
    } else {
        ("daily", "day")
    };
    let mut sums = vec![[0_i64; 7]; buckets];
    for (hour, usage) in history {
        let index = (*hour - start).num_hours() / bucket_hours;
        let Some(sum) = usize::try_from(index).ok().and_then(|i| sums.get_mut(i)) else {
            continue;
        };
        for (slot, (count, _)) in sum.iter_mut().zip(series(usage)) {
            *slot += count;
        }
    }
    let max = sums
        .iter()
        .map(|s| s.iter().sum::<i64>())
        .max()
        .unwrap_or(0);
    let classes = series(&UsageHour::default()).map(|(_, class)| class);
    let mut bars = Vec::new();
    for (x, sum) in sums.iter().enumerate() {
        let mut top = HEIGHT;
        for (count, class) in sum.iter().zip(classes) {
            if *count == 0 || max == 0 {
                continue;
            }
            #[expect(
                clippy::cast_precision_loss,
                reason = "a count beyond 2^52 in one bar is drawn a hair off"
            )]
            let height = *count as f64 / max as f64 * HEIGHT;
            top -= height;
            bars.push(Bar {
                x,
                y: format!("{top:.2}"),
                height: format!("{height:.2}"),
                class,
            });
        }
    }
    Chart {
        kind,
        per,
        width: buckets,
        bars,
        max,
    }
}

pub(super) fn usage_chart(
    history: &[(DateTime<Utc>, UsageHour)],
    start: DateTime<Utc>,
) -> UsageChart {
    let days = usize::try_from(HISTORY_DAYS).unwrap_or(30);
    let mut totals = [0_i64; 7];
    for (_, usage) in history {
        for (total, (count, _)) in totals.iter_mut().zip(series(usage)) {
            *total += count;
        }
    }
    let refused: i64 = totals[2..].iter().sum();
    let classes = series(&UsageHour::default()).map(|(_, class)| class);
    UsageChart {
        charts: [
            chart(history, start, days * 24, 1),
            chart(history, start, days, 24),
        ],
        legend: LABELS
            .iter()
            .zip(classes)
            .zip(totals)
            .map(|((label, class), total)| LegendItem {
                label,
                class,
                total,
            })
            .collect(),
        summary: format!(
            "Last {HISTORY_DAYS} days: {} token grants, {} API calls, {refused} refused",
            totals[0], totals[1]
        ),
        empty: totals.iter().all(|t| *t == 0),
        start: start.format("%Y-%m-%d").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn bars_stack_to_the_tallest_hour_and_days_sum_their_hours() {
        let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let busy = UsageHour {
            grants: 1,
            calls: 3,
            refused: [0, 0, 0, 4, 0],
        };
        let quiet = UsageHour {
            grants: 0,
            calls: 2,
            refused: [0; 5],
        };
        let history = [
            (start + Duration::hours(2), busy),
            (start + Duration::hours(3), quiet),
        ];
        let chart = usage_chart(&history, start);
        assert_eq!(chart.charts[0].max, 8);
        let third: Vec<(&str, &str)> = chart.charts[0]
            .bars
            .iter()
            .filter(|b| b.x == 2)
            .map(|b| (b.class, b.height.as_str()))
            .collect();
        assert_eq!(
            third,
            [
                ("series-grant", "12.50"),
                ("series-call", "37.50"),
                ("series-rate", "50.00")
            ]
        );
        assert_eq!(chart.charts[1].max, 10, "the first day sums both hours");
        assert_eq!(chart.legend[5].total, 4);
        assert!(
            chart
                .summary
                .contains("1 token grants, 5 API calls, 4 refused")
        );
        assert!(!chart.empty);
    }
}
