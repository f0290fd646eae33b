//! The release of one app as data, and every transition on it as a pure
//! function: the admin API, the analysis loop and the tests all go through
//! these, so the rules live in one place.
//!
//! A release has a stable version and at most one canary. A canary carries
//! a weight (0–100 % of users), optional steps that the analysis walks, the
//! thresholds it is judged by, and what to do on success or failure.

use serde::{Deserialize, Serialize};

/// What is stored (as JSON) for one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub stable: String,
    pub canary: Option<Canary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub version: String,
    /// Percent of users (by sticky key) sent to the canary.
    pub weight: u8,
    pub state: CanaryState,
    /// Weights the analysis advances through, ascending; empty = one fixed
    /// weight, guarded by analysis but never promoted automatically.
    pub steps: Vec<u8>,
    /// Index into `steps` of the current step (0 when there are none).
    pub step: usize,
    /// When the current step (or weight) began, in ms since the epoch:
    /// analysis only judges traffic from after it.
    pub step_started_ms: i64,
    pub analysis: Thresholds,
    pub on_success: SuccessAction,
    pub on_failure: FailureAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryState {
    /// Analysis runs and acts.
    Progressing,
    /// Analysis stops judging and nothing moves until `resume`.
    Paused,
}

/// Analysis thresholds. Rates and ratios are not money, so they are plain
/// floats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Seconds of traffic per judgement (and at least this long per step).
    pub interval_s: u32,
    /// Highest tolerated share of 5xx answers (traps and timeouts included), 0–1.
    pub max_error_rate: f64,
    /// Highest tolerated canary p95 latency as a multiple of stable's.
    pub max_p95_ratio: f64,
    /// Fewer canary requests than this in an interval: no verdict, wait.
    pub min_requests: u64,
    /// p95 latencies below this many ms count as this much, so that
    /// sub-millisecond jitter is not read as a regression.
    pub latency_floor_ms: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { interval_s: 30, max_error_rate: 0.01, max_p95_ratio: 1.5, min_requests: 50, latency_floor_ms: 5 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuccessAction {
    /// Make the canary the stable version after its last step.
    #[default]
    Promote,
    /// Stay at the last step until an operator promotes.
    Pause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Send every user back to stable.
    #[default]
    Rollback,
    /// Stop the canary where it is, for an operator to look at.
    Pause,
}

/// The body of "start a canary".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    pub version: String,
    #[serde(default)]
    pub weight: Option<u8>,
    #[serde(default)]
    pub steps: Vec<u8>,
    #[serde(default)]
    pub analysis: Thresholds,
    #[serde(default)]
    pub on_success: SuccessAction,
    #[serde(default)]
    pub on_failure: FailureAction,
    /// Why, for the history.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An operator's or the analysis's request to change a release.
#[derive(Debug, Clone)]
pub enum Action {
    Start(CanaryRequest),
    SetWeight(u8),
    Pause,
    Resume,
    Promote,
    Abort,
    /// Analysis passed the current step.
    Advance,
    /// Analysis found a breach.
    Breach,
}

/// Why a transition was refused; each maps to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
}

/// One recorded transition, before it gets its generation and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// `canary_start`, `weight`, `pause`, `resume`, `promote`, `abort`,
    /// `step`, `rollback` or `auto_promote`.
    pub action: &'static str,
    pub from_version: String,
    pub to_version: String,
    pub weight: u8,
}

fn no_canary(app_release: &Release) -> TransitionError {
    TransitionError::Conflict(format!("no canary is running (stable is {})", app_release.stable))
}

fn validate(request: &CanaryRequest, stable: &str) -> Result<(), TransitionError> {
    let invalid = |m: String| Err(TransitionError::Invalid(m));
    if request.version == stable {
        return invalid(format!("{} is already the stable version", request.version));
    }
    if let Some(weight) = request.weight
        && weight > 100
    {
        return invalid(format!("weight {weight} is above 100"));
    }
    if request.steps.iter().any(|&s| s > 100) || request.steps.windows(2).any(|w| w[0] >= w[1]) {
        return invalid("steps must be strictly ascending weights of at most 100".into());
    }
    if request.weight.is_some() && !request.steps.is_empty() {
        return invalid("give either a weight or steps, not both".into());
    }
    let a = &request.analysis;
    if a.interval_s == 0 || a.interval_s > 3_600 {
        return invalid("analysis.interval_s must be between 1 and 3600".into());
    }
    if !(0.0..=1.0).contains(&a.max_error_rate) {
        return invalid("analysis.max_error_rate must be between 0 and 1".into());
    }
    if !a.max_p95_ratio.is_finite() || a.max_p95_ratio < 1.0 {
        return invalid("analysis.max_p95_ratio must be at least 1".into());
    }
    Ok(())
}

impl Release {
    /// What an app serves before any release was recorded: its apps.toml version.
    pub fn initial(stable: &str) -> Self {
        Self { stable: stable.to_string(), canary: None }
    }

