//! Ratios, their judgement against the targets, and the CPU ceilings: the most requests per second
//! this machine's cores allow when every CPU consumer of a request is counted (the server,
//! PostgreSQL and the load generator share the cores).

use std::fmt;

/// A ratio as the report shows it, to two places. The judgement is made on this rounded value,
/// so a row never reads "0.60 … MISS" against a goal of 0.60.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `a / b` to two places; `None` when either is unknown or `b` is not positive.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(round2(a / b)),
        _ => None,
    }
}

/// The most requests per second `cores` allow when one request costs the sum of `parts` (CPU
/// milliseconds per request, each on one core), to 0.1; `None` when a part is unknown or the sum
/// is not positive.
pub fn cores_allow(cores: usize, parts: &[Option<f64>]) -> Option<f64> {
    let total: f64 = parts.iter().copied().sum::<Option<f64>>()?;
    (total > 0.0).then(|| ((cores as f64 * 1000.0 / total) * 10.0).round() / 10.0)
}

/// One operation's CPU milliseconds when `cores` run `rate` of them per second, to 0.0001 (one
/// RS256 signature's cost from the raw signing rate on all cores).
pub fn cpu_ms_per_op(cores: usize, rate: Option<f64>) -> Option<f64> {
    rate.filter(|r| *r > 0.0).map(|r| ((cores as f64 * 1000.0 / r) * 10_000.0).round() / 10_000.0)
}

/// What jwtd spends on one database round trip (the hand-off to a blocking thread, the pool, the
/// driver): its CPU per `/readyz` (`/healthz` plus one `SELECT 1`) minus per `/healthz`, at the
/// same rate; never negative.
pub fn round_trip_ms(readyz: Option<f64>, healthz: Option<f64>) -> Option<f64> {
    Some(((readyz? - healthz?).max(0.0) * 10_000.0).round() / 10_000.0)
}

/// A target's goal: the ratio at least, or at most, the value; the second field is the places it
/// is shown with, as the README writes it (2.0, 0.75, 0.60, 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    AtLeast(f64, usize),
    AtMost(f64, usize),
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::AtLeast(goal, places) => write!(f, ">= {goal:.places$}"),
            Goal::AtMost(goal, places) => write!(f, "<= {goal:.places$}"),
        }
    }
}

/// A target's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Missed, and this machine's ceiling for the ratio (computed from the run's CPU times) is
    /// under the goal: it cannot be met here.
    OutOfReach {
        ceiling: f64,
    },
    /// The ratio is unknown.
    NotApplicable,
}

/// The judgement of `ratio` against `goal`; a miss of an "at least" goal whose `ceiling` is
/// under the goal is out of reach on this machine.
pub fn verdict(ratio: Option<f64>, goal: Goal, ceiling: Option<f64>) -> Verdict {
    let Some(ratio) = ratio else { return Verdict::NotApplicable };
    match goal {
        Goal::AtLeast(goal, _) if ratio >= goal => Verdict::Pass,
        Goal::AtMost(goal, _) if ratio <= goal => Verdict::Pass,
        Goal::AtLeast(goal, _) => match ceiling {
            Some(ceiling) if ceiling < goal => Verdict::OutOfReach { ceiling },
            _ => Verdict::Miss,
        },
        Goal::AtMost(..) => Verdict::Miss,
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("PASS"),
            Verdict::Miss => f.write_str("MISS"),
            Verdict::OutOfReach { ceiling } => {
                write!(f, "MISS, out of reach here (ceiling {ceiling:.2}, below)")
            }
            Verdict::NotApplicable => f.write_str("n/a"),
        }
    }
}

/// `client_credentials` against oidc-provider: every token costs at least one RS256 signature,
/// and every request the load generator's own CPU on the same cores, so no server here issues more
/// than cores / (one signature's CPU + the load generator's CPU per request).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenCeiling {
    /// One signature's CPU, from the raw signing rate on all cores.
    pub signature_ms: Option<f64>,
    pub client_ms: Option<f64>,
    /// Tokens per second.
    pub most: Option<f64>,
    /// `most` over oidc-provider's rate: the most the ratio can be here.
    pub ratio: Option<f64>,
}

pub fn token_ceiling(
    cores: usize,
    sign_rate: Option<f64>,
    client_ms: Option<f64>,
    peer_rps: Option<f64>,
) -> TokenCeiling {
    let signature_ms = cpu_ms_per_op(cores, sign_rate);
    let most = cores_allow(cores, &[signature_ms, client_ms]);
    TokenCeiling { signature_ms, client_ms, most, ratio: ratio(most, peer_rps) }
}

