//! The largest single allocation that succeeds, found by bisection, and the bound a
//! fraction of free memory is held to.

use crate::error::Result;

/// The bisection's resolution.
pub const STEP: u64 = 64 << 20;
/// How far the largest allocation may exceed the free memory reported: allocation
/// granularity and the context's own reserve move the two by a few percent.
pub const FREE_BOUND: f64 = 1.05;

/// The largest multiple of [`STEP`] up to `upper` for which `fits` holds, assuming
/// that whatever fits, all smaller sizes fit too. `fits` allocates and frees at once.
pub fn largest(upper: u64, fits: &mut dyn FnMut(u64) -> Result<bool>) -> Result<u64> {
    let (mut lo, mut hi) = (0u64, upper / STEP);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid * STEP)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo * STEP)
}

/// `largest / free` when it lies within [0, FREE_BOUND]; otherwise why not.
pub fn share_of_free(largest: u64, free: u64) -> Result<f64, String> {
    if free == 0 {
        return Err("cuMemGetInfo reported no free memory".into());
    }
    let share = largest as f64 / free as f64;
    if share > FREE_BOUND {
        return Err(format!(
            "a single allocation of {} MiB succeeded with only {} MiB reported free ({:.0} % of it): the free figure is wrong here",
            largest >> 20,
            free >> 20,
            share * 100.0
        ));
    }
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_finds_the_largest_fitting_step_in_few_tries() {
        for limit in [0u64, STEP - 1, STEP, 5 * STEP + 7, 1000 * STEP] {
            let mut tries = 0;
            let found = largest(2000 * STEP, &mut |bytes| {
                tries += 1;
                Ok(bytes <= limit)
            })
            .unwrap();
            assert_eq!(found, limit / STEP * STEP, "{limit}");
            assert!(tries <= 11, "{tries}");
        }
    }

    #[test]
    fn bisection_never_tries_above_its_upper_bound() {
        let upper = 10 * STEP + 3;
        let found = largest(upper, &mut |bytes| {
            assert!(bytes <= upper);
            Ok(true)
        })
        .unwrap();
        assert_eq!(found, 10 * STEP);
    }

    #[test]
    fn a_share_of_free_above_its_bound_is_refused_with_why() {
        assert_eq!(share_of_free(50, 100), Ok(0.5));
        assert!(share_of_free(104, 100).is_ok());
        let err = share_of_free(2 << 30, 1 << 30).unwrap_err();
        assert!(
            err.contains("2048 MiB") && err.contains("1024 MiB"),
            "{err}"
        );
        assert!(share_of_free(1, 0).is_err());
    }
}
