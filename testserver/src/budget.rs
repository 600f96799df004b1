//! PodDisruptionBudget arithmetic of the disruption controller
//! (`pkg/controller/disruption/disruption.go`: `getExpectedPodCount`, `updatePdbStatus`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The status numbers the disruption controller writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub expected: i32,
    pub desired: i32,
    pub healthy: i32,
    pub allowed: i32,
}

/// `intstr.GetScaledValueFromIntOrPercent(v, total, roundUp=true)`.
pub(crate) fn scaled_value(v: &IntOrString, total: i32) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct = s
                .strip_suffix('%')
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"))?;
            // Round up, like the controller does for both minAvailable and maxUnavailable.
            let num = pct * i64::from(total);
            let v = if num >= 0 {
                (num + 99) / 100
            } else {
                num / 100
            };
            i32::try_from(v).map_err(|e| e.to_string())
        }
    }
}

/// Computes the budget like `getExpectedPodCount` + `updatePdbStatus`: `matched` pods are
/// selected (terminating included), `scale` is the sum of their controllers' scale (the
/// simulation's stand-in, see README), `healthy` are Ready and not terminating.
/// With maxUnavailable or a percentage minAvailable the expected count is the scale; with an
/// integer minAvailable it is the number of matched pods.
pub(crate) fn compute(
    min_available: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    matched: i32,
    scale: i32,
    healthy: i32,
) -> Result<Budget, String> {
    let (expected, desired) = if let Some(mu) = max_unavailable {
        (scale, (scale - scaled_value(mu, scale)?).max(0))
    } else if let Some(ma) = min_available {
        match ma {
            IntOrString::Int(i) => (matched, *i),
            IntOrString::String(_) => (scale, scaled_value(ma, scale)?),
        }
    } else {
        (matched, 0)
    };
    Ok(Budget {
        expected,
        desired,
        healthy,
        allowed: (healthy - desired).max(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.to_string())
    }

    #[test]
    fn budget_table() {
        use IntOrString::Int;
        // (minAvailable, maxUnavailable, matched, healthy) -> (desired, allowed)
        type Case = (Option<IntOrString>, Option<IntOrString>, i32, i32, i32, i32);
        let cases: Vec<Case> = vec![
            (Some(Int(2)), None, 3, 3, 2, 1),
            (Some(Int(2)), None, 3, 2, 2, 0),
            (Some(Int(5)), None, 3, 3, 5, 0),
            (Some(s("50%")), None, 3, 3, 2, 1), // 1.5 rounds up to 2
            (Some(s("50%")), None, 4, 4, 2, 2),
            (Some(s("100%")), None, 3, 3, 3, 0),
            (Some(s("0%")), None, 3, 3, 0, 3),
            (None, Some(Int(1)), 3, 3, 2, 1),
            (None, Some(Int(1)), 3, 2, 2, 0),
            (None, Some(Int(0)), 3, 3, 3, 0),
            (None, Some(Int(5)), 3, 3, 0, 3),
            (None, Some(s("50%")), 3, 3, 1, 2), // maxUnavailable 1.5 rounds up to 2
            (None, Some(s("34%")), 3, 3, 1, 2), // 1.02 -> 2
            (None, Some(s("33%")), 3, 3, 2, 1), // 0.99 -> 1
            (None, Some(s("10%")), 10, 9, 9, 0),
            (None, None, 3, 3, 0, 3),
        ];
        for (ma, mu, matched, healthy, desired, allowed) in cases {
            let b = compute(ma.as_ref(), mu.as_ref(), matched, matched, healthy).unwrap();
            assert_eq!(
                (b.desired, b.allowed, b.expected, b.healthy),
                (desired, allowed, matched, healthy),
                "minAvailable={ma:?} maxUnavailable={mu:?} matched={matched} healthy={healthy}"
            );
        }
    }

    #[test]
    fn invalid_percentage_is_an_error() {
        assert!(compute(Some(&s("3")), None, 3, 3, 3).is_err());
        assert!(compute(None, Some(&s("x%")), 3, 3, 3).is_err());
    }

    #[test]
    fn scale_drives_expected_for_max_unavailable_and_percentages() {
        // 2 pods left of a scale-3 controller: maxUnavailable 1 leaves no budget.
        let b = compute(None, Some(&IntOrString::Int(1)), 2, 3, 2).unwrap();
        assert_eq!((b.expected, b.desired, b.allowed), (3, 2, 0));
        let b = compute(Some(&s("50%")), None, 2, 4, 2).unwrap();
        assert_eq!((b.expected, b.desired, b.allowed), (4, 2, 0));
        // An integer minAvailable counts the matched pods.
        let b = compute(Some(&IntOrString::Int(1)), None, 2, 3, 2).unwrap();
        assert_eq!((b.expected, b.desired, b.allowed), (2, 1, 1));
    }
}
