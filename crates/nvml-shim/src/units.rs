//! S-class units (the external enclosures of old Tesla S-series systems):
//! the simulated machine has none, so the count is 0 and every unit handle
//! is invalid (the generated fallbacks answer `INVALID_ARGUMENT`).

use crate::call_log::call;
use crate::errors::{out, Return};
use crate::machine;
use std::ffi::c_uint;

/// `nvmlUnitGetCount`: 0, no S-class units.
#[no_mangle]
pub unsafe extern "C" fn nvmlUnitGetCount(unit_count: *mut c_uint) -> Return {
    call(
        "nvmlUnitGetCount",
        || log_args!(),
        || {
            machine::sim()?;
            *unsafe { out(unit_count) }? = 0;
            Ok(())
        },
    )
}

/// `nvmlUnitGetHandleByIndex`: every index is at or past the unit count (0),
/// which nvml.h answers with `INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn nvmlUnitGetHandleByIndex(
    _index: c_uint,
    unit: *mut nvml_wrapper_sys::bindings::nvmlUnit_t,
) -> Return {
    call(
        "nvmlUnitGetHandleByIndex",
        || log_args!(_index),
        || {
            machine::sim()?;
            unsafe { out(unit) }?;
            Err(crate::errors::Fail::INVALID_ARGUMENT)
        },
    )
}
