//! HPKE
