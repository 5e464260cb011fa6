// SPDX-License-Identifier: MIT
// Say whether a port can be created (on $CPORT_BACKEND, or the default) and on what.

//! Exit 0 and print the backend (and why others were refused), or exit 1 and print
//! why cport_create failed. bindings/rust/test.sh uses it to skip a backend that
//! this machine cannot run (io_uring under seccomp, for instance).

use std::process::ExitCode;

fn main() -> ExitCode {
    match cport::Port::new() {
        Ok(port) => {
            let reason = port.backend_reason();
            if reason.is_empty() {
                println!("{}", port.backend_name());
            } else {
                println!("{} (refused before it: {reason})", port.backend_name());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}