    /// The versions a pod must have loaded to serve this release.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.stable.as_str()).chain(self.canary.as_ref().map(|c| c.version.as_str()))
    }

    /// Applies `action` at `now_ms`, returning the new release and what to
    /// record. `self` is untouched when the action is refused.
    pub fn apply(&self, action: Action, now_ms: i64) -> Result<(Release, Transition), TransitionError> {
        let mut next = self.clone();
        let record = |action: &'static str, from: &str, to: &str, weight: u8| Transition {
            action,
            from_version: from.to_string(),
            to_version: to.to_string(),
            weight,
        };
        let transition = match action {
            Action::Start(request) => {
                if let Some(canary) = &self.canary {
                    return Err(TransitionError::Conflict(format!(
                        "canary {} is already running; promote or abort it first",
                        canary.version
                    )));
                }
                validate(&request, &self.stable)?;
                let weight = request.steps.first().copied().or(request.weight).unwrap_or(0);
                next.canary = Some(Canary {
                    version: request.version.clone(),
                    weight,
                    state: CanaryState::Progressing,
                    steps: request.steps,
                    step: 0,
                    step_started_ms: now_ms,
                    analysis: request.analysis,
                    on_success: request.on_success,
                    on_failure: request.on_failure,
                });
                record("canary_start", &self.stable, &request.version, weight)
            }
            Action::SetWeight(weight) => {
                if weight > 100 {
                    return Err(TransitionError::Invalid(format!("weight {weight} is above 100")));
                }
                let canary = next.canary.as_mut().ok_or_else(|| no_canary(self))?;
                canary.weight = weight;
                canary.step_started_ms = now_ms;
                record("weight", &self.stable, &canary.version, weight)
            }
            Action::Pause | Action::Resume => {
                let pause = matches!(action, Action::Pause);
                let canary = next.canary.as_mut().ok_or_else(|| no_canary(self))?;
                let (from, to, name) = if pause {
                    (CanaryState::Progressing, CanaryState::Paused, "pause")
                } else {
                    (CanaryState::Paused, CanaryState::Progressing, "resume")
                };
                if canary.state != from {
                    return Err(TransitionError::Conflict(format!("the canary is not {}", state_name(from))));
                }
                canary.state = to;
                if !pause {
                    // Judge only traffic from after the pause.
                    canary.step_started_ms = now_ms;
                }
                record(name, &self.stable, &canary.version, canary.weight)
            }
            Action::Promote => {
                let canary = next.canary.take().ok_or_else(|| no_canary(self))?;
                next.stable = canary.version.clone();
                record("promote", &self.stable, &canary.version, 100)
            }
            Action::Abort => {
                let canary = next.canary.take().ok_or_else(|| no_canary(self))?;
                record("abort", &canary.version, &self.stable, 0)
            }
            Action::Advance => {
                let canary = next.canary.as_mut().ok_or_else(|| no_canary(self))?;
                if canary.state != CanaryState::Progressing {
                    return Err(TransitionError::Conflict("the canary is paused".into()));
                }
                // The next step above the current weight: after a weight set by
                // hand, a step never lowers it (users only move onto the canary).
                let current = canary.weight;
                let next_step = canary.steps.iter().enumerate().skip(canary.step + 1).find(|(_, w)| **w > current);
                match next_step.map(|(index, weight)| (index, *weight)) {
                    Some((index, weight)) => {
                        canary.step = index;
                        canary.weight = weight;
                        canary.step_started_ms = now_ms;
                        record("step", &self.stable, &canary.version, weight)
                    }
                    None if canary.steps.is_empty() => {
                        return Err(TransitionError::Conflict("a canary without steps is promoted by hand".into()));
                    }
                    None => match canary.on_success {
                        SuccessAction::Promote => {
                            let version = canary.version.clone();
                            next.canary = None;
                            next.stable = version.clone();
                            record("auto_promote", &self.stable, &version, 100)
                        }
                        SuccessAction::Pause => {
                            canary.state = CanaryState::Paused;
                            record("pause", &self.stable, &canary.version, canary.weight)
                        }
                    },
                }
            }
            Action::Breach => {
                let canary = next.canary.as_mut().ok_or_else(|| no_canary(self))?;
                match canary.on_failure {
                    FailureAction::Rollback => {
                        let version = canary.version.clone();
                        next.canary = None;
                        record("rollback", &version, &self.stable, 0)
                    }
                    FailureAction::Pause => {
                        canary.state = CanaryState::Paused;
                        record("pause", &self.stable, &canary.version, canary.weight)
                    }
                }
            }
        };
        Ok((next, transition))
    }
}

