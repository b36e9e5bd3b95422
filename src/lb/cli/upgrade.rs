//! `distloop lb --upgrade-socket PATH`: bind the listeners, or take them
//! over from the balancer answering on PATH (see [`crate::lb::handover`]).

use std::process::ExitCode;

use super::LbArgs;
use crate::lb::handover;
use crate::lb::{Balancer, LbConfig, LbError};

/// A balancer ready to run: on the listeners of the one running at
/// `--upgrade-socket` when there is one (which then drains), else on its
/// own. `Err` carries the exit code, the reason already printed.
pub fn bind_or_take_over(args: &LbArgs, config: &LbConfig) -> Result<Balancer, ExitCode> {
    let fail = |e: &dyn std::fmt::Display, code: ExitCode| {
        eprintln!("distloop lb: {e}");
        code
    };
    let found = match &args.upgrade_socket {
        Some(path) => handover::take_over(path).map_err(|e| fail(&e, ExitCode::FAILURE))?,
        None => None,
    };
    let (takeover, inherited) = match found {
        Some((takeover, inherited)) => {
            let offer = takeover.offer;
            if let Err(e) = handover::fits(&offer, config.workers, config.admin, config.listen) {
                takeover.refuse(&e.to_string());
                return Err(fail(&e, ExitCode::from(2)));
            }
            (Some(takeover), Some(inherited))
        }
        None => (None, None),
    };
    let mut balancer = match Balancer::bind_inherited(config.clone(), inherited) {
        Ok(balancer) => balancer,
        Err(e) => {
            if let Some(takeover) = takeover {
                // The running balancer keeps serving.
                takeover.refuse(&e.to_string());
            }
            let code = match e {
                LbError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
            return Err(fail(&e, code));
        }
    };
    if let Some(takeover) = takeover {
        takeover.accept().map_err(|e| fail(&e, ExitCode::FAILURE))?;
        crate::info!("took the listeners over; the previous balancer drains");
    }
    if let Some(path) = &args.upgrade_socket {
        balancer.serve_upgrades(path.clone());
    }
    Ok(balancer)
}