/// Refresh rotations: one costs at least what a `client_credentials` token costs jwtd (HTTP,
/// signing), one database round trip in jwtd, PostgreSQL's CPU for the statements and the load
/// generator's CPU per rotation, all on the same cores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotationCeiling {
    /// jwtd per token, jwtd per round trip, PostgreSQL per rotation, load generator per rotation.
    pub parts: [Option<f64>; 4],
    /// Rotations per second.
    pub most: Option<f64>,
    /// `most` over the `client_credentials` rate beside the rotations.
    pub ratio: Option<f64>,
}

pub fn rotation_ceiling(cores: usize, parts: [Option<f64>; 4], token_rps: Option<f64>) -> RotationCeiling {
    let most = cores_allow(cores, &parts);
    RotationCeiling { parts, most, ratio: ratio(most, token_rps) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_rounded_to_two_places_and_unknown_without_a_positive_divisor() {
        assert_eq!(ratio(Some(4971.2), Some(2227.5)), Some(2.23));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }

    #[test]
    fn the_cores_allow_their_count_in_seconds_over_the_summed_cost() {
        // 2 cores, 0.3350 + 0.0728 + 0.3782 + 0.0325 ms per rotation (RESULTS.md's run).
        assert_eq!(cores_allow(2, &[Some(0.335), Some(0.0728), Some(0.3782), Some(0.0325)]), Some(2443.5));
        assert_eq!(cores_allow(1, &[Some(0.5), Some(0.5)]), Some(1000.0));
        assert_eq!(cores_allow(2, &[Some(0.5), None]), None);
        assert_eq!(cores_allow(2, &[Some(0.0)]), None);
    }

    #[test]
    fn the_token_ceiling_is_one_signature_plus_the_load_generators_share() {
        let ceiling = token_ceiling(2, Some(6908.6), Some(0.0302), Some(2227.5));
        assert_eq!(ceiling.signature_ms, Some(0.2895));
        assert_eq!(ceiling.most, Some(6255.9));
        assert_eq!(ceiling.ratio, Some(2.81));
        assert_eq!(token_ceiling(2, None, Some(0.03), Some(1.0)).most, None);
    }

    #[test]
    fn the_rotation_ceiling_counts_every_consumer_of_the_cores() {
        let trip = round_trip_ms(Some(0.1123), Some(0.0395));
        assert_eq!(trip, Some(0.0728));
        let ceiling = rotation_ceiling(2, [Some(0.335), trip, Some(0.3782), Some(0.0325)], Some(5454.8));
        assert_eq!(ceiling.most, Some(2443.5));
        assert_eq!(ceiling.ratio, Some(0.45));
        assert_eq!(round_trip_ms(Some(0.01), Some(0.02)), Some(0.0));
        assert_eq!(rotation_ceiling(2, [Some(0.3), None, Some(0.3), Some(0.03)], Some(1.0)).most, None);
    }

    #[test]
    fn a_target_passes_on_its_side_of_the_goal_inclusive() {
        assert_eq!(verdict(Some(2.0), Goal::AtLeast(2.0, 1), None), Verdict::Pass);
        assert_eq!(verdict(Some(1.99), Goal::AtLeast(2.0, 1), None), Verdict::Miss);
        assert_eq!(verdict(Some(3.0), Goal::AtMost(3.0, 1), None), Verdict::Pass);
        assert_eq!(verdict(Some(3.67), Goal::AtMost(3.0, 1), Some(1.0)), Verdict::Miss);
        assert_eq!(verdict(None, Goal::AtLeast(1.0, 1), None), Verdict::NotApplicable);
    }

    #[test]
    fn a_miss_under_a_ceiling_below_the_goal_is_out_of_reach() {
        let out = verdict(Some(0.39), Goal::AtLeast(0.6, 2), Some(0.45));
        assert_eq!(out, Verdict::OutOfReach { ceiling: 0.45 });
        assert_eq!(out.to_string(), "MISS, out of reach here (ceiling 0.45, below)");
        // A ceiling at or above the goal: an ordinary miss.
        assert_eq!(verdict(Some(0.39), Goal::AtLeast(0.6, 2), Some(0.6)), Verdict::Miss);
        assert_eq!(verdict(Some(0.7), Goal::AtLeast(0.6, 2), Some(0.45)), Verdict::Pass);
    }

    #[test]
    fn goals_read_as_the_readme_writes_them() {
        let shown: Vec<String> =
            [Goal::AtLeast(2.0, 1), Goal::AtLeast(0.75, 2), Goal::AtLeast(0.6, 2), Goal::AtMost(0.5, 1)]
                .iter()
                .map(Goal::to_string)
                .collect();
        assert_eq!(shown, [">= 2.0", ">= 0.75", ">= 0.60", "<= 0.5"]);
    }
}