pub fn state_name(state: CanaryState) -> &'static str {
    match state {
        CanaryState::Progressing => "progressing",
        CanaryState::Paused => "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(steps: Vec<u8>, weight: Option<u8>) -> Action {
        Action::Start(CanaryRequest {
            version: "2.0.0".into(),
            weight,
            steps,
            analysis: Thresholds::default(),
            on_success: SuccessAction::Promote,
            on_failure: FailureAction::Rollback,
            reason: None,
        })
    }

    #[test]
    fn steps_walk_to_promotion() {
        let release = Release::initial("1.0.0");
        let (release, t) = release.apply(start(vec![5, 25, 100], None), 10).expect("start");
        assert_eq!((t.action, t.weight), ("canary_start", 5));
        let (release, t) = release.apply(Action::Advance, 20).expect("step");
        assert_eq!((t.action, t.weight), ("step", 25));
        assert_eq!(release.canary.as_ref().map(|c| c.step_started_ms), Some(20));
        let (release, _) = release.apply(Action::Advance, 30).expect("step");
        let (release, t) = release.apply(Action::Advance, 40).expect("promote");
        assert_eq!(t.action, "auto_promote");
        assert_eq!(release, Release::initial("2.0.0"));
    }

    #[test]
    fn breach_rolls_back_or_pauses() {
        let (running, _) = Release::initial("1.0.0").apply(start(vec![], Some(20)), 0).expect("start");
        let (rolled, t) = running.apply(Action::Breach, 1).expect("breach");
        assert_eq!(rolled, Release::initial("1.0.0"));
        assert_eq!((t.action, t.from_version.as_str(), t.to_version.as_str()), ("rollback", "2.0.0", "1.0.0"));

        let mut pausing = running.clone();
        if let Some(c) = pausing.canary.as_mut() {
            c.on_failure = FailureAction::Pause;
        }
        let (paused, _) = pausing.apply(Action::Breach, 1).expect("breach");
        assert_eq!(paused.canary.map(|c| c.state), Some(CanaryState::Paused));
    }

    #[test]
    fn refusals_leave_the_release_alone() {
        let stable = Release::initial("1.0.0");
        assert!(matches!(stable.apply(Action::Promote, 0), Err(TransitionError::Conflict(_))));
        assert!(matches!(stable.apply(Action::SetWeight(10), 0), Err(TransitionError::Conflict(_))));
        assert!(matches!(stable.apply(start(vec![50, 20], None), 0), Err(TransitionError::Invalid(_))));
        assert!(matches!(stable.apply(start(vec![], Some(101)), 0), Err(TransitionError::Invalid(_))));
        assert!(matches!(stable.apply(start(vec![10], Some(10)), 0), Err(TransitionError::Invalid(_))));
        let (running, _) = stable.apply(start(vec![], Some(10)), 0).expect("start");
        assert!(matches!(running.apply(start(vec![], Some(10)), 0), Err(TransitionError::Conflict(_))));
        assert!(matches!(running.apply(Action::SetWeight(101), 0), Err(TransitionError::Invalid(_))));
        assert!(matches!(running.apply(Action::Resume, 0), Err(TransitionError::Conflict(_))));
        // Without steps, passing analysis never promotes on its own.
        assert!(matches!(running.apply(Action::Advance, 0), Err(TransitionError::Conflict(_))));
        let mut same = CanaryRequest {
            version: "1.0.0".into(),
            weight: None,
            steps: vec![],
            analysis: Thresholds::default(),
            on_success: SuccessAction::Promote,
            on_failure: FailureAction::Rollback,
            reason: None,
        };
        assert!(matches!(stable.apply(Action::Start(same.clone()), 0), Err(TransitionError::Invalid(_))));
        same.version = "2.0.0".into();
        same.analysis.max_p95_ratio = 0.5;
        assert!(matches!(stable.apply(Action::Start(same), 0), Err(TransitionError::Invalid(_))));
    }

    #[test]
    fn a_step_never_lowers_a_weight_set_by_hand() {
        let (running, _) = Release::initial("1.0.0").apply(start(vec![5, 25, 50], None), 0).expect("start");
        let (raised, _) = running.apply(Action::SetWeight(30), 1).expect("weight");
        let (stepped, t) = raised.apply(Action::Advance, 2).expect("step");
        assert_eq!((t.action, t.weight), ("step", 50));
        assert_eq!(stepped.canary.as_ref().map(|c| c.step), Some(2));
        let (promoted, t) = stepped.apply(Action::Advance, 3).expect("promote");
        assert_eq!(t.action, "auto_promote");
        assert_eq!(promoted.stable, "2.0.0");
    }

    #[test]
    fn pause_and_resume() {
        let (running, _) = Release::initial("1.0.0").apply(start(vec![10, 50], None), 0).expect("start");
        let (paused, _) = running.apply(Action::Pause, 5).expect("pause");
        assert!(matches!(paused.apply(Action::Advance, 6), Err(TransitionError::Conflict(_))));
        let (resumed, _) = paused.apply(Action::Resume, 7).expect("resume");
        assert_eq!(resumed.canary.map(|c| (c.state, c.step_started_ms)), Some((CanaryState::Progressing, 7)));
    }
}
