//! Learning-rate schedules (to be written).
