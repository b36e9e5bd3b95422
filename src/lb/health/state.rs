//! The rise/fall state machine of one backend's health, as HAProxy counts it.
//!
//! Sans-IO: fed one check result at a time. A backend starts up (as HAProxy
//! starts its servers), so a freshly started balancer serves at once; it goes
//! down after `fall` consecutive failed checks and comes back after `rise`
//! consecutive passed ones. A result that agrees with the current state resets
//! the count towards the other state.

/// A change of a backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It passed `rise` checks in a row while down.
    Rose,
    /// It failed `fall` checks in a row while up.
    Fell,
}

/// One backend's health and the run of results pointing the other way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    up: bool,
    /// Consecutive results that disagree with `up`.
    streak: u32,
    rise: u32,
    fall: u32,
}

impl CheckState {
    /// A backend that is up and needs `fall` failures to go down and then
    /// `rise` passes to come back. Zero counts are taken as one.
    pub fn new(rise: u32, fall: u32) -> Self {
        Self {
            up: true,
            streak: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// True while the backend counts as healthy.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Keeps the health and the current run but counts it against new
    /// thresholds from now on (a reload may change them).
    pub fn set_thresholds(&mut self, rise: u32, fall: u32) {
        self.rise = rise.max(1);
        self.fall = fall.max(1);
    }

    /// Records one check result and says whether the health changed.
    pub fn record(&mut self, passed: bool) -> Option<Transition> {
        if passed == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = passed;
        self.streak = 0;
        Some(if passed {
            Transition::Rose
        } else {
            Transition::Fell
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_starts_up() {
        assert!(CheckState::new(2, 3).is_up());
    }

    #[test]
    fn it_falls_after_fall_consecutive_failures() {
        let mut state = CheckState::new(2, 3);
        assert_eq!(state.record(false), None);
        assert_eq!(state.record(false), None);
        assert!(state.is_up());
        assert_eq!(state.record(false), Some(Transition::Fell));
        assert!(!state.is_up());
        assert_eq!(state.record(false), None, "no second transition");
    }

    #[test]
    fn it_rises_after_rise_consecutive_passes() {
        let mut state = CheckState::new(2, 1);
        assert_eq!(state.record(false), Some(Transition::Fell));
        assert_eq!(state.record(true), None);
        assert_eq!(state.record(true), Some(Transition::Rose));
        assert!(state.is_up());
        assert_eq!(state.record(true), None);
    }

    #[test]
    fn an_interrupted_run_starts_counting_again() {
        let mut state = CheckState::new(2, 3);
        state.record(false);
        state.record(false);
        state.record(true);
        assert_eq!(state.record(false), None);
        assert_eq!(state.record(false), None);
        assert_eq!(state.record(false), Some(Transition::Fell));
        state.record(true);
        state.record(false);
        assert_eq!(state.record(true), None, "the pass run was broken");
        assert_eq!(state.record(true), Some(Transition::Rose));
    }

    #[test]
    fn new_thresholds_apply_to_the_run_under_way() {
        let mut state = CheckState::new(2, 3);
        assert_eq!(state.record(false), None);
        state.set_thresholds(2, 2);
        assert_eq!(state.record(false), Some(Transition::Fell));
        state.set_thresholds(0, 0);
        assert_eq!(state.record(true), Some(Transition::Rose));
    }

    #[test]
    fn zero_counts_act_as_one() {
        let mut state = CheckState::new(0, 0);
        assert_eq!(state.record(false), Some(Transition::Fell));
        assert_eq!(state.record(true), Some(Transition::Rose));
    }
}
